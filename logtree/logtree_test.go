package logtree_test

import (
	"context"
	"errors"
	"testing"

	"github.com/capsule-go/capsule/logtree"
	"github.com/capsule-go/capsule/storage"
	"github.com/capsule-go/capsule/storage/memory"
	"github.com/capsule-go/capsule/storage/storagetest"
)

// plainStore hides the memory store's tree: a store that keeps none.
type plainStore struct{ storage.Store }

// A store that keeps no tree gets its tree computed from the chain, with
// the same roots and proofs as tlog's; Check says it keeps none.
func TestStoreWithoutTree(t *testing.T) {
	ctx := context.Background()
	m := memory.New()
	recs, err := storagetest.AppendRetry(ctx, m, "t", 37)
	if err != nil {
		t.Fatal(err)
	}
	s := plainStore{m}
	storagetest.CheckTree(ctx, t, s, "t", recs)
	if n, err := logtree.Sync(ctx, s, "t"); err != nil || n != 37 {
		t.Fatalf("Sync: %d, %v", n, err)
	}
	if _, err := logtree.Check(ctx, s, "t"); err == nil {
		t.Fatal("Check of a store without a tree passed")
	}
	if _, err := logtree.ProveTree(ctx, s, "t", 5, 3); err == nil {
		t.Fatal("consistency proof from 5 to 3 capsules")
	}
	if _, err := logtree.ProveRecord(ctx, s, "t", 37, 37); err == nil {
		t.Fatal("inclusion proof of capsule 37 in 37")
	}
	if _, err := logtree.TreeHash(ctx, s, "t", 38); !errors.Is(err, logtree.ErrTooLarge) {
		t.Fatalf("tree hash beyond the chain: %v", err)
	}
}

// Check passes on a whole tree and reports its size.
func TestCheck(t *testing.T) {
	ctx := context.Background()
	m := memory.New()
	if _, err := storagetest.AppendRetry(ctx, m, "", 5000); err != nil {
		t.Fatal(err)
	}
	rep, err := logtree.Check(ctx, m, "")
	if err != nil || rep.ChainSize != 5000 || rep.TreeSize != 5000 {
		t.Fatalf("Check: %+v, %v", rep, err)
	}
}
