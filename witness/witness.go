// Package witness asks transparency log witnesses to cosign checkpoints,
// over the C2SP tlog-witness protocol (https://c2sp.org/tlog-witness), and
// checks their cosignatures (C2SP tlog-cosignature, cosignature/v1).
//
// A witness keeps, for each log it knows, the latest checkpoint it
// cosigned. It cosigns a new checkpoint of that log only with a consistency
// proof from the old one: whoever holds the log's key can no longer rewrite
// its history unnoticed, since the witness refuses to cosign a history that
// contradicts the one it saw. That refusal is a [*ForkError].
//
// The package talks HTTP and nothing else: the caller gives the signed
// checkpoint and a [Prover] that makes consistency proofs of its log.
package witness

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Prover returns the RFC 6962 consistency proof of the log between the
// tree of size oldSize and the tree of size newSize (0 < oldSize <
// newSize).
type Prover func(ctx context.Context, oldSize, newSize int64) (tlog.TreeProof, error)

// Witness is one witness: where it takes checkpoints and the keys its
// cosignatures are checked with.
type Witness struct {
	// URL is the witness's submission prefix: the call is POST
	// URL/add-checkpoint.
	URL string
	// Keys check the cosignatures the witness returns (see
	// [NewVerifier]); cosignatures by other keys are ignored.
	Keys []note.Verifier
}

// Client asks witnesses to cosign checkpoints. It remembers the size each
// witness last reported for each log, so that the next request usually
// carries the right old size at once. The zero Client is ready to use; it
// is safe for concurrent use.
type Client struct {
	// HTTP sends the requests; nil means http.DefaultClient. Bound each
	// call with its context.
	HTTP *http.Client
	// Log, when not nil, receives every exchange with a witness at debug
	// level: the request's sizes and what the witness answered.
	Log *slog.Logger

	mu    sync.Mutex
	sizes map[string]int64 // URL + " " + origin: the witness's size of the log
}

// maxAttempts bounds the requests of one AddCheckpoint: each 409 names the
// size to prove from, which moves only when another client submits to the
// same witness meanwhile.
const maxAttempts = 4

// maxResponse bounds what is read of a witness's answer.
const maxResponse = 64 << 10

// AddCheckpoint asks w to cosign signed, a checkpoint in a signed note
// (C2SP tlog-checkpoint), and returns the cosignatures by w's keys that
// verify. It starts from the size w last reported (0 the first time) and,
// when w answers 409 with the size it holds, sends a consistency proof
// from that size instead.
//
// A witness that holds a different history of the log is a [*ForkError];
// one that holds a larger tree than signed is an [*AheadError]; other
// refusals are a [*StatusError]. Every error names the witness.
func (c *Client) AddCheckpoint(ctx context.Context, w Witness, signed []byte, prove Prover) ([]Cosignature, error) {
	cp, err := parseCheckpoint(signed)
	if err != nil {
		return nil, err
	}
	key := w.URL + " " + cp.origin
	c.mu.Lock()
	old := c.sizes[key]
	c.mu.Unlock()
	if old > cp.size {
		old = 0 // the 409 says where the witness is
	}
	url := strings.TrimSuffix(w.URL, "/") + "/add-checkpoint"
	for attempt := 1; ; attempt++ {
		var proof tlog.TreeProof
		if old > 0 && old < cp.size {
			if prove == nil {
				return nil, fmt.Errorf("witness %s: a consistency proof from size %d is needed, and there is no prover", w.URL, old)
			}
			if proof, err = prove(ctx, old, cp.size); err != nil {
				return nil, fmt.Errorf("witness %s: consistency proof from size %d to %d: %w", w.URL, old, cp.size, err)
			}
		}
		status, body, err := c.post(ctx, url, requestBody(old, proof, signed))
		if err != nil {
			return nil, fmt.Errorf("witness %s: %w", w.URL, err)
		}
		if c.Log != nil {
			c.Log.Debug("witness answered", "url", w.URL, "origin", cp.origin, "old", old, "size", cp.size,
				"proof_hashes", len(proof), "status", status, "body", string(body))
		}
		switch status {
		case http.StatusOK:
			cosigs, err := verify(cp.text, body, w)
			if err != nil {
				return nil, err
			}
			c.remember(key, cp.size)
			return cosigs, nil
		case http.StatusConflict:
			held, err := parseSize(body)
			if err != nil {
				return nil, fmt.Errorf("witness %s: 409 with a body that is not a tree size (%q): %w", w.URL, clip(body), err)
			}
			c.remember(key, held)
			switch {
			case held > cp.size:
				return nil, &AheadError{URL: w.URL, Origin: cp.origin, Size: cp.size, WitnessSize: held}
			case held == old && old == cp.size:
				// Same size, and the witness still refuses: it holds
				// another root for it.
				return nil, &ForkError{URL: w.URL, Origin: cp.origin, Size: cp.size, WitnessSize: held, Status: status, Body: clip(body)}
			case held == old:
				return nil, fmt.Errorf("witness %s: 409 naming size %d, the old size this request sent", w.URL, held)
			case attempt == maxAttempts:
				return nil, fmt.Errorf("witness %s: its size of %s kept changing (last %d) over %d requests", w.URL, cp.origin, held, attempt)
			}
			old = held
		case http.StatusUnprocessableEntity:
			if old == 0 {
				// No proof was sent: nothing to contradict.
				return nil, &StatusError{URL: w.URL, Origin: cp.origin, Status: status, Body: clip(body)}
			}
			return nil, &ForkError{URL: w.URL, Origin: cp.origin, Size: cp.size, WitnessSize: old, Status: status, Body: clip(body)}
		default:
			return nil, &StatusError{URL: w.URL, Origin: cp.origin, Status: status, Body: clip(body)}
		}
	}
}

func (c *Client) remember(key string, size int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sizes == nil {
		c.sizes = make(map[string]int64)
	}
	c.sizes[key] = size
}

func (c *Client) post(ctx context.Context, url string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return 0, nil, fmt.Errorf("reading the answer: %w", err)
	}
	if len(b) > maxResponse {
		return 0, nil, fmt.Errorf("answer (status %d) longer than %d bytes", resp.StatusCode, maxResponse)
	}
	return resp.StatusCode, b, nil
}

// requestBody is the add-checkpoint request: the old size line, the proof
// lines, a blank line and the checkpoint.
func requestBody(old int64, proof tlog.TreeProof, signed []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "old %d\n", old)
	for _, h := range proof {
		b.WriteString(base64.StdEncoding.EncodeToString(h[:]))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.Write(signed)
	return b.Bytes()
}

// verify checks the signature lines a witness returned against its keys
// and returns those that verify.
func verify(text, body []byte, w Witness) ([]Cosignature, error) {
	msg := make([]byte, 0, len(text)+1+len(body))
	msg = append(append(append(msg, text...), '\n'), body...)
	n, err := note.Open(msg, note.VerifierList(w.Keys...))
	var unverified *note.UnverifiedNoteError
	var invalid *note.InvalidSignatureError
	switch {
	case errors.As(err, &unverified):
		return nil, fmt.Errorf("witness %s: %w (it signed as %s)", w.URL, ErrNoCosignature, signerList(unverified.Note.UnverifiedSigs))
	case errors.As(err, &invalid):
		return nil, fmt.Errorf("witness %s: %w: key %s+%08x", w.URL, ErrBadCosignature, invalid.Name, invalid.Hash)
	case err != nil:
		return nil, fmt.Errorf("witness %s: malformed cosignature lines %q: %w", w.URL, clip(body), err)
	}
	cosigs := make([]Cosignature, 0, len(n.Sigs))
	for _, s := range n.Sigs {
		cs, err := cosignature(s)
		if err != nil {
			return nil, fmt.Errorf("witness %s: %w", w.URL, err)
		}
		cosigs = append(cosigs, cs)
	}
	return cosigs, nil
}

func signerList(sigs []note.Signature) string {
	if len(sigs) == 0 {
		return "nobody"
	}
	names := make([]string, len(sigs))
	for i, s := range sigs {
		names[i] = fmt.Sprintf("%s+%08x", s.Name, s.Hash)
	}
	return strings.Join(names, ", ")
}

// Errors about the cosignatures a witness returned.
var (
	// ErrNoCosignature reports an answer with no cosignature by any of
	// the witness's given keys.
	ErrNoCosignature = errors.New("no cosignature by a given witness key")
	// ErrBadCosignature reports a cosignature, by a given witness key,
	// that does not verify.
	ErrBadCosignature = errors.New("a cosignature does not verify")
)

// ForkError reports a witness that saw a different history of the log:
// it refused the consistency proof from the checkpoint it holds (422), or
// holds another root for the same size (409).
type ForkError struct {
	URL         string // the witness
	Origin      string // the log
	Size        int64  // size of the checkpoint it refused
	WitnessSize int64  // size of the checkpoint it holds
	Status      int    // its HTTP status
	Body        string // its answer, clipped
}

func (e *ForkError) Error() string {
	what := fmt.Sprintf("it refused the consistency proof from size %d to %d", e.WitnessSize, e.Size)
	if e.WitnessSize == e.Size {
		what = fmt.Sprintf("it holds another root for size %d", e.Size)
	}
	return fmt.Sprintf("witness %s saw a different history of log %s: a fork (%s: %d %s)",
		e.URL, e.Origin, what, e.Status, strings.TrimSpace(e.Body))
}

// AheadError reports a witness that has cosigned a larger tree of the log
// than the checkpoint it was asked to cosign: the checkpoint is stale, or
// the log lost entries that the witness saw.
type AheadError struct {
	URL         string // the witness
	Origin      string // the log
	Size        int64  // size of the checkpoint
	WitnessSize int64  // size the witness has cosigned
}

func (e *AheadError) Error() string {
	return fmt.Sprintf("witness %s has cosigned size %d of log %s, more than this checkpoint's %d: the checkpoint is stale, or the log lost entries the witness saw",
		e.URL, e.WitnessSize, e.Origin, e.Size)
}

// StatusError reports a witness that refused a checkpoint for another
// reason than its log's history.
type StatusError struct {
	URL    string // the witness
	Origin string // the log
	Status int    // its HTTP status
	Body   string // its answer, clipped
}

func (e *StatusError) Error() string {
	why := ""
	switch e.Status {
	case http.StatusNotFound:
		why = fmt.Sprintf(": it does not know log %s (register it with the witness, e.g. witnessctl add-log -origin %s and add-key with the log's note verifier key)", e.Origin, e.Origin)
	case http.StatusForbidden:
		why = fmt.Sprintf(": it does not trust the checkpoint's signature, or does not know log %s (register the log's note verifier key with it)", e.Origin)
	case http.StatusBadRequest:
		why = ": it found the request malformed"
	}
	return fmt.Sprintf("witness %s: %d %s%s", e.URL, e.Status, strings.TrimSpace(e.Body), why)
}

// clip shortens a witness's answer for a message.
func clip(b []byte) string {
	const max = 200
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}

func parseSize(body []byte) (int64, error) {
	s := strings.TrimSuffix(string(body), "\n")
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || s != strconv.FormatInt(n, 10) {
		return 0, errors.New("want a decimal size and a newline")
	}
	return n, nil
}

// checkpoint is what the client needs of a signed checkpoint.
type checkpoint struct {
	text   []byte // the note text, up to and including its last newline
	origin string
	size   int64
}

// parseCheckpoint reads the origin and size of a signed checkpoint (C2SP
// tlog-checkpoint in a C2SP signed note). The signatures are the
// witness's business.
func parseCheckpoint(signed []byte) (checkpoint, error) {
	text, sigs, ok := bytes.Cut(signed, []byte("\n\n"))
	if !ok || len(sigs) == 0 {
		return checkpoint{}, errors.New("witness: checkpoint is not a signed note (no blank line and signature)")
	}
	lines := strings.SplitN(string(text), "\n", 4)
	if len(lines) < 3 {
		return checkpoint{}, errors.New("witness: checkpoint has fewer than three lines (origin, size, root)")
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || lines[1] != strconv.FormatInt(size, 10) {
		return checkpoint{}, fmt.Errorf("witness: checkpoint size %q is not a decimal number", lines[1])
	}
	if h, err := base64.StdEncoding.DecodeString(lines[2]); err != nil || len(h) != tlog.HashSize {
		return checkpoint{}, fmt.Errorf("witness: checkpoint root %q is not a base64 SHA-256 hash", lines[2])
	}
	// The text with its last newline: a prefix of signed, not to be written.
	return checkpoint{text: signed[: len(text)+1 : len(text)+1], origin: lines[0], size: size}, nil
}

// Cosign asks every witness in ws, concurrently, to cosign signed (see
// [Client.AddCheckpoint]) and returns signed with the cosignature lines it
// got added, and the error of each witness in the order of ws: nil for
// those that cosigned. Test one with errors.As for a [*ForkError].
func (c *Client) Cosign(ctx context.Context, ws []Witness, signed []byte, prove Prover) (cosigned []byte, errs []error) {
	cosigs := make([][]Cosignature, len(ws))
	errs = make([]error, len(ws))
	var wg sync.WaitGroup
	for i, w := range ws {
		wg.Go(func() { cosigs[i], errs[i] = c.AddCheckpoint(ctx, w, signed, prove) })
	}
	wg.Wait()
	var all []Cosignature
	for _, cs := range cosigs {
		all = append(all, cs...)
	}
	return AddCosignatures(signed, all), errs
}

// AddCosignatures returns the signed note with the cosignature lines
// added after its signatures, leaving out those of keys that already
// signed it.
func AddCosignatures(signed []byte, cosigs []Cosignature) []byte {
	out := bytes.Clone(signed)
	_, sigs, _ := bytes.Cut(signed, []byte("\n\n"))
	seen := make(map[string]bool)
	for _, line := range strings.SplitAfter(string(sigs), "\n") {
		if k, ok := lineKey(line); ok {
			seen[k] = true
		}
	}
	for _, cs := range cosigs {
		k := fmt.Sprintf("%s+%08x", cs.Name, cs.Hash)
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, cs.Line...)
	}
	return out
}

// lineKey returns "name+hash" of the key that made a note signature line.
func lineKey(line string) (string, bool) {
	rest, ok := strings.CutPrefix(line, "— ")
	if !ok {
		return "", false
	}
	name, sig, ok := strings.Cut(strings.TrimSuffix(rest, "\n"), " ")
	b, err := base64.StdEncoding.DecodeString(sig)
	if !ok || err != nil || len(b) < 4 {
		return "", false
	}
	return fmt.Sprintf("%s+%08x", name, binary.BigEndian.Uint32(b)), true
}
