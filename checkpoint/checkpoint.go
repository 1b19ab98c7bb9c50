// Package checkpoint writes and checks signed checkpoints of chain heads,
// in the style of C2SP tlog-checkpoint carried in a C2SP signed note.
//
// A hash chain proves that nothing inside it was changed, but not that
// nothing was cut off its end: deleting the newest capsules leaves a chain
// that verifies. A checkpoint closes that gap. It records, signed, how long
// a chain was and what its head hash was at a time; kept outside the
// database (another disk, a ticket, a transparency log, a colleague's
// inbox), it lets a verifier later prove that the chain still has at least
// that many capsules and still passes through that head.
//
// What it does not prove: that nothing was appended and then removed
// between two checkpoints (only checkpoints taken more often narrow that
// window), or anything at all about a chain for which the verifier holds no
// checkpoint. Whoever holds the signing key can also sign a checkpoint for a
// rewritten chain, so checkpoints must be kept where that key's holder
// cannot replace them.
//
// The note text is
//
//	capsule/<tenant>        origin: "capsule/-" for the null tenant, else
//	                        "capsule/t/" + the tenant, path-escaped
//	<size>                  number of capsules in the chain
//	<head hash, base64>     the hash of capsule size-1 (32 bytes, std base64)
//	time <RFC 3339, UTC>    when the checkpoint was taken
//
// followed by a blank line and one signature line per signer
// ("— <name> <base64 of key hash and Ed25519 signature>"). The key name is
// the signer's fingerprint (signed_by of its capsules).
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
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/capsule-go/capsule/internal/atomicfile"
	"github.com/capsule-go/capsule/storage"
)

// Checkpoint is one signed statement about a chain head.
type Checkpoint struct {
	Tenant string    // "" is the null tenant
	Size   int64     // capsules in the chain: head sequence + 1
	Hash   string    // hex hash of capsule Size-1; "" when Size is 0
	Time   time.Time // when it was taken
	Signer string    // key name (fingerprint) whose signature verified; set by Open
}

// Origin returns the origin line of tenant's checkpoints.
func Origin(tenant string) string {
	if tenant == "" {
		return "capsule/-"
	}
	return "capsule/t/" + url.PathEscape(tenant)
}

// FileName returns a file name for tenant's checkpoint, safe on any file
// system.
func FileName(tenant string) string {
	if tenant == "" {
		return "null.checkpoint"
	}
	return "t_" + hex.EncodeToString([]byte(tenant)) + ".checkpoint"
}

// MessageSigner is a key that can sign arbitrary messages; *keys.Signer is
// one.
type MessageSigner interface {
	SignMessage(msg []byte) []byte
	PublicKey() ed25519.PublicKey
	Fingerprint() string
}

// noteSigner adapts a MessageSigner to note.Signer.
type noteSigner struct {
	s    MessageSigner
	hash uint32
}

func (n noteSigner) Name() string                    { return n.s.Fingerprint() }
func (n noteSigner) KeyHash() uint32                 { return n.hash }
func (n noteSigner) Sign(msg []byte) ([]byte, error) { return n.s.SignMessage(msg), nil }

func verifier(name string, pub ed25519.PublicKey) (note.Verifier, error) {
	vkey, err := note.NewEd25519VerifierKey(name, pub)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: key %q: %w", name, err)
	}
	return note.NewVerifier(vkey)
}

// Text returns the unsigned note text of c.
func (c Checkpoint) Text() (string, error) {
	var hash []byte
	if c.Size > 0 {
		h, err := hex.DecodeString(c.Hash)
		if err != nil || len(h) != 32 {
			return "", fmt.Errorf("checkpoint: head hash %q is not 64 hex digits", c.Hash)
		}
		hash = h
	} else {
		hash = make([]byte, 32)
	}
	return fmt.Sprintf("%s\n%d\n%s\ntime %s\n", Origin(c.Tenant), c.Size,
		base64.StdEncoding.EncodeToString(hash), c.Time.UTC().Format(time.RFC3339Nano)), nil
}

// Sign returns the signed note of c.
func Sign(c Checkpoint, s MessageSigner) ([]byte, error) {
	text, err := c.Text()
	if err != nil {
		return nil, err
	}
	v, err := verifier(s.Fingerprint(), s.PublicKey())
	if err != nil {
		return nil, err
	}
	return note.Sign(&note.Note{Text: text}, noteSigner{s, v.KeyHash()})
}

// Take reads tenant's chain head from store and returns its signed
// checkpoint.
func Take(ctx context.Context, store storage.Store, tenant string, s MessageSigner) (Checkpoint, []byte, error) {
	h, err := store.Head(ctx, tenant)
	if err != nil {
		return Checkpoint{}, nil, fmt.Errorf("checkpoint: read head: %w", err)
	}
	c := Checkpoint{Tenant: tenant, Size: h.Sequence + 1, Hash: h.Hash, Time: time.Now().UTC()}
	signed, err := Sign(c, s)
	return c, signed, err
}

// KeyLookup returns the public key of the named signer.
type KeyLookup func(name string) (ed25519.PublicKey, error)

// Open checks the signature of a signed checkpoint and parses it. At least
// one signature must verify with a key lookup finds.
func Open(msg []byte, lookup KeyLookup) (Checkpoint, error) {
	names := signerNames(msg)
	if len(names) == 0 {
		return Checkpoint{}, errors.New("checkpoint: no signature lines (is this a signed checkpoint?)")
	}
	var vs []note.Verifier
	var lookupErrs []error
	for _, name := range names {
		pub, err := lookup(name)
		if err != nil {
			lookupErrs = append(lookupErrs, fmt.Errorf("signer %q: %w", name, err))
			continue
		}
		v, err := verifier(name, pub)
		if err != nil {
			return Checkpoint{}, err
		}
		vs = append(vs, v)
	}
	if len(vs) == 0 {
		return Checkpoint{}, fmt.Errorf("checkpoint: no known signer: %w", errors.Join(lookupErrs...))
	}
	n, err := note.Open(msg, note.VerifierList(vs...))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint: signature: %w", err)
	}
	c, err := parseText(n.Text)
	if err != nil {
		return Checkpoint{}, err
	}
	c.Signer = n.Sigs[0].Name
	return c, nil
}

func signerNames(msg []byte) []string {
	_, sigs, ok := bytes.Cut(msg, []byte("\n\n"))
	if !ok {
		return nil
	}
	var names []string
	for _, line := range strings.Split(string(sigs), "\n") {
		rest, ok := strings.CutPrefix(line, "— ")
		if !ok {
			continue
		}
		if name, _, ok := strings.Cut(rest, " "); ok {
			names = append(names, name)
		}
	}
	return names
}

func parseText(text string) (Checkpoint, error) {
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 3 {
		return Checkpoint{}, fmt.Errorf("checkpoint: %d lines, want origin, size and hash", len(lines))
	}
	var c Checkpoint
	switch {
	case lines[0] == "capsule/-":
	case strings.HasPrefix(lines[0], "capsule/t/"):
		t, err := url.PathUnescape(strings.TrimPrefix(lines[0], "capsule/t/"))
		if err != nil || t == "" {
			return Checkpoint{}, fmt.Errorf("checkpoint: origin %q: bad tenant", lines[0])
		}
		c.Tenant = t
	default:
		return Checkpoint{}, fmt.Errorf("checkpoint: origin %q is not a capsule chain", lines[0])
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || (lines[1] != "0" && lines[1][0] == '0') {
		return Checkpoint{}, fmt.Errorf("checkpoint: size %q is not a non-negative integer", lines[1])
	}
	c.Size = size
	hash, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(hash) != 32 {
		return Checkpoint{}, fmt.Errorf("checkpoint: head hash %q is not 32 bytes of base64", lines[2])
	}
	if size > 0 {
		c.Hash = hex.EncodeToString(hash)
	}
	for _, ext := range lines[3:] {
		if v, ok := strings.CutPrefix(ext, "time "); ok {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return Checkpoint{}, fmt.Errorf("checkpoint: time %q: %w", v, err)
			}
			c.Time = t
		}
	}
	return c, nil
}

// ErrTruncated reports a chain shorter than a checkpoint of it.
var ErrTruncated = errors.New("chain is shorter than the checkpoint: capsules were removed from its end")

// ErrForked reports a chain that no longer passes through a checkpoint's
// head.
var ErrForked = errors.New("chain does not extend the checkpoint: its history was rewritten")

// Check reports whether tenant's chain in store still extends c: it has at
// least c.Size capsules and capsule c.Size-1 has hash c.Hash. It checks
// nothing else; verify the chain itself too.
func Check(ctx context.Context, store storage.Store, c Checkpoint) error {
	if c.Size == 0 {
		return nil
	}
	h, err := store.Head(ctx, c.Tenant)
	if err != nil {
		return fmt.Errorf("checkpoint: read head: %w", err)
	}
	if h.Sequence+1 < c.Size {
		return fmt.Errorf("%w: checkpoint of %s has %d capsules, chain has %d", ErrTruncated, c.Time.Format(time.RFC3339), c.Size, h.Sequence+1)
	}
	for rec, err := range store.Scan(ctx, c.Tenant, c.Size-1) {
		if err != nil {
			return fmt.Errorf("checkpoint: read capsule %d: %w", c.Size-1, err)
		}
		if rec.Sequence != c.Size-1 {
			return fmt.Errorf("%w: capsule %d is missing", ErrTruncated, c.Size-1)
		}
		if rec.Hash != c.Hash {
			return fmt.Errorf("%w: capsule %d has hash %s, checkpoint says %s", ErrForked, c.Size-1, rec.Hash, c.Hash)
		}
		return nil
	}
	return fmt.Errorf("%w: capsule %d is missing", ErrTruncated, c.Size-1)
}

// WriteFile writes a signed checkpoint to path atomically (temporary file,
// fsync, rename, fsync of the directory), so a reader never sees half a
// checkpoint and a crash does not undo it.
func WriteFile(path string, signed []byte) error {
	if err := atomicfile.WriteFile(path, signed, 0o644); err != nil {
		return fmt.Errorf("checkpoint: write %s: %w", path, err)
	}
	return nil
}
