package proof

import (
	"golang.org/x/mod/sumdb/note"

	"github.com/capsule-go/capsule/witness"
)

// WitnessVerifier returns the note verifier of a witness's cosignature/v1
// verifier key (C2SP tlog-cosignature): "<name>+<key hash>+<base64 of
// 0x04 and the Ed25519 public key>" (see [witness.NewVerifier]). A
// cosignature is the 8-byte big-endian time T followed by the Ed25519
// signature of "cosignature/v1\ntime T\n" and the checkpoint text. Plain
// Ed25519 note keys (type 0x01) are accepted too.
func WitnessVerifier(vkey string) (note.Verifier, error) {
	v, err := witness.NewVerifier(vkey)
	if err != nil {
		if plain, perr := note.NewVerifier(vkey); perr == nil {
			return plain, nil
		}
		return nil, err
	}
	return v, nil
}
