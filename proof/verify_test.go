package proof_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/capsule-go/capsule"
	"github.com/capsule-go/capsule/checkpoint"
	"github.com/capsule-go/capsule/keys"
	"github.com/capsule-go/capsule/proof"
	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/storage/memory"
)

// witness makes cosignature/v1 cosignatures as C2SP tlog-cosignature
// specifies them: key hash SHA-256(name || "\n" || 0x04 || key)[:4], the
// signature being the 8-byte time and the Ed25519 signature of
// "cosignature/v1\ntime T\n" and the checkpoint text.
type witness struct {
	name string
	priv ed25519.PrivateKey
}

func newWitness(t *testing.T, name string) witness {
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return witness{name, priv}
}

func (w witness) key() []byte {
	return append([]byte{0x04}, w.priv.Public().(ed25519.PublicKey)...)
}

func (w witness) hash() []byte {
	sum := sha256.Sum256(append([]byte(w.name+"\n"), w.key()...))
	return sum[:4]
}

func (w witness) vkey() string {
	return fmt.Sprintf("%s+%x+%s", w.name, w.hash(), base64.StdEncoding.EncodeToString(w.key()))
}

// cosign appends w's cosignature line to a signed checkpoint.
func (w witness) cosign(signed []byte, when uint64) []byte {
	text, _, _ := bytes.Cut(signed, []byte("\n\n"))
	msg := fmt.Appendf(nil, "cosignature/v1\ntime %d\n%s\n", when, text)
	sig := binary.BigEndian.AppendUint64(nil, when)
	sig = append(sig, ed25519.Sign(w.priv, msg)...)
	line := "— " + w.name + " " + base64.StdEncoding.EncodeToString(append(w.hash(), sig...)) + "\n"
	return append(bytes.Clone(signed), line...)
}

// A proof of a real sealed capsule verifies with the log key and K of the
// witnesses' keys; fewer valid cosignatures than K, or a witness key that
// did not cosign, fail.
func TestVerifyWitnesses(t *testing.T) {
	ctx := context.Background()
	st := memory.New()
	_, priv, _ := ed25519.GenerateKey(nil)
	signer := keys.NewSigner(priv, keys.Fingerprint(priv.Public().(ed25519.PublicKey)))
	caps, err := capsule.NewCapsules(st, capsule.WithSigner(signer))
	if err != nil {
		t.Fatal(err)
	}
	defer caps.Close()
	var sealed []protocol.Sealed
	for range 9 {
		s, err := caps.Append(ctx, "acme", capsule.New(capsule.TypeAgent))
		if err != nil {
			t.Fatal(err)
		}
		sealed = append(sealed, s)
	}
	signed, err := caps.Checkpoint(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	w1, w2, w3 := newWitness(t, "w1.example"), newWitness(t, "w2.example/w"), newWitness(t, "w3.example")
	cosigned := w2.cosign(w1.cosign(signed, 1700000000), 1700000001)
	p, err := proof.Build(ctx, st, "acme", sealed[6], cosigned)
	if err != nil {
		t.Fatal(err)
	}
	back, err := proof.Parse(p.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	logV, err := checkpoint.LogVerifier(checkpoint.Origin("acme"), signer.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	verifier := func(w witness) note.Verifier {
		v, err := proof.WitnessVerifier(w.vkey())
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		witnesses []witness
		min       int
		ok        bool
	}{
		{nil, 0, true},
		{[]witness{w1, w2}, 2, true},
		{[]witness{w1, w2, w3}, 2, true},
		{[]witness{w1, w3}, 1, true},
		{[]witness{w1, w3}, 2, false},
		{[]witness{w3}, 1, false},
	} {
		pol := proof.Policy{Log: logV, LogKey: signer.PublicKey(), MinWitnesses: tc.min}
		for _, w := range tc.witnesses {
			pol.Witnesses = append(pol.Witnesses, verifier(w))
		}
		res, err := proof.Verify(back, pol)
		if (err == nil) != tc.ok || err != nil && !errors.Is(err, proof.ErrInvalid) {
			t.Fatalf("%d witnesses, min %d: %v", len(tc.witnesses), tc.min, err)
		}
		if err == nil && (res.Capsule.ID != sealed[6].ID || len(res.Witnesses) < tc.min) {
			t.Fatalf("result %+v", res)
		}
	}
	// A cosignature over another text does not count.
	forged := w1.cosign(bytes.Replace(signed, []byte("\n9\n"), []byte("\n8\n"), 1), 1)
	line := forged[bytes.LastIndex(forged[:len(forged)-1], []byte("\n"))+1:]
	p.Checkpoint = append(bytes.Clone(signed), line...)
	if _, err := proof.Verify(p, proof.Policy{Log: logV, LogKey: signer.PublicKey(), MinWitnesses: 1,
		Witnesses: []note.Verifier{verifier(w1)}}); err == nil {
		t.Fatal("a cosignature of another checkpoint counted")
	}
}
