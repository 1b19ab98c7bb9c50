package keys

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/cloudflare/circl/sign/mldsa/mldsa65"

	"github.com/capsule-go/capsule/internal/atomicfile"
)

// PQSigner makes the optional ML-DSA-65 (FIPS 204) signatures of the seal
// (signature_pq). It is safe for concurrent use and formats as a short
// description without key material.
type PQSigner struct {
	sk  *mldsa65.PrivateKey
	pub []byte // packed public key, mldsa65.PublicKeySize bytes
}

// LoadOrCreatePQ returns the ML-DSA-65 signer of the data directory dir,
// creating its keys on first use: key.ml, the packed FIPS 204 secret key
// (4032 bytes, mode 0600; a 32-byte seed is also accepted when reading), and
// key.ml.pub, the packed public key (1952 bytes, mode 0644). Post-quantum
// signing is off unless a caller asks for it by calling this function.
// Concurrent first uses end with one key pair, as with [LoadOrCreate].
func LoadOrCreatePQ(dir string) (*PQSigner, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("keys: create data directory: %w", err)
	}
	unlock, err := lockDir(dir)
	if err == nil {
		defer unlock()
	} else if !canRunUnlocked(err) {
		return nil, err
	}
	keyPath := filepath.Join(dir, PQKeyFile)
	sk, err := readPQKey(keyPath)
	if errors.Is(err, fs.ErrNotExist) {
		var seed [mldsa65.SeedSize]byte
		if _, err := io.ReadFull(rand.Reader, seed[:]); err != nil {
			return nil, fmt.Errorf("keys: generate ML-DSA-65 key: %w", err)
		}
		_, newSK := mldsa65.NewKeyFromSeed(&seed)
		clear(seed[:])
		packed := newSK.Bytes()
		if _, err := atomicfile.WriteNew(keyPath, packed, 0o600); err != nil {
			return nil, fmt.Errorf("keys: create %s: %w", keyPath, err)
		}
		clear(packed)
		sk, err = readPQKey(keyPath)
	}
	if err != nil {
		return nil, err
	}
	pub := sk.Public().(*mldsa65.PublicKey).Bytes()

	pubPath := filepath.Join(dir, PQPublicKeyFile)
	stored, err := os.ReadFile(pubPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if _, err := atomicfile.WriteNew(pubPath, pub, 0o644); err != nil {
			return nil, fmt.Errorf("keys: create %s: %w", pubPath, err)
		}
		if stored, err = os.ReadFile(pubPath); err != nil {
			return nil, fmt.Errorf("keys: read ML-DSA-65 public key: %w", err)
		}
	case err != nil:
		return nil, fmt.Errorf("keys: read ML-DSA-65 public key: %w", err)
	}
	if !bytes.Equal(stored, pub) {
		return nil, fmt.Errorf("keys: %s is not the public key of %s: delete %s to have it rewritten: %w",
			pubPath, keyPath, pubPath, ErrKeyMismatch)
	}
	return &PQSigner{sk: sk, pub: pub}, nil
}

// readPQKey reads an ML-DSA-65 secret key (packed, or a 32-byte seed) from
// path after checking that only its owner may access it.
func readPQKey(path string) (*mldsa65.PrivateKey, error) {
	data, fileSize, err := readPrivateFile(path, "ML-DSA-65 key", mldsa65.PrivateKeySize)
	if err != nil {
		return nil, err
	}
	defer clear(data)
	switch len(data) {
	case mldsa65.PrivateKeySize:
		var sk mldsa65.PrivateKey
		if err := sk.UnmarshalBinary(data); err != nil {
			return nil, fmt.Errorf("keys: %s: %w: %v", path, ErrInvalidKey, err)
		}
		return &sk, nil
	case mldsa65.SeedSize:
		var seed [mldsa65.SeedSize]byte
		copy(seed[:], data)
		_, sk := mldsa65.NewKeyFromSeed(&seed)
		clear(seed[:])
		return sk, nil
	}
	return nil, fmt.Errorf("keys: %s is %d bytes long, want a %d-byte ML-DSA-65 secret key (or a %d-byte seed): %w",
		path, fileSize, mldsa65.PrivateKeySize, mldsa65.SeedSize, ErrInvalidKey)
}

// SignPQ returns the ML-DSA-65 signature, in lowercase hex, of the 64 ASCII
// bytes of hashHex, with an empty context string and hedged (randomized)
// signing as FIPS 204 recommends, so two signatures of one hash differ.
func (s *PQSigner) SignPQ(hashHex string) string {
	sig := make([]byte, mldsa65.SignatureSize)
	// SignTo fails only for a context longer than 255 bytes; ours is empty.
	if err := mldsa65.SignTo(s.sk, []byte(hashHex), nil, true, sig); err != nil {
		panic("keys: ML-DSA-65 signing failed: " + err.Error())
	}
	return hex.EncodeToString(sig)
}

// PublicKey returns the packed ML-DSA-65 public key, as key.ml.pub holds it.
func (s *PQSigner) PublicKey() []byte { return bytes.Clone(s.pub) }

// String returns a description without key material.
func (s PQSigner) String() string {
	return "keys.PQSigner(ML-DSA-65 " + hex.EncodeToString(s.pub[:8]) + ")"
}

// GoString returns the same as String, so %#v shows no key material.
func (s PQSigner) GoString() string { return s.String() }

// VerifyPQ reports whether sigHex is a valid ML-DSA-65 signature by the
// packed public key pub of the ASCII bytes of hashHex (empty context).
// Malformed keys, hex or lengths give false.
func VerifyPQ(pub []byte, hashHex, sigHex string) bool {
	if len(pub) != mldsa65.PublicKeySize || len(sigHex) != 2*mldsa65.SignatureSize {
		return false
	}
	var pk mldsa65.PublicKey
	if err := pk.UnmarshalBinary(pub); err != nil {
		return false
	}
	sig, err := hex.DecodeString(sigHex)
	if err != nil {
		return false
	}
	return mldsa65.Verify(&pk, []byte(hashHex), nil, sig)
}
