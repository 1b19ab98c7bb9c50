package nethttp_test

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/capsule-go/capsule"
	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/storage"
	"github.com/capsule-go/capsule/storage/postgres"
	"github.com/capsule-go/capsule/storage/sqlite"
)

// The tenants the fixture seeds: two named ones and the null tenant.
const (
	tenantA = "tenant-a"
	tenantB = "tenant-b"
	tenantN = ""
)

// backend opens an empty store and can tamper with its rows directly.
type backend struct {
	name string
	open func(t *testing.T) (storage.Store, tamperer)
}

// tamperer rewrites one column of a stored capsule behind the store's back.
type tamperer func(t *testing.T, tenant, id, column, value string)

// backends returns SQLite always and PostgreSQL when
// CAPSULE_TEST_POSTGRES_URL is set.
func backends() []backend {
	return []backend{
		{"sqlite", openSQLite},
		{"postgres", openPostgres},
	}
}

func openSQLite(t *testing.T) (storage.Store, tamperer) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "capsules.db")
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, sqliteTamperer(path)
}

// sqliteTamperer rewrites columns of the SQLite file at path.
func sqliteTamperer(path string) tamperer {
	return func(t *testing.T, tenant, id, column, value string) {
		t.Helper()
		db, err := sql.Open("sqlite3", path)
		if err != nil {
			t.Fatalf("open %s for tampering: %v", path, err)
		}
		defer db.Close()
		table := "capsule_tenant_chains"
		if tenant == "" {
			table = "capsules"
		}
		res, err := db.Exec("UPDATE "+table+" SET "+column+" = ? WHERE id = ?", value, id)
		if err != nil {
			t.Fatalf("tamper %s.%s of %s: %v", table, column, id, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			t.Fatalf("tamper %s.%s of %s: %d rows changed", table, column, id, n)
		}
	}
}

func openPostgres(t *testing.T) (storage.Store, tamperer) {
	t.Helper()
	base := os.Getenv("CAPSULE_TEST_POSTGRES_URL")
	if base == "" {
		t.Skip("CAPSULE_TEST_POSTGRES_URL is not set; skipping PostgreSQL (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable)")
	}
	var b [6]byte
	rand.Read(b[:])
	schema := "nethttp_test_" + hex.EncodeToString(b[:])
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect %s: %v", base, err)
	}
	t.Cleanup(func() { admin.Close(ctx) })
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	s, err := postgres.Open(t.Context(), base+sep+"search_path="+schema)
	if err != nil {
		t.Fatalf("postgres.Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	tamper := func(t *testing.T, tenant, id, column, value string) {
		t.Helper()
		tag, err := admin.Exec(ctx, "UPDATE "+schema+".quantumpipes_capsules SET "+column+" = $1 WHERE id = $2", value, id)
		if err != nil {
			t.Fatalf("tamper %s of %s: %v", column, id, err)
		}
		if tag.RowsAffected() != 1 {
			t.Fatalf("tamper %s of %s: %d rows changed", column, id, tag.RowsAffected())
		}
	}
	return s, tamper
}

// fixture is a store seeded with chains in tenantA, tenantB and the null
// tenant, through a real capsule.Capsules.
type fixture struct {
	store  storage.Store
	caps   *capsule.Capsules
	tamper tamperer
	chains map[string][]protocol.Sealed // by tenant, in sequence order
}

// chainLens is how many capsules each seeded chain has.
var chainLens = map[string]int{tenantA: 7, tenantB: 5, tenantN: 3}

// The first capsule of each chain gets a fixed id; the three share the
// prefix "ab12", and A's and B's share "ab12cd34".
var fixedIDs = map[string]string{
	tenantA: "ab12cd34-0000-4000-8000-00000000000a",
	tenantB: "ab12cd34-0000-4000-8000-00000000000b",
	tenantN: "ab12ef56-0000-4000-8000-000000000000",
}

// seededTypes cycles through three capsule types.
var seededTypes = []capsule.Type{capsule.TypeAgent, capsule.TypeTool, capsule.TypeChat}

func newFixture(t *testing.T, b backend) *fixture {
	t.Helper()
	store, tamper := b.open(t)
	caps, err := capsule.NewCapsules(store, capsule.WithKeyDir(t.TempDir()))
	if err != nil {
		t.Fatalf("NewCapsules: %v", err)
	}
	t.Cleanup(func() { caps.Close() })
	f := &fixture{store: store, caps: caps, tamper: tamper, chains: map[string][]protocol.Sealed{}}
	for _, tenant := range []string{tenantA, tenantB, tenantN} {
		for i := range chainLens[tenant] {
			cp := capsule.New(seededTypes[i%len(seededTypes)])
			if i == 0 {
				cp.ID = fixedIDs[tenant]
			}
			cp.Trigger.Request = fmt.Sprintf("request %d of %q: <b>&</b> \"é\" \u2028 😀", i, tenant)
			cp.Reasoning.Analysis = "a<b && c>d"
			cp.Reasoning.Confidence = 0.1 * float64(i)
			cp.Context.SessionID = "session-" + tenant
			cp.Outcome.Status = capsule.StatusSuccess
			cp.Outcome.Result = map[string]any{"small": 1.5e-7, "big": 1e21, "n": i, "html": "<script>"}
			sealed, err := caps.Append(t.Context(), tenant, cp)
			if err != nil {
				t.Fatalf("Append(%q, #%d): %v", tenant, i, err)
			}
			f.chains[tenant] = append(f.chains[tenant], sealed)
		}
	}
	return f
}

// all returns every seeded capsule in list order: sequence descending,
// then tenant ascending.
func (f *fixture) all() []protocol.Sealed {
	var all []protocol.Sealed
	for _, c := range f.chains {
		all = append(all, c...)
	}
	slices.SortFunc(all, func(a, b protocol.Sealed) int {
		if c := cmp.Compare(b.Sequence, a.Sequence); c != 0 {
			return c
		}
		return cmp.Compare(a.Tenant, b.Tenant)
	})
	return all
}

// sealed returns the sealed dict of rec as protocol.AppendSealed writes it.
func sealed(t *testing.T, rec protocol.Sealed) string {
	t.Helper()
	b, err := protocol.AppendSealed(nil, &rec)
	if err != nil {
		t.Fatalf("AppendSealed(%s): %v", rec.ID, err)
	}
	return string(b)
}

// listBody is the expected body of the list route for a page of recs,
// all readable, none left out by the byte bound.
func listBody(t *testing.T, recs []protocol.Sealed, total, limit, offset int) string {
	t.Helper()
	next := offset + len(recs)
	if next >= total {
		next = -1
	}
	return listPage(t, recs, total, limit, offset, next, false)
}

// listPage is the expected body of the list route: the readable capsules
// recs, next_offset next (-1 for null), truncated, and the unreadable
// entries as JSON.
func listPage(t *testing.T, recs []protocol.Sealed, total, limit, offset, next int, truncated bool, unreadable ...string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString(`{"capsules":[`)
	for i, r := range recs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(sealed(t, r))
	}
	fmt.Fprintf(&b, `],"total":%d,"limit":%d,"offset":%d,"next_offset":`, total, limit, offset)
	if next < 0 {
		b.WriteString("null")
	} else {
		fmt.Fprint(&b, next)
	}
	fmt.Fprintf(&b, `,"truncated":%t,"unreadable":[%s],"missing":[]}`, truncated, strings.Join(unreadable, ","))
	return b.String()
}

// response is what a request got.
type response struct {
	status int
	header http.Header
	body   string
}

// do sends one request to srv.
func do(t *testing.T, srv *httptest.Server, method, target string, header http.Header) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+target, nil)
	if err != nil {
		t.Fatalf("NewRequest %s %s: %v", method, target, err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, target, err)
	}
	return response{res.StatusCode, res.Header, string(body)}
}

// get sends GET target and checks the status and the JSON headers.
func get(t *testing.T, srv *httptest.Server, target string, wantStatus int) string {
	t.Helper()
	r := do(t, srv, http.MethodGet, target, nil)
	if r.status != wantStatus {
		t.Fatalf("GET %s: status %d, want %d; body %s", target, r.status, wantStatus, r.body)
	}
	checkHeaders(t, "GET "+target, r.header)
	return r.body
}

// checkHeaders checks the headers every JSON response carries.
func checkHeaders(t *testing.T, what string, h http.Header) {
	t.Helper()
	for k, want := range map[string]string{
		"Content-Type":           "application/json; charset=utf-8",
		"X-Content-Type-Options": "nosniff",
		"Cache-Control":          "no-store",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s: %s = %q, want %q", what, k, got, want)
		}
	}
}

// serve starts a test server for h.
func serve(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// logBuffer is a concurrency-safe buffer for a slog handler.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
