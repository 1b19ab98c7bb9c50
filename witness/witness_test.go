package witness

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// memLog is a log in memory: tlog's stored hashes of its records.
type memLog struct {
	hashes []tlog.Hash
	n      int64
}

func (l *memLog) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		if x >= int64(len(l.hashes)) {
			return nil, fmt.Errorf("hash %d not stored", x)
		}
		out[i] = l.hashes[x]
	}
	return out, nil
}

func (l *memLog) add(t *testing.T, records ...string) {
	t.Helper()
	for _, r := range records {
		hs, err := tlog.StoredHashes(l.n, []byte(r), l)
		if err != nil {
			t.Fatal(err)
		}
		l.hashes = append(l.hashes, hs...)
		l.n++
	}
}

func (l *memLog) root(t *testing.T) tlog.Hash {
	t.Helper()
	h, err := tlog.TreeHash(l.n, l)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func (l *memLog) prover() Prover {
	return func(_ context.Context, old, n int64) (tlog.TreeProof, error) {
		return tlog.ProveTree(n, old, l)
	}
}

const origin = "example.com/capsule/test"

// logKey is the log's note key pair.
type logKey struct {
	signer   note.Signer
	verifier note.Verifier
	vkey     string
}

func newLogKey(t *testing.T) logKey {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return logKey{s, v, vkey}
}

// checkpoint returns the signed checkpoint of l.
func (k logKey) checkpoint(t *testing.T, l *memLog) []byte {
	t.Helper()
	root := l.root(t)
	text := fmt.Sprintf("%s\n%d\n%s\n", origin, l.n, base64.StdEncoding.EncodeToString(root[:]))
	signed, err := note.Sign(&note.Note{Text: text}, k.signer)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

// cosigner is a witness key.
type cosigner struct {
	name string
	priv ed25519.PrivateKey
	hash uint32
}

func newCosigner(t *testing.T, name string) cosigner {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return cosigner{name, priv, keyHash(name, append([]byte{algCosignatureV1}, pub...))}
}

func (c cosigner) vkey() string {
	pub := c.priv.Public().(ed25519.PublicKey)
	return fmt.Sprintf("%s+%08x+%s", c.name, c.hash, base64.StdEncoding.EncodeToString(append([]byte{algCosignatureV1}, pub...)))
}

func (c cosigner) verifier(t *testing.T) note.Verifier {
	t.Helper()
	v, err := NewVerifier(c.vkey())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// line returns the cosignature line of text made at time ts.
func (c cosigner) line(text []byte, ts uint64) string {
	sig := ed25519.Sign(c.priv, cosignedMessage(ts, text))
	b := binary.BigEndian.AppendUint32(nil, c.hash)
	b = binary.BigEndian.AppendUint64(b, ts)
	return "— " + c.name + " " + base64.StdEncoding.EncodeToString(append(b, sig...)) + "\n"
}

// fakeWitness follows C2SP tlog-witness for one log, in memory.
type fakeWitness struct {
	t      *testing.T
	logKey note.Verifier
	key    cosigner

	mu       sync.Mutex
	size     int64
	root     tlog.Hash
	requests []string // the old size line of each request
	// sameSize is the status for a checkpoint of the held size with
	// another root: 409 as the spec says, 422 as litewitness does.
	sameSize int
	// answer, when set, replaces the cosignature lines of a 200.
	answer func(text []byte) string
	// status, when set, answers every request with it.
	status int
	// onRequest runs first on every request.
	onRequest func(r *http.Request)
}

func (f *fakeWitness) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if f.onRequest != nil {
		f.onRequest(r)
	}
	if r.Method != http.MethodPost || r.URL.Path != "/add-checkpoint" {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	head, signed, ok := bytes.Cut(body, []byte("\n\n"))
	lines := strings.Split(string(head), "\n")
	f.requests = append(f.requests, lines[0])
	if f.status != 0 {
		http.Error(w, "down", f.status)
		return
	}
	old, err := strconv.ParseInt(strings.TrimPrefix(lines[0], "old "), 10, 64)
	if !ok || err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	var proof tlog.TreeProof
	for _, l := range lines[1:] {
		h, err := tlog.ParseHash(l)
		if err != nil {
			http.Error(w, "bad hash", http.StatusBadRequest)
			return
		}
		proof = append(proof, h)
	}
	n, err := note.Open(signed, note.VerifierList(f.logKey))
	if err != nil {
		http.Error(w, "bad signature", http.StatusForbidden)
		return
	}
	tree, err := parseTree(n.Text)
	if err != nil {
		http.Error(w, "bad checkpoint", http.StatusBadRequest)
		return
	}
	if old > tree.N {
		http.Error(w, "old size too large", http.StatusBadRequest)
		return
	}
	if old != f.size {
		w.Header().Set("Content-Type", "text/x.tlog.size")
		w.WriteHeader(http.StatusConflict)
		fmt.Fprintf(w, "%d\n", f.size)
		return
	}
	switch {
	case old == tree.N && tree.Hash != f.root && old > 0:
		if f.sameSize == http.StatusConflict {
			w.Header().Set("Content-Type", "text/x.tlog.size")
			w.WriteHeader(http.StatusConflict)
			fmt.Fprintf(w, "%d\n", f.size)
			return
		}
		http.Error(w, "bad consistency proof", http.StatusUnprocessableEntity)
		return
	case old > 0:
		if err := tlog.CheckTree(proof, tree.N, tree.Hash, old, f.root); err != nil {
			http.Error(w, "bad consistency proof", http.StatusUnprocessableEntity)
			return
		}
	case len(proof) != 0:
		http.Error(w, "proof from size 0", http.StatusBadRequest)
		return
	}
	f.size, f.root = tree.N, tree.Hash
	if f.answer != nil {
		io.WriteString(w, f.answer([]byte(n.Text)))
		return
	}
	io.WriteString(w, f.key.line([]byte(n.Text), 1700000000))
}

// parseTree reads the size and root of a checkpoint's text.
func parseTree(text string) (tlog.Tree, error) {
	lines := strings.Split(text, "\n")
	if len(lines) < 4 || lines[0] != origin {
		return tlog.Tree{}, errors.New("malformed checkpoint")
	}
	n, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		return tlog.Tree{}, err
	}
	h, err := tlog.ParseHash(lines[2])
	return tlog.Tree{N: n, Hash: h}, err
}

// setup returns a log with records, its key, a fake witness that knows
// the log and a client.
func setup(t *testing.T, records int) (*memLog, logKey, *fakeWitness, Witness, *Client) {
	t.Helper()
	l := &memLog{}
	for i := range records {
		l.add(t, fmt.Sprintf("record %d", i))
	}
	k := newLogKey(t)
	f := &fakeWitness{t: t, logKey: k.verifier, key: newCosigner(t, "witness.example/w1"), sameSize: http.StatusConflict}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	w := Witness{URL: srv.URL, Keys: []note.Verifier{f.key.verifier(t)}}
	c := &Client{HTTP: srv.Client(), Log: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	return l, k, f, w, c
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

func TestAddCheckpointGrows(t *testing.T) {
	l, k, f, w, c := setup(t, 5)
	ctx := context.Background()
	cp := k.checkpoint(t, l)
	cosigs, err := c.AddCheckpoint(ctx, w, cp, l.prover())
	if err != nil {
		t.Fatal(err)
	}
	if len(cosigs) != 1 || cosigs[0].Name != "witness.example/w1" || cosigs[0].Time.Unix() != 1700000000 {
		t.Fatalf("cosignatures %+v", cosigs)
	}
	cosigned := AddCosignatures(cp, cosigs)
	if _, err := note.Open(cosigned, note.VerifierList(w.Keys[0], k.verifier)); err != nil {
		t.Fatalf("cosigned checkpoint does not open: %v\n%s", err, cosigned)
	}
	if !bytes.HasPrefix(cosigned, cp) || bytes.Count(cosigned, []byte("\n— ")) != 2 {
		t.Fatalf("cosigned checkpoint:\n%s", cosigned)
	}
	l.add(t, "record 5", "record 6", "record 7")
	if _, err := c.AddCheckpoint(ctx, w, k.checkpoint(t, l), l.prover()); err != nil {
		t.Fatal(err)
	}
	if f.size != 8 {
		t.Fatalf("witness size %d, want 8", f.size)
	}
	// The client remembered size 5: no 409 on the way.
	if want := []string{"old 0", "old 5"}; fmt.Sprint(f.requests) != fmt.Sprint(want) {
		t.Fatalf("requests %q, want %q", f.requests, want)
	}
}

func TestAddCheckpointConflictRetries(t *testing.T) {
	l, k, f, w, _ := setup(t, 3)
	ctx := context.Background()
	if _, err := (&Client{}).AddCheckpoint(ctx, w, k.checkpoint(t, l), nil); err != nil {
		t.Fatal(err)
	}
	l.add(t, "record 3", "record 4")
	// A new client does not know the witness holds size 3: 409, then a
	// proof from 3.
	c := &Client{}
	if _, err := c.AddCheckpoint(ctx, w, k.checkpoint(t, l), l.prover()); err != nil {
		t.Fatal(err)
	}
	if want := []string{"old 0", "old 0", "old 3"}; fmt.Sprint(f.requests) != fmt.Sprint(want) {
		t.Fatalf("requests %q, want %q", f.requests, want)
	}
	// The same checkpoint again: the witness holds it, an empty proof.
	if _, err := c.AddCheckpoint(ctx, w, k.checkpoint(t, l), nil); err != nil {
		t.Fatal(err)
	}
	if got := f.requests[len(f.requests)-1]; got != "old 5" {
		t.Fatalf("last request %q, want old 5", got)
	}
}

func TestAddCheckpointFork(t *testing.T) {
	for _, c := range []struct {
		name     string
		sameSize int
		extra    int // records the other history has beyond the witness's
	}{
		{"same size, 409 (C2SP)", http.StatusConflict, 0},
		{"same size, 422 (litewitness)", http.StatusUnprocessableEntity, 0},
		{"larger, 422", 0, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			l, k, f, w, cl := setup(t, 4)
			f.sameSize = c.sameSize
			ctx := context.Background()
			if _, err := cl.AddCheckpoint(ctx, w, k.checkpoint(t, l), nil); err != nil {
				t.Fatal(err)
			}
			// Another history of the same log, signed with the same key.
			other := &memLog{}
			for i := range 4 + c.extra {
				other.add(t, fmt.Sprintf("rewritten %d", i))
			}
			_, err := (&Client{}).AddCheckpoint(ctx, w, k.checkpoint(t, other), other.prover())
			var fork *ForkError
			if !errors.As(err, &fork) {
				t.Fatalf("err = %v, want a *ForkError", err)
			}
			msg := err.Error()
			t.Log(msg)
			for _, want := range []string{w.URL, "saw a different history", origin, "fork"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not say %q", msg, want)
				}
			}
			if fork.Size != int64(4+c.extra) || fork.WitnessSize != 4 {
				t.Errorf("fork sizes %d from %d, want %d from 4", fork.Size, fork.WitnessSize, 4+c.extra)
			}
			if f.size != 4 || f.root != l.root(t) {
				t.Errorf("the witness moved to size %d", f.size)
			}
		})
	}
}

func TestAddCheckpointAhead(t *testing.T) {
	l, k, _, w, c := setup(t, 6)
	ctx := context.Background()
	if _, err := c.AddCheckpoint(ctx, w, k.checkpoint(t, l), nil); err != nil {
		t.Fatal(err)
	}
	short := &memLog{}
	for i := range 4 {
		short.add(t, fmt.Sprintf("record %d", i))
	}
	_, err := (&Client{}).AddCheckpoint(ctx, w, k.checkpoint(t, short), short.prover())
	var ahead *AheadError
	if !errors.As(err, &ahead) || ahead.WitnessSize != 6 || ahead.Size != 4 {
		t.Fatalf("err = %v, want an *AheadError at 6 over 4", err)
	}
}

func TestAddCheckpointCosignatures(t *testing.T) {
	other := newCosigner(t, "witness.example/w1") // same name, another key
	for _, c := range []struct {
		name   string
		answer func(cs cosigner, text []byte) string
		want   error
	}{
		{"bad cosignature", func(cs cosigner, text []byte) string {
			return cs.line(append([]byte("tampered\n"), text...), 1700000000)
		}, ErrBadCosignature},
		{"wrong time", func(cs cosigner, text []byte) string {
			line := cs.line(text, 1700000000)
			b, _ := base64.StdEncoding.DecodeString(strings.Fields(line)[2])
			b[11]++ // the time the signature covers is not the one stated
			return "— " + cs.name + " " + base64.StdEncoding.EncodeToString(b) + "\n"
		}, ErrBadCosignature},
		{"unknown key", func(_ cosigner, text []byte) string { return other.line(text, 1700000000) }, ErrNoCosignature},
		{"no lines", func(cosigner, []byte) string { return "" }, nil},
		{"not a signature line", func(cosigner, []byte) string { return "ok\n" }, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			l, k, f, w, cl := setup(t, 2)
			f.answer = func(text []byte) string { return c.answer(f.key, text) }
			_, err := cl.AddCheckpoint(context.Background(), w, k.checkpoint(t, l), nil)
			if err == nil || !strings.Contains(err.Error(), w.URL) {
				t.Fatalf("err = %v, want an error naming the witness", err)
			}
			t.Log(err)
			if c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
	// An unknown key beside a good one is ignored.
	l, k, f, w, cl := setup(t, 2)
	f.answer = func(text []byte) string { return other.line(text, 1) + f.key.line(text, 2) }
	cosigs, err := cl.AddCheckpoint(context.Background(), w, k.checkpoint(t, l), nil)
	if err != nil || len(cosigs) != 1 || cosigs[0].Time.Unix() != 2 {
		t.Fatalf("cosignatures %+v, err %v", cosigs, err)
	}
}

func TestAddCheckpointRefusals(t *testing.T) {
	for _, c := range []struct {
		status int
		want   string
	}{
		{http.StatusNotFound, "does not know log " + origin},
		{http.StatusForbidden, "does not trust the checkpoint's signature"},
		{http.StatusBadRequest, "malformed"},
		{http.StatusServiceUnavailable, "503"},
		{http.StatusUnprocessableEntity, "422"}, // with old 0 no proof was sent: not a fork
	} {
		l, k, f, w, cl := setup(t, 2)
		f.status = c.status
		_, err := cl.AddCheckpoint(context.Background(), w, k.checkpoint(t, l), nil)
		var se *StatusError
		if !errors.As(err, &se) || se.Status != c.status || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), w.URL) {
			t.Errorf("status %d: err = %v, want a *StatusError saying %q", c.status, err, c.want)
		}
	}
	// A log signature the witness does not trust.
	l, _, _, w, cl := setup(t, 2)
	_, err := cl.AddCheckpoint(context.Background(), w, newLogKey(t).checkpoint(t, l), nil)
	var se *StatusError
	if !errors.As(err, &se) || se.Status != http.StatusForbidden {
		t.Errorf("foreign log key: err = %v, want 403", err)
	}
}

func TestAddCheckpointSizeKeepsMoving(t *testing.T) {
	l, k, f, w, cl := setup(t, 10)
	// Another client moves the witness before each of our requests.
	f.onRequest = func(*http.Request) {
		f.mu.Lock()
		f.size++
		f.mu.Unlock()
	}
	_, err := cl.AddCheckpoint(context.Background(), w, k.checkpoint(t, l), l.prover())
	if err == nil || !strings.Contains(err.Error(), "kept changing") || len(f.requests) != maxAttempts {
		t.Fatalf("err = %v after %d requests, want 'kept changing' after %d", err, len(f.requests), maxAttempts)
	}
}

func TestAddCheckpointContext(t *testing.T) {
	l, k, f, w, cl := setup(t, 2)
	ctx, cancel := context.WithCancel(context.Background())
	f.onRequest = func(r *http.Request) {
		cancel() // the caller gives up while the witness hangs
		<-r.Context().Done()
	}
	_, err := cl.AddCheckpoint(ctx, w, k.checkpoint(t, l), nil)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), w.URL) {
		t.Fatalf("err = %v, want context.Canceled naming the witness", err)
	}
}

func TestAddCheckpointBadInput(t *testing.T) {
	_, _, _, w, cl := setup(t, 0)
	for _, in := range []string{
		"",
		"origin\n3\n",
		"origin\n3\nAAAA\n\n— k AAAA\n",
		"origin\n03\n" + base64.StdEncoding.EncodeToString(make([]byte, 32)) + "\n\n— k AAAA\n",
	} {
		if _, err := cl.AddCheckpoint(context.Background(), w, []byte(in), nil); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}

func TestCosign(t *testing.T) {
	l, k, _, w1, cl := setup(t, 3)
	_, _, f2, w2, _ := setup(t, 0)
	f2.logKey = k.verifier
	_, _, f3, w3, _ := setup(t, 0)
	f3.logKey = k.verifier
	f3.size, f3.root = 3, tlog.Hash{1} // holds another history
	cp := k.checkpoint(t, l)
	cosigned, errs := cl.Cosign(context.Background(), []Witness{w1, w2, w3}, cp, l.prover())
	var fork *ForkError
	if len(errs) != 3 || errs[0] != nil || errs[1] != nil || !errors.As(errs[2], &fork) || fork.URL != w3.URL {
		t.Fatalf("errs = %v; want nil, nil and a fork of %s", errs, w3.URL)
	}
	if _, err := note.Open(cosigned, note.VerifierList(w1.Keys[0], w2.Keys[0], k.verifier)); err != nil {
		t.Fatal(err)
	}
	if got := bytes.Count(cosigned, []byte("\n— ")); got != 3 {
		t.Fatalf("%d signatures, want the log's and two cosignatures:\n%s", got, cosigned)
	}
	// Cosignatures already in the note are not added twice.
	again, errs := cl.Cosign(context.Background(), []Witness{w1}, cosigned, l.prover())
	if errs[0] != nil || bytes.Count(again, []byte("\n— ")) != 3 {
		t.Fatalf("err %v, cosigned again:\n%s", errs[0], again)
	}
}

func TestNewVerifier(t *testing.T) {
	cs := newCosigner(t, "witness.example/w1")
	if _, err := NewVerifier(cs.vkey()); err != nil {
		t.Fatal(err)
	}
	_, plain, err := note.GenerateKey(rand.Reader, "witness.example/w1")
	if err != nil {
		t.Fatal(err)
	}
	good := cs.vkey()
	for _, c := range []struct{ vkey, want string }{
		{plain, "key type 0x01"},
		{"witness.example/w1", "want name+hash+key"},
		{strings.Replace(good, "+", "+0", 1), "not 8 hex digits"},
		{good[:len(good)-4], "key bytes"},
		{good[:strings.LastIndex(good, "+")+1] + "!!!!", "not base64"},
		{"other" + good[len("witness.example/w1"):], "does not match"},
		{"a b" + good[len("witness.example/w1"):], "bad key name"},
	} {
		_, err := NewVerifier(c.vkey)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err = %v, want %q", c.vkey, err, c.want)
		}
	}
}
