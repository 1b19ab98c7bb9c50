// Package storage defines the contract between the capsule runtime and a
// database, small enough to implement for another database.
//
// A Store keeps sealed capsules ([protocol.Sealed]) in chains, one chain
// per tenant.
// The empty tenant "" is the null tenant: a chain of its own, stored with a
// NULL tenant column where the database has one. The runtime decides
// sequence numbers and hashes; a Store only checks, atomically, that a batch
// extends the chain head it was computed against, so that writers in other
// processes can never fork a chain.
//
// Backends live in sub-packages: storage/sqlite and storage/postgres. The
// package storagetest holds the contract test suite every backend must pass.
package storage

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math"

	"github.com/capsule-go/capsule/protocol"
)

// Errors a Store reports. Wrap them with context; callers test with errors.Is.
var (
	// ErrNotFound reports that no capsule matches a lookup.
	ErrNotFound = errors.New("capsule not found")
	// ErrAmbiguous reports that an id prefix matches more than one capsule.
	ErrAmbiguous = errors.New("ambiguous capsule id prefix")
	// ErrConflict reports that a batch does not extend the current chain
	// head: another writer appended first. Nothing of the batch was stored.
	ErrConflict = errors.New("chain head moved")
	// ErrClosed reports use of a closed Store.
	ErrClosed = errors.New("store is closed")
	// ErrRejected reports that the database refused a record of the batch
	// itself (a constraint, a value too long for its column, an id already
	// stored): nothing of the batch was stored, and the other records of
	// the batch may be fine on their own.
	ErrRejected = errors.New("database rejected a record")
	// ErrNotAttempted reports a batch of [MultiAppender.AppendBatches] left
	// out because another batch of the same transaction failed: nothing of
	// it was stored, and it may be retried as it is.
	ErrNotAttempted = errors.New("batch not attempted: another batch of its transaction failed")
	// ErrOutcomeUnknown reports a batch whose transaction may have
	// committed: the connection failed after the commit was sent, and the
	// store could not find out. The batch may be stored, whole, now or
	// later: read the chain head again before appending to it.
	ErrOutcomeUnknown = errors.New("whether the batch was stored is unknown")
	// ErrReadOnly reports a write (an append, a tree or checkpoint update)
	// on a store opened read-only. It wraps [errors.ErrUnsupported].
	ErrReadOnly = fmt.Errorf("store is read-only: %w", errors.ErrUnsupported)
)

// ScanAll is the from of a [Store.Scan] that streams every row of a chain,
// rows at a negative sequence included. No valid chain has one, so a
// verifier scans from here to report them rather than skip them.
const ScanAll = math.MinInt64

// Record is [protocol.Sealed], the sealed capsule as stored, under the
// name this package first gave it; it stays for the backends and programs
// that use it.
//
// Deprecated: use protocol.Sealed, its one name across the module.
type Record = protocol.Sealed

// Head is the last link of a chain.
type Head struct {
	Sequence int64  // sequence of the last capsule; -1 for an empty chain
	Hash     string // hash of the last capsule; "" for an empty chain
}

// Empty reports whether the chain has no capsule yet.
func (h Head) Empty() bool { return h.Sequence < 0 }

// Chain summarizes one tenant's chain, as [Store.Chains] reports it.
type Chain struct {
	Tenant string          // "" is the null tenant
	Length int64           // how many capsules the chain holds
	First  protocol.Sealed // the capsule with the lowest sequence (genesis in an intact chain)
	Last   protocol.Sealed // the capsule with the highest sequence: the chain head
}

// Filter selects capsules for List and Count. Zero fields do not filter.
type Filter struct {
	// Tenant restricts to one chain when non-nil; a pointer to "" selects
	// the null tenant. nil means every tenant.
	Tenant    *string
	Type      string
	Domain    string
	SessionID string
	// MaxSequence, when non-nil, restricts to the capsules at sequence
	// *MaxSequence or below: a seek by key, which the sequence indexes
	// answer without reading the rows above, however deep the page.
	MaxSequence *int64
	// MinSequence, when non-nil, restricts to the capsules at sequence
	// *MinSequence or above.
	MinSequence *int64
	Limit       int   // maximum rows; 0 means no limit
	Offset      int64 // rows to skip
	// MaxBytes, when > 0, bounds List by content: List stops reading once
	// the records it has read hold MaxBytes bytes of Data or more. So it
	// returns at least one record, whatever its size, and at most
	// MaxBytes plus one record's Data; the next page starts at Offset
	// plus the number of records returned. Count ignores it.
	MaxBytes int64
}

// Batch is the next links of one chain, for [MultiAppender].
type Batch struct {
	Tenant  string
	Records []protocol.Sealed
}

// MultiAppender is implemented by a Store that can append to several
// chains in one transaction, which the runtime's group commit uses so
// that writers spread over many tenants share commits.
type MultiAppender interface {
	// AppendBatches stores each batch as Append(ctx, b.Tenant, b.Records)
	// would, carrying as many of them as it can in one transaction, and
	// returns one error per batch: nil when that batch is durable. The
	// batches name distinct tenants. A batch that does not extend its
	// chain's head gets an error wrapping ErrConflict and one the database
	// refuses an error wrapping ErrRejected; neither keeps the other
	// batches from being stored, or else those get an error wrapping
	// ErrNotAttempted. An error of the transaction as a whole (a lost
	// connection, a failed commit) is every batch's error.
	AppendBatches(ctx context.Context, batches []Batch) []error
}

// AppendBatches stores batches through s's [MultiAppender] when it has one,
// else with one Append per batch, and returns one error per batch.
func AppendBatches(ctx context.Context, s Store, batches []Batch) []error {
	if m, ok := s.(MultiAppender); ok {
		return m.AppendBatches(ctx, batches)
	}
	errs := make([]error, len(batches))
	for i, b := range batches {
		errs[i] = s.Append(ctx, b.Tenant, b.Records)
	}
	return errs
}

// Store is the storage contract. Implementations are safe for concurrent use.
type Store interface {
	// Append stores recs, in order, as the next links of tenant's chain, in
	// one transaction that is durable when Append returns nil. Every record
	// belongs to tenant; recs[0].Sequence must be the current head's
	// sequence + 1 (0 for an empty chain) and recs[0].PreviousHash its hash,
	// each next record following the previous one. If the head differs,
	// Append stores nothing and returns an error wrapping ErrConflict. A
	// batch that is not a chain of tenant's records, or reuses a stored id,
	// stores nothing and returns an error that does not wrap ErrConflict
	// (retrying cannot help); when the database refuses a record, that
	// error wraps ErrRejected. An empty batch does nothing.
	Append(ctx context.Context, tenant string, recs []protocol.Sealed) error

	// Head returns the last link of tenant's chain.
	Head(ctx context.Context, tenant string) (Head, error)

	// Get returns the capsule whose id is id or, when id is shorter than a
	// full UUID, starts with it (ErrAmbiguous when several do). A non-nil
	// tenant restricts the lookup to that chain. An empty id matches
	// nothing (ErrNotFound).
	Get(ctx context.Context, id string, tenant *string) (protocol.Sealed, error)

	// GetByHash returns the capsule with the given hash, restricted to one
	// chain when tenant is non-nil.
	GetByHash(ctx context.Context, hash string, tenant *string) (protocol.Sealed, error)

	// Scan streams tenant's chain in sequence order starting at sequence
	// from. It holds at most a bounded batch of records in memory. The
	// iteration stops at the first error, which it yields.
	Scan(ctx context.Context, tenant string, from int64) iter.Seq2[protocol.Sealed, error]

	// List returns the capsules matching f ordered by sequence descending
	// (newest first), then tenant ascending.
	List(ctx context.Context, f Filter) ([]protocol.Sealed, error)

	// Count returns how many capsules match f, ignoring Limit and Offset.
	Count(ctx context.Context, f Filter) (int64, error)

	// Tenants returns every tenant that has a chain, "" (the null tenant)
	// included when it has one, in ascending order.
	Tenants(ctx context.Context) ([]string, error)

	// Chains summarizes every chain that has a capsule, in the order of
	// Tenants. It reads each chain's first and last capsule and its length
	// through the database's indexes, never the whole chain's content.
	Chains(ctx context.Context) ([]Chain, error)

	// Close releases the store's resources. Closing twice does nothing.
	Close() error
}
