// Package logtree reads a chain as a transparency log: the Merkle tree
// (RFC 6962) whose entry i is the capsule at sequence i, with leaf hash
// SHA-256(0x00 || the 32 bytes of the capsule's hash). It computes tree
// hashes, inclusion proofs and consistency proofs with
// golang.org/x/mod/sumdb/tlog over the stored hashes a [storage.TreeStore]
// keeps, reading O(log n) of them.
//
// A chain whose stored tree lags behind it (written by the Python
// reference, or before this module kept trees) has its tree caught up when
// a proof needs it, in transactions of [GrowBatch] records that exclude the
// chain's appenders. A store that cannot write (opened read-only) or keeps
// no tree gets the missing part computed in memory from the chain, which
// then reads the records the stored tree lacks.
package logtree

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/capsule-go/capsule/internal/tree"
	"github.com/capsule-go/capsule/storage"
)

// GrowBatch is how many records one transaction of a catch-up adds to a
// stored tree: big enough to build a million-record tree in seconds, small
// enough that appenders wait for it only briefly.
const GrowBatch = 16384

// ErrTooLarge reports a tree size beyond the chain's length.
var ErrTooLarge = errors.New("the chain has fewer capsules than asked for")

// Leaf returns the leaf (record) hash of the capsule whose hex hash is
// hexHash: tlog.RecordHash of its 32 bytes.
func Leaf(hexHash string) (tlog.Hash, error) { return tree.Leaf(hexHash) }

// Sync catches tenant's stored tree up with its chain, if the store keeps
// trees and can write, and returns the chain's length, which the tree then
// covers unless the chain grew meanwhile.
func Sync(ctx context.Context, store storage.Store, tenant string) (int64, error) {
	h, err := store.Head(ctx, tenant)
	if err != nil {
		return 0, fmt.Errorf("logtree: head of %q: %w", tenant, err)
	}
	if _, err := Reader(ctx, store, tenant, h.Sequence+1); err != nil {
		return 0, err
	}
	return h.Sequence + 1, nil
}

// Reader returns a tlog.HashReader over tenant's tree that can answer for
// trees of up to size records, catching the stored tree up first when it
// covers fewer (see the package comment). It fails with an error wrapping
// ErrTooLarge when the chain has fewer than size capsules.
func Reader(ctx context.Context, store storage.Store, tenant string, size int64) (tlog.HashReader, error) {
	ts, ok := store.(storage.TreeStore)
	if !ok {
		return memoryReader(ctx, store, nil, tenant, 0, size)
	}
	have, err := ts.TreeSize(ctx, tenant)
	if err != nil {
		return nil, fmt.Errorf("logtree: tree of %q: %w", tenant, err)
	}
	for have < size {
		grown, err := ts.GrowTree(ctx, tenant, GrowBatch)
		if errors.Is(err, errors.ErrUnsupported) {
			return memoryReader(ctx, store, ts, tenant, have, size)
		}
		if err != nil {
			return nil, fmt.Errorf("logtree: catch up the tree of %q from %d records: %w", tenant, have, err)
		}
		if grown <= have {
			return nil, fmt.Errorf("logtree: tree of %q at %d records, asked for %d: %w", tenant, grown, size, ErrTooLarge)
		}
		have = grown
	}
	return storedReader{ctx, ts, tenant}, nil
}

// storedReader reads a TreeStore's stored hashes.
type storedReader struct {
	ctx    context.Context
	ts     storage.TreeStore
	tenant string
}

func (r storedReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	return r.ts.ReadTreeHashes(r.ctx, r.tenant, indexes)
}

// memoryReader computes the stored hashes of records [from, size) from the
// chain, on top of the stored tree of from records in ts (nil when the store
// keeps none).
func memoryReader(ctx context.Context, store storage.Store, ts storage.TreeStore, tenant string, from, size int64) (tlog.HashReader, error) {
	var front []tlog.Hash
	if from > 0 {
		var err error
		if front, err = ts.ReadTreeHashes(ctx, tenant, tree.Frontier(from)); err != nil {
			return nil, fmt.Errorf("logtree: tree of %q: %w", tenant, err)
		}
	}
	leaves, err := readLeaves(ctx, store, tenant, from, size)
	if err != nil {
		return nil, err
	}
	added, err := tree.Extend(from, front, leaves)
	if err != nil {
		return nil, fmt.Errorf("logtree: tree of %q: %w", tenant, err)
	}
	base := tlog.StoredHashCount(from)
	return tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		hs := make([]tlog.Hash, len(indexes))
		var stored []int
		for i, x := range indexes {
			if x >= base {
				if x-base >= int64(len(added)) {
					return nil, fmt.Errorf("logtree: stored hash %d is beyond a tree of %d records", x, size)
				}
				hs[i] = added[x-base]
			} else {
				stored = append(stored, i)
			}
		}
		if len(stored) > 0 {
			idx := make([]int64, len(stored))
			for k, i := range stored {
				idx[k] = indexes[i]
			}
			old, err := ts.ReadTreeHashes(ctx, tenant, idx)
			if err != nil {
				return nil, err
			}
			for k, i := range stored {
				hs[i] = old[k]
			}
		}
		return hs, nil
	}), nil
}

// readLeaves returns the leaves of tenant's capsules [from, to).
func readLeaves(ctx context.Context, store storage.Store, tenant string, from, to int64) ([]tlog.Hash, error) {
	leaves := make([]tlog.Hash, 0, to-from)
	if from >= to {
		return leaves, nil
	}
	for rec, err := range store.Scan(ctx, tenant, from) {
		if err != nil {
			return nil, fmt.Errorf("logtree: read the chain of %q: %w", tenant, err)
		}
		n := from + int64(len(leaves))
		if rec.Sequence != n {
			return nil, fmt.Errorf("logtree: chain of %q: capsule %d is missing (found %d)", tenant, n, rec.Sequence)
		}
		leaf, err := tree.Leaf(rec.Hash)
		if err != nil {
			return nil, fmt.Errorf("logtree: chain of %q, capsule %d: %w", tenant, n, err)
		}
		leaves = append(leaves, leaf)
		if n+1 == to {
			return leaves, nil
		}
	}
	return nil, fmt.Errorf("logtree: chain of %q has %d capsules, asked for %d: %w", tenant, from+int64(len(leaves)), to, ErrTooLarge)
}

// TreeHash returns the root hash of the tree of tenant's first size
// capsules.
func TreeHash(ctx context.Context, store storage.Store, tenant string, size int64) (tlog.Hash, error) {
	r, err := Reader(ctx, store, tenant, size)
	if err != nil {
		return tlog.Hash{}, err
	}
	h, err := tlog.TreeHash(size, r)
	if err != nil {
		return tlog.Hash{}, fmt.Errorf("logtree: tree hash of %q at %d: %w", tenant, size, err)
	}
	return h, nil
}

// ProveRecord returns the inclusion proof of tenant's capsule at sequence
// index in the tree of its first size capsules.
func ProveRecord(ctx context.Context, store storage.Store, tenant string, index, size int64) (tlog.RecordProof, error) {
	if index < 0 || index >= size {
		return nil, fmt.Errorf("logtree: capsule %d is not in a tree of %d capsules", index, size)
	}
	r, err := Reader(ctx, store, tenant, size)
	if err != nil {
		return nil, err
	}
	p, err := tlog.ProveRecord(size, index, r)
	if err != nil {
		return nil, fmt.Errorf("logtree: prove capsule %d of %q in %d: %w", index, tenant, size, err)
	}
	return p, nil
}

// ProveTree returns the consistency proof that the tree of tenant's first
// newSize capsules extends the tree of its first oldSize ones.
func ProveTree(ctx context.Context, store storage.Store, tenant string, oldSize, newSize int64) (tlog.TreeProof, error) {
	if oldSize < 0 || oldSize > newSize {
		return nil, fmt.Errorf("logtree: no consistency proof from %d to %d capsules", oldSize, newSize)
	}
	r, err := Reader(ctx, store, tenant, newSize)
	if err != nil {
		return nil, err
	}
	if oldSize == 0 || oldSize == newSize {
		return tlog.TreeProof{}, nil
	}
	p, err := tlog.ProveTree(newSize, oldSize, r)
	if err != nil {
		return nil, fmt.Errorf("logtree: prove %q from %d to %d: %w", tenant, oldSize, newSize, err)
	}
	return p, nil
}
