package keys

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/capsule-go/capsule/internal/atomicfile"
	"github.com/capsule-go/capsule/protocol"
)

// Epoch status values.
const (
	StatusActive  = "active"
	StatusRetired = "retired"
)

// AlgorithmEd25519 is the algorithm name of an Ed25519 epoch.
const AlgorithmEd25519 = "ed25519"

// Keyring is the content of keyring.json: every key the data directory has
// signed with, one epoch per rotation. Its JSON layout (field order, 2-space
// indentation, final newline) is the Python reference's, see [Keyring.Marshal].
type Keyring struct {
	Version     int     `json:"version"`      // always 1
	ActiveEpoch int     `json:"active_epoch"` // the epoch signing now
	Epochs      []Epoch `json:"epochs"`       // in creation order
}

// Epoch is one key of a Keyring.
type Epoch struct {
	Epoch        int     `json:"epoch"`
	Algorithm    string  `json:"algorithm"`      // "ed25519"
	PublicKeyHex string  `json:"public_key_hex"` // 64 lowercase hex digits
	Fingerprint  string  `json:"fingerprint"`    // "qp_key_" + 4 hex digits
	CreatedAt    string  `json:"created_at"`     // YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00
	RotatedAt    *string `json:"rotated_at"`     // null while active
	Status       string  `json:"status"`         // "active" or "retired"
}

// PublicKey decodes PublicKeyHex. It reports false for an epoch that is not
// a well-formed Ed25519 key.
func (e *Epoch) PublicKey() (ed25519.PublicKey, bool) {
	if e.Algorithm != AlgorithmEd25519 || len(e.PublicKeyHex) != 2*ed25519.PublicKeySize {
		return nil, false
	}
	b, err := hex.DecodeString(e.PublicKeyHex)
	if err != nil {
		return nil, false
	}
	return ed25519.PublicKey(b), true
}

func (e *Epoch) matches(pub ed25519.PublicKey) bool {
	k, ok := e.PublicKey()
	return ok && k.Equal(pub)
}

func newKeyring(pub ed25519.PublicKey, now time.Time) *Keyring {
	return &Keyring{
		Version:     1,
		ActiveEpoch: 0,
		Epochs:      []Epoch{newEpoch(0, pub, now)},
	}
}

func newEpoch(n int, pub ed25519.PublicKey, now time.Time) Epoch {
	return Epoch{
		Epoch:        n,
		Algorithm:    AlgorithmEd25519,
		PublicKeyHex: hex.EncodeToString(pub),
		Fingerprint:  Fingerprint(pub),
		CreatedAt:    protocolTime(now),
		Status:       StatusActive,
	}
}

// LoadKeyring reads dir/keyring.json. A missing file gives an error
// matching fs.ErrNotExist; a malformed one [ErrInvalidKeyring].
func LoadKeyring(dir string) (*Keyring, error) {
	path := filepath.Join(dir, KeyringFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keys: read keyring: %w", err)
	}
	kr, err := ParseKeyring(data)
	if err != nil {
		return nil, fmt.Errorf("keys: %s: %w", path, err)
	}
	return kr, nil
}

// ParseKeyring parses and checks the content of a keyring.json: version 1,
// at least one epoch, unique epoch numbers, the active epoch present and an
// Ed25519 key, every Ed25519 public key 64 lowercase hex digits.
func ParseKeyring(data []byte) (*Keyring, error) {
	var kr Keyring
	if err := json.Unmarshal(data, &kr); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidKeyring, err)
	}
	if kr.Version != 1 {
		return nil, fmt.Errorf("%w: version %d, want 1", ErrInvalidKeyring, kr.Version)
	}
	if len(kr.Epochs) == 0 {
		return nil, fmt.Errorf("%w: no epochs", ErrInvalidKeyring)
	}
	seen := make(map[int]bool, len(kr.Epochs))
	for i := range kr.Epochs {
		e := &kr.Epochs[i]
		if seen[e.Epoch] {
			return nil, fmt.Errorf("%w: epoch %d appears twice", ErrInvalidKeyring, e.Epoch)
		}
		seen[e.Epoch] = true
		if e.Algorithm != AlgorithmEd25519 {
			continue // a newer algorithm: kept, never used for Ed25519 lookups
		}
		if _, ok := e.PublicKey(); !ok || !protocol.IsLowerHex(e.PublicKeyHex, protocol.PublicKeyHexLen) {
			return nil, fmt.Errorf("%w: epoch %d: public_key_hex is not 64 lowercase hex digits", ErrInvalidKeyring, e.Epoch)
		}
	}
	a := kr.active()
	if a == nil {
		return nil, fmt.Errorf("%w: active_epoch %d is not among the epochs", ErrInvalidKeyring, kr.ActiveEpoch)
	}
	if a.Algorithm != AlgorithmEd25519 {
		return nil, fmt.Errorf("%w: active epoch %d uses algorithm %q, want %q", ErrInvalidKeyring, a.Epoch, a.Algorithm, AlgorithmEd25519)
	}
	return &kr, nil
}

// Marshal returns the keyring as keyring.json holds it: fields in the order
// of the Python reference, indented by two spaces, ending in a newline.
func (k *Keyring) Marshal() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(k); err != nil {
		return nil, fmt.Errorf("keys: encode keyring: %w", err)
	}
	return b.Bytes(), nil
}

// active returns the active epoch, or nil.
func (k *Keyring) active() *Epoch {
	for i := range k.Epochs {
		if k.Epochs[i].Epoch == k.ActiveEpoch {
			return &k.Epochs[i]
		}
	}
	return nil
}

// Active returns a copy of the active epoch. It reports false if the
// keyring has none (a Keyring from LoadKeyring always has one).
func (k *Keyring) Active() (Epoch, bool) {
	if a := k.active(); a != nil {
		return *a, true
	}
	return Epoch{}, false
}

// Lookup returns the Ed25519 public key that signed_by names: an epoch
// whose fingerprint is signedBy, or whose public key starts with signedBy
// when signedBy is a 16-hex-digit short fingerprint. The active epoch is
// tried first, then the others from newest to oldest, so a (rare) clash of
// 4-digit fingerprints between epochs resolves to the most recent key.
func (k *Keyring) Lookup(signedBy string) (ed25519.PublicKey, bool) {
	if k == nil || signedBy == "" {
		return nil, false
	}
	for _, e := range k.searchOrder() {
		if pub, ok := e.PublicKey(); ok && e.names(signedBy, pub) {
			return pub, true
		}
	}
	return nil, false
}

func (e *Epoch) names(signedBy string, pub ed25519.PublicKey) bool {
	return signedBy == e.Fingerprint ||
		len(signedBy) == 16 && signedBy == ShortFingerprint(pub)
}

// searchOrder lists the epochs active first, then newest to oldest.
func (k *Keyring) searchOrder() []*Epoch {
	out := make([]*Epoch, 0, len(k.Epochs))
	if a := k.active(); a != nil {
		out = append(out, a)
	}
	for i := len(k.Epochs) - 1; i >= 0; i-- {
		if e := &k.Epochs[i]; e.Epoch != k.ActiveEpoch {
			out = append(out, e)
		}
	}
	return out
}

// Resolver returns the function verifiers use to find a capsule's public
// key from its signed_by (PROTOCOL.md, "Seal"), strictly: the keyring's key
// for that fingerprint ("qp_key_" + 4 hex digits, or the 16-hex-digit
// prefix of the public key), else local (the local key, when not nil) if
// signed_by names it the same way, else an error matching
// [ErrUnknownSigner]. An unknown or empty signed_by is never answered with
// some other key: signed_by is not covered by the signature, so a verifier
// that tried another key would let anyone re-label a capsule. k may be nil
// (no keyring). The function is safe for concurrent use; later changes to
// k do not affect it.
func (k *Keyring) Resolver(local ed25519.PublicKey) func(signedBy string) (ed25519.PublicKey, error) {
	byName := make(map[string]ed25519.PublicKey)
	if local != nil {
		local = append(ed25519.PublicKey(nil), local...)
		byName[Fingerprint(local)] = local
		byName[ShortFingerprint(local)] = local
	}
	if k != nil {
		// Reverse search order so earlier (preferred) entries overwrite;
		// keyring entries overwrite the local key's names.
		order := k.searchOrder()
		for i := len(order) - 1; i >= 0; i-- {
			e := order[i]
			if pub, ok := e.PublicKey(); ok {
				if e.Fingerprint != "" {
					byName[e.Fingerprint] = pub
				}
				byName[ShortFingerprint(pub)] = pub
			}
		}
	}
	return func(signedBy string) (ed25519.PublicKey, error) {
		if signedBy == "" {
			return nil, fmt.Errorf("keys: the capsule has no signed_by to find its key by: %w", ErrUnknownSigner)
		}
		if pub, ok := byName[signedBy]; ok {
			return pub, nil
		}
		return nil, fmt.Errorf("keys: no public key for signed_by %q in the keyring or the local key: %w", signedBy, ErrUnknownSigner)
	}
}

// Rotate retires the active key of dir and makes a new one active, and
// returns the new Signer. The old public key stays in the keyring (status
// "retired", rotated_at set) so capsules it signed still verify; the old
// private key is overwritten, since a retired key must never sign again and
// verification needs only its public half.
//
// Rotation holds the directory lock, so rotations in several processes run
// one after the other. A crash at any point leaves a usable directory:
// the new key is written to key.next and synced, then the new keyring
// replaces the old one by rename (the commit point), then key.next replaces
// key by rename. [LoadOrCreate] discards a key.next left before the commit
// point and completes a rotation interrupted after it.
func Rotate(dir string) (*Signer, error) {
	return rotate(dir, time.Now(), nil)
}

// rotate implements Rotate; hook, when not nil, is called after each step
// and stops the rotation if it returns an error (tests use it to simulate a
// crash).
func rotate(dir string, now time.Time, hook func(step string) error) (*Signer, error) {
	unlock, err := lockDir(dir)
	if err != nil {
		return nil, fmt.Errorf("keys: rotate: %w", err)
	}
	defer unlock()
	step := func(name string) error {
		if hook == nil {
			return nil
		}
		return hook(name)
	}

	_, kr, err := load(dir, false, true)
	if err != nil {
		return nil, fmt.Errorf("keys: rotate: %w", err)
	}
	priv, err := newDistinctKey(kr)
	if err != nil {
		return nil, err
	}
	pub := priv.Public().(ed25519.PublicKey)
	seed := priv.Seed()
	defer clear(seed)
	if err := atomicfile.WriteFile(filepath.Join(dir, pendingKeyFile), seed, 0o600); err != nil {
		return nil, fmt.Errorf("keys: rotate: write new key: %w", err)
	}
	if err := step("key.next written"); err != nil {
		return nil, err
	}

	next := &Keyring{Version: kr.Version, ActiveEpoch: kr.ActiveEpoch, Epochs: append([]Epoch(nil), kr.Epochs...)}
	old := next.active()
	rotatedAt := protocolTime(now)
	old.Status = StatusRetired
	old.RotatedAt = &rotatedAt
	n := 0
	for _, e := range next.Epochs {
		n = max(n, e.Epoch+1)
	}
	next.Epochs = append(next.Epochs, newEpoch(n, pub, now))
	next.ActiveEpoch = n
	data, err := next.Marshal()
	if err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, KeyringFile), data, 0o644); err != nil {
		return nil, fmt.Errorf("keys: rotate: write keyring: %w", err)
	}
	if err := step("keyring written"); err != nil {
		return nil, err
	}

	if err := atomicfile.Rename(filepath.Join(dir, pendingKeyFile), filepath.Join(dir, KeyFile)); err != nil {
		return nil, fmt.Errorf("keys: rotate: install new key: %w", err)
	}
	return &Signer{priv: priv, fingerprint: Fingerprint(pub)}, nil
}

// newDistinctKey generates a key whose fingerprints differ from those of
// every epoch of kr, so that signed_by always names one key.
func newDistinctKey(kr *Keyring) (ed25519.PrivateKey, error) {
	for {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("keys: generate key: %w", err)
		}
		pub := priv.Public().(ed25519.PublicKey)
		clash := false
		for i := range kr.Epochs {
			e := &kr.Epochs[i]
			if e.Fingerprint == Fingerprint(pub) || e.matches(pub) {
				clash = true
			}
		}
		if !clash {
			return priv, nil
		}
	}
}
