package nethttp_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/capsule-go/capsule/integrations/nethttp"
	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/storage"
	"github.com/capsule-go/capsule/storage/postgres"
	"github.com/capsule-go/capsule/storage/sqlite"
	"github.com/capsule-go/capsule/storage/storagetest"
	"github.com/jackc/pgx/v5"
)

// scaleTenant is the chain TestListAtScale builds.
const scaleTenant = "scale"

// TestListAtScale times every JSON route and explorer page on one chain of
// CAPSULE_SCALE_CAPSULES capsules, at the newest, middle and oldest
// offsets, with and without a type filter, on SQLite (in
// CAPSULE_SCALE_SQLITE when set, kept and reused, else a temporary file)
// and PostgreSQL (when CAPSULE_TEST_POSTGRES_URL is set: in schema
// CAPSULE_SCALE_PG_SCHEMA when set, kept and reused, else a scratch
// schema). It logs the figures and asserts nothing about time: it is a
// measurement, skipped unless asked for. "before" is the reads the list
// route made until it seeked by sequence: Count, then List skipping
// offset rows.
//
// The chain is built of synthetic records (storagetest.Chain: about 200
// bytes of content, 550 bytes a row; random hashes, not signed; the eight
// types in turn) in batches of 10,000: appended through the store, or, in
// a kept PostgreSQL schema, copied into the table with COPY (a chain of
// ten million in minutes).
func TestListAtScale(t *testing.T) {
	n, _ := strconv.ParseInt(os.Getenv("CAPSULE_SCALE_CAPSULES"), 10, 64)
	if n <= 0 {
		t.Skip("CAPSULE_SCALE_CAPSULES is not set: the measurement at scale is asked for, e.g. CAPSULE_SCALE_CAPSULES=1000000")
	}
	t.Run("sqlite", func(t *testing.T) {
		path := os.Getenv("CAPSULE_SCALE_SQLITE")
		if path == "" {
			path = filepath.Join(t.TempDir(), "scale.db")
		}
		s, err := sqlite.Open(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		measureAtScale(t, s, n, s.Append)
	})
	t.Run("postgres", func(t *testing.T) {
		schema := os.Getenv("CAPSULE_SCALE_PG_SCHEMA")
		if schema == "" {
			s, _ := openPostgres(t)
			measureAtScale(t, s, n, s.Append)
			return
		}
		// A schema kept between runs: created when missing, never dropped.
		base := os.Getenv("CAPSULE_TEST_POSTGRES_URL")
		if base == "" {
			t.Skip("CAPSULE_TEST_POSTGRES_URL is not set")
		}
		admin, err := pgx.Connect(t.Context(), base)
		if err != nil {
			t.Fatal(err)
		}
		defer admin.Close(context.Background())
		if _, err := admin.Exec(t.Context(), "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{schema}.Sanitize()); err != nil {
			t.Fatal(err)
		}
		u, err := url.Parse(base)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		s, err := postgres.Open(t.Context(), u.String())
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		conn, err := pgx.Connect(t.Context(), u.String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		measureAtScale(t, s, n, func(ctx context.Context, tenant string, recs []protocol.Sealed) error {
			return copyRecords(ctx, conn, tenant, recs)
		})
	})
}

// copyRecords writes recs to the reference table with COPY: the bulk path
// that builds a chain of ten million capsules in minutes rather than the
// better part of an hour through Append. It checks nothing (the chain is
// the test's own, written by one writer) and leaves the tree behind, which
// the list routes do not read.
func copyRecords(ctx context.Context, conn *pgx.Conn, tenant string, recs []protocol.Sealed) error {
	rows := make([][]any, len(recs))
	null := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	for i, r := range recs {
		rows[i] = []any{r.ID, r.Type, r.Sequence, null(r.PreviousHash), string(r.Data), r.Hash, r.Signature, r.SignaturePQ,
			null(r.SignedAt), null(r.SignedBy), null(r.SessionID), r.Domain, null(tenant)}
	}
	_, err := conn.CopyFrom(ctx, pgx.Identifier{"quantumpipes_capsules"},
		[]string{"id", "type", "sequence", "previous_hash", "data", "hash", "signature", "signature_pq",
			"signed_at", "signed_by", "session_id", "domain", "tenant_id"},
		pgx.CopyFromRows(rows))
	return err
}

// measureAtScale fills the scale chain of s up to n capsules with fill (in
// batches of 10,000), then times every list route and explorer page at
// offsets from the head to the genesis, with and without a type filter.
func measureAtScale(t *testing.T, s storage.Store, n int64, fill func(ctx context.Context, tenant string, recs []protocol.Sealed) error) {
	ctx := t.Context()
	head, err := s.Head(ctx, scaleTenant)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for head.Sequence+1 < n {
		recs := storagetest.Chain(scaleTenant, head, int(min(10000, n-head.Sequence-1)))
		if err := fill(ctx, scaleTenant, recs); err != nil {
			t.Fatal(err)
		}
		last := recs[len(recs)-1]
		head = storage.Head{Sequence: last.Sequence, Hash: last.Hash}
	}
	t.Logf("chain of %d capsules ready in %v", n, time.Since(start).Round(time.Second))
	tenant, half := scaleTenant, n/2
	mid, err := s.List(ctx, storage.Filter{Tenant: &tenant, MaxSequence: &half, Limit: 1})
	if err != nil || len(mid) != 1 {
		t.Fatal(mid, err)
	}
	srv := serve(t, nethttp.Handler(s))
	typed := n / 8 // the capsules of one type
	var targets []string
	for _, off := range []int64{0, n / 2, n - 20} {
		targets = append(targets,
			fmt.Sprintf("%s/?tenant_id=%s&offset=%d", prefix, tenant, off),
			fmt.Sprintf("%s/explore/chain?tenant_id=%s&offset=%d", prefix, tenant, off))
	}
	for _, off := range []int64{0, typed / 2, typed - 20} {
		targets = append(targets,
			fmt.Sprintf("%s/?tenant_id=%s&type=tool&offset=%d", prefix, tenant, off),
			fmt.Sprintf("%s/explore/chain?tenant_id=%s&type=tool&offset=%d", prefix, tenant, off))
	}
	targets = append(targets,
		prefix+"/"+mid[0].ID, prefix+"/"+mid[0].ID[:8], prefix+"/explore/capsule/"+mid[0].ID,
		prefix+"/explore/", prefix+"/?offset="+strconv.FormatInt(n/2, 10))
	// The first request of a type builds the chain's ladder for it.
	first := fmt.Sprintf("%s/?tenant_id=%s&type=tool&offset=%d", prefix, tenant, typed-20)
	start = time.Now()
	if r := do(t, srv, http.MethodGet, first, nil); r.status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", first, r.status, r.body)
	}
	t.Logf("%-70s %8.1f ms (first of its type: builds the ladder)", first, ms(time.Since(start)))
	for _, target := range targets {
		d := timeIt(func() {
			if r := do(t, srv, http.MethodGet, target, nil); r.status != http.StatusOK {
				t.Fatalf("GET %s: %d %s", target, r.status, r.body)
			}
		})
		t.Logf("%-70s %8.1f ms", target, ms(d))
	}
	for _, f := range []storage.Filter{
		{Tenant: &tenant, Limit: 20, Offset: n / 2},
		{Tenant: &tenant, Limit: 20, Offset: n - 20},
		{Tenant: &tenant, Type: "tool", Limit: 20, Offset: typed - 20},
	} {
		d := timeIt(func() {
			if _, err := s.Count(ctx, f); err != nil {
				t.Fatal(err)
			}
			if _, err := s.List(ctx, f); err != nil {
				t.Fatal(err)
			}
		})
		t.Logf("before: Count + List type=%q offset=%-10d %8.1f ms", f.Type, f.Offset, ms(d))
	}
}

// timeIt returns the median of 5 runs of f, after one to warm the caches.
func timeIt(f func()) time.Duration {
	f()
	var ds []time.Duration
	for range 5 {
		start := time.Now()
		f()
		ds = append(ds, time.Since(start))
	}
	slices.Sort(ds)
	return ds[len(ds)/2]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
