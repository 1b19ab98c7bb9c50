package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/storage"
	"github.com/capsule-go/capsule/storage/sqlite"
	"github.com/capsule-go/capsule/storage/storagetest"
)

const urlEnv = "CAPSULE_TEST_POSTGRES_URL"

// testURL returns the test server's URL, or skips the test.
func testURL(t testing.TB) string {
	t.Helper()
	url := os.Getenv(urlEnv)
	if url == "" {
		t.Skip("set CAPSULE_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable to run the PostgreSQL tests")
	}
	return url
}

// newSchema creates a schema with a random name, dropped when t ends, so
// that tests and test runs do not see each other's tables.
func newSchema(t testing.TB) string {
	t.Helper()
	url := testURL(t)
	var b [8]byte
	rand.Read(b[:])
	name := "capsule_test_" + hex.EncodeToString(b[:])
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(t.Context(), "CREATE SCHEMA "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Errorf("connect: %v", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", name, err)
		}
	})
	return name
}

// inSchema makes the pool's connections find tables in schema.
func inSchema(schema string) Option {
	return WithPoolConfig(func(c *pgxpool.Config) {
		c.ConnConfig.RuntimeParams["search_path"] = schema
	})
}

// openSchema opens a store in a new schema.
func openSchema(t testing.TB) (*Store, string) {
	t.Helper()
	schema := newSchema(t)
	s, err := Open(t.Context(), testURL(t), inSchema(schema))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, schema
}

// rawPool connects to schema directly, to look at what the store wrote.
func rawPool(t *testing.T, schema string) *pgxpool.Pool {
	t.Helper()
	pc, err := pgxpool.ParseConfig(testURL(t))
	if err != nil {
		t.Fatal(err)
	}
	pc.ConnConfig.RuntimeParams["search_path"] = schema
	pool, err := pgxpool.NewWithConfig(t.Context(), pc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func TestContract(t *testing.T) {
	testURL(t)
	storagetest.Run(t, func(t *testing.T) storage.Store {
		s, _ := openSchema(t)
		return s
	})
}

// The contract holds without advisory locks too: the unique constraints on
// sequence keep chains from forking.
func TestContractWithoutAdvisoryLocks(t *testing.T) {
	testURL(t)
	storagetest.Run(t, func(t *testing.T) storage.Store {
		schema := newSchema(t)
		s, err := Open(t.Context(), testURL(t), inSchema(schema), WithoutAdvisoryLocks())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// capsule_locks in the URL turns the locks off, is not sent to the server,
// and takes only on or off.
func TestLocksParam(t *testing.T) {
	base := testURL(t)
	sep := "&"
	if !strings.Contains(base, "?") {
		sep = "?"
	}
	for v, locks := range map[string]bool{"on": true, "off": false} {
		s, err := Open(t.Context(), base+sep+LocksParam+"="+v, inSchema(newSchema(t)))
		if err != nil {
			t.Fatalf("%s=%s: %v", LocksParam, v, err)
		}
		if s.locks != locks {
			t.Errorf("%s=%s: locks = %v", LocksParam, v, s.locks)
		}
		s.Close()
	}
	if _, err := Open(t.Context(), base+sep+LocksParam+"=maybe"); err == nil || !strings.Contains(err.Error(), LocksParam) {
		t.Errorf("%s=maybe: err = %v, want an error naming the parameter", LocksParam, err)
	}
}

// referenceColumns is the layout of the reference table: name, type,
// character length (0: none), nullable.
var referenceColumns = []string{
	"id character varying 36 NO",
	"type character varying 20 NO",
	"sequence integer 0 NO",
	"previous_hash character varying 64 YES",
	"data text 0 NO",
	"hash character varying 64 NO",
	"signature text 0 NO",
	"signature_pq text 0 NO",
	"signed_at character varying 40 YES",
	"signed_by character varying 32 YES",
	"session_id character varying 36 YES",
	"domain character varying 50 NO",
	"tenant_id character varying 36 YES",
	// Not the reference's: the stored hashes each record adds to its
	// chain's tree (see tree.go), NULL in a row the reference writes.
	"tree bytea 0 YES",
}

var referenceIndexes = []string{
	"ix_quantumpipes_capsules_domain CREATE INDEX ix_quantumpipes_capsules_domain ON %s.quantumpipes_capsules USING btree (domain)",
	"ix_quantumpipes_capsules_hash CREATE INDEX ix_quantumpipes_capsules_hash ON %s.quantumpipes_capsules USING btree (hash)",
	// Not the reference's: serves id prefixes (Get) where the id column
	// does not sort in byte order (TestReferenceLayout drops it where it
	// does).
	`ix_quantumpipes_capsules_id_c CREATE INDEX ix_quantumpipes_capsules_id_c ON %s.quantumpipes_capsules USING btree (id COLLATE "C")`,
	"ix_quantumpipes_capsules_sequence CREATE INDEX ix_quantumpipes_capsules_sequence ON %s.quantumpipes_capsules USING btree (sequence)",
	"ix_quantumpipes_capsules_session_id CREATE INDEX ix_quantumpipes_capsules_session_id ON %s.quantumpipes_capsules USING btree (session_id)",
	"ix_quantumpipes_capsules_tenant_id CREATE INDEX ix_quantumpipes_capsules_tenant_id ON %s.quantumpipes_capsules USING btree (tenant_id)",
	// Not the reference's: serves a type filter (List, Count).
	"ix_quantumpipes_capsules_tenant_type CREATE INDEX ix_quantumpipes_capsules_tenant_type ON %s.quantumpipes_capsules USING btree (tenant_id, type, sequence)",
	"quantumpipes_capsules_pkey CREATE UNIQUE INDEX quantumpipes_capsules_pkey ON %s.quantumpipes_capsules USING btree (id)",
	"uq_capsule_global_sequence CREATE UNIQUE INDEX uq_capsule_global_sequence ON %s.quantumpipes_capsules USING btree (sequence) WHERE (tenant_id IS NULL)",
	"uq_capsule_tenant_sequence CREATE UNIQUE INDEX uq_capsule_tenant_sequence ON %s.quantumpipes_capsules USING btree (tenant_id, sequence)",
}

// A table created here compresses a capsule's content in its row, with
// lz4 when the server has it: a row over 2 KB, as a typical capsule's is,
// then writes far less WAL. Before, toast_tuple_target = 8160 kept every
// row of up to 8 KB uncompressed.
func TestTableCompressesData(t *testing.T) {
	s, schema := openSchema(t)
	pool := rawPool(t, schema)
	rec := storagetest.Chain("", storage.Head{Sequence: -1}, 1)[0]
	rec.Data = []byte(`{"domain": "agents", "note": "` + strings.Repeat("a capsule's content compresses ", 100) + `"}`)
	if err := s.Append(t.Context(), "", []protocol.Sealed{rec}); err != nil {
		t.Fatal(err)
	}
	var lz4 bool
	if err := pool.QueryRow(t.Context(), "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'").Scan(&lz4); err != nil {
		t.Fatal(err)
	}
	want := "pglz"
	if lz4 {
		want = "lz4"
	}
	var method *string
	var stored int
	if err := pool.QueryRow(t.Context(), "SELECT pg_column_compression(data), pg_column_size(data) FROM quantumpipes_capsules").Scan(&method, &stored); err != nil {
		t.Fatal(err)
	}
	if method == nil || *method != want || stored >= len(rec.Data)/2 {
		t.Fatalf("data of %d bytes stored in %d bytes, compression %v; want %s", len(rec.Data), stored, deref(method), want)
	}
	got, err := s.Get(t.Context(), rec.ID, nil)
	if err != nil || string(got.Data) != string(rec.Data) {
		t.Fatalf("Get = %q, %v", got.Data, err)
	}
}

func deref(p *string) string {
	if p == nil {
		return "none"
	}
	return *p
}

func TestReferenceLayout(t *testing.T) {
	s, schema := openSchema(t)
	pool := rawPool(t, schema)
	rows, err := pool.Query(t.Context(), `SELECT column_name || ' ' || data_type || ' ' || coalesce(character_maximum_length, 0) || ' ' || is_nullable
		FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'quantumpipes_capsules' ORDER BY ordinal_position`, schema)
	if err != nil {
		t.Fatal(err)
	}
	cols, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cols, referenceColumns) {
		t.Fatalf("columns:\n%q\nwant\n%q", cols, referenceColumns)
	}
	rows, err = pool.Query(t.Context(), `SELECT indexname || ' ' || indexdef FROM pg_indexes
		WHERE schemaname = $1 AND tablename = 'quantumpipes_capsules' ORDER BY indexname`, schema)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	bytes, err := s.idOrder(t.Context(), s.pool)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, i := range referenceIndexes {
		if bytes && strings.HasPrefix(i, "ix_quantumpipes_capsules_id_c ") {
			continue
		}
		want = append(want, fmt.Sprintf(i, schema))
	}
	if !reflect.DeepEqual(idx, want) {
		t.Fatalf("indexes:\n%q\nwant\n%q", idx, want)
	}
}

// TestReferenceChain copies the chain the Python reference sealed, read
// from its SQLite file, into PostgreSQL and reads it back byte for byte.
func TestReferenceChain(t *testing.T) {
	s, schema := openSchema(t)
	lite, err := sqlite.Open(t.Context(), copyOf(t, "../../testdata/interop/python-reference/capsules.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	ref := storagetest.CheckChain(t.Context(), t, lite, "", 12)
	if err := s.Append(t.Context(), "", ref[:5]); err != nil {
		t.Fatal(err)
	}
	for i := 5; i < 12; i++ {
		if err := s.Append(t.Context(), "", ref[i:i+1]); err != nil {
			t.Fatal(err)
		}
	}
	got := storagetest.CheckChain(t.Context(), t, s, "", 12)
	if !reflect.DeepEqual(got, ref) {
		t.Fatal("the reference chain differs after a round trip through PostgreSQL")
	}
	// The columns hold what the reference writes: NULL tenant, NULL
	// previous hash for genesis only, the domain of the content.
	var nullTenants, nullPrev int
	var domain string
	err = rawPool(t, schema).QueryRow(t.Context(), `SELECT count(*) FILTER (WHERE tenant_id IS NULL),
		count(*) FILTER (WHERE previous_hash IS NULL), min(domain) FROM quantumpipes_capsules`).Scan(&nullTenants, &nullPrev, &domain)
	if err != nil || nullTenants != 12 || nullPrev != 1 || domain != "interop" {
		t.Fatalf("null tenants %d, null previous hashes %d, domain %q, %v", nullTenants, nullPrev, domain, err)
	}
}

func copyOf(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	to := filepath.Join(t.TempDir(), filepath.Base(path))
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return to
}

// TestExistingTable opens a table another program created and filled, as
// the reference does: New leaves it as it is and reads its rows.
func TestExistingTable(t *testing.T) {
	schema := newSchema(t)
	pool := rawPool(t, schema)
	_, err := pool.Exec(t.Context(), strings.Join(schema0(), ";\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = pool.Exec(t.Context(), `INSERT INTO quantumpipes_capsules VALUES
		('00000000-0000-4000-8000-000000000000', 'agent', 0, NULL, '{"domain": "x"}', 'h0', 's0', '', '2026-01-01T00:00:00+00:00', 'qp_key_0000', NULL, 'x', NULL),
		('00000000-0000-4000-8000-000000000001', 'tool', 0, NULL, '{"domain": "y"}', 'h1', 's1', 'pq', '', '', 'sess', 'y', 'acme')`)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(pool)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := storagetest.CheckChain(t.Context(), t, s, "acme", 1)
	want := protocol.Sealed{ID: "00000000-0000-4000-8000-000000000001", Type: "tool", Domain: "y", Tenant: "acme",
		Data: []byte(`{"domain": "y"}`), Hash: "h1", Signature: "s1", SignaturePQ: "pq", SessionID: "sess"}
	if !reflect.DeepEqual(got[0], want) {
		t.Fatalf("got  %+v\nwant %+v", got[0], want)
	}
	tenants, err := s.Tenants(t.Context())
	if err != nil || !reflect.DeepEqual(tenants, []string{"", "acme"}) {
		t.Fatalf("Tenants = %q, %v", tenants, err)
	}
}

// schema0 is the reference's DDL without our IF NOT EXISTS.
func schema0() []string {
	var out []string
	for _, s := range schema {
		out = append(out, strings.ReplaceAll(s, "IF NOT EXISTS ", ""))
	}
	return out
}

// TestNew checks that a Store made by New creates the table on first use
// and leaves the pool open.
func TestNew(t *testing.T) {
	if _, err := New(nil); err == nil {
		t.Fatal("New(nil) succeeded")
	}
	schema := newSchema(t)
	pool := rawPool(t, schema)
	s, err := New(pool)
	if err != nil {
		t.Fatal(err)
	}
	var exists bool
	if err := pool.QueryRow(t.Context(), "SELECT to_regclass('quantumpipes_capsules') IS NOT NULL").Scan(&exists); err != nil || exists {
		t.Fatalf("table exists before first use: %v, %v", exists, err)
	}
	if err := s.Append(t.Context(), "x", storagetest.Chain("x", storage.Head{Sequence: -1}, 3)); err != nil {
		t.Fatal(err)
	}
	storagetest.CheckChain(t.Context(), t, s, "x", 3)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := pool.Ping(t.Context()); err != nil {
		t.Fatalf("the pool was closed: %v", err)
	}
	if _, err := s.Head(t.Context(), ""); !errors.Is(err, storage.ErrClosed) {
		t.Fatalf("Head after Close: %v", err)
	}
}

func TestOpenBadURL(t *testing.T) {
	_, err := Open(t.Context(), "postgres://user:secret@%zz/db")
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Fatalf("Open of a bad URL: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, err := Open(ctx, "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2"); err == nil {
		t.Fatal("Open of an unreachable server succeeded")
	}
}

// TestConcurrentSchemaCreation opens many stores on a new schema at once.
func TestConcurrentSchemaCreation(t *testing.T) {
	schema := newSchema(t)
	errs := make(chan error, 6)
	for range cap(errs) {
		go func() {
			s, err := Open(t.Context(), testURL(t), inSchema(schema))
			if err == nil {
				s.Close()
			}
			errs <- err
		}()
	}
	for range cap(errs) {
		if err := <-errs; err != nil {
			t.Errorf("Open: %v", err)
		}
	}
}

// TestUniqueViolation races Append against a writer that takes no advisory
// lock (as the Python reference): the unique constraint turns the lost race
// into ErrConflict.
func TestUniqueViolation(t *testing.T) {
	for _, tenant := range []string{"", "t"} {
		s, schema := openSchema(t)
		chain := storagetest.Chain(tenant, storage.Head{Sequence: -1}, 2)
		if err := s.Append(t.Context(), tenant, chain); err != nil {
			t.Fatal(err)
		}
		other := storagetest.NewRecord(tenant, 2, chain[1].Hash)
		tx, err := rawPool(t, schema).Begin(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		var tenantArg any
		if tenant != "" {
			tenantArg = tenant
		}
		_, err = tx.Exec(t.Context(), `INSERT INTO quantumpipes_capsules VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, $11, $12)`,
			other.ID, other.Type, other.Sequence, other.PreviousHash, string(other.Data), other.Hash, other.Signature, other.SignaturePQ,
			other.SignedAt, other.SignedBy, other.Domain, tenantArg)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			done <- s.Append(t.Context(), tenant, []protocol.Sealed{storagetest.NewRecord(tenant, 2, chain[1].Hash)})
		}()
		select {
		case err := <-done:
			t.Fatalf("Append did not wait for the uncommitted row: %v", err)
		case <-time.After(300 * time.Millisecond):
		}
		if err := tx.Commit(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := <-done; !errors.Is(err, storage.ErrConflict) || !strings.Contains(err.Error(), "23505") {
			t.Fatalf("tenant %q: Append that lost the race: %v, want ErrConflict from a unique violation", tenant, err)
		}
		storagetest.CheckChain(t.Context(), t, s, tenant, 3)
		// The connection went back to the pool in a usable state.
		next := storagetest.Chain(tenant, storage.Head{Sequence: 2, Hash: other.Hash}, 1)
		if err := s.Append(t.Context(), tenant, next); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLongValues checks that values longer than the reference columns
// allow fail cleanly and store nothing.
func TestLongValues(t *testing.T) {
	s, _ := openSchema(t)
	tenant := strings.Repeat("t", 37)
	err := s.Append(t.Context(), tenant, storagetest.Chain(tenant, storage.Head{Sequence: -1}, 1))
	if err == nil || errors.Is(err, storage.ErrConflict) {
		t.Fatalf("Append with a 37-character tenant: %v", err)
	}
	if n, err := s.Count(t.Context(), storage.Filter{}); err != nil || n != 0 {
		t.Fatalf("Count = %d, %v", n, err)
	}
	if err := s.Append(t.Context(), "", storagetest.Chain("", storage.Head{Sequence: -1}, 1)); err != nil {
		t.Fatalf("Append after a failed one: %v", err)
	}
}

func TestLikePrefix(t *testing.T) {
	for in, want := range map[string]string{"": "%", "ab": "ab%", "a%b_c\\": `a\%b\_c\\%`} {
		if got := likePrefix(in); got != want {
			t.Errorf("likePrefix(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLockKey(t *testing.T) {
	// The keys are how processes agree on a lock: they must never change.
	for name, want := range map[string]int64{
		"":     -6701140843242172126, // FNV-1a 64 of "capsule:"
		"acme": -2214979424711340972,
	} {
		if got := chainLock(name); got != want {
			t.Errorf("chainLock(%q) = %d, want %d", name, got, want)
		}
	}
	if got := lockKey("capsule:schema"); got != 8327468915836955021 {
		t.Errorf("schema lock key = %d", got)
	}
}

// TestMultiProcess runs the contract's multi-process test on one schema.
func TestMultiProcess(t *testing.T) {
	storagetest.MultiProcess(t, storagetest.Processes{
		Open: func(ctx context.Context, schema string) (storage.Store, error) {
			return Open(ctx, testURL(t), inSchema(schema))
		},
		New: func(t *testing.T) string {
			_, schema := openSchema(t)
			return schema
		},
		DropTree: func(s storage.Store, tenant string) error { return dropTree(s.(*Store), tenant) },
	})
}

func BenchmarkAppend(b *testing.B) {
	storagetest.BenchmarkAppend(b, func(b *testing.B) storage.Store {
		s, _ := openSchema(b)
		return s
	})
}

// TestNullColumns checks the columns the reference leaves NULL: the
// previous hash of a genesis, a missing session and the null tenant.
func TestNullColumns(t *testing.T) {
	s, schema := openSchema(t)
	r := storagetest.NewRecord("", 0, "")
	r.SessionID = ""
	if err := s.Append(t.Context(), "", []protocol.Sealed{r}); err != nil {
		t.Fatal(err)
	}
	var prevNull, sessionNull, tenantNull bool
	var domain, data string
	err := rawPool(t, schema).QueryRow(t.Context(), `SELECT previous_hash IS NULL, session_id IS NULL, tenant_id IS NULL, domain, data
		FROM quantumpipes_capsules`).Scan(&prevNull, &sessionNull, &tenantNull, &domain, &data)
	if err != nil {
		t.Fatal(err)
	}
	if !prevNull || !sessionNull || !tenantNull || domain != r.Domain || data != string(r.Data) {
		t.Fatalf("stored previous_hash NULL %v, session_id NULL %v, tenant_id NULL %v, domain %q, data %q",
			prevNull, sessionNull, tenantNull, domain, data)
	}
}

// An id prefix is read through an index in byte order, never by a scan
// of the table or of a tenant's chain: EXPLAIN of Get's query, for every
// tenant filter, on an analyzed table of 6,000 capsules. Where the id
// column sorts in byte order (this server's default collation, C.UTF-8,
// say) that is the primary key, and the index on id COLLATE "C" is not
// built; where it does not (an id column in ICU's root collation), a
// table created before that index existed gets it when a writable store
// opens it, and reads through it.
func TestGetPrefixUsesIndex(t *testing.T) {
	t.Run("byte order", func(t *testing.T) {
		s, schema := openSchema(t)
		if bytes, err := s.idOrder(t.Context(), s.pool); err != nil || !bytes {
			t.Skipf("the server's default collation does not sort in byte order (%v): the other subtest covers it", err)
		}
		pool := rawPool(t, schema)
		if n := count(t, pool, "SELECT count(*) FROM pg_indexes WHERE indexname = 'ix_quantumpipes_capsules_id_c' AND schemaname = $1", schema); n != 0 {
			t.Error("the index on id COLLATE \"C\" was built on a byte-order id column")
		}
		checkPrefixPlans(t, s, pool, true, "quantumpipes_capsules_pkey")
	})
	t.Run("collated", func(t *testing.T) {
		name := newSchema(t)
		pool := rawPool(t, name)
		ddl := strings.Replace(schema[0], "id VARCHAR(36) NOT NULL", `id VARCHAR(36) COLLATE "und-x-icu" NOT NULL`, 1)
		if _, err := pool.Exec(t.Context(), ddl); err != nil {
			t.Skipf("no ICU collation on this server: %v", err)
		}
		s, err := Open(t.Context(), testURL(t), inSchema(name))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := s.ready(t.Context()); err != nil {
			t.Fatal(err)
		}
		checkPrefixPlans(t, s, pool, false, "ix_quantumpipes_capsules_id_c")
	})
}

// checkPrefixPlans fills s and checks that Get's query of an id prefix
// reads through the index want, and finds what the prefix names.
func checkPrefixPlans(t *testing.T, s *Store, pool *pgxpool.Pool, bytes bool, want string) {
	t.Helper()
	fillChains(t, s, 2000, "", "a", "b")
	if _, err := pool.Exec(t.Context(), "ANALYZE quantumpipes_capsules"); err != nil {
		t.Fatal(err)
	}
	a := "a"
	for _, tenant := range []*string{nil, new(""), &a} {
		for _, id := range []string{"ab12", "0c4e5a1b-89", "0c4e5a1b-89aa-4c1e-b2f0-123456789abc"} {
			q := getQuery(id, tenant, bytes)
			plan := explain(t, pool, q.sql(recordCols, "LIMIT 2"), q.args...)
			want := want
			if len(id) == idLen {
				want = "quantumpipes_capsules_pkey"
			}
			if !strings.Contains(plan, "Index Scan using "+want) || strings.Contains(plan, "Seq Scan") {
				t.Errorf("tenant %v, id %q: the plan does not use %s:\n%s", tenant != nil, id, want, plan)
			}
		}
	}
	// The range finds what the prefix names.
	recs, err := s.List(t.Context(), storage.Filter{Tenant: &a, Limit: 1})
	if err != nil || len(recs) != 1 {
		t.Fatal(recs, err)
	}
	if got, err := s.Get(t.Context(), recs[0].ID[:30], &a); err != nil || got.ID != recs[0].ID {
		t.Errorf("Get(%q) = %s, %v; want %s", recs[0].ID[:30], got.ID, err, recs[0].ID)
	}
	for _, c := range []struct{ prefix, end string }{{"ab12", "ab13"}, {"0c4e-", "0c4e."}, {"z~", "z\x7f"}} {
		if end, ok := prefixEnd(c.prefix); !ok || end != c.end {
			t.Errorf("prefixEnd(%q) = %q, %v; want %q", c.prefix, end, ok, c.end)
		}
	}
	if _, ok := prefixEnd("a\x7f"); ok {
		t.Error(`prefixEnd("a\x7f") is text`)
	}
}

func TestTreeCatchUp(t *testing.T) {
	s, _ := openSchema(t)
	storagetest.TreeCatchUp(t, s, func(tenant string) {
		if err := dropTree(s, tenant); err != nil {
			t.Fatal(err)
		}
	})
}

// dropTree deletes every stored hash of tenant's tree, in capsule_tree and
// in the chain's rows, and leaves s's cache as it is.
func dropTree(s *Store, tenant string) error {
	ctx := context.Background()
	if _, err := s.pool.Exec(ctx, "DELETE FROM capsule_tree WHERE tenant_id = $1", tenant); err != nil {
		return err
	}
	if !s.rowTree.Load() {
		return nil
	}
	var q query
	q.tenant(tenant)
	_, err := s.pool.Exec(ctx, "UPDATE quantumpipes_capsules SET tree = NULL WHERE "+strings.Join(q.conds, " AND "), q.args...)
	return err
}

// A tenant id with a NUL or invalid UTF-8 makes the server refuse any
// statement that carries it (SQLSTATE 22021): that is a rejected batch,
// refused alone, never an error that reads as the store being down.
func TestHostileTenants(t *testing.T) {
	s, _ := openSchema(t)
	storagetest.CheckHostileTenants(t, s)
}

// Every new connection is bounded: by the URL's connect_timeout, else by
// WithConnectTimeout, else by DefaultConnectTimeout. Without a bound the
// pool's background connects to a server that does not answer hung for
// minutes and held every slot of the pool after it answered again.
func TestConnectTimeout(t *testing.T) {
	t.Setenv("PGCONNECT_TIMEOUT", "")
	for _, c := range []struct {
		query string
		opts  []Option
		want  time.Duration
	}{
		{"", nil, DefaultConnectTimeout},
		{"", []Option{WithConnectTimeout(1500 * time.Millisecond)}, 1500 * time.Millisecond},
		{"&connect_timeout=7", []Option{WithConnectTimeout(time.Second)}, 7 * time.Second},
		{"&connect_timeout=0", nil, DefaultConnectTimeout},
	} {
		var got time.Duration
		opts := append(c.opts, WithPoolConfig(func(pc *pgxpool.Config) { got = pc.ConnConfig.ConnectTimeout }))
		// Port 1 refuses at once: only the configuration matters here.
		Open(t.Context(), "postgres://nobody@127.0.0.1:1/none?sslmode=disable"+c.query, opts...)
		if got != c.want {
			t.Errorf("URL parameters %q, %d options: connect timeout %v, want %v", c.query, len(c.opts), got, c.want)
		}
	}
}

// TestSettleOnlyItsOwnSession checks that settling an unknown commit
// outcome waits for, and ends, only the session that sent the COMMIT:
// another session with the same process id (on the server a failover
// leads to, or after the id was reused) is left alone.
func TestSettleOnlyItsOwnSession(t *testing.T) {
	s, _ := openSchema(t)
	ctx := t.Context()
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Conn().PgConn().CustomData()[sessionStart].(time.Time); !ok {
		t.Error("a connection of Open's pool does not know its session's start")
	}
	c.Release()

	other, err := pgx.Connect(ctx, testURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(context.Background())
	if _, err := other.Exec(ctx, "BEGIN"); err != nil { // idle in transaction
		t.Fatal(err)
	}
	if err := identify(ctx, other); err != nil {
		t.Fatal(err)
	}
	// A lost session with other's process id but another start.
	lost := other.PgConn()
	real := lost.CustomData()[sessionStart]
	lost.CustomData()[sessionStart] = real.(time.Time).Add(-time.Hour)
	if err := s.settle(ctx, lost); err != nil {
		t.Fatalf("settle: %v", err)
	}
	if _, err := other.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatalf("settle ended another session with the same process id: %v", err)
	}
	// The session itself is ended.
	lost.CustomData()[sessionStart] = real
	if err := s.settle(ctx, lost); err != nil {
		t.Fatalf("settle: %v", err)
	}
	if _, err := other.Exec(ctx, "SELECT 1"); err == nil {
		t.Fatal("settle left the session idle in its transaction")
	}
}

// A page of one chain past an offset skips the offset's rows in an index
// alone and reads only the page's rows from the table: EXPLAIN of List's
// query, with and without a type filter, on a vacuumed table of 6,000
// capsules.
func TestListOffsetSkipsInIndex(t *testing.T) {
	s, schema := openSchema(t)
	pool := rawPool(t, schema)
	fillChains(t, s, 3000, "", "a")
	if _, err := pool.Exec(t.Context(), "VACUUM ANALYZE quantumpipes_capsules"); err != nil {
		t.Fatal(err)
	}
	a := "a"
	for _, tenant := range []*string{new(""), &a} {
		for _, typ := range []string{"", "tool"} {
			f := storage.Filter{Tenant: tenant, Type: typ, Offset: 300, Limit: 20}
			sql, args := listQuery(f)
			plan := explain(t, pool, sql, args...)
			if !strings.Contains(plan, "Index Only Scan") || strings.Contains(plan, "Seq Scan") {
				t.Errorf("tenant %q, type %q: the offset is not skipped in an index alone:\n%s", *tenant, typ, plan)
			}
			recs, err := s.List(t.Context(), f)
			if err != nil || len(recs) != 20 {
				t.Fatalf("List(%+v): %d records, %v", f, len(recs), err)
			}
		}
	}
}

// explain returns PostgreSQL's plan of the query sql.
func explain(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) string {
	t.Helper()
	var plan strings.Builder
	rows, err := pool.Query(t.Context(), "EXPLAIN "+sql, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan.WriteString(line + "\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return plan.String()
}

// fillChains appends n synthetic capsules to each tenant's chain, 500 a
// batch.
func fillChains(t *testing.T, s storage.Store, n int, tenants ...string) {
	t.Helper()
	for _, tn := range tenants {
		head := storage.Head{Sequence: -1}
		for done := 0; done < n; done += 500 {
			recs := storagetest.Chain(tn, head, min(500, n-done))
			if err := s.Append(t.Context(), tn, recs); err != nil {
				t.Fatal(err)
			}
			last := recs[len(recs)-1]
			head = storage.Head{Sequence: last.Sequence, Hash: last.Hash}
		}
	}
}
