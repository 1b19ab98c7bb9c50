package postgres

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/capsule-go/capsule/storage"
	"github.com/capsule-go/capsule/storage/storagetest"
)

// openRO opens a read-only store in schema, closed when t ends.
func openRO(t *testing.T, schema string, opts ...Option) *Store {
	t.Helper()
	s, err := Open(t.Context(), testURL(t), append([]Option{inSchema(schema), WithReadOnly()}, opts...)...)
	if err != nil {
		t.Fatalf("Open read-only: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// relations lists the relations (tables, indexes, sequences …) in schema.
func relations(t *testing.T, pool *pgxpool.Pool, schema string) []string {
	t.Helper()
	var tables int
	err := pool.QueryRow(t.Context(), "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1", schema).Scan(&tables)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := pool.Query(t.Context(), `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 ORDER BY c.relname`, schema)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if tables > len(names) {
		t.Fatalf("information_schema lists %d tables, pg_class %d relations", tables, len(names))
	}
	return names
}

// tableSum digests every row of the table in schema.
func tableSum(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	var sum string
	err := pool.QueryRow(t.Context(), "SELECT coalesce(md5(string_agg(c::text, E'\\n' ORDER BY c.id)), '') FROM quantumpipes_capsules c").Scan(&sum)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// readOnlyStores configures the read-only suite: stores in a new schema,
// the read-only one made by openRO. The digest of a schema is its table's
// rows and its relations.
func readOnlyStores(openRO func(t *testing.T, schema string) storage.Store) storagetest.ReadOnly {
	return storagetest.ReadOnly{
		New: func(t *testing.T) string { return newSchema(t) },
		Open: func(t *testing.T, schema string) storage.Store {
			s, err := Open(t.Context(), testURL(t), inSchema(schema))
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
		OpenReadOnly: openRO,
		Digest: func(t *testing.T, schema string) string {
			raw := rawPool(t, schema)
			return tableSum(t, raw) + " " + strings.Join(relations(t, raw, schema), " ")
		},
	}
}

// TestReadOnlyContract runs the read-only suite on stores made by Open.
func TestReadOnlyContract(t *testing.T) {
	testURL(t)
	storagetest.RunReadOnly(t, readOnlyStores(func(t *testing.T, schema string) storage.Store {
		return openRO(t, schema)
	}))
}

// TestReadOnlyContractNew runs the read-only suite on stores made by New
// on a pool of the caller's.
func TestReadOnlyContractNew(t *testing.T) {
	testURL(t)
	storagetest.RunReadOnly(t, readOnlyStores(func(t *testing.T, schema string) storage.Store {
		s, err := New(rawPool(t, schema), WithReadOnly())
		if err != nil {
			t.Fatalf("New read-only: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}))
}

// TestReadOnlyMissingTable opens a read-only store on a schema without the
// table: every read is empty, nothing is created, and the server refuses
// writes on the store's sessions.
func TestReadOnlyMissingTable(t *testing.T) {
	ctx := t.Context()
	schema := newSchema(t)
	raw := rawPool(t, schema)
	// A caller's pool configuration cannot lift the read-only setting.
	s := openRO(t, schema, WithPoolConfig(func(c *pgxpool.Config) {
		c.ConnConfig.RuntimeParams["default_transaction_read_only"] = "off"
	}))
	storagetest.CheckEmpty(t, s)
	storagetest.CheckAppendRefused(t, s, storage.Head{Sequence: -1})

	var setting string
	if err := s.pool.QueryRow(ctx, "SHOW default_transaction_read_only").Scan(&setting); err != nil || setting != "on" {
		t.Fatalf("default_transaction_read_only = %q, %v; want on", setting, err)
	}
	_, err := s.pool.Exec(ctx, schema0()[0])
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "25006" { // read_only_sql_transaction
		t.Fatalf("CREATE TABLE on the store's pool: %v, want a read-only transaction error", err)
	}
	if names := relations(t, raw, schema); len(names) != 0 {
		t.Fatalf("the read-only store created %q", names)
	}

	// A writer creates the table and writes: the reader sees it.
	w, err := Open(ctx, testURL(t), inSchema(schema))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	chain := storagetest.Chain("t", storage.Head{Sequence: -1}, 3)
	if err := w.Append(ctx, "t", chain); err != nil {
		t.Fatal(err)
	}
	if h, err := s.Head(ctx, "t"); err != nil || h != (storage.Head{Sequence: 2, Hash: chain[2].Hash}) {
		t.Fatalf("Head(t) after the writer = %+v, %v", h, err)
	}
	if got := storagetest.CheckChain(ctx, t, s, "t", 3); !reflect.DeepEqual(got, chain) {
		t.Fatal("the chain read back differs")
	}
	if tenants, err := s.Tenants(ctx); err != nil || !reflect.DeepEqual(tenants, []string{"t"}) {
		t.Fatalf("Tenants = %q, %v", tenants, err)
	}
}

// TestReadOnlyNew makes a read-only store on a pool it does not own.
func TestReadOnlyNew(t *testing.T) {
	ctx := t.Context()
	schema := newSchema(t)
	pool := rawPool(t, schema)
	if _, err := New(pool, WithPoolConfig(func(*pgxpool.Config) {})); err == nil {
		t.Fatal("New with WithPoolConfig succeeded")
	}
	s, err := New(pool, WithReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	storagetest.CheckEmpty(t, s)
	storagetest.CheckAppendRefused(t, s, storage.Head{Sequence: -1})
	if names := relations(t, pool, schema); len(names) != 0 {
		t.Fatalf("the read-only store created %q", names)
	}
	w, err := New(pool)
	if err != nil {
		t.Fatal(err)
	}
	chain := storagetest.Chain("", storage.Head{Sequence: -1}, 2)
	if err := w.Append(ctx, "", chain); err != nil {
		t.Fatal(err)
	}
	if got := storagetest.CheckChain(ctx, t, s, "", 2); !reflect.DeepEqual(got, chain) {
		t.Fatal("the chain read back differs")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := pool.Ping(ctx); err != nil {
		t.Fatalf("Close closed the caller's pool: %v", err)
	}
}
