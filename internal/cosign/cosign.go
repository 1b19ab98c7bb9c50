// Package cosign has a chain's checkpoint cosigned by witnesses and keeps
// the cosigned checkpoint in the database: the round that both "capsule
// witness" and the library's periodic witnessing run.
package cosign

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/capsule-go/capsule/checkpoint"
	"github.com/capsule-go/capsule/logtree"
	"github.com/capsule-go/capsule/storage"
	"github.com/capsule-go/capsule/witness"
)

// Log is the chain to be witnessed and how its checkpoints are signed.
type Log struct {
	Store  storage.Store // must be a storage.TreeStore to keep the result
	Tenant string
	Origin string                   // the checkpoint's origin and key name
	Signer checkpoint.MessageSigner // the log's key
}

// Result is the outcome of a round.
type Result struct {
	Checkpoint checkpoint.Checkpoint // the checkpoint the witnesses were asked to cosign
	Cosigned   []byte                // the signed checkpoint with the cosignatures obtained
	Errs       []error               // per witness, in order: nil for those that cosigned
}

// Cosigners counts the witnesses that cosigned.
func (r Result) Cosigners() int {
	n := 0
	for _, err := range r.Errs {
		if err == nil {
			n++
		}
	}
	return n
}

// Forked reports whether a witness saw a different history of the log.
func (r Result) Forked() bool {
	for _, err := range r.Errs {
		var fork *witness.ForkError
		if errors.As(err, &fork) {
			return true
		}
	}
	return false
}

// maxTakes bounds how often a round takes a new checkpoint because a
// witness had already cosigned a larger one (written meanwhile by another
// process appending to the chain).
const maxTakes = 3

// Round takes a checkpoint of the chain and asks every witness to cosign
// it, with consistency proofs from the chain's tree. A witness that has cosigned a larger
// tree than the checkpoint while the chain has grown as large makes the
// round take a new checkpoint; if the chain is shorter than what the
// witness cosigned, that witness's error stays a *witness.AheadError.
// The error reports what kept the round from asking.
func Round(ctx context.Context, c *witness.Client, ws []witness.Witness, log Log) (Result, error) {
	prove := func(ctx context.Context, old, n int64) (tlog.TreeProof, error) {
		return logtree.ProveTree(ctx, log.Store, log.Tenant, old, n)
	}
	var r Result
	for take := 1; ; take++ {
		cp, signed, err := checkpoint.Take(ctx, log.Store, log.Tenant, log.Origin, log.Signer)
		if err != nil {
			return r, err
		}
		r.Checkpoint = cp
		r.Cosigned, r.Errs = c.Cosign(ctx, ws, signed, prove)
		if take == maxTakes || !stale(ctx, log, r.Errs) {
			break
		}
	}
	return r, nil
}

// Save keeps a cosigned checkpoint as the chain's latest
// (storage.TreeStore.SaveCheckpoint), where "capsule prove" finds it.
func Save(ctx context.Context, log Log, cosigned []byte) error {
	ts, ok := log.Store.(storage.TreeStore)
	if !ok {
		return fmt.Errorf("cosign: the store (%T) cannot keep checkpoints", log.Store)
	}
	if err := ts.SaveCheckpoint(ctx, log.Tenant, cosigned); err != nil {
		return fmt.Errorf("cosign: keep the cosigned checkpoint: %w", err)
	}
	return nil
}

// stale reports whether a witness has cosigned a larger tree than the
// checkpoint and the chain now has as many capsules: the checkpoint was
// taken before another process appended and had that cosigned, and a new
// one will do. (A chain shorter than what a witness cosigned lost
// capsules: no new checkpoint helps.)
func stale(ctx context.Context, log Log, errs []error) bool {
	need := int64(-1)
	for _, err := range errs {
		var a *witness.AheadError
		if errors.As(err, &a) {
			need = max(need, a.WitnessSize)
		}
	}
	if need < 0 {
		return false
	}
	h, err := log.Store.Head(ctx, log.Tenant)
	return err == nil && h.Sequence+1 >= need
}
