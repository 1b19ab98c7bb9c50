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

// wantRefused checks that Append on a read-only store fails with
// ErrReadOnly for a batch, another tenant's batch and an empty batch.
func wantRefused(t *testing.T, s storage.Store, head storage.Head) {
	t.Helper()
	for _, c := range []struct {
		tenant string
		recs   []storage.Record
	}{
		{"", storagetest.Chain("", head, 1)},
		{"t1", storagetest.Chain("t1", storage.Head{Sequence: -1}, 2)},
		{"", nil},
	} {
		err := s.Append(t.Context(), c.tenant, c.recs)
		if !errors.Is(err, ErrReadOnly) || !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), "read-only") {
			t.Fatalf("Append(%q, %d records) on a read-only store: %v, want ErrReadOnly", c.tenant, len(c.recs), err)
		}
	}
}

// wantEmpty checks that every read of s finds nothing.
func wantEmpty(t *testing.T, s storage.Store) {
	t.Helper()
	ctx := t.Context()
	for _, tenant := range []string{"", "t"} {
		if h, err := s.Head(ctx, tenant); err != nil || h != (storage.Head{Sequence: -1}) {
			t.Fatalf("Head(%q) = %+v, %v; want an empty chain", tenant, h, err)
		}
		for r, err := range s.Scan(ctx, tenant, 0) {
			t.Fatalf("Scan(%q) yielded %+v, %v", tenant, r, err)
		}
		if _, err := s.Get(ctx, "00000000-0000-4000-8000-000000000000", &tenant); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("Get in %q: %v, want ErrNotFound", tenant, err)
		}
	}
	if _, err := s.Get(ctx, "0", nil); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Get by prefix: %v, want ErrNotFound", err)
	}
	if _, err := s.GetByHash(ctx, strings.Repeat("ab", 32), nil); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("GetByHash: %v, want ErrNotFound", err)
	}
	for _, f := range []storage.Filter{{}, {Tenant: new("")}, {Tenant: new("t"), Type: "tool"}, {Limit: 5, Offset: 1}} {
		if list, err := s.List(ctx, f); err != nil || len(list) != 0 {
			t.Fatalf("List(%+v) = %d records, %v", f, len(list), err)
		}
		if n, err := s.Count(ctx, f); err != nil || n != 0 {
			t.Fatalf("Count(%+v) = %d, %v", f, n, err)
		}
	}
	if tenants, err := s.Tenants(ctx); err != nil || len(tenants) != 0 {
		t.Fatalf("Tenants = %q, %v; want none", tenants, err)
	}
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
	wantEmpty(t, s)
	wantRefused(t, s, storage.Head{Sequence: -1})

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

// TestReadOnlyPopulated compares every read of a read-only store with the
// same read of the writable store that filled the table, and checks that
// a refused Append leaves the table as it was.
func TestReadOnlyPopulated(t *testing.T) {
	ctx := t.Context()
	w, schema := openSchema(t)
	sizes := map[string]int{"": 9, "a": 4, "b": 600} // "b" spans two Scan batches
	for tenant, n := range sizes {
		head := storage.Head{Sequence: -1}
		for n > 0 {
			recs := storagetest.Chain(tenant, head, min(n, 200))
			if err := w.Append(ctx, tenant, recs); err != nil {
				t.Fatal(err)
			}
			last := recs[len(recs)-1]
			head, n = storage.Head{Sequence: last.Sequence, Hash: last.Hash}, n-len(recs)
		}
	}
	raw := rawPool(t, schema)
	sum, rels := tableSum(t, raw), relations(t, raw, schema)
	r := openRO(t, schema)
	same := func(what string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: read-only store differs from the writable one", what)
		}
	}
	scan := func(s storage.Store, tenant string, from int64) []storage.Record {
		var recs []storage.Record
		for rec, err := range s.Scan(ctx, tenant, from) {
			if err != nil {
				t.Fatalf("Scan(%q, %d): %v", tenant, from, err)
			}
			recs = append(recs, rec)
		}
		return recs
	}
	for _, tenant := range []string{"", "a", "b", "none"} {
		hr, errR := r.Head(ctx, tenant)
		hw, errW := w.Head(ctx, tenant)
		same("Head "+tenant, []any{hr, errR}, []any{hw, errW})
		got := scan(r, tenant, 0)
		same("Scan "+tenant, got, scan(w, tenant, 0))
		if len(got) != sizes[tenant] {
			t.Fatalf("Scan(%q) yielded %d records, want %d", tenant, len(got), sizes[tenant])
		}
		same("Scan from 3 "+tenant, scan(r, tenant, 3), scan(w, tenant, 3))
	}
	filters := []storage.Filter{
		{}, {Tenant: new("")}, {Tenant: new("a")}, {Tenant: new("none")},
		{Type: "tool"}, {Domain: "vault"}, {SessionID: "5e55e55e-0000-4000-8000-000000000001"},
		{Type: "agent", Domain: "agents", Tenant: new("b")},
		{Limit: 3, Offset: 2}, {Tenant: new("b"), Limit: 10, Offset: 590},
	}
	for _, f := range filters {
		lr, errR := r.List(ctx, f)
		lw, errW := w.List(ctx, f)
		same("List", []any{lr, errR}, []any{lw, errW})
		nr, errR := r.Count(ctx, f)
		nw, errW := w.Count(ctx, f)
		same("Count", []any{nr, errR}, []any{nw, errW})
	}
	if n, err := r.Count(ctx, storage.Filter{}); err != nil || n != 613 {
		t.Fatalf("Count = %d, %v; want 613", n, err)
	}
	tenants, err := r.Tenants(ctx)
	if err != nil || !reflect.DeepEqual(tenants, []string{"", "a", "b"}) {
		t.Fatalf("Tenants = %q, %v", tenants, err)
	}
	all, err := w.List(ctx, storage.Filter{Limit: 40})
	if err != nil || len(all) != 40 {
		t.Fatalf("List = %d, %v", len(all), err)
	}
	for _, rec := range all {
		got, err := r.Get(ctx, rec.ID, nil)
		same("Get", []any{got, err}, []any{rec, error(nil)})
		got, err = r.Get(ctx, rec.ID[:24], &rec.Tenant)
		same("Get by prefix", []any{got, err}, []any{rec, error(nil)})
		got, err = r.GetByHash(ctx, rec.Hash, &rec.Tenant)
		same("GetByHash", []any{got, err}, []any{rec, error(nil)})
	}
	head, err := r.Head(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	wantRefused(t, r, head)
	if got := tableSum(t, raw); got != sum {
		t.Fatal("the table changed")
	}
	if got := relations(t, raw, schema); !reflect.DeepEqual(got, rels) {
		t.Fatalf("relations changed: %q, were %q", got, rels)
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
	wantEmpty(t, s)
	wantRefused(t, s, storage.Head{Sequence: -1})
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
	if _, err := s.Head(ctx, ""); !errors.Is(err, storage.ErrClosed) {
		t.Fatalf("Head after Close: %v", err)
	}
	if err := s.Append(ctx, "", nil); !errors.Is(err, storage.ErrClosed) {
		t.Fatalf("Append after Close: %v", err)
	}
}
