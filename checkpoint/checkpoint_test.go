package checkpoint_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/capsule-go/capsule/checkpoint"
	"github.com/capsule-go/capsule/keys"
	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/storage"
	"github.com/capsule-go/capsule/storage/memory"
	"github.com/capsule-go/capsule/storage/storagetest"
)

func newSigner(t *testing.T) *keys.Signer {
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return keys.NewSigner(priv, "qp_key_test")
}

func logVerifier(t *testing.T, origin string, s *keys.Signer) note.Verifier {
	t.Helper()
	v, err := checkpoint.LogVerifier(origin, s.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// rootOf computes the Merkle root of recs independently of the store: the
// RFC 6962 tree over SHA-256(0x00 || raw hash) leaves, with tlog's
// in-memory stored hashes.
func rootOf(t *testing.T, recs []protocol.Sealed) tlog.Hash {
	t.Helper()
	var stored []tlog.Hash
	r := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		hs := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			hs[i] = stored[x]
		}
		return hs, nil
	})
	for i, rec := range recs {
		raw := make([]byte, 32)
		fmt.Sscanf(rec.Hash, "%x", &raw)
		leaf := sha256.Sum256(append([]byte{0}, raw...))
		hs, err := tlog.StoredHashesForRecordHash(int64(i), leaf, r)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, hs...)
	}
	root, err := tlog.TreeHash(int64(len(recs)), r)
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func TestCheckpointDetectsTruncationAndRewrite(t *testing.T) {
	ctx := context.Background()
	s := newSigner(t)
	for _, tenant := range []string{"", "acme/eu west+1", "-"} {
		t.Run(fmt.Sprintf("%q", tenant), func(t *testing.T) {
			st := memory.New()
			recs, err := storagetest.AppendRetry(ctx, st, tenant, 5)
			if err != nil {
				t.Fatal(err)
			}
			origin := checkpoint.Origin(tenant)
			cp, signed, err := checkpoint.Take(ctx, st, tenant, origin, s)
			if err != nil {
				t.Fatal(err)
			}
			if cp.Size != 5 || cp.Root != rootOf(t, recs) {
				t.Fatalf("size %d root %s, want 5 and the independent root %s", cp.Size, cp.Root, rootOf(t, recs))
			}
			if got, ok := checkpoint.TenantOf(origin); !ok || got != tenant {
				t.Fatalf("TenantOf(%q) = %q, %v", origin, got, ok)
			}
			got, n, err := checkpoint.Open(signed, logVerifier(t, origin, s))
			if err != nil {
				t.Fatal(err)
			}
			tm, ok := got.Time()
			if got.Origin != origin || got.Size != 5 || got.Root != cp.Root || !ok || tm.IsZero() || len(n.Sigs) != 1 || n.Sigs[0].Name != origin {
				t.Fatalf("round trip: %+v, want %+v", got, cp)
			}
			// The chain as it is, and grown, extends the checkpoint.
			if err := checkpoint.Check(ctx, st, tenant, got); err != nil {
				t.Fatal(err)
			}
			if _, err := storagetest.AppendRetry(ctx, st, tenant, 2); err != nil {
				t.Fatal(err)
			}
			if err := checkpoint.Check(ctx, st, tenant, got); err != nil {
				t.Fatalf("grown chain: %v", err)
			}
			// A copy truncated to 4 capsules does not.
			short := memory.New()
			copyChain(t, st, short, tenant, 4)
			if err := checkpoint.Check(ctx, short, tenant, got); !errors.Is(err, checkpoint.ErrTruncated) {
				t.Fatalf("truncated chain: %v, want ErrTruncated", err)
			}
			// A chain whose capsule 4 differs does not.
			forked := memory.New()
			copyChain(t, st, forked, tenant, 4)
			if _, err := storagetest.AppendRetry(ctx, forked, tenant, 3); err != nil {
				t.Fatal(err)
			}
			if err := checkpoint.Check(ctx, forked, tenant, got); !errors.Is(err, checkpoint.ErrForked) {
				t.Fatalf("rewritten chain: %v, want ErrForked", err)
			}
		})
	}
}

func copyChain(t *testing.T, from, to storage.Store, tenant string, n int64) {
	t.Helper()
	var recs []protocol.Sealed
	for r, err := range from.Scan(context.Background(), tenant, 0) {
		if err != nil {
			t.Fatal(err)
		}
		if r.Sequence >= n {
			break
		}
		recs = append(recs, r)
	}
	if err := to.Append(context.Background(), tenant, recs); err != nil {
		t.Fatal(err)
	}
}

// The verifier key is the C2SP signed-note Ed25519 key: name, key hash
// SHA-256(name || "\n" || 0x01 || key)[:4], base64 of 0x01 || key.
func TestVerifierKey(t *testing.T) {
	s := newSigner(t)
	vkey, err := checkpoint.VerifierKey("example.com/log", s.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(append([]byte("example.com/log\n\x01"), s.PublicKey()...))
	want := fmt.Sprintf("example.com/log+%08x+%s", binary.BigEndian.Uint32(sum[:4]),
		base64.StdEncoding.EncodeToString(append([]byte{1}, s.PublicKey()...)))
	if vkey != want {
		t.Fatalf("verifier key %s, want %s", vkey, want)
	}
	for _, bad := range []string{"", "a b", "a+b", "a\nb"} {
		if _, err := checkpoint.VerifierKey(bad, s.PublicKey()); err == nil {
			t.Errorf("origin %q accepted", bad)
		}
	}
}

func TestOpenRejectsBadNotes(t *testing.T) {
	ctx := context.Background()
	s := newSigner(t)
	st := memory.New()
	if _, err := storagetest.AppendRetry(ctx, st, "a", 3); err != nil {
		t.Fatal(err)
	}
	_, signed, err := checkpoint.Take(ctx, st, "a", "example.com/capsules/a", s)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(signed, []byte("example.com/capsules/a\n3\n")) || !bytes.Contains(signed, []byte("\n\n— example.com/capsules/a ")) {
		t.Fatalf("unexpected note layout:\n%s", signed)
	}
	v := logVerifier(t, "example.com/capsules/a", s)
	tampered := bytes.Replace(signed, []byte("\n3\n"), []byte("\n2\n"), 1)
	var bad *note.InvalidSignatureError
	if _, _, err := checkpoint.Open(tampered, v); !errors.As(err, &bad) {
		t.Fatalf("tampered size: %v", err)
	}
	if _, _, err := checkpoint.Open(signed, logVerifier(t, "example.com/capsules/a", newSigner(t))); err == nil {
		t.Fatal("signature by another key accepted")
	}
	if _, _, err := checkpoint.Open(signed, logVerifier(t, "other", s)); err == nil {
		t.Fatal("checkpoint accepted under another origin")
	}
	if _, _, err := checkpoint.Open([]byte("capsule/-\n1\n"), v); err == nil {
		t.Fatal("unsigned note accepted")
	}
	if _, err := checkpoint.Sign(checkpoint.Checkpoint{Origin: "x", Size: 1}, mustSigner(t, "y", s)); err == nil {
		t.Fatal("signed under a key name other than the origin")
	}
	path := filepath.Join(t.TempDir(), checkpoint.FileName("a"))
	if err := checkpoint.WriteFile(path, signed); err != nil {
		t.Fatal(err)
	}
	back, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(back, signed) {
		t.Fatalf("WriteFile round trip: %v", err)
	}
}

func mustSigner(t *testing.T, name string, s *keys.Signer) note.Signer {
	t.Helper()
	ns, err := checkpoint.NoteSigner(name, s)
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

// A checkpoint of the format before trees (head hash, key named by its
// fingerprint) is refused with an error that says how to take a new one.
func TestOpenLegacyCheckpoint(t *testing.T) {
	s := newSigner(t)
	old := "capsule/-\n12\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\ntime 2026-03-01T12:00:00Z\n"
	vkey, err := note.NewEd25519VerifierKey(s.Fingerprint(), s.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	v, _ := note.NewVerifier(vkey)
	signed, err := note.Sign(&note.Note{Text: old}, legacySigner{s, v.KeyHash()})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = checkpoint.Open(signed, logVerifier(t, "capsule/-", s))
	if !errors.Is(err, checkpoint.ErrLegacy) || !strings.Contains(err.Error(), "capsule checkpoint") {
		t.Fatalf("legacy checkpoint: %v", err)
	}
}

type legacySigner struct {
	s    *keys.Signer
	hash uint32
}

func (l legacySigner) Name() string                    { return l.s.Fingerprint() }
func (l legacySigner) KeyHash() uint32                 { return l.hash }
func (l legacySigner) Sign(msg []byte) ([]byte, error) { return l.s.SignMessage(msg), nil }

func TestParse(t *testing.T) {
	good := "o\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"
	c, err := checkpoint.Parse(good)
	if err != nil || c.Size != 0 || c.Root != (tlog.Hash{}) && c.Root.String() != "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=" {
		t.Fatalf("Parse: %+v, %v", c, err)
	}
	if text, err := c.Text(); err != nil || text != good {
		t.Fatalf("Text: %q, %v", text, err)
	}
	for _, bad := range []string{
		"o\n1\n", "o\n01\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", "o\n-1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
		"o\n1\nAAAA\n", "o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\nx\n", "o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"o o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", "o\n+1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
	} {
		if _, err := checkpoint.Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}
