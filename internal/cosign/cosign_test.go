package cosign

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/capsule-go/capsule/internal/witnesstest"
	"github.com/capsule-go/capsule/keys"
	"github.com/capsule-go/capsule/storage"
	"github.com/capsule-go/capsule/storage/memory"
	"github.com/capsule-go/capsule/storage/storagetest"
	"github.com/capsule-go/capsule/witness"
)

// staleHead is a store whose first Head answers as the chain stood
// before its last records: a checkpoint taken then, while another process
// appends those and has them cosigned.
type staleHead struct {
	storage.Store
	behind int64
	calls  atomic.Int64
}

func (s *staleHead) Head(ctx context.Context, tenant string) (storage.Head, error) {
	h, err := s.Store.Head(ctx, tenant)
	if err != nil || s.calls.Add(1) > 1 {
		return h, err
	}
	for rec, err := range s.Store.Scan(ctx, tenant, h.Sequence-s.behind) {
		if err != nil {
			return storage.Head{}, err
		}
		return storage.Head{Sequence: rec.Sequence, Hash: rec.Hash}, nil
	}
	return storage.Head{}, errors.New("no record")
}

// A witness that has cosigned a larger tree than the checkpoint, which the
// chain has reached since: the round takes a new checkpoint and the
// witness cosigns it. Against litewitness.
func TestRoundTakesAgainWhenStale(t *testing.T) {
	if testing.Short() {
		t.Skip("litewitness test SKIPPED in -short mode")
	}
	ctx := context.Background()
	signer, err := keys.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	st := memory.New()
	if _, err := storagetest.AppendRetry(ctx, st, "acme", 7); err != nil {
		t.Fatal(err)
	}
	lw := witnesstest.Start(t, "witness.capsule.test/w1")
	const origin = "capsule.test/cosign/acme"
	lw.AddLogKey(t, origin, signer.PublicKey())
	wv, err := witness.NewVerifier(lw.VKey)
	if err != nil {
		t.Fatal(err)
	}
	ws := []witness.Witness{{URL: lw.URL, Keys: []note.Verifier{wv}}}
	client := &witness.Client{Log: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))}

	// The other process: the witness holds size 7.
	res, err := Round(ctx, client, ws, Log{Store: st, Tenant: "acme", Origin: origin, Signer: signer})
	if err != nil || res.Cosigners() != 1 {
		t.Fatalf("first round: %v %v", err, res.Errs)
	}
	// This process took its checkpoint at 5.
	stale := &staleHead{Store: st, behind: 2}
	res, err = Round(ctx, &witness.Client{}, ws, Log{Store: stale, Tenant: "acme", Origin: origin, Signer: signer})
	if err != nil || res.Cosigners() != 1 || res.Checkpoint.Size != 7 {
		t.Fatalf("round after a stale checkpoint: size %d, %v %v", res.Checkpoint.Size, err, res.Errs)
	}
	if stale.calls.Load() < 3 {
		t.Fatalf("%d Head calls: the round did not take a second checkpoint", stale.calls.Load())
	}
	if err := Save(ctx, Log{Store: st, Tenant: "acme"}, res.Cosigned); err != nil {
		t.Fatal(err)
	}
	kept, err := st.LatestCheckpoint(ctx, "acme")
	if err != nil || !strings.HasPrefix(string(kept), origin+"\n7\n") {
		t.Fatalf("kept (%v):\n%s", err, kept)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}
