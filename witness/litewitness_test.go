package witness

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/capsule-go/capsule/internal/witnesstest"
)

// TestLitewitness runs the client against a real witness written by
// others: litewitness of filippo.io/torchwood v0.6.1. The test log shows
// what it answered at each step.
func TestLitewitness(t *testing.T) {
	if testing.Short() {
		t.Skip("litewitness test SKIPPED in -short mode")
	}
	lw := witnesstest.Start(t, "witness.capsule.test/w1")
	k := newLogKey(t)
	lw.AddLog(t, origin, k.vkey)
	v, err := NewVerifier(lw.VKey)
	if err != nil {
		t.Fatal(err)
	}
	w := Witness{URL: lw.URL, Keys: []note.Verifier{v}}
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	l := &memLog{}
	for i := range 5 {
		l.add(t, fmt.Sprintf("record %d", i))
	}
	c := &Client{Log: logger}
	t.Log("step 1: cosign size 5 (old 0, no proof)")
	cosigs, err := c.AddCheckpoint(ctx, w, k.checkpoint(t, l), l.prover())
	if err != nil {
		t.Fatal(err)
	}
	if len(cosigs) != 1 || cosigs[0].Name != lw.Name {
		t.Fatalf("cosignatures %+v", cosigs)
	}
	cosigned := AddCosignatures(k.checkpoint(t, l), cosigs)
	if _, err := note.Open(cosigned, note.VerifierList(v, k.verifier)); err != nil {
		t.Fatal(err)
	}
	t.Logf("cosigned checkpoint:\n%s", cosigned)

	t.Log("step 2: append 3, cosign size 8 from a client that does not know the witness's size (409, then a proof from 5)")
	l.add(t, "record 5", "record 6", "record 7")
	if _, err := (&Client{Log: logger}).AddCheckpoint(ctx, w, k.checkpoint(t, l), l.prover()); err != nil {
		t.Fatal(err)
	}
	t.Log("step 3: append 4, cosign size 12 with a wrong proof: refused")
	l.add(t, "record 8", "record 9", "record 10", "record 11")
	_, err = c.AddCheckpoint(ctx, w, k.checkpoint(t, l), func(ctx context.Context, old, n int64) (tlog.TreeProof, error) {
		p, err := l.prover()(ctx, old, n)
		if len(p) > 0 {
			p[0][0] ^= 1
		}
		return p, err
	})
	var fork *ForkError
	if !errors.As(err, &fork) {
		t.Fatalf("a wrong consistency proof: err = %v, want a *ForkError", err)
	}
	t.Log("step 4: the same, with the right proof")
	if _, err := c.AddCheckpoint(ctx, w, k.checkpoint(t, l), l.prover()); err != nil {
		t.Fatal(err)
	}

	t.Log("step 5: another history of the same log, same size, same key: a fork")
	other := &memLog{}
	for i := range 12 {
		other.add(t, fmt.Sprintf("rewritten %d", i))
	}
	_, err = (&Client{Log: logger}).AddCheckpoint(ctx, w, k.checkpoint(t, other), other.prover())
	if !errors.As(err, &fork) || !strings.Contains(err.Error(), "saw a different history") {
		t.Fatalf("err = %v, want a *ForkError", err)
	}
	t.Logf("fork error: %v", err)
	t.Log("step 6: another history, longer: a fork")
	other.add(t, "rewritten 12", "rewritten 13")
	_, err = c.AddCheckpoint(ctx, w, k.checkpoint(t, other), other.prover())
	if !errors.As(err, &fork) {
		t.Fatalf("err = %v, want a *ForkError", err)
	}
	t.Logf("fork error: %v", err)

	t.Log("step 7: a checkpoint older than the witness's")
	old := &memLog{}
	for i := range 8 {
		old.add(t, fmt.Sprintf("record %d", i))
	}
	_, err = c.AddCheckpoint(ctx, w, k.checkpoint(t, old), old.prover())
	var ahead *AheadError
	if !errors.As(err, &ahead) || ahead.WitnessSize != 12 {
		t.Fatalf("err = %v, want an *AheadError at 12", err)
	}
	t.Logf("ahead error: %v", err)

	t.Log("step 8: a log the witness does not know")
	skey, _, err := note.GenerateKey(rand.Reader, "example.com/unknown")
	if err != nil {
		t.Fatal(err)
	}
	unknownSigner, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	root := l.root(t)
	unknown, err := note.Sign(&note.Note{Text: fmt.Sprintf("example.com/unknown\n%d\n%s\n", l.n, base64.StdEncoding.EncodeToString(root[:]))}, unknownSigner)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.AddCheckpoint(ctx, w, unknown, l.prover())
	var se *StatusError
	if !errors.As(err, &se) || se.Status != http.StatusForbidden {
		t.Fatalf("err = %v, want a *StatusError 403 (litewitness's answer for an unknown log; C2SP says 404)", err)
	}
	t.Logf("unknown log: %v", err)

	logs := lw.Logs(t)
	if !strings.Contains(logs, `"size":12`) || !strings.Contains(logs, root.String()) {
		t.Fatalf("witnessctl list-logs: %s, want size 12 and root %s", logs, root)
	}
	t.Logf("witnessctl list-logs: %s", strings.TrimSpace(logs))
}
