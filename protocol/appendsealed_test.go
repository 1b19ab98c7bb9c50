package protocol

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/capsule-go/capsule/protocol/canonical"
)

// appendSealedMap is the sealed dict the way AppendSealed wrote it before
// it streamed: the content parsed into maps, the seal keys added, the
// whole encoded again. AppendSealed must write the same bytes.
func appendSealedMap(dst []byte, rec *Sealed) ([]byte, error) {
	data := bytes.TrimSpace(rec.Data)
	if len(data) < 2 || data[0] != '{' || data[len(data)-1] != '}' {
		return dst, fmt.Errorf("capsule %s: content is not a JSON object", rec.ID)
	}
	v, err := canonical.Parse(data)
	if err != nil {
		return dst, err
	}
	m := v.(map[string]any)
	for _, k := range sealKeys {
		if _, dup := m[k]; dup {
			return dst, fmt.Errorf("content has seal key %q", k)
		}
	}
	null := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	m["hash"], m["signature"], m["signature_pq"] = rec.Hash, rec.Signature, rec.SignaturePQ
	m["signed_at"], m["signed_by"] = null(rec.SignedAt), null(rec.SignedBy)
	return canonical.Append(dst, m)
}

// sameSealed checks that AppendSealed writes what appendSealedMap writes,
// after a prefix in dst, and fails where it fails.
func sameSealed(t *testing.T, rec *Sealed) {
	t.Helper()
	prefix := []byte("prefix,")
	got, gerr := AppendSealed(bytes.Clone(prefix), rec)
	want, werr := appendSealedMap(bytes.Clone(prefix), rec)
	if (gerr != nil) != (werr != nil) {
		t.Fatalf("content %q: AppendSealed error %v, map encoding error %v", rec.Data, gerr, werr)
	}
	if gerr != nil {
		if !bytes.Equal(got, prefix) {
			t.Fatalf("content %q: AppendSealed failed (%v) but changed dst to %q", rec.Data, gerr, got)
		}
		return
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("content %q:\nAppendSealed %s\nmap encoding %s", rec.Data, got, want)
	}
}

// TestAppendSealedAsMaps: every capsule of the conformance vectors and of
// the Python chains (whose stored content is not canonical JSON), and
// content with keys around and between the seal keys, escaped keys and
// empty seal fields.
func TestAppendSealedAsMaps(t *testing.T) {
	var contents [][]byte
	var vectors struct {
		Fixtures []struct {
			Capsule json.RawMessage `json:"capsule_dict"`
		} `json:"fixtures"`
	}
	b, err := os.ReadFile(filepath.Join("..", "testdata", "conformance", "fixtures.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &vectors); err != nil {
		t.Fatal(err)
	}
	for _, f := range vectors.Fixtures {
		contents = append(contents, f.Capsule)
	}
	for _, chain := range []string{"python-reference", "python-app"} {
		b, err := os.ReadFile(filepath.Join("..", "testdata", "interop", chain, "chain.json"))
		if err != nil {
			t.Fatal(err)
		}
		var sealed []map[string]json.RawMessage
		if err := json.Unmarshal(b, &sealed); err != nil {
			t.Fatal(err)
		}
		for _, c := range sealed {
			for _, k := range sealKeys {
				delete(c, k)
			}
			// Go's encoder: keys sorted, but "<>&" escaped, unlike canonical JSON.
			data, err := json.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			contents = append(contents, data)
		}
	}
	if len(contents) < 20 {
		t.Fatalf("only %d contents read", len(contents))
	}
	contents = append(contents,
		[]byte(`{}`),
		[]byte(` { "z" : 1 , "a" : [1.0, 2, {"y":null,"b":"\u00e9"}] } `),
		[]byte(`{"h":1,"hash_":2,"sign":3,"signature_":4,"signature_pz":5,"signed":6,"signed_b":7,"signed_bz":8,"zz":9}`),
		[]byte(`{"a\"b":1,"sig\\x":2,"s\u0001":3,"été":4,"😀":5}`),
		[]byte(`{"signature":"in the content"}`),
		[]byte(`{"a":1,"a":2}`),
		[]byte(`{"a":NaN}`),
		[]byte(`[1,2]`),
		[]byte(`{"a":1`),
	)
	for _, data := range contents {
		rec := Sealed{ID: "x", Data: data, Hash: "ab", Signature: "cd", SignedAt: "2026-01-02T03:04:05+00:00", SignedBy: "qp_key_0000"}
		sameSealed(t, &rec)
		rec.SignedAt, rec.SignedBy, rec.Signature = "", "", ""
		sameSealed(t, &rec)
		rec.SignaturePQ = "ef"
		sameSealed(t, &rec)
	}
}

// FuzzAppendSealed: for any content and seal fields, AppendSealed writes
// the bytes the map encoding writes, or fails where it fails.
func FuzzAppendSealed(f *testing.F) {
	f.Add([]byte(`{"a":1,"signed":2,"z":[1.5,{"k":"v"}]}`), "h", "2026-01-02T03:04:05+00:00", "")
	f.Add([]byte(`{"hash":1}`), "", "", "qp")
	f.Add([]byte(` {"b" : "\u00e9", "a":1e400}`), "h", "", "")
	f.Fuzz(func(t *testing.T, data []byte, hash, signedAt, signedBy string) {
		rec := Sealed{ID: "x", Data: data, Hash: hash, Signature: "s", SignedAt: signedAt, SignedBy: signedBy}
		sameSealed(t, &rec)
	})
}
