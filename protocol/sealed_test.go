package protocol

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/capsule-go/capsule/protocol/canonical"
)

// sealedFixture returns a record sealed with a key from a fixed seed, and
// the key's public half.
func sealedFixture(t *testing.T) (Sealed, ed25519.PublicKey) {
	t.Helper()
	priv := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	content := []byte(`{"context":{"session_id":"s-1"},"domain":"billing","id":"0b7a4c5e-1f2d-4e3a-9b8c-7d6e5f4a3b2c","previous_hash":null,"sequence":0,"type":"tool"}`)
	h := Hash(content)
	return Sealed{
		ID: "0b7a4c5e-1f2d-4e3a-9b8c-7d6e5f4a3b2c", Type: "tool", Domain: "billing",
		Tenant: "acme", Sequence: 0, SessionID: "s-1", Data: content, Hash: h,
		Signature: hex.EncodeToString(ed25519.Sign(priv, []byte(h))),
		SignedAt:  "2026-01-02T03:04:05.000006+00:00", SignedBy: "qp_key_0000",
	}, priv.Public().(ed25519.PublicKey)
}

func TestSealedRoundTrip(t *testing.T) {
	rec, pub := sealedFixture(t)
	js, err := MarshalSealed(&rec)
	if err != nil {
		t.Fatal(err)
	}
	v, err := canonical.Parse(js)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseSealed(v.(map[string]any), rec.Tenant)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, rec) {
		t.Fatalf("ParseSealed(MarshalSealed(rec)) =\n%+v\nwant\n%+v", got, rec)
	}
	if err := CheckHash(&got); err != nil {
		t.Errorf("CheckHash: %v", err)
	}
	if err := CheckSignature(&got, StaticKey(pub)); err != nil {
		t.Errorf("CheckSignature: %v", err)
	}
}

func TestSealedChecksFail(t *testing.T) {
	rec, pub := sealedFixture(t)
	edited := rec
	edited.Data = []byte(`{"context":{"session_id":"s-1"},"domain":"payroll","id":"0b7a4c5e-1f2d-4e3a-9b8c-7d6e5f4a3b2c","previous_hash":null,"sequence":0,"type":"tool"}`)
	if err := CheckHash(&edited); !errors.Is(err, ErrHashMismatch) {
		t.Errorf("CheckHash of edited content = %v, want ErrHashMismatch", err)
	}
	wrong := ed25519.NewKeyFromSeed([]byte("0123456789abcdef0123456789abcdef")).Public().(ed25519.PublicKey)
	if err := CheckSignature(&rec, StaticKey(wrong)); !errors.Is(err, ErrBadSignature) {
		t.Errorf("CheckSignature with another key = %v, want ErrBadSignature", err)
	}
	unknown := func(string) (ed25519.PublicKey, error) { return nil, errors.New("no such key") }
	if err := CheckSignature(&rec, unknown); !errors.Is(err, ErrUnknownSigner) {
		t.Errorf("CheckSignature with no key = %v, want ErrUnknownSigner", err)
	}
	upper := rec
	upper.Hash = "A" + rec.Hash[1:]
	if err := CheckHash(&upper); !errors.Is(err, ErrMalformedHex) {
		t.Errorf("CheckHash of an uppercase hash = %v, want ErrMalformedHex", err)
	}
	if err := CheckSignature(&rec, StaticKey(pub)); err != nil {
		t.Errorf("CheckSignature with the right key: %v", err)
	}
}

func TestCheckPQSignature(t *testing.T) {
	rec, _ := sealedFixture(t)
	called := false
	never := func(string, string) bool { called = true; return false }
	if err := CheckPQSignature(&rec, never); err != nil || called {
		t.Errorf("without signature_pq: err %v, verify called %v; want nil, false", err, called)
	}
	rec.SignaturePQ = "00ff"
	var gotHash, gotSig string
	ok := func(h, s string) bool { gotHash, gotSig = h, s; return true }
	if err := CheckPQSignature(&rec, ok); err != nil || gotHash != rec.Hash || gotSig != rec.SignaturePQ {
		t.Errorf("valid: err %v, verify got (%q, %q); want nil, (%q, %q)", err, gotHash, gotSig, rec.Hash, rec.SignaturePQ)
	}
	if err := CheckPQSignature(&rec, never); !errors.Is(err, ErrBadPQSignature) {
		t.Errorf("invalid: %v, want ErrBadPQSignature", err)
	}
}

func TestParseSealedFieldError(t *testing.T) {
	_, err := ParseSealed(map[string]any{"id": "x", "hash": canonical.Number("1")}, "")
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "hash" || err.Error() != "capsule: hash: want a string" {
		t.Errorf("ParseSealed with a numeric hash = %v, want *FieldError on hash", err)
	}
}

// The room kept for the seal holds the longest seal this module writes
// (an ML-DSA-65 signature_pq, a timestamp with microseconds, a 1,200-byte
// signer name), so content within CheckContentSize seals within
// MaxCapsuleBytes.
func TestSealReserve(t *testing.T) {
	rec, _ := sealedFixture(t)
	rec.SignaturePQ = strings.Repeat("ab", 3309) // an ML-DSA-65 signature
	rec.SignedAt = "2026-01-02T03:04:05.000006+00:00"
	rec.SignedBy = strings.Repeat("k", 1200)
	js, err := MarshalSealed(&rec)
	if err != nil {
		t.Fatal(err)
	}
	if seal := len(js) - len(rec.Data); seal > SealReserve {
		t.Errorf("the seal takes %d bytes, more than the %d kept for it", seal, SealReserve)
	}
	if err := CheckContentSize(MaxCapsuleBytes - SealReserve); err != nil {
		t.Errorf("content at the limit: %v", err)
	}
	err = CheckContentSize(MaxCapsuleBytes - SealReserve + 1)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "16777216") {
		t.Errorf("content over the limit: %v", err)
	}
}
