package memory

import (
	"context"
	"fmt"
	"slices"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/capsule-go/capsule/internal/tree"
	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/storage"
)

var _ storage.TreeStore = (*Store)(nil)

// extendTree returns the stored hashes recs add to tenant's tree, which
// covers the whole chain before them. s.mu is held.
func (s *Store) extendTree(tenant string, recs []protocol.Sealed) ([]tlog.Hash, error) {
	size := int64(len(s.chains[tenant]))
	leaves := make([]tlog.Hash, len(recs))
	for i, r := range recs {
		leaf, err := tree.Leaf(r.Hash)
		if err != nil {
			return nil, fmt.Errorf("memory: record %d: %w", r.Sequence, err)
		}
		leaves[i] = leaf
	}
	stored := s.trees[tenant]
	idx := tree.Frontier(size)
	front := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		front[i] = stored[x]
	}
	return tree.Extend(size, front, leaves)
}

// TreeSize implements storage.TreeStore: a memory store's tree always
// covers its chains.
func (s *Store) TreeSize(ctx context.Context, tenant string) (int64, error) {
	h, err := s.Head(ctx, tenant)
	return h.Sequence + 1, err
}

// ReadTreeHashes implements storage.TreeStore.
func (s *Store) ReadTreeHashes(ctx context.Context, tenant string, indexes []int64) ([]tlog.Hash, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, storage.ErrClosed
	}
	stored := s.trees[tenant]
	hs := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(stored)) {
			return nil, fmt.Errorf("memory: tree of %q has no stored hash %d", tenant, x)
		}
		hs[i] = stored[x]
	}
	return hs, nil
}

// GrowTree implements storage.TreeStore: there is nothing to catch up.
func (s *Store) GrowTree(ctx context.Context, tenant string, max int) (int64, error) {
	return s.TreeSize(ctx, tenant)
}

// SaveCheckpoint implements storage.TreeStore.
func (s *Store) SaveCheckpoint(ctx context.Context, tenant string, signedNote []byte) error {
	size, err := tree.CheckpointSize(signedNote)
	if err != nil {
		return fmt.Errorf("memory: save checkpoint of %q: %w", tenant, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return storage.ErrClosed
	}
	if old, ok := s.checkpoints[tenant]; ok {
		if n, _ := tree.CheckpointSize(old); n > size {
			return nil
		}
	}
	s.checkpoints[tenant] = slices.Clone(signedNote)
	return nil
}

// LatestCheckpoint implements storage.TreeStore.
func (s *Store) LatestCheckpoint(ctx context.Context, tenant string) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, storage.ErrClosed
	}
	c, ok := s.checkpoints[tenant]
	if !ok {
		return nil, fmt.Errorf("memory: checkpoint of %q: %w", tenant, storage.ErrNotFound)
	}
	return slices.Clone(c), nil
}
