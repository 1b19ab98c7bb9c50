package canonical

import (
	"bufio"
	"bytes"
	"crypto/sha3"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

type fixture struct {
	Name          string          `json:"name"`
	CapsuleDict   json.RawMessage `json:"capsule_dict"`
	CanonicalJSON string          `json:"canonical_json"`
	SHA3256Hash   string          `json:"sha3_256_hash"`
}

func loadFixtures(t testing.TB) []fixture {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "conformance", "fixtures.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Fixtures []fixture `json:"fixtures"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Fixtures) != 16 {
		t.Fatalf("got %d fixtures, want 16", len(doc.Fixtures))
	}
	return doc.Fixtures
}

func sha3Hex(b []byte) string {
	sum := sha3.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// TestFixtures checks the 16 golden vectors through both paths: the
// streaming CanonicalizeContent on the raw bytes, and Parse+AppendContent.
func TestFixtures(t *testing.T) {
	for _, fx := range loadFixtures(t) {
		t.Run(fx.Name, func(t *testing.T) {
			got, err := CanonicalizeContent(fx.CapsuleDict)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != fx.CanonicalJSON {
				t.Fatalf("CanonicalizeContent:\n got %s\nwant %s", got, fx.CanonicalJSON)
			}
			if h := sha3Hex(got); h != fx.SHA3256Hash {
				t.Fatalf("hash %s, want %s", h, fx.SHA3256Hash)
			}

			v, err := Parse(fx.CapsuleDict)
			if err != nil {
				t.Fatal(err)
			}
			got2, err := AppendContent([]byte("prefix"), v.(map[string]any))
			if err != nil {
				t.Fatal(err)
			}
			if string(got2) != "prefix"+fx.CanonicalJSON {
				t.Fatalf("Parse+AppendContent:\n got %s\nwant prefix%s", got2, fx.CanonicalJSON)
			}
			// The canonical form is a fixed point of both paths.
			again, err := CanonicalizeContent(got)
			if err != nil || !bytes.Equal(again, got) {
				t.Fatalf("not a fixed point: %s, %v", again, err)
			}
		})
	}
}

var sealKeys = []string{"hash", "signature", "signature_pq", "signed_at", "signed_by"}

// TestPythonChain recomputes the hashes of the chain sealed by the Python
// reference: floats such as 4e-05 and 0.30000000000000004, escapes,
// non-ASCII keys and fractional timestamps.
func TestPythonChain(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "interop", "python-reference", "chain.json"))
	if err != nil {
		t.Fatal(err)
	}
	var chain []json.RawMessage
	if err := json.Unmarshal(data, &chain); err != nil {
		t.Fatal(err)
	}
	if len(chain) == 0 {
		t.Fatal("empty chain")
	}
	for i, raw := range chain {
		// Rebuild the content text from the raw member values, so that
		// the numbers and strings reach CanonicalizeContent exactly as
		// Python wrote them.
		var members map[string]json.RawMessage
		if err := json.Unmarshal(raw, &members); err != nil {
			t.Fatal(err)
		}
		var want string
		if err := json.Unmarshal(members["hash"], &want); err != nil {
			t.Fatal(err)
		}
		for _, k := range sealKeys {
			if _, ok := members[k]; !ok {
				t.Fatalf("capsule %d: no %s", i, k)
			}
			delete(members, k)
		}
		var content bytes.Buffer
		content.WriteString("{\n")
		first := true
		for k, v := range members {
			if !first {
				content.WriteString(",\n")
			}
			first = false
			kb, _ := json.Marshal(k)
			content.Write(kb)
			content.WriteString(": ")
			content.Write(v)
		}
		content.WriteString("\n}")

		got, err := CanonicalizeContent(content.Bytes())
		if err != nil {
			t.Fatalf("capsule %d: %v", i, err)
		}
		if h := sha3Hex(got); h != want {
			t.Fatalf("capsule %d: hash %s, want %s\ncanonical: %s", i, h, want, got)
		}

		// The same through Parse, deleting the seal keys from the tree.
		v, err := Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		m := v.(map[string]any)
		for _, k := range sealKeys {
			delete(m, k)
		}
		got2, err := AppendContent(nil, m)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, got2) {
			t.Fatalf("capsule %d: paths differ:\n%s\n%s", i, got, got2)
		}
	}
}

// TestPythonVectors compares with vectors written by the Python reference
// (testdata/gen_python_vectors.py): json.dumps(json.loads(in), sort_keys=True,
// separators=(",", ":"), ensure_ascii=False) for thousands of floats,
// number spellings, strings and objects with keys needing code point order.
func TestPythonVectors(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "python-vectors.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	n := 0
	var buf []byte
	for sc.Scan() {
		var vec struct{ In, Out string }
		if err := json.Unmarshal(sc.Bytes(), &vec); err != nil {
			t.Fatal(err)
		}
		n++
		buf, err = AppendCanonical(buf[:0], []byte(vec.In))
		if err != nil {
			t.Errorf("%q: %v", vec.In, err)
			continue
		}
		if string(buf) != vec.Out {
			t.Errorf("Canonicalize(%q)\n got %s\nwant %s", vec.In, buf, vec.Out)
			continue
		}
		v, err := Parse([]byte(vec.In))
		if err != nil {
			t.Errorf("Parse(%q): %v", vec.In, err)
			continue
		}
		out, err := Append(nil, v)
		if err != nil || string(out) != vec.Out {
			t.Errorf("Append(Parse(%q)) = %s, %v; want %s", vec.In, out, err, vec.Out)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if n < 5000 {
		t.Fatalf("only %d vectors", n)
	}
}
