// Package batch checks the shape of a batch passed to storage.Store.Append,
// for the backends of this module.
package batch

import (
	"errors"
	"fmt"
	"strings"

	"github.com/capsule-go/capsule/internal/tree"
	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/storage"
)

// ErrInvalid reports a batch that can never be appended as given: a record
// of another tenant, or records that do not follow each other. Retrying
// such a batch cannot help, so it is not a storage.ErrConflict.
var ErrInvalid = errors.New("invalid batch")

// Check reports whether recs, a non-empty batch for tenant's chain, is one
// a backend can take: tenant is a valid tenant id ([protocol.CheckTenant]),
// and recs holds only tenant's records, each following the previous one
// (sequence + 1, previous_hash = its hash), with distinct ids and hashes of
// 64 hex digits (a Merkle tree leaf each). Whether recs[0] extends the
// stored head is for the store to check.
func Check(tenant string, recs []protocol.Sealed) error {
	if err := protocol.CheckTenant(tenant); err != nil {
		return fmt.Errorf("tenant %q %w: %w", printable(tenant), err, ErrInvalid)
	}
	ids := make(map[string]struct{}, len(recs))
	for i, r := range recs {
		if r.Tenant != tenant {
			return fmt.Errorf("record %d (sequence %d) belongs to tenant %q: %w", i, r.Sequence, r.Tenant, ErrInvalid)
		}
		if _, dup := ids[r.ID]; dup {
			return fmt.Errorf("record %d (sequence %d) repeats id %s: %w", i, r.Sequence, r.ID, ErrInvalid)
		}
		ids[r.ID] = struct{}{}
		if _, err := tree.Leaf(r.Hash); err != nil {
			return fmt.Errorf("record %d (sequence %d): %w: %w", i, r.Sequence, err, ErrInvalid)
		}
		if i == 0 {
			continue
		}
		prev := recs[i-1]
		if r.Sequence != prev.Sequence+1 {
			return fmt.Errorf("record %d has sequence %d after %d: %w", i, r.Sequence, prev.Sequence, ErrInvalid)
		}
		if r.PreviousHash != prev.Hash {
			return fmt.Errorf("record %d (sequence %d) does not link to the hash of record %d: %w", i, r.Sequence, i-1, ErrInvalid)
		}
	}
	return nil
}

// CheckAll checks each non-empty batch of an AppendBatches call with
// [Check]: it sets errs[i] of each batch that fails to an error wrapping
// storage.ErrRejected, prefixed with the backend's name, and returns the
// indexes of the others, in order.
func CheckAll(backend string, batches []storage.Batch, errs []error) []int {
	var live []int
	for i, b := range batches {
		if len(b.Records) == 0 {
			continue
		}
		if err := Check(b.Tenant, b.Records); err != nil {
			errs[i] = fmt.Errorf("%s: append to %q: %w (%w)", backend, b.Tenant, storage.ErrRejected, err)
			continue
		}
		live = append(live, i)
	}
	return live
}

// FailRest gives err to every batch of an AppendBatches call that has no
// outcome yet (a nil entry of errs) and returns errs: the answer when the
// transaction carrying them is lost.
func FailRest(errs []error, err error) []error {
	for i := range errs {
		if errs[i] == nil {
			errs[i] = err
		}
	}
	return errs
}

// printable returns tenant cut to 64 bytes and made valid UTF-8, for
// quoting a refused tenant in an error.
func printable(tenant string) string {
	if len(tenant) > 64 {
		tenant = tenant[:64]
	}
	return strings.ToValidUTF8(tenant, "\uFFFD")
}
