package storagetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/storage"
)

// capsuleTypes are the eight capsule types of the protocol.
var capsuleTypes = protocol.Types()

// sessionIDs are the session ids synthetic records cycle through; "" is a
// null session.
var sessionIDs = []string{"", "5e55e55e-0000-4000-8000-000000000001", "5e55e55e-0000-4000-8000-000000000002"}

// NewRecord returns a synthetic record for position seq of tenant's chain,
// linked to prev (the hash of the previous record, "" for genesis). Its id,
// hash and signatures are random; its type, domain and session cycle with
// seq; its Data is a small JSON object, deliberately not canonical (spaces,
// unsorted keys, non-ASCII text) so that a store altering the bytes is
// caught. The store does not verify cryptography, so nothing here is a
// valid seal.
func NewRecord(tenant string, seq int64, prev string) protocol.Sealed {
	r := protocol.Sealed{
		ID:           newUUID(),
		Type:         pick(capsuleTypes, seq),
		Domain:       pick([]string{"agents", "vault"}, seq),
		Tenant:       tenant,
		Sequence:     seq,
		PreviousHash: prev,
		SessionID:    pick(sessionIDs, seq),
		Hash:         randomHex(32),
		Signature:    randomHex(64),
		SignedAt:     fmt.Sprintf("2026-03-01T12:%02d:%02d.%06d+00:00", mod(seq/60, 60), mod(seq, 60), mod(seq, 1000000)),
		SignedBy:     "qp_key_" + randomHex(2),
	}
	if mod(seq, 2) == 1 {
		r.SignaturePQ = randomHex(48)
	}
	r.Data = recordData(r)
	return r
}

// recordData encodes the JSON object stored as r.Data. It carries the
// domain, as a capsule's content does, because a store may read the domain
// back from it.
func recordData(r protocol.Sealed) []byte {
	q := func(s string) string {
		b, err := json.Marshal(s)
		if err != nil {
			panic(err) // a string always marshals
		}
		return string(b)
	}
	return fmt.Appendf(nil, `{"id": %s, "type": %s, "domain": %s, "sequence": %d, "note": "ü ✓ <&> \u2028 \"q\" \\ \u0001", "ratio": 1.50, "tenant": %s}`,
		q(r.ID), q(r.Type), q(r.Domain), r.Sequence, q(r.Tenant))
}

// refresh recomputes r.Data after a test changed r's fields.
func refresh(r protocol.Sealed) protocol.Sealed {
	r.Data = recordData(r)
	return r
}

// AppendChain appends n synthetic records to tenant's chain in s, in
// batches of batch, after recs (the chain so far), and returns recs with
// them.
func AppendChain(t testing.TB, s storage.Store, tenant string, recs []protocol.Sealed, n, batch int) []protocol.Sealed {
	t.Helper()
	for n > 0 {
		head := storage.Head{Sequence: -1}
		if len(recs) > 0 {
			head = storage.Head{Sequence: recs[len(recs)-1].Sequence, Hash: recs[len(recs)-1].Hash}
		}
		b := Chain(tenant, head, min(batch, n))
		if err := s.Append(context.Background(), tenant, b); err != nil {
			t.Fatal(err)
		}
		recs, n = append(recs, b...), n-len(b)
	}
	return recs
}

// Chain returns n synthetic records following head in tenant's chain.
func Chain(tenant string, head storage.Head, n int) []protocol.Sealed {
	recs := make([]protocol.Sealed, n)
	prev, seq := head.Hash, head.Sequence+1
	for i := range recs {
		recs[i] = NewRecord(tenant, seq, prev)
		prev, seq = recs[i].Hash, seq+1
	}
	return recs
}

// AppendRetry appends n synthetic records to tenant's chain one at a time,
// the way independent writers do: read the head, build the next record,
// append, and start over on storage.ErrConflict. It returns the records
// whose Append succeeded, in order, and stops at the first other error or
// when ctx ends.
func AppendRetry(ctx context.Context, s storage.Store, tenant string, n int) ([]protocol.Sealed, error) {
	acked := make([]protocol.Sealed, 0, n)
	for len(acked) < n {
		head, err := s.Head(ctx, tenant)
		if err != nil {
			return acked, fmt.Errorf("head of %q: %w", tenant, err)
		}
		rec := NewRecord(tenant, head.Sequence+1, head.Hash)
		err = s.Append(ctx, tenant, []protocol.Sealed{rec})
		switch {
		case err == nil:
			acked = append(acked, rec)
		case errors.Is(err, storage.ErrConflict):
			if ctx.Err() != nil {
				return acked, fmt.Errorf("append to %q: %w", tenant, ctx.Err())
			}
		default:
			return acked, fmt.Errorf("append to %q at %d: %w", tenant, rec.Sequence, err)
		}
	}
	return acked, nil
}

// CheckChain scans tenant's chain and reports through t every gap, broken
// link or record of another tenant, and a length other than want. It
// returns the records scanned.
func CheckChain(ctx context.Context, t testing.TB, s storage.Store, tenant string, want int) []protocol.Sealed {
	t.Helper()
	var recs []protocol.Sealed
	prev := ""
	for r, err := range s.Scan(ctx, tenant, 0) {
		if err != nil {
			t.Fatalf("scan %q: %v", tenant, err)
		}
		n := int64(len(recs))
		if r.Sequence != n {
			t.Fatalf("chain %q: record %d has sequence %d", tenant, n, r.Sequence)
		}
		if r.PreviousHash != prev {
			t.Fatalf("chain %q: record %d has previous_hash %q, want %q", tenant, n, r.PreviousHash, prev)
		}
		if r.Tenant != tenant {
			t.Fatalf("chain %q: record %d has tenant %q", tenant, n, r.Tenant)
		}
		prev = r.Hash
		recs = append(recs, r)
	}
	if len(recs) != want {
		t.Fatalf("chain %q has %d records, want %d", tenant, len(recs), want)
	}
	return recs
}

// mod is n modulo m, in [0, m).
func mod(n, m int64) int64 { return (n%m + m) % m }

// pick returns the element of list at position seq, cycling.
func pick(list []string, seq int64) string { return list[mod(seq, int64(len(list)))] }

func newUUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand.Read does not fail
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand.Read does not fail
	}
	return hex.EncodeToString(b)
}
