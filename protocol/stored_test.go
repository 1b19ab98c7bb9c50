package protocol

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/capsule-go/capsule/protocol/canonical"
)

// storedFixture is one fixture of conformance/stored-document-fixtures.json
// (from the reference's 1.5.4 conformance suite).
type storedFixture struct {
	Name             string
	StoredDocument   map[string]any
	CanonicalJSON    string
	Hash             string
	ModelDocument    map[string]any
	ModelHash        string
	PublicKeyHex     string
	SignatureHex     string
	SealedRecord     map[string]any
	SealedRecordText []byte
}

func loadStoredFixtures(t *testing.T) []storedFixture {
	t.Helper()
	b, err := os.ReadFile("../testdata/conformance/stored-document-fixtures.json")
	if err != nil {
		t.Fatal(err)
	}
	v, err := canonical.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	var out []storedFixture
	for _, e := range v.(map[string]any)["fixtures"].([]any) {
		m := e.(map[string]any)
		f := storedFixture{
			Name:           m["name"].(string),
			StoredDocument: m["stored_document"].(map[string]any),
			CanonicalJSON:  m["canonical_json"].(string),
			Hash:           m["sha3_256_hash"].(string),
			ModelDocument:  m["model_document"].(map[string]any),
			ModelHash:      m["model_sha3_256_hash"].(string),
			PublicKeyHex:   m["public_key_hex"].(string),
			SignatureHex:   m["signature_hex"].(string),
			SealedRecord:   m["sealed_record"].(map[string]any),
		}
		if f.SealedRecordText, err = canonical.Append(nil, f.SealedRecord); err != nil {
			t.Fatal(err)
		}
		out = append(out, f)
	}
	if len(out) == 0 {
		t.Fatal("no stored-document fixtures")
	}
	return out
}

// reparse returns a fresh copy of a sealed dict, to edit.
func reparse(t *testing.T, text []byte) map[string]any {
	t.Helper()
	v, err := canonical.Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	return v.(map[string]any)
}

// checkSealed runs the checks a verifier runs on one sealed dict read from
// JSON: its shape, its hash over the content as stored, its signature.
func checkSealed(m map[string]any, pub ed25519.PublicKey) error {
	if err := CheckSealedShape(m); err != nil {
		return err
	}
	rec, err := ParseSealed(m, "")
	if err != nil {
		return err
	}
	if err := CheckHash(&rec); err != nil {
		return err
	}
	return CheckSignature(&rec, StaticKey(pub))
}

// A record sealed before spec_version existed verifies as stored, with its
// key; the model's re-serialization, which fills spec_version in, has
// another hash and so fails against the stored seal (CPS section 3.5).
func TestStoredDocumentFixtures(t *testing.T) {
	for _, f := range loadStoredFixtures(t) {
		t.Run(f.Name, func(t *testing.T) {
			pubBytes, err := hex.DecodeString(f.PublicKeyHex)
			if err != nil {
				t.Fatal(err)
			}
			pub := ed25519.PublicKey(pubBytes)
			if _, ok := f.StoredDocument["spec_version"]; ok {
				t.Fatal("the stored document has spec_version")
			}
			stored, err := canonical.Append(nil, f.StoredDocument)
			if err != nil {
				t.Fatal(err)
			}
			if string(stored) != f.CanonicalJSON {
				t.Errorf("canonical JSON of the stored document:\n%s\nwant\n%s", stored, f.CanonicalJSON)
			}
			if got := Hash(stored); got != f.Hash {
				t.Errorf("hash of the stored document %s, want %s", got, f.Hash)
			}
			model, err := canonical.Append(nil, f.ModelDocument)
			if err != nil {
				t.Fatal(err)
			}
			if got := Hash(model); got != f.ModelHash {
				t.Errorf("hash of the model document %s, want %s", got, f.ModelHash)
			}

			if err := checkSealed(reparse(t, f.SealedRecordText), pub); err != nil {
				t.Fatalf("sealed_record does not verify with its key: %v", err)
			}
			if s := f.SealedRecord["signature"]; s != f.SignatureHex {
				t.Errorf("sealed_record signature %v, want %s", s, f.SignatureHex)
			}

			// The model document under the stored seal.
			m := reparse(t, f.SealedRecordText)
			for k := range f.StoredDocument {
				delete(m, k)
			}
			for k, v := range reparse(t, model) {
				m[k] = v
			}
			if err := checkSealed(m, pub); !errors.Is(err, ErrHashMismatch) || !strings.Contains(err.Error(), f.ModelHash) {
				t.Errorf("model document under the stored seal: %v, want a hash mismatch computing %s", err, f.ModelHash)
			}
		})
	}
}

// A key injected into a stored document, at the top level or nested, and a
// model default filled in after sealing, fail verification.
func TestStoredDocumentInjectedKeys(t *testing.T) {
	f := loadStoredFixtures(t)[0]
	pub, _ := hex.DecodeString(f.PublicKeyHex)
	for name, inject := range map[string]func(m map[string]any){
		"spec_version filled in": func(m map[string]any) { m["spec_version"] = SpecVersion },
		"top-level key":          func(m map[string]any) { m["note"] = "added" },
		"null top-level key":     func(m map[string]any) { m["extra"] = nil },
		"section key":            func(m map[string]any) { m["trigger"].(map[string]any)["channel"] = "web" },
		"free-form key":          func(m map[string]any) { m["context"].(map[string]any)["environment"].(map[string]any)["region"] = "eu" },
		"option key": func(m map[string]any) {
			m["reasoning"].(map[string]any)["options"].([]any)[0].(map[string]any)["score"] = canonical.Number("1")
		},
		"empty value key": func(m map[string]any) {
			m["outcome"].(map[string]any)["metrics"].(map[string]any)[""] = map[string]any{}
		},
	} {
		m := reparse(t, f.SealedRecordText)
		inject(m)
		if err := checkSealed(m, ed25519.PublicKey(pub)); !errors.Is(err, ErrHashMismatch) {
			t.Errorf("%s: %v, want a hash mismatch", name, err)
		}
	}
}

func TestCheckSealedShape(t *testing.T) {
	f := loadStoredFixtures(t)[0]
	m := reparse(t, f.SealedRecordText)
	if err := CheckSealedShape(m); err != nil {
		t.Errorf("a record sealed without spec_version: %v", err)
	}
	m["spec_version"] = SpecVersion
	if err := CheckSealedShape(m); err != nil {
		t.Errorf("a record with spec_version: %v", err)
	}
	delete(m, "trigger")
	delete(m, "signature")
	var mf *MissingFieldsError
	if err := CheckSealedShape(m); !errors.As(err, &mf) || err.Error() != `not a sealed capsule: fields "trigger", "signature" are missing` {
		t.Errorf("missing trigger and signature: %v", err)
	}
	if err := CheckSealedShape(map[string]any{}); err == nil || err.Error() != `not a sealed capsule: fields "id", "type", "domain" and 11 others are missing` {
		t.Errorf("empty object: %v", err)
	}
	if !IsAddedField("spec_version") || IsAddedField("trigger") || IsAddedField("hash") {
		t.Error("IsAddedField")
	}
}
