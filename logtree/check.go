package logtree

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/capsule-go/capsule/internal/tree"
	"github.com/capsule-go/capsule/storage"
)

// ErrMismatch reports a stored tree that differs from the tree of the
// chain: the tree or the chain was altered.
var ErrMismatch = errors.New("the stored tree differs from the chain's")

// Report is what Check found.
type Report struct {
	ChainSize int64 // capsules in the chain
	TreeSize  int64 // capsules the stored tree covers
}

// checkBatch is how many capsules Check derives and compares at a time.
const checkBatch = 4096

// Check re-derives tenant's tree from its chain and compares it with the
// stored one, hash by hash: an fsck of the tree. It reads the whole chain
// and the whole stored tree, in bounded batches. A stored tree covering
// more capsules than the chain holds (the chain was cut short), or one
// whose hashes differ, fails with an error wrapping ErrMismatch.
func Check(ctx context.Context, store storage.Store, tenant string) (Report, error) {
	var rep Report
	ts, ok := store.(storage.TreeStore)
	if !ok {
		return rep, errors.New("logtree: the store keeps no tree")
	}
	var err error
	if rep.TreeSize, err = ts.TreeSize(ctx, tenant); err != nil {
		return rep, fmt.Errorf("logtree: tree of %q: %w", tenant, err)
	}
	var front []tlog.Hash
	var leaves []tlog.Hash
	var size int64 // capsules derived so far
	flush := func() error {
		added, err := tree.Extend(size, front, leaves)
		if err != nil {
			return err
		}
		base := tlog.StoredHashCount(size)
		end := size + int64(len(leaves))
		if size < rep.TreeSize {
			n := min(end, rep.TreeSize)
			idx := make([]int64, tlog.StoredHashCount(n)-base)
			for i := range idx {
				idx[i] = base + int64(i)
			}
			stored, err := ts.ReadTreeHashes(ctx, tenant, idx)
			if err != nil {
				return fmt.Errorf("logtree: tree of %q: %w", tenant, err)
			}
			for i, h := range stored {
				if h != added[i] {
					level, node := tlog.SplitStoredHashIndex(base + int64(i))
					return fmt.Errorf("%w: stored hash %d (level %d, node %d, covering capsules %d to %d) of tenant %q",
						ErrMismatch, base+int64(i), level, node, node<<level, (node+1)<<level-1, tenant)
				}
			}
		}
		// The frontier of end, from the old frontier and the added hashes.
		known := map[int64]tlog.Hash{}
		for i, x := range tree.Frontier(size) {
			known[x] = front[i]
		}
		for i, h := range added {
			known[base+int64(i)] = h
		}
		idx := tree.Frontier(end)
		front = make([]tlog.Hash, len(idx))
		for i, x := range idx {
			front[i] = known[x]
		}
		size, leaves = end, leaves[:0]
		return nil
	}
	for rec, err := range store.Scan(ctx, tenant, 0) {
		if err != nil {
			return rep, fmt.Errorf("logtree: read the chain of %q: %w", tenant, err)
		}
		if want := size + int64(len(leaves)); rec.Sequence != want {
			return rep, fmt.Errorf("logtree: chain of %q: capsule %d is missing (found %d)", tenant, want, rec.Sequence)
		}
		leaf, err := tree.Leaf(rec.Hash)
		if err != nil {
			return rep, fmt.Errorf("logtree: chain of %q, capsule %d: %w", tenant, rec.Sequence, err)
		}
		leaves = append(leaves, leaf)
		if len(leaves) == checkBatch {
			if err := flush(); err != nil {
				return rep, err
			}
		}
	}
	if err := flush(); err != nil {
		return rep, err
	}
	rep.ChainSize = size
	if rep.TreeSize > rep.ChainSize {
		return rep, fmt.Errorf("%w: the stored tree of %q covers %d capsules, the chain holds %d: capsules were removed from its end",
			ErrMismatch, tenant, rep.TreeSize, rep.ChainSize)
	}
	return rep, nil
}
