package main

import (
	"bytes"
	"crypto/sha3"
	"encoding/hex"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capsule-go/capsule/protocol"
)

type fixture struct {
	Name          string          `json:"name"`
	CapsuleDict   json.RawMessage `json:"capsule_dict"`
	CanonicalJSON string          `json:"canonical_json"`
	Hash          string          `json:"sha3_256_hash"`
}

func loadFixtures(t *testing.T) []fixture {
	t.Helper()
	var doc struct {
		Fixtures []fixture `json:"fixtures"`
	}
	if err := json.Unmarshal(readFile(t, fixturesPath), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Fixtures) != 16 {
		t.Fatalf("%d fixtures, want 16", len(doc.Fixtures))
	}
	return doc.Fixtures
}

func TestCanonicalFixtures(t *testing.T) {
	dir := t.TempDir()
	for _, fx := range loadFixtures(t) {
		path := writeFile(t, filepath.Join(dir, fx.Name+".json"), fx.CapsuleDict)
		if r := capsuleCmd(t, "", "canonical", path).want(t, 0); r.stdout != fx.CanonicalJSON+"\n" {
			t.Errorf("%s: canonical\n got %s\nwant %s", fx.Name, r.stdout, fx.CanonicalJSON)
		}
		if r := capsuleCmd(t, string(fx.CapsuleDict), "canonical", "-", "--hash").want(t, 0); r.stdout != fx.Hash+"\n" {
			t.Errorf("%s: canonical --hash %q, want %q", fx.Name, r.stdout, fx.Hash)
		}
		// Standard input is the default.
		if r := capsuleCmd(t, string(fx.CapsuleDict), "canonical").want(t, 0); r.stdout != fx.CanonicalJSON+"\n" {
			t.Errorf("%s: canonical of stdin differs", fx.Name)
		}
		// The hash of the canonical bytes, as a file, is the fixture hash.
		canon := writeFile(t, filepath.Join(dir, fx.Name+".canonical"), []byte(fx.CanonicalJSON))
		if r := capsuleCmd(t, "", "hash", canon).want(t, 0); r.stdout != fx.Hash+"  "+canon+"\n" {
			t.Errorf("%s: hash %q, want %q", fx.Name, r.stdout, fx.Hash)
		}
	}
}

func TestCanonicalSealed(t *testing.T) {
	// A sealed capsule's seal keys are not content: the canonical hash
	// of each element of the Python chain is its stored hash.
	for i, e := range chainElements(t) {
		var seal struct {
			Hash string `json:"hash"`
		}
		json.Unmarshal(e, &seal)
		if r := capsuleCmd(t, string(e), "canonical", "--hash").want(t, 0); r.stdout != seal.Hash+"\n" {
			t.Errorf("element %d: %q, want %q", i, r.stdout, seal.Hash)
		}
		r := capsuleCmd(t, string(e), "canonical").want(t, 0)
		if strings.Contains(r.stdout, `"signature"`) || strings.Contains(r.stdout, `"hash"`) {
			t.Errorf("element %d: seal keys kept: %s", i, r.stdout)
		}
	}
}

func TestCanonicalInvalid(t *testing.T) {
	cases := []struct {
		in, msg string
		code    int
	}{
		{`{"a":1,"a":2}`, `duplicate key`, exitInvalid},
		{`[1,2]`, "capsule content must be a JSON object", exitInvalid},
		{`{"reasoning":{"confidence":"x"`, "syntax error", exitError}, // not JSON: cannot be parsed
		{`{"s":"\ud800"}`, "s: ", exitInvalid},
	}
	for _, c := range cases {
		r := capsuleCmd(t, c.in, "canonical").want(t, c.code)
		if !strings.HasPrefix(r.stderr, "capsule canonical: standard input: ") || !strings.Contains(r.stderr, c.msg) || r.stdout != "" {
			t.Errorf("%s: stderr %q, stdout %q", c.in, r.stderr, r.stdout)
		}
	}
	big := bytes.Repeat([]byte(" "), protocol.MaxCapsuleBytes+1)
	r := capsuleCmd(t, string(big), "canonical").want(t, 2)
	if !strings.Contains(r.stderr, "larger than") {
		t.Errorf("big input: %q", r.stderr)
	}
}

func TestHash(t *testing.T) {
	data := bytes.Repeat([]byte("capsule\x00\xff"), 100_000)
	sum := sha3.Sum256(data)
	want := hex.EncodeToString(sum[:])
	path := writeFile(t, filepath.Join(t.TempDir(), "data.bin"), data)
	if r := capsuleCmd(t, "", "hash", path).want(t, 0); r.stdout != want+"  "+path+"\n" {
		t.Errorf("hash %q, want %q", r.stdout, want)
	}
	if r := capsuleCmd(t, string(data)).want(t, 2); r.code != 2 {
		t.Fatal("no command")
	}
	r := capsuleCmd(t, string(data), "hash").want(t, 0)
	if r.stdout != want+"  -\n" {
		t.Errorf("stdin: %q", r.stdout)
	}
	// SHA3-256 of the empty string (FIPS 202).
	r = capsuleCmd(t, "", "hash", "-", path, "missing.bin").want(t, 2)
	wantOut := "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a  -\n" + want + "  " + path + "\n"
	if r.stdout != wantOut || !strings.Contains(r.stderr, "open missing.bin") {
		t.Errorf("several files: %q %q", r.stdout, r.stderr)
	}
}
