package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidateInvalidFixtures(t *testing.T) {
	var doc struct {
		Fixtures []struct {
			Name          string          `json:"name"`
			ExpectedError string          `json:"expected_error"`
			ErrorField    string          `json:"error_field"`
			CapsuleDict   json.RawMessage `json:"capsule_dict"`
			ClaimedHash   string          `json:"claimed_hash"`
		} `json:"fixtures"`
	}
	if err := json.Unmarshal(readFile(t, invalidPath), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Fixtures) < 16 {
		t.Fatalf("%d invalid fixtures", len(doc.Fixtures))
	}
	dir := t.TempDir()
	for _, fx := range doc.Fixtures {
		in := bytes.TrimSpace(fx.CapsuleDict)
		if fx.ClaimedHash != "" {
			// The stored hash the fixture claims, which the content no
			// longer matches.
			in = append(append(bytes.TrimSuffix(in, []byte("}")), `,"hash":"`+fx.ClaimedHash+`"`...), '}')
		}
		path := writeFile(t, filepath.Join(dir, fx.Name+".json"), in)
		r := capsuleCmd(t, "", "validate", "--json", path).want(t, 1)
		var out struct {
			OK       bool   `json:"ok"`
			Category string `json:"category"`
			Field    string `json:"field"`
			Message  string `json:"message"`
		}
		decodeJSON(t, r.stdout, &out)
		if out.OK || out.Category != fx.ExpectedError || out.Field != fx.ErrorField || out.Message == "" {
			t.Errorf("%s: %s, want category %s field %s", fx.Name, r.stdout, fx.ExpectedError, fx.ErrorField)
		}
		r = capsuleCmd(t, "", "validate", path).want(t, 1)
		if want := "✗ " + path + ": " + fx.ExpectedError + " at "; !strings.HasPrefix(r.stdout, want) {
			t.Errorf("%s: %q, want prefix %q", fx.Name, r.stdout, want)
		}
	}
}

func TestValidateValid(t *testing.T) {
	dir := t.TempDir()
	for _, fx := range loadFixtures(t) {
		path := writeFile(t, filepath.Join(dir, fx.Name+".json"), fx.CapsuleDict)
		if r := capsuleCmd(t, "", "validate", "--json", path).want(t, 0); r.stdout != `{"ok":true}`+"\n" {
			t.Errorf("%s: %q", fx.Name, r.stdout)
		}
		if r := capsuleCmd(t, "", "validate", path).want(t, 0); r.stdout != "✓ "+path+": valid capsule\n" {
			t.Errorf("%s: %q", fx.Name, r.stdout)
		}
	}
	// Sealed capsules are checked with their seal.
	for i, e := range chainElements(t) {
		if r := capsuleCmd(t, string(e), "validate", "--json").want(t, 0); r.stdout != `{"ok":true}`+"\n" {
			t.Errorf("chain element %d: %q", i, r.stdout)
		}
	}
	// Input that is not JSON at all cannot be parsed: exit code 2, as in
	// every command, with the problem on standard error.
	r := capsuleCmd(t, `{"id":`, "validate", "--json").want(t, exitError)
	if r.stdout != "" || r.stderr != "capsule validate: standard input: invalid_value id: unreadable JSON: syntax error at offset 6: unexpected end of input, expected a value\n" {
		t.Errorf("malformed: stdout %q, stderr %q", r.stdout, r.stderr)
	}
}
