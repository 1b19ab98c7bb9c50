package storagetest

import (
	"context"
	"testing"

	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/storage"
)

func testCanceled(t *testing.T, s storage.Store) {
	chain := grow(t, s, "", 2, 2)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	next := Chain("", storage.Head{Sequence: 1, Hash: chain[1].Hash}, 1)
	if err := s.Append(ctx, "", next); err == nil {
		t.Fatal("Append with a canceled context succeeded")
	}
	if _, err := s.Head(ctx, ""); err == nil {
		t.Fatal("Head with a canceled context succeeded")
	}
	var scanErr error
	for _, err := range s.Scan(ctx, "", 0) {
		if err != nil {
			scanErr = err
		}
	}
	if scanErr == nil {
		t.Fatal("Scan with a canceled context yielded no error")
	}
	sameRecords(t, "chain after canceled calls", scanAll(t, s, "", 0), chain)
	appendOK(t, s, "", next...)
}

func testClosed(t *testing.T, s storage.Store) {
	chain := grow(t, s, "", 1, 1)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	checkClosed(t, s, chain[0])
}

// checkClosed checks that every call of the closed store s fails wrapping
// [storage.ErrClosed]; rec is the genesis of the null tenant's chain s held.
func checkClosed(t *testing.T, s storage.Store, rec protocol.Sealed) {
	t.Helper()
	ctx := t.Context()
	err := s.Append(ctx, "", Chain("", storage.Head{Sequence: 0, Hash: rec.Hash}, 1))
	wantErr(t, "Append after Close", err, storage.ErrClosed)
	_, err = s.Head(ctx, "")
	wantErr(t, "Head after Close", err, storage.ErrClosed)
	_, err = s.Get(ctx, rec.ID, nil)
	wantErr(t, "Get after Close", err, storage.ErrClosed)
	_, err = s.GetByHash(ctx, rec.Hash, nil)
	wantErr(t, "GetByHash after Close", err, storage.ErrClosed)
	_, err = s.List(ctx, storage.Filter{})
	wantErr(t, "List after Close", err, storage.ErrClosed)
	_, err = s.Count(ctx, storage.Filter{})
	wantErr(t, "Count after Close", err, storage.ErrClosed)
	_, err = s.Tenants(ctx)
	wantErr(t, "Tenants after Close", err, storage.ErrClosed)
	_, err = s.Chains(ctx)
	wantErr(t, "Chains after Close", err, storage.ErrClosed)
	yielded := 0
	for r, err := range s.Scan(ctx, "", 0) {
		yielded++
		if r.ID != "" {
			t.Fatalf("Scan after Close yielded a record")
		}
		wantErr(t, "Scan after Close", err, storage.ErrClosed)
	}
	if yielded != 1 {
		t.Fatalf("Scan after Close yielded %d times, want one error", yielded)
	}
}
