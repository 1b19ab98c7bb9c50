package storage

import (
	"context"

	"golang.org/x/mod/sumdb/tlog"
)

// TreeStore is implemented by a Store that keeps, beside each chain, the
// chain's Merkle tree as a transparency log (RFC 6962, as
// golang.org/x/mod/sumdb/tlog computes it): entry i is the capsule at
// sequence i, and its leaf hash is tlog.RecordHash of the 32 bytes of the
// capsule's hash. The store keeps tlog's stored hashes, numbered as
// tlog.StoredHashIndex numbers them, so that a tree hash or a proof reads
// O(log n) of them and never the chain.
//
// The tree is data beside the chain: Append writes the stored hashes of
// its records in the same transaction as the records, when the stored tree
// covers the whole chain before them. A chain appended by a writer that
// keeps no tree (the Python reference, or this module before it kept one)
// has a tree covering only its first records, or none: [TreeStore.GrowTree]
// catches it up. The stored tree covers a prefix of the chain and never
// disagrees with it, short of someone editing the database.
type TreeStore interface {
	// TreeSize returns how many records of tenant's chain, from sequence 0,
	// the stored tree covers: 0 when it has none.
	TreeSize(ctx context.Context, tenant string) (int64, error)

	// ReadTreeHashes returns the stored hashes of tenant's tree at the
	// given indexes, in their order. An index the stored tree does not
	// hold is an error.
	ReadTreeHashes(ctx context.Context, tenant string, indexes []int64) ([]tlog.Hash, error)

	// GrowTree extends tenant's stored tree by up to max records of its
	// chain, in one transaction that excludes the chain's appenders, and
	// returns the size of the stored tree after it. A read-only store
	// returns an error wrapping errors.ErrUnsupported.
	GrowTree(ctx context.Context, tenant string, max int) (int64, error)

	// SaveCheckpoint keeps signedNote, a signed C2SP tlog-checkpoint of
	// tenant's chain (with its cosignatures, if any), as the chain's latest
	// checkpoint, unless the one kept already is of a larger tree.
	SaveCheckpoint(ctx context.Context, tenant string, signedNote []byte) error

	// LatestCheckpoint returns the checkpoint SaveCheckpoint kept for
	// tenant, or an error wrapping ErrNotFound when there is none.
	LatestCheckpoint(ctx context.Context, tenant string) ([]byte, error)
}
