// Package proof writes and checks C2SP tlog-proofs
// (https://c2sp.org/tlog-proof) of capsules: offline proofs that a sealed
// capsule is entry i of its chain's transparency log (see package logtree),
// under a checkpoint signed by the log and cosigned by witnesses.
//
// A proof is
//
//	c2sp.org/tlog-proof@v1
//	extra <base64 of the sealed capsule's JSON>
//	index <its sequence>
//	<inclusion proof: one base64 SHA-256 hash per line, leaf's sibling first>
//
//	<the signed checkpoint, verbatim, with its cosignatures>
//
// The extra data is not trusted: [Verify] recomputes the capsule's hash
// from its content, checks that its leaf is included at index in the
// checkpoint's tree, checks the capsule's signature, and checks the
// checkpoint's signatures.
package proof

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/capsule-go/capsule"
	"github.com/capsule-go/capsule/checkpoint"
	"github.com/capsule-go/capsule/logtree"
	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/protocol/canonical"
	"github.com/capsule-go/capsule/storage"
)

// Header is the first line of a proof.
const Header = "c2sp.org/tlog-proof@v1"

// MaxSize bounds the proofs Parse reads: a capsule, 63 hashes and a
// checkpoint with many cosignatures fit well within it.
const MaxSize = 4 << 20

// Proof is a parsed tlog-proof.
type Proof struct {
	Extra      []byte           // the sealed capsule's JSON; nil when absent
	Index      int64            // the entry's index: the capsule's sequence
	Inclusion  tlog.RecordProof // leaf's sibling first
	Checkpoint []byte           // the signed checkpoint note, verbatim
}

// Marshal returns the text of p.
func (p Proof) Marshal() []byte {
	var b bytes.Buffer
	b.WriteString(Header + "\n")
	if p.Extra != nil {
		b.WriteString("extra " + base64.StdEncoding.EncodeToString(p.Extra) + "\n")
	}
	fmt.Fprintf(&b, "index %d\n", p.Index)
	for _, h := range p.Inclusion {
		b.WriteString(base64.StdEncoding.EncodeToString(h[:]) + "\n")
	}
	b.WriteString("\n")
	b.Write(p.Checkpoint)
	return b.Bytes()
}

// Parse parses a proof's text. It checks the layout only; Verify checks
// what it says.
func Parse(b []byte) (Proof, error) {
	var p Proof
	if len(b) > MaxSize {
		return p, fmt.Errorf("proof: %d bytes, more than %d", len(b), MaxSize)
	}
	head, cp, ok := bytes.Cut(b, []byte("\n\n"))
	if !ok {
		return p, errors.New("proof: no empty line before the checkpoint")
	}
	p.Checkpoint = cp
	lines := strings.Split(string(head), "\n")
	if lines[0] != Header {
		return p, fmt.Errorf("proof: line 1 is %q, want %q", trim(lines[0]), Header)
	}
	lines = lines[1:]
	if len(lines) > 0 && strings.HasPrefix(lines[0], "extra ") {
		extra, err := base64.StdEncoding.Strict().DecodeString(lines[0][len("extra "):])
		if err != nil {
			return p, fmt.Errorf("proof: line 2: extra data is not base64: %v", err)
		}
		p.Extra, lines = extra, lines[1:]
	}
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "index ") {
		return p, errors.New("proof: no index line")
	}
	idx := lines[0][len("index "):]
	n, err := strconv.ParseInt(idx, 10, 64)
	if err != nil || n < 0 || idx != strconv.FormatInt(n, 10) {
		return p, fmt.Errorf("proof: index %q is not a decimal without leading zeroes", trim(idx))
	}
	p.Index = n
	for i, line := range lines[1:] {
		if i >= 64 {
			return p, errors.New("proof: more than 64 inclusion proof hashes")
		}
		h, err := base64.StdEncoding.Strict().DecodeString(line)
		if err != nil || len(h) != tlog.HashSize {
			return p, fmt.Errorf("proof: inclusion proof line %d is not a base64 SHA-256 hash", i+1)
		}
		p.Inclusion = append(p.Inclusion, tlog.Hash(h))
	}
	return p, nil
}

// trim shortens s for an error message.
func trim(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// Build returns the proof of tenant's capsule rec under the signed
// checkpoint signedCheckpoint (of origin origin), whose size must exceed
// rec's sequence. The inclusion proof is read from the store's tree.
func Build(ctx context.Context, store storage.Store, tenant string, rec protocol.Sealed, signedCheckpoint []byte) (Proof, error) {
	text, _, ok := bytes.Cut(signedCheckpoint, []byte("\n\n"))
	if !ok {
		return Proof{}, errors.New("proof: the checkpoint is not a signed note")
	}
	cp, err := checkpoint.Parse(string(text) + "\n")
	if err != nil {
		return Proof{}, fmt.Errorf("proof: %w", err)
	}
	if rec.Sequence >= cp.Size {
		return Proof{}, fmt.Errorf("proof: capsule %d is not in the checkpoint of %d capsules: take a newer checkpoint", rec.Sequence, cp.Size)
	}
	incl, err := logtree.ProveRecord(ctx, store, tenant, rec.Sequence, cp.Size)
	if err != nil {
		return Proof{}, fmt.Errorf("proof: %w", err)
	}
	// The proof must hold against the checkpoint: a checkpoint of another
	// history of this chain would give a proof that never verifies.
	root, err := logtree.TreeHash(ctx, store, tenant, cp.Size)
	if err != nil {
		return Proof{}, fmt.Errorf("proof: %w", err)
	}
	if root != cp.Root {
		return Proof{}, fmt.Errorf("proof: %w: the first %d capsules have root %s, the checkpoint says %s", checkpoint.ErrForked, cp.Size, root, cp.Root)
	}
	sealed, err := protocol.MarshalSealed(&rec)
	if err != nil {
		return Proof{}, fmt.Errorf("proof: %w", err)
	}
	return Proof{Extra: sealed, Index: rec.Sequence, Inclusion: incl, Checkpoint: signedCheckpoint}, nil
}

// Policy is what a verifier trusts: the log's key, witnesses' keys and
// how many of them must have cosigned.
type Policy struct {
	Log          note.Verifier   // the log's key; its name is the origin
	Witnesses    []note.Verifier // witnesses' cosignature keys
	MinWitnesses int             // cosignatures required, of distinct witnesses
	// CapsuleKey checks the capsule's Ed25519 signature; nil means the
	// log's own Ed25519 key, LogKey.
	CapsuleKey ed25519.PublicKey
	LogKey     ed25519.PublicKey // the log key's Ed25519 public key
}

// Result is what a valid proof shows.
type Result struct {
	Checkpoint checkpoint.Checkpoint
	Capsule    protocol.Sealed
	Witnesses  []string // names of the witnesses whose cosignatures verified
}

// ErrInvalid marks a proof that was read and does not verify.
var ErrInvalid = errors.New("proof does not verify")

// Verify checks p against pol: the checkpoint's log signature and at least
// pol.MinWitnesses cosignatures, the capsule's hash from its content, its
// inclusion at p.Index in the checkpoint's tree, and its signature. Every
// failure wraps ErrInvalid.
func Verify(p Proof, pol Policy) (Result, error) {
	var res Result
	invalid := func(format string, args ...any) (Result, error) {
		return res, fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
	}
	cp, _, err := checkpoint.Open(p.Checkpoint, pol.Log)
	if err != nil {
		return invalid("checkpoint: %v", err)
	}
	res.Checkpoint = cp
	if len(pol.Witnesses) > 0 || pol.MinWitnesses > 0 {
		n, err := note.Open(p.Checkpoint, note.VerifierList(append([]note.Verifier{pol.Log}, pol.Witnesses...)...))
		if err != nil {
			return invalid("checkpoint cosignatures: %v", err)
		}
		seen := map[string]bool{}
		for _, s := range n.Sigs {
			if s.Name != pol.Log.Name() && !seen[s.Name] {
				seen[s.Name] = true
				res.Witnesses = append(res.Witnesses, s.Name)
			}
		}
	}
	if len(res.Witnesses) < pol.MinWitnesses {
		return invalid("%d valid witness cosignatures, at least %d required", len(res.Witnesses), pol.MinWitnesses)
	}
	if p.Index >= cp.Size {
		return invalid("index %d is beyond the checkpoint's %d entries", p.Index, cp.Size)
	}
	if p.Extra == nil {
		return invalid("no extra data: the proof carries no capsule")
	}
	v, err := canonical.Parse(p.Extra)
	if err != nil {
		return invalid("extra data is not a capsule's JSON: %v", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return invalid("extra data is not a JSON object")
	}
	rec, err := protocol.ParseSealed(m, "")
	if err != nil {
		return invalid("extra data: %v", err)
	}
	res.Capsule = rec
	if rec.Sequence != p.Index {
		return invalid("capsule sequence %d is not the proof's index %d", rec.Sequence, p.Index)
	}
	key := pol.CapsuleKey
	if key == nil {
		key = pol.LogKey
	}
	level := capsule.Full
	var resolve protocol.KeyResolver
	if key != nil {
		level, resolve = capsule.Signatures, protocol.StaticKey(key)
	}
	if err := capsule.VerifySealed(&rec, level, capsule.VerifyOptions{Resolve: resolve}); err != nil {
		return invalid("capsule %s: %v", rec.ID, err)
	}
	leaf, err := logtree.Leaf(rec.Hash)
	if err != nil {
		return invalid("capsule %s: %v", rec.ID, err)
	}
	if err := tlog.CheckRecord(p.Inclusion, cp.Size, cp.Root, p.Index, leaf); err != nil {
		return invalid("inclusion of capsule %d in the checkpoint's tree of %d: %v", p.Index, cp.Size, err)
	}
	return res, nil
}

// KeptCheckpoint returns the latest checkpoint the store keeps for
// tenant's chain (see storage.TreeStore) when it includes the capsule at
// sequence seq, and nil when the store keeps none that does.
func KeptCheckpoint(ctx context.Context, store storage.Store, tenant string, seq int64) ([]byte, error) {
	ts, ok := store.(storage.TreeStore)
	if !ok {
		return nil, nil
	}
	kept, err := ts.LatestCheckpoint(ctx, tenant)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("proof: %w", err)
	}
	text, _, _ := bytes.Cut(kept, []byte("\n\n"))
	if cp, err := checkpoint.Parse(string(text) + "\n"); err != nil || cp.Size <= seq {
		return nil, nil
	}
	return kept, nil
}
