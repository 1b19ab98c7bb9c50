//go:build unix

package keys

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cloudflare/circl/sign/mldsa/mldsa65"
)

const testHash = "25eea02e2e0e13b3742f63d78c9338838fbca912c98af6b04f85f64944d00fc2"

func TestPQCreateSignVerify(t *testing.T) {
	withUmask(t, 0)
	dir := filepath.Join(t.TempDir(), "data")
	s, err := LoadOrCreatePQ(dir)
	if err != nil {
		t.Fatal(err)
	}
	keyPath, pubPath := filepath.Join(dir, PQKeyFile), filepath.Join(dir, PQPublicKeyFile)
	if m := mode(t, keyPath); m != 0o600 {
		t.Errorf("key.ml mode %04o, want 0600", m)
	}
	if m := mode(t, pubPath); m != 0o644 {
		t.Errorf("key.ml.pub mode %04o, want 0644", m)
	}
	sk, _ := os.ReadFile(keyPath)
	pub, _ := os.ReadFile(pubPath)
	if len(sk) != mldsa65.PrivateKeySize || len(pub) != mldsa65.PublicKeySize {
		t.Fatalf("key sizes %d and %d", len(sk), len(pub))
	}
	if !bytes.Equal(s.PublicKey(), pub) {
		t.Errorf("PublicKey() is not key.ml.pub")
	}

	sig := s.SignPQ(testHash)
	if len(sig) != 2*mldsa65.SignatureSize || strings.ToLower(sig) != sig {
		t.Fatalf("signature of %d hex chars", len(sig))
	}
	if !VerifyPQ(pub, testHash, sig) {
		t.Errorf("VerifyPQ rejects a good signature")
	}
	if sig2 := s.SignPQ(testHash); sig2 == sig || !VerifyPQ(pub, testHash, sig2) {
		t.Errorf("hedged signatures should differ and both verify")
	}
	// An independent check with circl's own API over the ASCII hash.
	var pk mldsa65.PublicKey
	if err := pk.UnmarshalBinary(pub); err != nil {
		t.Fatal(err)
	}
	raw, err := hex.DecodeString(sig)
	if err != nil {
		t.Fatal(err)
	}
	if !mldsa65.Verify(&pk, []byte(testHash), nil, raw) {
		t.Errorf("signature is not over the ASCII hex hash with an empty context")
	}

	bad := []byte(testHash)
	bad[5] ^= 1
	for name, ok := range map[string]bool{
		"changed hash":  VerifyPQ(pub, string(bad), sig),
		"short sig":     VerifyPQ(pub, testHash, sig[:len(sig)-2]),
		"non-hex sig":   VerifyPQ(pub, testHash, "zz"+sig[2:]),
		"short pub":     VerifyPQ(pub[:100], testHash, sig),
		"other pub key": VerifyPQ(bytes.Repeat([]byte{1}, mldsa65.PublicKeySize), testHash, sig),
	} {
		if ok {
			t.Errorf("%s: VerifyPQ = true", name)
		}
	}

	s2, err := LoadOrCreatePQ(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s2.PublicKey(), pub) {
		t.Errorf("second load gave another key")
	}
	if out := fmt.Sprintf("%v %#v %v", s, s, *s); strings.Contains(out, fmt.Sprintf("%x", sk[:16])) || strings.Contains(out, strings.Trim(fmt.Sprint(sk[:8]), "[]")) || !strings.HasPrefix(out, "keys.PQSigner(ML-DSA-65 ") {
		t.Errorf("formatting: %s", out)
	}
}

func TestPQPublicKeyRewrittenAndChecked(t *testing.T) {
	dir := t.TempDir()
	s, err := LoadOrCreatePQ(dir)
	if err != nil {
		t.Fatal(err)
	}
	pubPath := filepath.Join(dir, PQPublicKeyFile)
	os.Remove(pubPath)
	if _, err := LoadOrCreatePQ(dir); err != nil {
		t.Fatal(err)
	}
	if pub, _ := os.ReadFile(pubPath); !bytes.Equal(pub, s.PublicKey()) {
		t.Errorf("missing key.ml.pub not rewritten from key.ml")
	}
	os.WriteFile(pubPath, bytes.Repeat([]byte{3}, mldsa65.PublicKeySize), 0o644)
	if _, err := LoadOrCreatePQ(dir); !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("foreign key.ml.pub: err = %v, want ErrKeyMismatch", err)
	}
}

func TestPQSeedFileAndRefusals(t *testing.T) {
	dir := t.TempDir()
	var seed [mldsa65.SeedSize]byte
	copy(seed[:], bytes.Repeat([]byte{5}, 32))
	wantPub, _ := mldsa65.NewKeyFromSeed(&seed)
	keyPath := filepath.Join(dir, PQKeyFile)
	os.WriteFile(keyPath, seed[:], 0o600)
	s, err := LoadOrCreatePQ(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s.PublicKey(), wantPub.Bytes()) {
		t.Errorf("seed file: wrong public key")
	}

	os.Chmod(keyPath, 0o640)
	if _, err := LoadOrCreatePQ(dir); !errors.Is(err, ErrInsecureKey) || !strings.Contains(err.Error(), "chmod 600 "+keyPath) {
		t.Errorf("mode 0640: err = %v", err)
	}
	os.WriteFile(keyPath, make([]byte, 100), 0o600)
	os.Chmod(keyPath, 0o600)
	if _, err := LoadOrCreatePQ(dir); !errors.Is(err, ErrInvalidKey) || !strings.Contains(err.Error(), "is 100 bytes long") {
		t.Errorf("100-byte key: err = %v", err)
	}
}

func TestPQConcurrentCreate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	const n = 4
	pubs := make([][]byte, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			s, err := LoadOrCreatePQ(dir)
			if err != nil {
				t.Error(err)
				return
			}
			pubs[i] = s.PublicKey()
		})
	}
	wg.Wait()
	for i := 1; i < n; i++ {
		if !bytes.Equal(pubs[i], pubs[0]) {
			t.Errorf("goroutine %d got another key", i)
		}
	}
}
