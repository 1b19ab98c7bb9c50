// Package memory is an in-memory storage.Store: for tests, benchmarks and
// programs that want capsules sealed but not kept. Nothing survives the
// process.
package memory

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"strings"
	"sync"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/storage"
)

// Store keeps chains in memory. The zero value is not ready; use New.
type Store struct {
	mu     sync.RWMutex
	chains map[string][]protocol.Sealed
	byID   map[string]ref
	closed bool
	// trees holds each chain's stored tree hashes (see tree.go), and
	// checkpoints each chain's latest checkpoint.
	trees       map[string][]tlog.Hash
	checkpoints map[string][]byte
}

type ref struct {
	tenant string
	index  int
}

// New returns an empty store.
func New() *Store {
	return &Store{chains: make(map[string][]protocol.Sealed), byID: make(map[string]ref),
		trees: make(map[string][]tlog.Hash), checkpoints: make(map[string][]byte)}
}

var _ storage.Store = (*Store)(nil)

// Append implements storage.Store.
func (s *Store) Append(ctx context.Context, tenant string, recs []protocol.Sealed) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return storage.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	chain := s.chains[tenant]
	head := headOf(chain)
	for i := range recs {
		r := &recs[i]
		if r.Tenant != tenant {
			return fmt.Errorf("memory: record %s belongs to tenant %q, not %q", r.ID, r.Tenant, tenant)
		}
		if r.Sequence != head.Sequence+1 || r.PreviousHash != head.Hash {
			if i == 0 {
				return fmt.Errorf("memory: record %d does not extend head %d: %w", r.Sequence, head.Sequence, storage.ErrConflict)
			}
			return fmt.Errorf("memory: batch record %d does not follow record %d", r.Sequence, head.Sequence)
		}
		if _, dup := s.byID[r.ID]; dup {
			return fmt.Errorf("memory: duplicate id %s", r.ID)
		}
		if slices.ContainsFunc(recs[:i], func(p protocol.Sealed) bool { return p.ID == r.ID }) {
			return fmt.Errorf("memory: duplicate id %s inside the batch", r.ID)
		}
		head = storage.Head{Sequence: r.Sequence, Hash: r.Hash}
	}
	added, err := s.extendTree(tenant, recs)
	if err != nil {
		return err
	}
	s.trees[tenant] = append(s.trees[tenant], added...)
	for _, r := range recs {
		r.Data = slices.Clone(r.Data)
		s.byID[r.ID] = ref{tenant, len(chain)}
		chain = append(chain, r)
	}
	s.chains[tenant] = chain
	return nil
}

func headOf(chain []protocol.Sealed) storage.Head {
	if len(chain) == 0 {
		return storage.Head{Sequence: -1}
	}
	last := chain[len(chain)-1]
	return storage.Head{Sequence: last.Sequence, Hash: last.Hash}
}

// Head implements storage.Store.
func (s *Store) Head(ctx context.Context, tenant string) (storage.Head, error) {
	if err := ctx.Err(); err != nil {
		return storage.Head{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return storage.Head{}, storage.ErrClosed
	}
	return headOf(s.chains[tenant]), nil
}

// Get implements storage.Store.
func (s *Store) Get(ctx context.Context, id string, tenant *string) (protocol.Sealed, error) {
	if err := ctx.Err(); err != nil {
		return protocol.Sealed{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return protocol.Sealed{}, storage.ErrClosed
	}
	if r, ok := s.byID[id]; ok {
		if tenant == nil || *tenant == r.tenant {
			return s.chains[r.tenant][r.index], nil
		}
		return protocol.Sealed{}, storage.ErrNotFound
	}
	var found []protocol.Sealed
	for k, r := range s.byID {
		if id != "" && len(id) < 36 && strings.HasPrefix(k, id) && (tenant == nil || *tenant == r.tenant) {
			found = append(found, s.chains[r.tenant][r.index])
		}
	}
	switch len(found) {
	case 0:
		return protocol.Sealed{}, storage.ErrNotFound
	case 1:
		return found[0], nil
	}
	return protocol.Sealed{}, storage.ErrAmbiguous
}

// GetByHash implements storage.Store.
func (s *Store) GetByHash(ctx context.Context, hash string, tenant *string) (protocol.Sealed, error) {
	if err := ctx.Err(); err != nil {
		return protocol.Sealed{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return protocol.Sealed{}, storage.ErrClosed
	}
	for t, chain := range s.chains {
		if tenant != nil && *tenant != t {
			continue
		}
		for _, r := range chain {
			if r.Hash == hash {
				return r, nil
			}
		}
	}
	return protocol.Sealed{}, storage.ErrNotFound
}

// Scan implements storage.Store.
func (s *Store) Scan(ctx context.Context, tenant string, from int64) iter.Seq2[protocol.Sealed, error] {
	return func(yield func(protocol.Sealed, error) bool) {
		for i := max(from, 0); ; i++ {
			s.mu.RLock()
			closed := s.closed
			chain := s.chains[tenant]
			s.mu.RUnlock()
			if closed {
				yield(protocol.Sealed{}, storage.ErrClosed)
				return
			}
			if err := ctx.Err(); err != nil {
				yield(protocol.Sealed{}, err)
				return
			}
			if i >= int64(len(chain)) {
				return
			}
			if !yield(chain[i], nil) {
				return
			}
		}
	}
}

func (s *Store) matching(f storage.Filter) []protocol.Sealed {
	var out []protocol.Sealed
	for t, chain := range s.chains {
		if f.Tenant != nil && *f.Tenant != t {
			continue
		}
		for _, r := range chain {
			if (f.Type == "" || r.Type == f.Type) && (f.Domain == "" || r.Domain == f.Domain) &&
				(f.SessionID == "" || r.SessionID == f.SessionID) && (f.MaxSequence == nil || r.Sequence <= *f.MaxSequence) && (f.MinSequence == nil || r.Sequence >= *f.MinSequence) {
				out = append(out, r)
			}
		}
	}
	slices.SortFunc(out, func(a, b protocol.Sealed) int {
		if a.Sequence != b.Sequence {
			return int(b.Sequence - a.Sequence)
		}
		return strings.Compare(a.Tenant, b.Tenant)
	})
	return out
}

// List implements storage.Store.
func (s *Store) List(ctx context.Context, f storage.Filter) ([]protocol.Sealed, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, storage.ErrClosed
	}
	out := s.matching(f)
	if f.Offset >= int64(len(out)) {
		return []protocol.Sealed{}, nil
	}
	out = out[f.Offset:]
	if f.Limit > 0 && f.Limit < len(out) {
		out = out[:f.Limit]
	}
	if f.MaxBytes > 0 {
		var read int64
		for i, r := range out {
			if read += int64(len(r.Data)); read >= f.MaxBytes {
				return out[:i+1], nil
			}
		}
	}
	return out, nil
}

// Count implements storage.Store.
func (s *Store) Count(ctx context.Context, f storage.Filter) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, storage.ErrClosed
	}
	return int64(len(s.matching(f))), nil
}

// Tenants implements storage.Store.
func (s *Store) Tenants(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, storage.ErrClosed
	}
	var out []string
	for t, chain := range s.chains {
		if len(chain) > 0 {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Chains implements storage.Store.
func (s *Store) Chains(ctx context.Context) ([]storage.Chain, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, storage.ErrClosed
	}
	var out []storage.Chain
	for t, chain := range s.chains {
		if len(chain) > 0 {
			out = append(out, storage.Chain{Tenant: t, Length: int64(len(chain)), First: chain[0], Last: chain[len(chain)-1]})
		}
	}
	slices.SortFunc(out, func(a, b storage.Chain) int { return strings.Compare(a.Tenant, b.Tenant) })
	return out, nil
}

// Close implements storage.Store.
func (s *Store) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}
