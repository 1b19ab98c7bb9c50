// Package keys manages the signing keys of capsules on disk, in the layout
// shared with the Python reference implementation (PROTOCOL.md, "Keys on
// disk"):
//
//	<data dir>/key           raw 32-byte Ed25519 seed, mode 0600
//	<data dir>/keyring.json  the epochs of the key, one per rotation
//	<data dir>/key.ml        ML-DSA-65 secret key, mode 0600 (optional)
//	<data dir>/key.ml.pub    ML-DSA-65 public key (optional)
//
// This package also keeps two files of its own in the data directory:
// key.lock, locked with flock(2) while keys are created or rotated, and
// key.next, the new key of a rotation in progress.
//
// Files holding secrets are created 0600 whatever the umask and are never
// visible half-written: they are written to a temporary file in the same
// directory, synced, and then linked (first creation, which fails if another
// process won the race) or renamed (rotation) into place. Key files that
// group or others may read are refused. Nothing in this package logs or
// prints key material; a [Signer] formats as its fingerprint only.
package keys

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/capsule-go/capsule/internal/atomicfile"
)

// File names inside a data directory.
const (
	KeyFile         = "key"          // Ed25519 seed
	KeyringFile     = "keyring.json" // epochs
	PQKeyFile       = "key.ml"       // ML-DSA-65 secret key
	PQPublicKeyFile = "key.ml.pub"   // ML-DSA-65 public key
	LockFile        = "key.lock"     // flock(2) target guarding creation and rotation
	pendingKeyFile  = "key.next"     // new key of a rotation, before it replaces key
)

// DataDirEnv is the environment variable that chooses the data directory.
const DataDirEnv = "QUANTUMPIPES_DATA_DIR"

// Errors reported by this package, wrapped with the file concerned and the
// fix; test for them with errors.Is.
var (
	// ErrInsecureKey reports a key file that group or others may access.
	ErrInsecureKey = errors.New("key file is accessible by group or others")
	// ErrInvalidKey reports a key file of the wrong size or kind.
	ErrInvalidKey = errors.New("invalid key file")
	// ErrKeyMismatch reports a key file that is not the active key of the
	// keyring beside it.
	ErrKeyMismatch = errors.New("key file does not match the keyring")
	// ErrInvalidKeyring reports a keyring.json that cannot be used.
	ErrInvalidKeyring = errors.New("invalid keyring")
	// ErrUnknownSigner reports a signed_by value no key is known for.
	ErrUnknownSigner = errors.New("unknown signer")
)

// DataDir returns the data directory: $QUANTUMPIPES_DATA_DIR when set and
// not empty, else ~/.quantumpipes.
func DataDir() (string, error) {
	if d := os.Getenv(DataDirEnv); d != "" {
		return d, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("keys: data directory: set %s or HOME: %w", DataDirEnv, err)
	}
	return filepath.Join(home, ".quantumpipes"), nil
}

// Fingerprint returns the keyring fingerprint of pub: "qp_key_" and the
// first 4 hex digits of the public key.
func Fingerprint(pub ed25519.PublicKey) string {
	return "qp_key_" + hex.EncodeToString(pub[:2])
}

// ShortFingerprint returns the fingerprint used without a keyring: the first
// 16 hex digits of the public key.
func ShortFingerprint(pub ed25519.PublicKey) string {
	return hex.EncodeToString(pub[:8])
}

// Signer signs capsule hashes with one Ed25519 key. It is safe for
// concurrent use. Formatting a Signer (fmt, log/slog) shows its fingerprint,
// never the key.
type Signer struct {
	priv        ed25519.PrivateKey
	fingerprint string
}

// NewSigner returns a Signer for priv that reports fingerprint as signed_by;
// an empty fingerprint means [ShortFingerprint] of the public key (the
// protocol's choice when no keyring is used). It panics if priv is not
// ed25519.PrivateKeySize bytes long, like ed25519.Sign.
func NewSigner(priv ed25519.PrivateKey, fingerprint string) *Signer {
	if len(priv) != ed25519.PrivateKeySize {
		panic(fmt.Sprintf("keys: bad Ed25519 private key length %d", len(priv)))
	}
	p := make(ed25519.PrivateKey, ed25519.PrivateKeySize)
	copy(p, priv)
	if fingerprint == "" {
		fingerprint = ShortFingerprint(p.Public().(ed25519.PublicKey))
	}
	return &Signer{priv: p, fingerprint: fingerprint}
}

// Sign returns the Ed25519 signature, as 128 lowercase hex digits, of the 64
// ASCII bytes of hashHex (the hex hash itself, not the 32 bytes it encodes),
// as the protocol's seal requires.
func (s *Signer) Sign(hashHex string) string {
	return hex.EncodeToString(ed25519.Sign(s.priv, []byte(hashHex)))
}

// PublicKey returns the public key.
func (s *Signer) PublicKey() ed25519.PublicKey {
	return s.priv.Public().(ed25519.PublicKey)
}

// Fingerprint returns the value this Signer writes into signed_by.
func (s *Signer) Fingerprint() string { return s.fingerprint }

// String returns a description without key material. It has a value
// receiver so that printing a copied Signer shows no key material either.
func (s Signer) String() string { return "keys.Signer(" + s.fingerprint + ")" }

// GoString returns the same as String, so %#v shows no key material.
func (s Signer) GoString() string { return s.String() }

// LogValue makes log/slog record the fingerprint only.
func (s Signer) LogValue() slog.Value {
	return slog.GroupValue(slog.String("fingerprint", s.fingerprint))
}

// Verify reports whether sigHex is a valid Ed25519 signature by pub of the
// ASCII bytes of hashHex. Malformed hex or lengths give false.
func Verify(pub ed25519.PublicKey, hashHex, sigHex string) bool {
	if len(pub) != ed25519.PublicKeySize || len(sigHex) != 2*ed25519.SignatureSize {
		return false
	}
	sig, err := hex.DecodeString(sigHex)
	if err != nil {
		return false
	}
	return ed25519.Verify(pub, []byte(hashHex), sig)
}

// LoadOrCreate returns the Signer of the data directory dir, creating the
// directory (0700), the key (0600) and keyring.json (epoch 0) on first use.
// Several processes may call it at once on a fresh directory: they all end
// up with the same single key. The fingerprint is that of the keyring's
// active epoch ("qp_key_" + 4 hex digits).
//
// It refuses a key file that group or others may access ([ErrInsecureKey]),
// one that is not a 32-byte seed ([ErrInvalidKey]), a keyring whose active
// epoch is not that key ([ErrKeyMismatch]), and a keyring without its key.
// A rotation interrupted after its new keyring was written is completed.
func LoadOrCreate(dir string) (*Signer, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("keys: create data directory: %w", err)
	}
	unlock, err := lockDir(dir)
	locked := err == nil
	if locked {
		defer unlock()
	} else if !canRunUnlocked(err) {
		return nil, err
	}
	s, _, err := load(dir, true, locked)
	return s, err
}

// load reads (and, when create is set, creates) the key and keyring of dir.
// locked tells whether the caller holds the directory lock, which allows
// repairing the traces of an interrupted rotation.
func load(dir string, create, locked bool) (*Signer, *Keyring, error) {
	keyPath := filepath.Join(dir, KeyFile)
	kr, err := LoadKeyring(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, err
	}
	priv, err := readKey(keyPath)
	switch {
	case errors.Is(err, fs.ErrNotExist) && kr != nil:
		return nil, nil, fmt.Errorf("keys: %s exists but its key %s is missing: restore the key file, or move %s away to start a new keyring: %w",
			filepath.Join(dir, KeyringFile), keyPath, KeyringFile, ErrKeyMismatch)
	case errors.Is(err, fs.ErrNotExist) && create:
		seed := make([]byte, ed25519.SeedSize)
		if _, err := io.ReadFull(rand.Reader, seed); err != nil {
			return nil, nil, fmt.Errorf("keys: generate key: %w", err)
		}
		if _, err := atomicfile.WriteNew(keyPath, seed, 0o600); err != nil {
			return nil, nil, fmt.Errorf("keys: create %s: %w", keyPath, err)
		}
		clear(seed)
		// Read back whichever key won a race with other processes.
		if priv, err = readKey(keyPath); err != nil {
			return nil, nil, err
		}
	case err != nil:
		return nil, nil, err
	}
	pub := priv.Public().(ed25519.PublicKey)

	if kr == nil {
		if !create {
			return nil, nil, fmt.Errorf("keys: read keyring: %w", fs.ErrNotExist)
		}
		kr = newKeyring(pub, time.Now())
		data, err := kr.Marshal()
		if err != nil {
			return nil, nil, err
		}
		created, err := atomicfile.WriteNew(filepath.Join(dir, KeyringFile), data, 0o644)
		if err != nil {
			return nil, nil, fmt.Errorf("keys: create %s: %w", filepath.Join(dir, KeyringFile), err)
		}
		if !created {
			if kr, err = LoadKeyring(dir); err != nil {
				return nil, nil, err
			}
		}
	}

	active := kr.active()
	if !active.matches(pub) {
		next, err := finishRotation(dir, kr, locked)
		if err != nil {
			return nil, nil, err
		}
		if next == nil {
			return nil, nil, fmt.Errorf("keys: %s (public key %s) is not the active epoch %d of %s (public key %s): restore the matching key file or keyring.json: %w",
				keyPath, ShortFingerprint(pub), kr.ActiveEpoch, filepath.Join(dir, KeyringFile), shortHex(active.PublicKeyHex), ErrKeyMismatch)
		}
		priv = next
	} else if locked {
		// A rotation that stopped before its commit point leaves key.next behind.
		if err := os.Remove(filepath.Join(dir, pendingKeyFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, nil, fmt.Errorf("keys: remove stale %s: %w", pendingKeyFile, err)
		}
	}
	fp := active.Fingerprint
	if fp == "" {
		fp = Fingerprint(priv.Public().(ed25519.PublicKey))
	}
	return &Signer{priv: priv, fingerprint: fp}, kr, nil
}

// finishRotation completes a rotation that wrote its new keyring but did not
// move key.next into place yet. It returns nil if key.next does not hold the
// active key (or the lock is not held, so it must not touch the files).
func finishRotation(dir string, kr *Keyring, locked bool) (ed25519.PrivateKey, error) {
	if !locked {
		return nil, nil
	}
	nextPath := filepath.Join(dir, pendingKeyFile)
	next, err := readKey(nextPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !kr.active().matches(next.Public().(ed25519.PublicKey)) {
		return nil, nil
	}
	if err := atomicfile.Rename(nextPath, filepath.Join(dir, KeyFile)); err != nil {
		return nil, fmt.Errorf("keys: complete interrupted rotation: %w", err)
	}
	return next, nil
}

// readKey reads a 32-byte Ed25519 seed from path after checking that only
// its owner may access it.
func readKey(path string) (ed25519.PrivateKey, error) {
	buf, size, err := readPrivateFile(path, "key", ed25519.SeedSize)
	if err != nil {
		return nil, err
	}
	defer clear(buf)
	if len(buf) != ed25519.SeedSize {
		return nil, fmt.Errorf("keys: %s is %d bytes long, want a raw %d-byte Ed25519 seed: %w; restore the key, or move it away to create a new one",
			path, size, ed25519.SeedSize, ErrInvalidKey)
	}
	return ed25519.NewKeyFromSeed(buf), nil
}

// readPrivateFile reads at most limit+1 bytes of the private key file at
// path, after checking that it is a regular file only its owner may
// access. It returns the bytes and the file's size; what names the key in
// errors. The caller clears the bytes once used.
func readPrivateFile(path, what string, limit int) ([]byte, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("keys: read %s: %w", what, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, fmt.Errorf("keys: read %s: %w", what, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, 0, fmt.Errorf("keys: %s is not a regular file: %w", path, ErrInvalidKey)
	}
	if insecureMode(fi.Mode()) {
		return nil, 0, fmt.Errorf("keys: %s has mode %04o: %w; fix with: chmod 600 %s",
			path, fi.Mode().Perm(), ErrInsecureKey, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, int64(limit)+1))
	if err != nil {
		clear(data)
		return nil, 0, fmt.Errorf("keys: read %s: %w", path, err)
	}
	return data, fi.Size(), nil
}

// shortHex returns the first 16 characters of a hex string for messages.
func shortHex(h string) string {
	if len(h) > 16 {
		return h[:16]
	}
	return h
}

// protocolTime formats t like the Python reference's isoformat() of an
// aware UTC datetime: YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00, the fraction
// present only when the microseconds are not zero.
func protocolTime(t time.Time) string {
	t = t.UTC().Truncate(time.Microsecond)
	if t.Nanosecond() == 0 {
		return t.Format("2006-01-02T15:04:05+00:00")
	}
	return t.Format("2006-01-02T15:04:05.000000+00:00")
}

// ReadPublicKey returns the public key of the private key in dir without
// creating or changing anything: for tools that only look. It applies the
// same checks as LoadOrCreate to the key file (mode, length).
func ReadPublicKey(dir string) (ed25519.PublicKey, error) {
	priv, err := readKey(filepath.Join(dir, KeyFile))
	if err != nil {
		return nil, err
	}
	return priv.Public().(ed25519.PublicKey), nil
}
