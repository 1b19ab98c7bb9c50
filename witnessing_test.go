package capsule

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/capsule-go/capsule/checkpoint"
	"github.com/capsule-go/capsule/internal/witnesstest"
	"github.com/capsule-go/capsule/keys"
	"github.com/capsule-go/capsule/storage"
	"github.com/capsule-go/capsule/witness"
)

// withWitnessTicks drives the witnessing rounds by tick instead of a
// ticker, and calls done after each.
func withWitnessTicks(tick <-chan time.Time, done func()) OpenOption {
	return func(c *config) { c.witness.tick, c.witness.round = tick, done }
}

// syncBuffer is a log destination safe for the witnessing goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fakeCosigner cosigns whatever checkpoint it is sent, as a witness with
// no memory would (the protocol's checks are package witness's tests).
type fakeCosigner struct {
	name string
	priv ed25519.PrivateKey
	hash uint32
}

func newFakeCosigner(t *testing.T) fakeCosigner {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(append([]byte("witness.test/fake\n\x04"), pub...))
	return fakeCosigner{"witness.test/fake", priv, binary.BigEndian.Uint32(h[:])}
}

func (f fakeCosigner) vkey() string {
	pub := f.priv.Public().(ed25519.PublicKey)
	return fmt.Sprintf("%s+%08x+%s", f.name, f.hash, base64.StdEncoding.EncodeToString(append([]byte{4}, pub...)))
}

// answer cosigns the checkpoint of an add-checkpoint request body.
func (f fakeCosigner) answer(w http.ResponseWriter, body []byte) {
	_, signed, _ := bytes.Cut(body, []byte("\n\n"))
	text, _, _ := bytes.Cut(signed, []byte("\n\n"))
	text = append(text, '\n')
	const ts = 1700000000
	sig := ed25519.Sign(f.priv, fmt.Appendf(nil, "cosignature/v1\ntime %d\n%s", ts, text))
	b := binary.BigEndian.AppendUint32(nil, f.hash)
	b = binary.BigEndian.AppendUint64(b, ts)
	fmt.Fprintf(w, "— %s %s\n", f.name, base64.StdEncoding.EncodeToString(append(b, sig...)))
}

// A witness that hangs or fails never blocks or fails an append; its
// failures are counted, logged once until it cosigns again, and the
// cosigned checkpoint is kept once it does.
func TestWitnessingNeverBlocksAppends(t *testing.T) {
	ctx := context.Background()
	fake := newFakeCosigner(t)
	var mode atomic.Value // "hang", "hold", "fail" or "cosign"
	mode.Store("hang")
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		requests.Add(1)
		switch mode.Load() {
		case "hang":
			entered <- struct{}{}
			select {
			case <-release:
			case <-r.Context().Done():
			}
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
		case "hold": // until the client gives up
			entered <- struct{}{}
			<-r.Context().Done()
		case "fail":
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		default:
			fake.answer(w, body)
		}
	}))
	defer srv.Close()
	var logs syncBuffer
	tick := make(chan time.Time)
	rounds := make(chan struct{})
	closing := make(chan struct{}) // the last round ends with nobody waiting
	c, err := Open(ctx, filepath.Join(t.TempDir(), "capsules.db"), WithKeyDir(t.TempDir()),
		WithLogger(slog.New(slog.NewTextHandler(&logs, nil))),
		WithWitness(srv.URL, fake.vkey()), withWitnessTicks(tick, func() {
			select {
			case rounds <- struct{}{}:
			case <-closing:
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	appendN := func(n int) {
		t.Helper()
		for range n {
			if _, err := c.Append(ctx, "acme", New(TypeAgent)); err != nil {
				t.Fatal(err)
			}
		}
	}
	round := func() {
		t.Helper()
		tick <- time.Now()
		<-rounds
	}
	appendN(3)
	tick <- time.Now()
	<-entered  // the witness hangs...
	appendN(5) // ...and appends go on
	close(release)
	<-rounds
	if got := c.Stats().Committed; got != 8 {
		t.Fatalf("%d capsules committed while the witness hung, want 8", got)
	}
	mode.Store("fail")
	round()
	round()
	if s := c.WitnessStats(); s != (WitnessStats{Failures: 3}) {
		t.Fatalf("stats %+v, want 3 failures", s)
	}
	if n := strings.Count(logs.String(), "witness did not cosign"); n != 1 {
		t.Fatalf("%d warnings for one burst of failures, want 1:\n%s", n, logs.String())
	}
	mode.Store("cosign")
	round()
	if s := c.WitnessStats(); s != (WitnessStats{Cosigned: 1, Failures: 3}) {
		t.Fatalf("stats %+v, want 1 cosigned", s)
	}
	if !strings.Contains(logs.String(), "witness cosigns again") || !strings.Contains(logs.String(), "failures=3") {
		t.Fatalf("no log of the witness coming back:\n%s", logs.String())
	}
	kept, err := c.Store().(storage.TreeStore).LatestCheckpoint(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	wv, err := witness.NewVerifier(fake.vkey())
	if err != nil {
		t.Fatal(err)
	}
	if n, err := note.Open(kept, note.VerifierList(wv)); err != nil || !strings.HasPrefix(n.Text, "capsule/t/acme\n8\n") {
		t.Fatalf("kept checkpoint (%v):\n%s", err, kept)
	}
	// Nothing appended: nothing to cosign.
	before := requests.Load()
	round()
	if requests.Load() != before {
		t.Fatalf("a chain that did not grow was sent to the witness again")
	}
	// Close does not wait for a hanging witness ("hang" no longer hangs:
	// release is closed).
	mode.Store("hold")
	appendN(1)
	tick <- time.Now()
	<-entered
	close(closing)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	// The abandoned request is no witness failure.
	if s := c.WitnessStats(); s.Failures != 3 {
		t.Fatalf("stats after Close %+v, want the 3 failures of before", s)
	}
}

func TestWithWitnessRefusesBadKey(t *testing.T) {
	_, err := Open(context.Background(), filepath.Join(t.TempDir(), "capsules.db"), WithKeyDir(t.TempDir()),
		WithWitness("https://witness.example/", "witness.example+00000000+AQ=="))
	if err == nil || !strings.Contains(err.Error(), "witness https://witness.example/") {
		t.Fatalf("err = %v, want an error naming the witness", err)
	}
}

// TestWitnessingLitewitness is the library side of the end-to-end test
// against litewitness (filippo.io/torchwood v0.6.1): chains cosigned as
// they grow, and another history of the same log refused as a fork. The
// test log shows every answer of the witness.
func TestWitnessingLitewitness(t *testing.T) {
	if testing.Short() {
		t.Skip("litewitness test SKIPPED in -short mode")
	}
	ctx := context.Background()
	lw := witnesstest.Start(t, "witness.capsule.test/w1")
	keyDir := t.TempDir()
	signer, err := keys.LoadOrCreate(keyDir)
	if err != nil {
		t.Fatal(err)
	}
	origin := func(tenant string) string { return "capsule.test/lib/" + tenant }
	wV, err := witness.NewVerifier(lw.VKey)
	if err != nil {
		t.Fatal(err)
	}
	logV := lw.AddLogKey(t, origin("acme"), signer.PublicKey())
	debug := slog.New(slog.NewTextHandler(testLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	open := func(db string) (*Capsules, chan time.Time, chan struct{}) {
		tick, rounds := make(chan time.Time), make(chan struct{})
		c, err := Open(ctx, db, WithKeyDir(keyDir), WithLogger(debug), WithWitness(lw.URL, lw.VKey),
			WithWitnessOrigin(origin), withWitnessTicks(tick, func() { rounds <- struct{}{} }))
		if err != nil {
			t.Fatal(err)
		}
		c.witnessing.client.Log = debug
		return c, tick, rounds
	}
	appendN := func(c *Capsules, n int) {
		for range n {
			if _, err := c.Append(ctx, "acme", New(TypeAgent)); err != nil {
				t.Fatal(err)
			}
		}
	}
	kept := func(c *Capsules, size int64) {
		t.Helper()
		b, err := c.Store().(storage.TreeStore).LatestCheckpoint(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		cp, _, err := checkpoint.Open(b, logV)
		if err != nil || cp.Size != size {
			t.Fatalf("kept checkpoint of size %d (%v), want %d:\n%s", cp.Size, err, size, b)
		}
		if _, err := note.Open(b, note.VerifierList(wV)); err != nil {
			t.Fatalf("kept checkpoint has no cosignature of %s: %v\n%s", lw.Name, err, b)
		}
	}

	c, tick, rounds := open(filepath.Join(t.TempDir(), "capsules.db"))
	defer c.Close()
	t.Log("step 1: 4 capsules, a round: cosigned at 4")
	appendN(c, 4)
	tick <- time.Now()
	<-rounds
	kept(c, 4)
	t.Log("step 2: 3 more, a round: cosigned at 7 with a consistency proof from 4")
	appendN(c, 3)
	tick <- time.Now()
	<-rounds
	kept(c, 7)
	if s := c.WitnessStats(); s != (WitnessStats{Cosigned: 2}) {
		t.Fatalf("stats %+v", s)
	}

	t.Log("step 3: another database, same key and origin, other capsules: the witness refuses a fork")
	f, ftick, frounds := open(filepath.Join(t.TempDir(), "fork.db"))
	defer f.Close()
	appendN(f, 7)
	ftick <- time.Now()
	<-frounds
	if s := f.WitnessStats(); s != (WitnessStats{Failures: 1, Forks: 1}) {
		t.Fatalf("fork: stats %+v, want 1 fork", s)
	}
	if _, err := f.Store().(storage.TreeStore).LatestCheckpoint(ctx, "acme"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the fork's database keeps a checkpoint: %v", err)
	}
	t.Logf("witnessctl list-logs: %s", strings.TrimSpace(lw.Logs(t)))
}

type testLogWriter struct{ t *testing.T }

func (w testLogWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// A witness that does not answer (here: it drops the connection) is asked
// once a round, not once per chain.
func TestWitnessingSkipsUnansweringWitnessForTheRound(t *testing.T) {
	ctx := context.Background()
	var requests atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		requests.Add(1)
		panic(http.ErrAbortHandler) // the connection is closed with no answer
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.Start()
	defer srv.Close()
	tick := make(chan time.Time)
	rounds := make(chan struct{})
	c, err := Open(ctx, filepath.Join(t.TempDir(), "capsules.db"), WithKeyDir(t.TempDir()),
		WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		WithWitness(srv.URL, newFakeCosigner(t).vkey()), withWitnessTicks(tick, func() { rounds <- struct{}{} }))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, tenant := range []string{"a", "b", "c"} {
		if _, err := c.Append(ctx, tenant, New(TypeAgent)); err != nil {
			t.Fatal(err)
		}
	}
	tick <- time.Now()
	<-rounds
	if n := requests.Load(); n != 1 {
		t.Fatalf("%d requests to a witness that does not answer, for 3 chains in one round; want 1", n)
	}
	if s := c.WitnessStats(); s.Failures != 1 {
		t.Fatalf("stats %+v, want 1 failure", s)
	}
	tick <- time.Now()
	<-rounds
	if n := requests.Load(); n != 2 {
		t.Fatalf("%d requests after the next round, want 2", n)
	}
}
