package witness

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
)

// algCosignatureV1 is the signature type byte of a cosignature/v1 key
// (C2SP signed-note).
const algCosignatureV1 = 0x04

// NewVerifier returns the note verifier of a witness's cosignature/v1
// verifier key (C2SP tlog-cosignature), as litewitness prints it:
// "<name>+<key hash, 8 hex digits>+<base64 of 0x04 and the 32-byte
// Ed25519 public key>". Its Verify checks a signature of the message
// "cosignature/v1\ntime <T>\n" followed by the note text, the signature
// being the 8-byte big-endian time T and the Ed25519 signature.
func NewVerifier(vkey string) (note.Verifier, error) {
	name, rest, ok1 := strings.Cut(vkey, "+")
	hash16, key64, ok2 := strings.Cut(rest, "+")
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("witness key %q: want name+hash+key", vkey)
	}
	if !validName(name) {
		return nil, fmt.Errorf("witness key %q: bad key name %q", vkey, name)
	}
	hash, err := strconv.ParseUint(hash16, 16, 32)
	if err != nil || len(hash16) != 8 {
		return nil, fmt.Errorf("witness key %q: key hash %q is not 8 hex digits", vkey, hash16)
	}
	key, err := base64.StdEncoding.DecodeString(key64)
	if err != nil || len(key) == 0 {
		return nil, fmt.Errorf("witness key %q: key is not base64", vkey)
	}
	if key[0] != algCosignatureV1 {
		return nil, fmt.Errorf("witness key %q: key type 0x%02x, want 0x04 (cosignature/v1, C2SP tlog-cosignature)", vkey, key[0])
	}
	if len(key) != 1+ed25519.PublicKeySize {
		return nil, fmt.Errorf("witness key %q: %d key bytes, want 33", vkey, len(key))
	}
	if uint32(hash) != keyHash(name, key) {
		return nil, fmt.Errorf("witness key %q: key hash %s does not match the name and key", vkey, hash16)
	}
	return &cosignatureVerifier{name: name, hash: uint32(hash), pub: ed25519.PublicKey(key[1:])}, nil
}

// validName reports whether name can be a note key name: not empty, valid
// UTF-8, no spaces and no plus signs.
func validName(name string) bool {
	return name != "" && utf8.ValidString(name) && strings.IndexFunc(name, unicode.IsSpace) < 0 && !strings.Contains(name, "+")
}

// keyHash is the key id of C2SP signed-note: the first four bytes of
// SHA-256(name || "\n" || type byte || public key).
func keyHash(name string, key []byte) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte("\n"))
	h.Write(key)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

type cosignatureVerifier struct {
	name string
	hash uint32
	pub  ed25519.PublicKey
}

func (v *cosignatureVerifier) Name() string    { return v.name }
func (v *cosignatureVerifier) KeyHash() uint32 { return v.hash }

func (v *cosignatureVerifier) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	return ed25519.Verify(v.pub, cosignedMessage(binary.BigEndian.Uint64(sig), msg), sig[8:])
}

// cosignedMessage is what a cosignature/v1 signs: a header with the time
// of cosigning, then the checkpoint text.
func cosignedMessage(t uint64, text []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "cosignature/v1\ntime %d\n", t)
	b.Write(text)
	return b.Bytes()
}

// Cosignature is one verified cosignature of a checkpoint.
type Cosignature struct {
	Name string    // the witness's key name
	Hash uint32    // its key hash
	Time time.Time // when the witness cosigned, as it says
	Line string    // the note signature line, "— name base64\n"
}

// cosignature describes a note signature that verified with a
// cosignature/v1 key.
func cosignature(s note.Signature) (Cosignature, error) {
	t, err := CosignatureTime(s)
	if err != nil {
		return Cosignature{}, err
	}
	return Cosignature{Name: s.Name, Hash: s.Hash, Time: t, Line: "— " + s.Name + " " + s.Base64 + "\n"}, nil
}

// CosignatureTime returns the time at which a witness made a cosignature/v1
// signature, as it states in the signature.
func CosignatureTime(s note.Signature) (time.Time, error) {
	b, err := base64.StdEncoding.DecodeString(s.Base64)
	if err != nil || len(b) != 4+8+ed25519.SignatureSize {
		return time.Time{}, errors.New("witness: malformed cosignature")
	}
	t := binary.BigEndian.Uint64(b[4:])
	if t > 1<<62 {
		return time.Time{}, errors.New("witness: cosignature time out of range")
	}
	return time.Unix(int64(t), 0).UTC(), nil
}
