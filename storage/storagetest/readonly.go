package storagetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/storage"
)

// ReadOnly configures [RunReadOnly]: how a backend opens the same store
// writable and read-only.
type ReadOnly struct {
	// New returns the location of a new, empty store (a file path, a
	// schema).
	New func(t *testing.T) string
	// Open opens the store at location writable, creating what it needs.
	// It must close the store when t ends (t.Cleanup); the suite may close
	// it earlier, so closing it again must be harmless.
	Open func(t *testing.T, location string) storage.Store
	// OpenReadOnly opens the store at location read-only, closed as Open's.
	OpenReadOnly func(t *testing.T, location string) storage.Store
	// Digest, when not nil, returns a digest of all that is stored at
	// location, read past the store (the file's bytes, the table's rows):
	// the writes a read-only store refuses must leave it as it was.
	Digest func(t *testing.T, location string) string
}

// RunReadOnly runs the read-only suite, one subtest per behaviour: a store
// opened read-only reads what the writable store of the same location
// wrote, exactly as that store reads it, follows a writer that keeps
// writing, and refuses every write (Append, AppendBatches and, of a
// [storage.TreeStore], GrowTree and SaveCheckpoint) with an error wrapping
// [storage.ErrReadOnly], writing nothing.
func RunReadOnly(t *testing.T, ro ReadOnly) {
	runSubtests(t, func(*testing.T) ReadOnly { return ro }, []subtest[ReadOnly]{
		{"Empty", testReadOnlyEmpty},
		{"MatchesWritable", testReadOnlyMatchesWritable},
		{"RefusesWrites", testReadOnlyRefusesWrites},
		{"FollowsWriter", testReadOnlyFollowsWriter},
		{"Concurrent", testReadOnlyConcurrent},
		{"Closed", testReadOnlyClosed},
	})
}

// open opens a writable store at a new location and returns both.
func (ro ReadOnly) open(t *testing.T) (storage.Store, string) {
	t.Helper()
	loc := ro.New(t)
	return ro.Open(t, loc), loc
}

// wantReadOnly fails the test unless err is a read-only store's refusal:
// it wraps [storage.ErrReadOnly], and so [errors.ErrUnsupported], and says
// "read-only".
func wantReadOnly(t testing.TB, what string, err error) {
	t.Helper()
	if !errors.Is(err, storage.ErrReadOnly) || !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("%s on a read-only store: %v, want ErrReadOnly", what, err)
	}
}

// CheckAppendRefused checks that Append on the read-only store s fails
// wrapping [storage.ErrReadOnly] (and so [errors.ErrUnsupported]), saying
// "read-only", for a batch extending head, the head of the null tenant's
// chain; a batch of another tenant, "t1", without a chain; and an empty
// batch.
func CheckAppendRefused(t testing.TB, s storage.Store, head storage.Head) {
	t.Helper()
	for _, c := range []struct {
		tenant string
		recs   []protocol.Sealed
	}{
		{"", Chain("", head, 1)},
		{"t1", Chain("t1", storage.Head{Sequence: -1}, 2)},
		{"", nil},
	} {
		err := s.Append(t.Context(), c.tenant, c.recs)
		wantReadOnly(t, fmt.Sprintf("Append(%q, %d records)", c.tenant, len(c.recs)), err)
	}
}

// CheckEmpty checks that every read of s finds nothing: empty chains,
// ErrNotFound for every lookup, no record listed or counted, no tenant.
func CheckEmpty(t testing.TB, s storage.Store) {
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
	for _, hash := range []string{"00", strings.Repeat("ab", 32)} {
		if _, err := s.GetByHash(ctx, hash, nil); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("GetByHash(%s): %v, want ErrNotFound", hash, err)
		}
	}
	for _, f := range []storage.Filter{{}, {Tenant: ptr("")}, {Type: "tool"}, {Tenant: ptr("t"), Type: "tool"}, {Limit: 5, Offset: 1}} {
		if list, err := s.List(ctx, f); err != nil || len(list) != 0 {
			t.Fatalf("List(%s) = %d records, %v", describe(f), len(list), err)
		}
		if n, err := s.Count(ctx, f); err != nil || n != 0 {
			t.Fatalf("Count(%s) = %d, %v", describe(f), n, err)
		}
	}
	if tenants, err := s.Tenants(ctx); err != nil || len(tenants) != 0 {
		t.Fatalf("Tenants = %q, %v; want none", tenants, err)
	}
}

// A read-only store of an empty store reads nothing, has no tree and
// refuses appends, and the store stays empty.
func testReadOnlyEmpty(t *testing.T, ro ReadOnly) {
	ctx := t.Context()
	w, loc := ro.open(t)
	r := ro.OpenReadOnly(t, loc)
	CheckEmpty(t, r)
	CheckAppendRefused(t, r, storage.Head{Sequence: -1})
	if ts, ok := r.(storage.TreeStore); ok {
		if n, err := ts.TreeSize(ctx, ""); err != nil || n != 0 {
			t.Fatalf("TreeSize = %d, %v; want 0", n, err)
		}
		if _, err := ts.LatestCheckpoint(ctx, ""); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("LatestCheckpoint: %v, want ErrNotFound", err)
		}
	}
	CheckEmpty(t, w)
}

// checkpointNote is a checkpoint of size for SaveCheckpoint, its signature
// synthetic (the store does not verify it).
func checkpointNote(origin string, size int) []byte {
	return fmt.Appendf(nil, "%s\n%d\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n— %s AAAA\n", origin, size, origin)
}

// Every read of a read-only store is the same read of the writable store
// that wrote the data: chains, lookups, listings, counts, trees and
// checkpoints.
func testReadOnlyMatchesWritable(t *testing.T, ro ReadOnly) {
	ctx := t.Context()
	w, loc := ro.open(t)
	sizes := map[string]int{"": 9, "a": 4, "b": 700} // "b" spans two Scan batches
	chains := map[string][]protocol.Sealed{}
	for tenant, n := range sizes {
		chains[tenant] = grow(t, w, tenant, n, 100)
	}
	if ts, ok := w.(storage.TreeStore); ok {
		for _, tenant := range []string{"", "b"} {
			if err := ts.SaveCheckpoint(ctx, tenant, checkpointNote("o/"+tenant, sizes[tenant])); err != nil {
				t.Fatal(err)
			}
		}
	}
	r := ro.OpenReadOnly(t, loc)
	same := func(what string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: read-only store differs from the writable one", what)
		}
	}
	for _, tenant := range []string{"", "a", "b", "none"} {
		hr, errR := r.Head(ctx, tenant)
		hw, errW := w.Head(ctx, tenant)
		same("Head "+tenant, []any{hr, errR}, []any{hw, errW})
		got := scanAll(t, r, tenant, 0)
		same("Scan "+tenant, got, scanAll(t, w, tenant, 0))
		if len(got) != sizes[tenant] {
			t.Fatalf("Scan(%q) yielded %d records, want %d", tenant, len(got), sizes[tenant])
		}
		same("Scan from 3 "+tenant, scanAll(t, r, tenant, 3), scanAll(t, w, tenant, 3))
	}
	filters := []storage.Filter{
		{}, {Tenant: ptr("")}, {Tenant: ptr("a")}, {Tenant: ptr("none")},
		{Type: "tool"}, {Domain: "vault"}, {SessionID: "5e55e55e-0000-4000-8000-000000000001"},
		{Type: "agent", Domain: "agents", Tenant: ptr("b")},
		{Limit: 3, Offset: 2}, {Tenant: ptr("b"), Limit: 10, Offset: 590}, {Tenant: ptr("b"), Limit: 10, Offset: 600},
	}
	for _, f := range filters {
		lr, errR := r.List(ctx, f)
		lw, errW := w.List(ctx, f)
		same("List "+describe(f), []any{lr, errR}, []any{lw, errW})
		nr, errR := r.Count(ctx, f)
		nw, errW := w.Count(ctx, f)
		same("Count "+describe(f), []any{nr, errR}, []any{nw, errW})
	}
	if n, err := r.Count(ctx, storage.Filter{}); err != nil || n != 713 {
		t.Fatalf("Count = %d, %v; want 713", n, err)
	}
	tr, errR := r.Tenants(ctx)
	tw, errW := w.Tenants(ctx)
	same("Tenants", []any{tr, errR}, []any{tw, errW})
	if !reflect.DeepEqual(tr, []string{"", "a", "b"}) {
		t.Fatalf("Tenants = %q", tr)
	}
	cr, errR := r.Chains(ctx)
	cw, errW := w.Chains(ctx)
	same("Chains", []any{cr, errR}, []any{cw, errW})
	all, err := w.List(ctx, storage.Filter{})
	if err != nil || len(all) != 713 {
		t.Fatalf("List = %d, %v", len(all), err)
	}
	for _, rec := range all[:50] {
		got, err := r.Get(ctx, rec.ID, nil)
		same("Get", []any{got, err}, []any{rec, error(nil)})
		got, err = r.Get(ctx, rec.ID[:24], &rec.Tenant)
		same("Get by prefix", []any{got, err}, []any{rec, error(nil)})
		got, err = r.GetByHash(ctx, rec.Hash, &rec.Tenant)
		same("GetByHash", []any{got, err}, []any{rec, error(nil)})
	}
	rts, ok := r.(storage.TreeStore)
	if !ok {
		return
	}
	wts := w.(storage.TreeStore)
	for _, tenant := range []string{"", "a", "b", "none"} {
		nr, errR := rts.TreeSize(ctx, tenant)
		nw, errW := wts.TreeSize(ctx, tenant)
		same("TreeSize "+tenant, []any{nr, errR}, []any{nw, errW})
		if tenant != "b" { // b's tree is long to check in full
			CheckTree(ctx, t, r, tenant, chains[tenant][:nr])
		}
		cr, errR := rts.LatestCheckpoint(ctx, tenant)
		cw, errW := wts.LatestCheckpoint(ctx, tenant)
		same("LatestCheckpoint "+tenant, []any{cr, errors.Is(errR, storage.ErrNotFound)}, []any{cw, errors.Is(errW, storage.ErrNotFound)})
		if errW != nil && !errors.Is(errW, storage.ErrNotFound) {
			t.Fatalf("LatestCheckpoint(%q): %v", tenant, errW)
		}
	}
}

// readOnlyState is what the writable store reads of tenants' chains, trees
// and checkpoints, and the digest of the location.
func readOnlyState(t *testing.T, ro ReadOnly, s storage.Store, loc string, tenants ...string) []any {
	t.Helper()
	ctx := t.Context()
	all, err := s.Tenants(ctx)
	state := []any{all, err}
	for _, tenant := range tenants {
		n, err := s.Count(ctx, storage.Filter{Tenant: &tenant})
		state = append(state, headOf(t, s, tenant), n, err)
		if ts, ok := s.(storage.TreeStore); ok {
			size, err := ts.TreeSize(ctx, tenant)
			note, noteErr := ts.LatestCheckpoint(ctx, tenant)
			state = append(state, size, err, string(note), errors.Is(noteErr, storage.ErrNotFound))
		}
	}
	if ro.Digest != nil {
		state = append(state, ro.Digest(t, loc))
	}
	return state
}

// A read-only store refuses every write, a tree's and a checkpoint's too,
// and writes nothing.
func testReadOnlyRefusesWrites(t *testing.T, ro ReadOnly) {
	ctx := t.Context()
	w, loc := ro.open(t)
	null := grow(t, w, "", 5, 5)
	grow(t, w, "a", 3, 3)
	if ts, ok := w.(storage.TreeStore); ok {
		if err := ts.SaveCheckpoint(ctx, "", checkpointNote("o", 5)); err != nil {
			t.Fatal(err)
		}
	}
	r := ro.OpenReadOnly(t, loc)
	tenants := []string{"", "a", "t1"}
	before := readOnlyState(t, ro, w, loc, tenants...)

	CheckAppendRefused(t, r, headOf(t, r, ""))
	batches := []storage.Batch{
		{Tenant: "", Records: Chain("", headOf(t, r, ""), 2)},
		{Tenant: "a", Records: Chain("a", headOf(t, r, "a"), 1)},
		{Tenant: "t1", Records: Chain("t1", storage.Head{Sequence: -1}, 1)},
	}
	errs := storage.AppendBatches(ctx, r, batches)
	if len(errs) != len(batches) {
		t.Fatalf("AppendBatches returned %d errors for %d batches", len(errs), len(batches))
	}
	for i, err := range errs {
		wantReadOnly(t, fmt.Sprintf("AppendBatches, batch %d", i), err)
	}
	if ts, ok := r.(storage.TreeStore); ok {
		for _, tenant := range []string{"", "a"} {
			_, err := ts.GrowTree(ctx, tenant, 10)
			wantReadOnly(t, fmt.Sprintf("GrowTree(%q)", tenant), err)
			err = ts.SaveCheckpoint(ctx, tenant, checkpointNote("o", 6))
			wantReadOnly(t, fmt.Sprintf("SaveCheckpoint(%q)", tenant), err)
		}
	}

	if after := readOnlyState(t, ro, w, loc, tenants...); !reflect.DeepEqual(after, before) {
		t.Fatalf("refused writes changed the store:\n%v\nwas\n%v", after, before)
	}
	sameRecords(t, "the null tenant's chain read read-only", scanAll(t, r, "", 0), null)
}

// A read-only store opened before a writer writes reads what it wrote.
func testReadOnlyFollowsWriter(t *testing.T, ro ReadOnly) {
	ctx := t.Context()
	w, loc := ro.open(t)
	r := ro.OpenReadOnly(t, loc)
	chain := grow(t, w, "t", 3, 3)
	if h, err := r.Head(ctx, "t"); err != nil || h != (storage.Head{Sequence: 2, Hash: chain[2].Hash}) {
		t.Fatalf("Head(t) after the writer = %+v, %v", h, err)
	}
	if got := CheckChain(ctx, t, r, "t", 3); !reflect.DeepEqual(got, chain) {
		t.Fatal("the chain read back differs")
	}
	if tenants, err := r.Tenants(ctx); err != nil || !reflect.DeepEqual(tenants, []string{"t"}) {
		t.Fatalf("Tenants = %q, %v", tenants, err)
	}
	null := grow(t, w, "", 2, 1)
	if h, err := r.Head(ctx, ""); err != nil || h != (storage.Head{Sequence: 1, Hash: null[1].Hash}) {
		t.Fatalf("Head after the writer = %+v, %v", h, err)
	}
	if tenants, err := r.Tenants(ctx); err != nil || !reflect.DeepEqual(tenants, []string{"", "t"}) {
		t.Fatalf("Tenants after the writer = %q, %v", tenants, err)
	}
	if n, err := r.Count(ctx, storage.Filter{}); err != nil || n != 5 {
		t.Fatalf("Count after the writer = %d, %v; want 5", n, err)
	}
	if rts, ok := r.(storage.TreeStore); ok {
		nr, errR := rts.TreeSize(ctx, "t")
		nw, errW := w.(storage.TreeStore).TreeSize(ctx, "t")
		if nr != nw || errR != nil || errW != nil {
			t.Fatalf("TreeSize(t) = %d, %v read-only, %d, %v writable", nr, errR, nw, errW)
		}
	}
}

// A read-only store read while writers append never sees a head go back
// nor a count fall, and ends reading the chains they wrote.
func testReadOnlyConcurrent(t *testing.T, ro ReadOnly) {
	ctx := t.Context()
	w, loc := ro.open(t)
	r := ro.OpenReadOnly(t, loc)
	const n = 150
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, tenant := range []string{"", "w"} {
		wg.Go(func() {
			_, err := AppendRetry(ctx, w, tenant, n)
			errs <- err
		})
	}
	readCtx, stop := context.WithCancel(ctx)
	var readErr error
	var reads int
	var readers sync.WaitGroup
	readers.Go(func() {
		last := map[string]int64{"": -1, "w": -1}
		var lastCount int64
		for readCtx.Err() == nil {
			for _, tenant := range []string{"", "w"} {
				h, err := r.Head(readCtx, tenant)
				if err != nil {
					if readCtx.Err() == nil {
						readErr = err
					}
					return
				}
				if h.Sequence < last[tenant] {
					readErr = errors.New("a head went back")
					return
				}
				last[tenant] = h.Sequence
			}
			c, err := r.Count(readCtx, storage.Filter{})
			if err != nil {
				if readCtx.Err() == nil {
					readErr = err
				}
				return
			}
			if c < lastCount {
				readErr = errors.New("the count fell")
				return
			}
			lastCount = c
			reads++
		}
	})
	wg.Wait()
	stop()
	readers.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if readErr != nil {
		t.Fatalf("reader: %v", readErr)
	}
	if reads == 0 {
		t.Fatal("the reader read nothing")
	}
	wantChain := CheckChain(ctx, t, w, "w", n)
	if got := CheckChain(ctx, t, r, "w", n); !reflect.DeepEqual(got, wantChain) {
		t.Fatal("the read-only store reads another chain than the writer")
	}
	CheckChain(ctx, t, r, "", n)
	if tenants, err := r.Tenants(ctx); err != nil || !reflect.DeepEqual(tenants, []string{"", "w"}) {
		t.Fatalf("Tenants = %q, %v", tenants, err)
	}
}

// Closing a read-only store twice is harmless, and every call after
// fails wrapping ErrClosed, an empty Append's too.
func testReadOnlyClosed(t *testing.T, ro ReadOnly) {
	w, loc := ro.open(t)
	chain := grow(t, w, "", 1, 1)
	r := ro.OpenReadOnly(t, loc)
	if err := r.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	wantErr(t, "Append of an empty batch after Close", r.Append(t.Context(), "", nil), storage.ErrClosed)
	checkClosed(t, r, chain[0])
}
