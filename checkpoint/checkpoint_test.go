package checkpoint_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capsule-go/capsule/checkpoint"
	"github.com/capsule-go/capsule/keys"
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

func lookupOf(s *keys.Signer) checkpoint.KeyLookup {
	return func(name string) (ed25519.PublicKey, error) {
		if name == s.Fingerprint() {
			return s.PublicKey(), nil
		}
		return nil, fmt.Errorf("unknown key %q", name)
	}
}

func TestCheckpointDetectsTruncationAndRewrite(t *testing.T) {
	ctx := context.Background()
	s := newSigner(t)
	for _, tenant := range []string{"", "acme/eu west", "-"} {
		t.Run(fmt.Sprintf("%q", tenant), func(t *testing.T) {
			st := memory.New()
			if _, err := storagetest.AppendRetry(ctx, st, tenant, 5); err != nil {
				t.Fatal(err)
			}
			cp, signed, err := checkpoint.Take(ctx, st, tenant, s)
			if err != nil {
				t.Fatal(err)
			}
			if cp.Size != 5 {
				t.Fatalf("size %d, want 5", cp.Size)
			}
			got, err := checkpoint.Open(signed, lookupOf(s))
			if err != nil {
				t.Fatal(err)
			}
			if got.Tenant != tenant || got.Size != 5 || got.Hash != cp.Hash || !got.Time.Equal(cp.Time) || got.Signer != "qp_key_test" {
				t.Fatalf("round trip: %+v, want %+v", got, cp)
			}
			// The chain as it is, and grown, extends the checkpoint.
			if err := checkpoint.Check(ctx, st, got); err != nil {
				t.Fatal(err)
			}
			if _, err := storagetest.AppendRetry(ctx, st, tenant, 2); err != nil {
				t.Fatal(err)
			}
			if err := checkpoint.Check(ctx, st, got); err != nil {
				t.Fatalf("grown chain: %v", err)
			}
			// A copy truncated to 4 capsules does not.
			short := memory.New()
			copyChain(t, st, short, tenant, 4, "")
			if err := checkpoint.Check(ctx, short, got); !errors.Is(err, checkpoint.ErrTruncated) {
				t.Fatalf("truncated chain: %v, want ErrTruncated", err)
			}
			// A chain whose capsule 4 differs does not.
			forked := memory.New()
			copyChain(t, st, forked, tenant, 4, "")
			if _, err := storagetest.AppendRetry(ctx, forked, tenant, 3); err != nil {
				t.Fatal(err)
			}
			if err := checkpoint.Check(ctx, forked, got); !errors.Is(err, checkpoint.ErrForked) {
				t.Fatalf("rewritten chain: %v, want ErrForked", err)
			}
		})
	}
}

func copyChain(t *testing.T, from, to storage.Store, tenant string, n int64, _ string) {
	t.Helper()
	var recs []storage.Record
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

func TestOpenRejectsBadNotes(t *testing.T) {
	ctx := context.Background()
	s := newSigner(t)
	st := memory.New()
	if _, err := storagetest.AppendRetry(ctx, st, "a", 3); err != nil {
		t.Fatal(err)
	}
	_, signed, err := checkpoint.Take(ctx, st, "a", s)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(signed, []byte("capsule/t/a\n3\n")) || !bytes.Contains(signed, []byte("\n\n— qp_key_test ")) {
		t.Fatalf("unexpected note layout:\n%s", signed)
	}
	tampered := bytes.Replace(signed, []byte("\n3\n"), []byte("\n2\n"), 1)
	if _, err := checkpoint.Open(tampered, lookupOf(s)); err == nil {
		t.Fatal("tampered size accepted")
	}
	other := newSigner(t)
	if _, err := checkpoint.Open(signed, lookupOf(other)); err == nil {
		t.Fatal("signature by an unknown key accepted")
	}
	if _, err := checkpoint.Open([]byte("capsule/-\n1\n"), lookupOf(s)); err == nil || !strings.Contains(err.Error(), "no signature") {
		t.Fatalf("unsigned note: %v", err)
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
