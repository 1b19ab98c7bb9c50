package storagetest

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/capsule-go/capsule/logtree"
	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/storage"
)

// IndependentTree returns a reader of the stored hashes of the tree of
// recs, computed with tlog record by record from the capsules' hashes
// alone, to check a store's tree against.
func IndependentTree(t testing.TB, recs []protocol.Sealed) tlog.HashReader {
	t.Helper()
	var stored []tlog.Hash
	r := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		hs := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			if x >= int64(len(stored)) {
				return nil, fmt.Errorf("no stored hash %d", x)
			}
			hs[i] = stored[x]
		}
		return hs, nil
	})
	for i, rec := range recs {
		raw, err := hex.DecodeString(rec.Hash)
		if err != nil {
			t.Fatal(err)
		}
		hs, err := tlog.StoredHashes(int64(i), raw, r)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, hs...)
	}
	return r
}

// CheckTree checks tenant's tree in s against the chain recs: the root of
// every prefix, and inclusion and consistency proofs, checked with tlog.
func CheckTree(ctx context.Context, t testing.TB, s storage.Store, tenant string, recs []protocol.Sealed) {
	t.Helper()
	ref := IndependentTree(t, recs)
	n := int64(len(recs))
	roots := make([]tlog.Hash, n+1)
	for size := int64(1); size <= n; size++ {
		want, err := tlog.TreeHash(size, ref)
		if err != nil {
			t.Fatal(err)
		}
		got, err := logtree.TreeHash(ctx, s, tenant, size)
		if err != nil {
			t.Fatalf("%q: tree hash at %d: %v", tenant, size, err)
		}
		if got != want {
			t.Fatalf("%q: tree hash at %d is %s, want %s", tenant, size, got, want)
		}
		roots[size] = got
	}
	for size := int64(1); size <= n; size += 1 + size/3 {
		for i := int64(0); i < size; i += 1 + size/4 {
			p, err := logtree.ProveRecord(ctx, s, tenant, i, size)
			if err != nil {
				t.Fatal(err)
			}
			leaf, err := logtree.Leaf(recs[i].Hash)
			if err != nil {
				t.Fatal(err)
			}
			if err := tlog.CheckRecord(p, size, roots[size], i, leaf); err != nil {
				t.Fatalf("%q: inclusion of %d in %d: %v", tenant, i, size, err)
			}
		}
		for old := int64(1); old <= size; old += 1 + old/2 {
			p, err := logtree.ProveTree(ctx, s, tenant, old, size)
			if err != nil {
				t.Fatal(err)
			}
			if err := tlog.CheckTree(p, size, roots[size], old, roots[old]); err != nil {
				t.Fatalf("%q: consistency %d -> %d: %v", tenant, old, size, err)
			}
		}
	}
	if _, err := logtree.TreeHash(ctx, s, tenant, n+1); !errors.Is(err, logtree.ErrTooLarge) {
		t.Fatalf("%q: tree hash beyond the chain: %v, want ErrTooLarge", tenant, err)
	}
}

// The tree a TreeStore keeps grows with each Append and AppendBatches, in
// any batch sizes, and is the tree tlog computes from the chain.
func testTree(t *testing.T, s storage.Store) {
	ts, ok := s.(storage.TreeStore)
	if !ok {
		t.Skip("the store keeps no tree")
	}
	ctx := context.Background()
	chains := map[string][]protocol.Sealed{}
	for _, tenant := range []string{"", "acme"} {
		for _, n := range []int{1, 2, 3, 7, 1, 9} {
			chains[tenant] = append(chains[tenant], grow(t, s, tenant, n, n)...)
		}
	}
	for round := range 3 {
		var batches []storage.Batch
		for _, tenant := range []string{"", "acme", "beta"} {
			recs := Chain(tenant, headOf(t, s, tenant), 1+round*2)
			batches = append(batches, storage.Batch{Tenant: tenant, Records: recs})
			chains[tenant] = append(chains[tenant], recs...)
		}
		for i, err := range storage.AppendBatches(ctx, s, batches) {
			if err != nil {
				t.Fatalf("batch %d: %v", i, err)
			}
		}
	}
	for tenant, recs := range chains {
		size, err := ts.TreeSize(ctx, tenant)
		if err != nil || size != int64(len(recs)) {
			t.Fatalf("%q: tree size %d, %v; want %d", tenant, size, err, len(recs))
		}
		CheckTree(ctx, t, s, tenant, recs)
	}
	if size, err := ts.TreeSize(ctx, "nobody"); err != nil || size != 0 {
		t.Fatalf("tree size of an empty chain: %d, %v", size, err)
	}
	// A record whose hash is no leaf is refused, and the tree unchanged.
	bad := Chain("acme", headOf(t, s, "acme"), 1)
	bad[0].Hash = "not hex"
	if err := s.Append(ctx, "acme", bad); err == nil {
		t.Fatal("a record whose hash is not 64 hex digits was stored")
	}
	CheckTree(ctx, t, s, "acme", chains["acme"])
}

// SaveCheckpoint keeps the largest checkpoint per tenant.
func testTreeCheckpoints(t *testing.T, s storage.Store) {
	ts, ok := s.(storage.TreeStore)
	if !ok {
		t.Skip("the store keeps no tree")
	}
	ctx := context.Background()
	if _, err := ts.LatestCheckpoint(ctx, ""); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("no checkpoint yet: %v, want ErrNotFound", err)
	}
	note := func(origin string, size int) []byte {
		return fmt.Appendf(nil, "%s\n%d\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n— %s AAAA\n", origin, size, origin)
	}
	for _, step := range []struct {
		tenant string
		size   int
		want   int
	}{{"", 5, 5}, {"", 3, 5}, {"", 7, 7}, {"", 7, 7}, {"acme", 2, 2}} {
		if err := ts.SaveCheckpoint(ctx, step.tenant, note("o/"+step.tenant, step.size)); err != nil {
			t.Fatal(err)
		}
		got, err := ts.LatestCheckpoint(ctx, step.tenant)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, note("o/"+step.tenant, step.want)) {
			t.Fatalf("latest checkpoint of %q after saving size %d:\n%s", step.tenant, step.size, got)
		}
	}
	if got, err := ts.LatestCheckpoint(ctx, ""); err != nil || !bytes.HasPrefix(got, []byte("o/\n7\n")) {
		t.Fatalf("the null tenant's checkpoint changed with acme's: %q, %v", got, err)
	}
	if err := ts.SaveCheckpoint(ctx, "", []byte("not a checkpoint")); err == nil {
		t.Fatal("saved a note that is not a checkpoint")
	}
}

// TreeCatchUp checks that a chain whose stored tree was lost (dropTree
// deletes every stored hash of tenant "acme", as a chain written by the
// Python reference has none) gets it back: an append catches up a short
// lag in its own transaction, a long one is left to logtree, which catches
// it up on demand; appends then keep the tree again.
func TreeCatchUp(t *testing.T, s storage.Store, dropTree func(tenant string)) {
	ctx := context.Background()
	ts := s.(storage.TreeStore)
	recs := grow(t, s, "acme", 5, 5)
	dropTree("acme")
	if n, err := ts.TreeSize(ctx, "acme"); err != nil || n != 0 {
		t.Fatalf("tree size after dropping it: %d, %v", n, err)
	}
	recs = append(recs, grow(t, s, "acme", 3, 3)...)
	if n, err := ts.TreeSize(ctx, "acme"); err != nil || n != 8 {
		t.Fatalf("a short lag is caught up by the append: tree size %d, %v; want 8", n, err)
	}
	CheckTree(ctx, t, s, "acme", recs)
	recs = append(recs, grow(t, s, "acme", 300, 300)...)
	dropTree("acme")
	recs = append(recs, grow(t, s, "acme", 1, 1)...)
	if n, err := ts.TreeSize(ctx, "acme"); err != nil || n != 0 {
		t.Fatalf("a long lag is left to logtree: tree size %d, %v; want 0", n, err)
	}
	if n, err := logtree.Sync(ctx, s, "acme"); err != nil || n != int64(len(recs)) {
		t.Fatalf("Sync: %d, %v", n, err)
	}
	if n, err := ts.TreeSize(ctx, "acme"); err != nil || n != int64(len(recs)) {
		t.Fatalf("tree size after Sync: %d, %v; want %d", n, err, len(recs))
	}
	recs = append(recs, grow(t, s, "acme", 2, 1)...)
	if n, err := ts.TreeSize(ctx, "acme"); err != nil || n != int64(len(recs)) {
		t.Fatalf("tree size after appends: %d, %v; want %d", n, err, len(recs))
	}
	CheckTree(ctx, t, s, "acme", recs)

	// A lost tree caught up while appenders extend the chain: catch-up
	// and appends exclude each other, and the tree ends whole.
	grow(t, s, "acme", 600, 300)
	dropTree("acme")
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for range 2 {
		wg.Go(func() {
			_, err := AppendRetry(ctx, s, "acme", 50)
			errs <- err
		})
	}
	wg.Go(func() {
		for range 20 {
			if _, err := logtree.Sync(ctx, s, "acme"); err != nil {
				errs <- err
				return
			}
		}
		errs <- nil
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	n, err := logtree.Sync(ctx, s, "acme")
	if err != nil {
		t.Fatal(err)
	}
	checkTreeOf(t, s, "acme", n)
}

// checkTreeOf checks, when s keeps trees, that tenant's stored tree covers
// its chain of n capsules and matches it hash by hash.
func checkTreeOf(t *testing.T, s storage.Store, tenant string, n int64) {
	t.Helper()
	if _, ok := s.(storage.TreeStore); !ok {
		return
	}
	rep, err := logtree.Check(t.Context(), s, tenant)
	if err != nil {
		t.Fatalf("tree of %q: %v", tenant, err)
	}
	if rep.TreeSize != n || rep.ChainSize != n {
		t.Fatalf("tree of %q covers %d of %d capsules, want %d", tenant, rep.TreeSize, rep.ChainSize, n)
	}
}

// TreeLag checks, on the chains of tenant "acme" and of the null tenant,
// a tree that covers its chain up to some record, with later records
// appended without a tree (keepTree(tenant, false) makes s append so;
// keepTree(tenant, true) makes it keep the tree again and forget what it
// cached of tenant's): it has that size, and the next append catches the
// rest up.
func TreeLag(t *testing.T, s storage.Store, keepTree func(tenant string, keep bool)) {
	t.Helper()
	ts := s.(storage.TreeStore)
	for _, tenant := range []string{"acme", ""} {
		recs := AppendChain(t, s, tenant, nil, 10, 3)
		keepTree(tenant, false)
		recs = AppendChain(t, s, tenant, recs, 5, 2)
		keepTree(tenant, true)
		if n, err := ts.TreeSize(t.Context(), tenant); err != nil || n != 10 {
			t.Fatalf("%q: tree size: %d, %v; want 10", tenant, n, err)
		}
		recs = AppendChain(t, s, tenant, recs, 1, 1)
		if n, err := ts.TreeSize(t.Context(), tenant); err != nil || n != int64(len(recs)) {
			t.Fatalf("%q: tree size after the catch-up: %d, %v; want %d", tenant, n, err, len(recs))
		}
		CheckTree(t.Context(), t, s, tenant, recs)
	}
}
