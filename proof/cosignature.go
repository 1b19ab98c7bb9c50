package proof

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// WitnessVerifier returns the note verifier of a witness's cosignature/v1
// verifier key (C2SP tlog-cosignature): "<name>+<key hash>+<base64 of
// 0x04 and the Ed25519 public key>". A cosignature is the 8-byte
// big-endian time T followed by the Ed25519 signature of
// "cosignature/v1\ntime T\n" and the checkpoint text. Plain Ed25519 note
// keys (type 0x01) are accepted too.
func WitnessVerifier(vkey string) (note.Verifier, error) {
	name, rest, ok1 := strings.Cut(vkey, "+")
	hash, key64, ok2 := strings.Cut(rest, "+")
	key, err := base64.StdEncoding.DecodeString(key64)
	if !ok1 || !ok2 || err != nil || len(hash) != 8 || len(key) == 0 || name == "" {
		return nil, fmt.Errorf("witness key %q is not NAME+HASH+BASE64", trim(vkey))
	}
	if key[0] == 0x01 {
		return note.NewVerifier(vkey)
	}
	if key[0] != 0x04 || len(key) != 1+ed25519.PublicKeySize {
		return nil, fmt.Errorf("witness key %q: not a cosignature/v1 (0x04) or Ed25519 (0x01) key", trim(vkey))
	}
	h, err := strconv.ParseUint(hash, 16, 32)
	sum := sha256.Sum256(append([]byte(name+"\n"), key...))
	if err != nil || uint32(h) != binary.BigEndian.Uint32(sum[:4]) {
		return nil, fmt.Errorf("witness key %q: key hash does not match", trim(vkey))
	}
	return cosigVerifier{name: name, hash: uint32(h), pub: ed25519.PublicKey(key[1:])}, nil
}

type cosigVerifier struct {
	name string
	hash uint32
	pub  ed25519.PublicKey
}

func (v cosigVerifier) Name() string    { return v.name }
func (v cosigVerifier) KeyHash() uint32 { return v.hash }

func (v cosigVerifier) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	t := binary.BigEndian.Uint64(sig[:8])
	m := append([]byte(fmt.Sprintf("cosignature/v1\ntime %d\n", t)), msg...)
	return ed25519.Verify(v.pub, m, sig[8:])
}
