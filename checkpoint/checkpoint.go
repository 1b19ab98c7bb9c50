// Package checkpoint writes and checks signed checkpoints of chains: C2SP
// tlog-checkpoints (https://c2sp.org/tlog-checkpoint) of the Merkle tree
// each chain is (see package logtree), in C2SP signed notes
// (https://c2sp.org/signed-note).
//
// A hash chain proves that nothing inside it was changed, but not that
// nothing was cut off its end, nor, to someone who does not trust the key's
// holder, that the chain was not rewritten and sealed again. A checkpoint
// commits, signed, to the whole chain at a size: its Merkle root. Kept
// outside the database, or cosigned by witnesses (C2SP tlog-witness) that
// refuse to sign a history contradicting one they saw, it lets anyone later
// check with a consistency proof that the chain still extends it, and check
// one capsule's inclusion with a proof of O(log n) hashes.
//
// The note text is
//
//	<origin>                the log's name; by default "capsule/-" for the
//	                        null tenant, else "capsule/t/" + the tenant, escaped
//	<size>                  number of capsules in the chain
//	<root, base64>          the Merkle root of the tree of those capsules
//	time <RFC 3339, UTC>    when the checkpoint was taken (an extension line)
//
// followed by a blank line and signature lines ("— <name> <base64 of key
// hash and signature>"). The log's signature is an Ed25519 note signature
// whose key name is the origin; witnesses add cosignatures.
//
// Checkpoints written before the tree existed carried the head hash on
// their third line and were signed under the key's fingerprint; [Open]
// refuses them with [ErrLegacy], which says how to take a new one.
package checkpoint

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/capsule-go/capsule/logtree"
	"github.com/capsule-go/capsule/storage"
)

// Checkpoint is a C2SP tlog-checkpoint: the state of a log at a size.
type Checkpoint struct {
	Origin string    // the log's name, also the key name of its signature
	Size   int64     // number of entries (capsules)
	Root   tlog.Hash // Merkle root of the tree of those entries
	// Extensions are the optional lines after the root, without their
	// newline, in order, such as "time 2026-03-01T12:00:00Z".
	Extensions []string
}

// Origin returns the default origin of tenant's checkpoints: "capsule/-"
// for the null tenant, else "capsule/t/" and the tenant, path-escaped with
// "+" escaped too (a note key name cannot hold it).
func Origin(tenant string) string {
	if tenant == "" {
		return "capsule/-"
	}
	return "capsule/t/" + strings.ReplaceAll(url.PathEscape(tenant), "+", "%2B")
}

// TenantOf returns the tenant whose default origin is origin, and false
// when origin is not a default origin.
func TenantOf(origin string) (string, bool) {
	if origin == "capsule/-" {
		return "", true
	}
	rest, ok := strings.CutPrefix(origin, "capsule/t/")
	if !ok {
		return "", false
	}
	t, err := url.PathUnescape(rest)
	if err != nil || t == "" || Origin(t) != origin {
		return "", false
	}
	return t, true
}

// FileName returns a file name for tenant's checkpoint, safe on any file
// system.
func FileName(tenant string) string {
	if tenant == "" {
		return "null.checkpoint"
	}
	return "t_" + hex.EncodeToString([]byte(tenant)) + ".checkpoint"
}

// Time returns the time of c's "time" extension line, and false when it
// has none that parses.
func (c Checkpoint) Time() (time.Time, bool) {
	for _, ext := range c.Extensions {
		if v, ok := strings.CutPrefix(ext, "time "); ok {
			t, err := time.Parse(time.RFC3339Nano, v)
			return t, err == nil
		}
	}
	return time.Time{}, false
}

// TimeExtension returns the extension line recording t.
func TimeExtension(t time.Time) string { return "time " + t.UTC().Format(time.RFC3339Nano) }

// validOrigin reports whether origin can be a checkpoint's origin and the
// name of its signing key.
func validOrigin(origin string) error {
	if origin == "" || !utf8.ValidString(origin) || strings.ContainsAny(origin, "+ \t\n\r") {
		return fmt.Errorf("checkpoint: origin %q must be non-empty UTF-8 without spaces or '+'", origin)
	}
	for _, r := range origin {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("checkpoint: origin %q holds a control character", origin)
		}
	}
	return nil
}

// Text returns the note text of c.
func (c Checkpoint) Text() (string, error) {
	if err := validOrigin(c.Origin); err != nil {
		return "", err
	}
	if c.Size < 0 {
		return "", fmt.Errorf("checkpoint: negative size %d", c.Size)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n%d\n%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Root[:]))
	for _, ext := range c.Extensions {
		if ext == "" || strings.ContainsAny(ext, "\n") || !utf8.ValidString(ext) {
			return "", fmt.Errorf("checkpoint: extension line %q must be non-empty UTF-8 without a newline", ext)
		}
		b.WriteString(ext + "\n")
	}
	return b.String(), nil
}

// Parse parses the text of a checkpoint note (without signatures).
func Parse(text string) (Checkpoint, error) {
	if !strings.HasSuffix(text, "\n") {
		return Checkpoint{}, errors.New("checkpoint: text does not end with a newline")
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 3 {
		return Checkpoint{}, fmt.Errorf("checkpoint: %d lines, want origin, size and root hash", len(lines))
	}
	c := Checkpoint{Origin: lines[0]}
	if err := validOrigin(c.Origin); err != nil {
		return Checkpoint{}, err
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || (lines[1] != "0" && lines[1][0] == '0') || lines[1][0] == '+' {
		return Checkpoint{}, fmt.Errorf("checkpoint: size %q is not a non-negative decimal integer", lines[1])
	}
	c.Size = size
	root, err := base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil || len(root) != tlog.HashSize {
		return Checkpoint{}, fmt.Errorf("checkpoint: root hash %q is not 32 bytes of base64", lines[2])
	}
	copy(c.Root[:], root)
	for i, ext := range lines[3:] {
		if ext == "" {
			return Checkpoint{}, fmt.Errorf("checkpoint: line %d is empty", i+4)
		}
		c.Extensions = append(c.Extensions, ext)
	}
	return c, nil
}

// MessageSigner is a key that can sign arbitrary messages; *keys.Signer is
// one.
type MessageSigner interface {
	SignMessage(msg []byte) []byte
	PublicKey() ed25519.PublicKey
	Fingerprint() string
}

// noteSigner adapts a MessageSigner to note.Signer under a key name.
type noteSigner struct {
	s    MessageSigner
	name string
	hash uint32
}

func (n noteSigner) Name() string                    { return n.name }
func (n noteSigner) KeyHash() uint32                 { return n.hash }
func (n noteSigner) Sign(msg []byte) ([]byte, error) { return n.s.SignMessage(msg), nil }

// VerifierKey returns the note verifier key of the log origin signed with
// pub: "<origin>+<key hash, 8 hex digits>+<base64 of 0x01 and pub>", the
// key hash being the first 4 bytes of SHA-256(origin || "\n" || 0x01 ||
// pub).
func VerifierKey(origin string, pub ed25519.PublicKey) (string, error) {
	if err := validOrigin(origin); err != nil {
		return "", err
	}
	vkey, err := note.NewEd25519VerifierKey(origin, pub)
	if err != nil {
		return "", fmt.Errorf("checkpoint: key %q: %w", origin, err)
	}
	return vkey, nil
}

// NoteSigner returns a note.Signer that signs with s under the key name
// origin, as a log's checkpoints are signed.
func NoteSigner(origin string, s MessageSigner) (note.Signer, error) {
	vkey, err := VerifierKey(origin, s.PublicKey())
	if err != nil {
		return nil, err
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: key %q: %w", origin, err)
	}
	return noteSigner{s: s, name: origin, hash: v.KeyHash()}, nil
}

// LogVerifier returns the note verifier of the log origin signed with pub.
func LogVerifier(origin string, pub ed25519.PublicKey) (note.Verifier, error) {
	vkey, err := VerifierKey(origin, pub)
	if err != nil {
		return nil, err
	}
	return note.NewVerifier(vkey)
}

// Sign returns the signed note of c, signed by s, whose key name must be
// c's origin.
func Sign(c Checkpoint, s note.Signer) ([]byte, error) {
	if s.Name() != c.Origin {
		return nil, fmt.Errorf("checkpoint: key %q cannot sign a checkpoint of origin %q: the key name must be the origin", s.Name(), c.Origin)
	}
	text, err := c.Text()
	if err != nil {
		return nil, err
	}
	signed, err := note.Sign(&note.Note{Text: text}, s)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: sign: %w", err)
	}
	return signed, nil
}

// ErrLegacy reports a checkpoint written before checkpoints carried a
// Merkle root.
var ErrLegacy = errors.New("a checkpoint of the old format (head hash, signed under the key's fingerprint): " +
	"it carries no Merkle root and cannot be checked with a consistency proof; " +
	"take a new one with \"capsule checkpoint (--db PATH | --pg URL) [--tenant T] -o FILE\"")

// Open checks the log's signature on a signed checkpoint and parses it.
// The verifier's name must be the checkpoint's origin. Signatures of other
// keys (witnesses' cosignatures) are left in the note's UnverifiedSigs for
// the caller to check. An altered note fails with a
// *note.InvalidSignatureError.
func Open(msg []byte, log note.Verifier) (Checkpoint, *note.Note, error) {
	if legacy(msg) {
		return Checkpoint{}, nil, ErrLegacy
	}
	n, err := note.Open(msg, note.VerifierList(log))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		if errors.As(err, &unverified) {
			return Checkpoint{}, nil, fmt.Errorf("checkpoint: not signed by the log key %q: %w", log.Name(), err)
		}
		return Checkpoint{}, nil, fmt.Errorf("checkpoint: %w", err)
	}
	c, err := Parse(n.Text)
	if err != nil {
		return Checkpoint{}, nil, err
	}
	if c.Origin != log.Name() {
		return Checkpoint{}, nil, fmt.Errorf("checkpoint: origin %q is not the name of the log key %q", c.Origin, log.Name())
	}
	return c, n, nil
}

// legacy reports whether msg looks like a checkpoint of the old format: a
// capsule origin signed only by keys named like fingerprints.
func legacy(msg []byte) bool {
	text, sigs, ok := bytes.Cut(msg, []byte("\n\n"))
	if !ok || !bytes.HasPrefix(text, []byte("capsule/")) {
		return false
	}
	origin, _, _ := bytes.Cut(text, []byte("\n"))
	found := false
	for _, line := range strings.Split(string(sigs), "\n") {
		rest, ok := strings.CutPrefix(line, "— ")
		if !ok {
			continue
		}
		name, _, _ := strings.Cut(rest, " ")
		if name == string(origin) || !strings.HasPrefix(name, "qp_key_") {
			return false
		}
		found = true
	}
	return found
}

// Take returns the signed checkpoint of tenant's chain as it is now, with
// origin as its origin, signed by s under that name. It catches the
// chain's tree up first if it lags (see package logtree).
func Take(ctx context.Context, store storage.Store, tenant, origin string, s MessageSigner) (Checkpoint, []byte, error) {
	signer, err := NoteSigner(origin, s)
	if err != nil {
		return Checkpoint{}, nil, err
	}
	size, err := logtree.Sync(ctx, store, tenant)
	if err != nil {
		return Checkpoint{}, nil, fmt.Errorf("checkpoint: %w", err)
	}
	root, err := logtree.TreeHash(ctx, store, tenant, size)
	if err != nil {
		return Checkpoint{}, nil, fmt.Errorf("checkpoint: %w", err)
	}
	c := Checkpoint{Origin: origin, Size: size, Root: root, Extensions: []string{TimeExtension(time.Now())}}
	signed, err := Sign(c, signer)
	return c, signed, err
}

// ErrTruncated reports a chain shorter than a checkpoint of it.
var ErrTruncated = errors.New("chain is shorter than the checkpoint: capsules were removed from its end")

// ErrForked reports a chain that no longer extends a checkpoint.
var ErrForked = errors.New("chain does not extend the checkpoint: its history was rewritten")

// Check reports whether tenant's chain in store still extends c: it has at
// least c.Size capsules and the Merkle root of its first c.Size is c.Root,
// which is what a consistency proof from c to the chain's current size
// shows. It reads O(log n) stored hashes once the tree exists. It checks
// nothing else; verify the chain itself too.
func Check(ctx context.Context, store storage.Store, tenant string, c Checkpoint) error {
	h, err := store.Head(ctx, tenant)
	if err != nil {
		return fmt.Errorf("checkpoint: read head: %w", err)
	}
	if h.Sequence+1 < c.Size {
		return fmt.Errorf("%w: the checkpoint counts %d capsules, the chain has %d", ErrTruncated, c.Size, h.Sequence+1)
	}
	if _, err := logtree.Sync(ctx, store, tenant); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	root, err := logtree.TreeHash(ctx, store, tenant, c.Size)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if root != c.Root {
		return fmt.Errorf("%w: the first %d capsules have Merkle root %s, the checkpoint says %s", ErrForked, c.Size, root, c.Root)
	}
	return nil
}

// WriteFile writes a signed checkpoint to path atomically (temporary file,
// fsync, rename), so a reader never sees half a checkpoint.
func WriteFile(path string, signed []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".checkpoint-*")
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(signed)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("checkpoint: write %s: %w", path, err)
	}
	return nil
}
