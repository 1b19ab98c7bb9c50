package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capsule-go/capsule"
	"github.com/capsule-go/capsule/protocol/validate"
)

// TestExitCodes holds every command to the contract: 0 pass; 1 the input
// was read and is invalid or does not verify; 2 usage or I/O error (the
// input cannot be read, or is not JSON at all).
func TestExitCodes(t *testing.T) {
	emptyDataDir(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "capsules.db")
	capsuleCmd(t, `{"type":"tool"}`+"\n"+`{"type":"chat"}`, "seal", "--db", db).want(t, exitOK)
	chain := filepath.Join(dir, "chain.json")
	capsuleCmd(t, "", "export", "--db", db, "-o", chain).want(t, exitOK)
	sealed := strings.Split(strings.TrimSpace(string(readFile(t, chain))), "\n")
	for i := range sealed {
		sealed[i] = strings.TrimSuffix(sealed[i], ",")
	}
	// A chain whose second capsule does not link to the first.
	broken := "[\n" + sealed[1] + ",\n" + strings.Replace(sealed[2], `"sequence":1`, `"sequence":5`, 1) + "\n]\n"

	files := map[string]string{
		"chain":      string(readFile(t, chain)),
		"broken":     broken,
		"content":    `{"type":"tool","trigger":{"source":"cron","request":"backup"}}`,
		"confidence": `{"type":"agent","reasoning":{"confidence":7}}`,
		"status":     `{"type":"tool","outcome":{"status":"maybe"}}`,
		"wrongtype":  `{"type":"tool","trigger":{"source":5}}`,
		"unknown":    `{"type":"tool","colour":"red"}`,
		"sealedin":   sealed[1],
		"number":     `42`,
		"numbers":    `[1,2]`,
		"null":       `null`,
		"object":     `{"a":1}`,
		"dupkeys":    `{"type":"tool","type":"chat"}`,
		"syntax":     `{"type":`,
		"unclosed":   `[`,
		"notjson":    `type=tool`,
		"empty":      ``,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name+".json"), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	file := func(name string) string { return filepath.Join(dir, name+".json") }
	newDB := func() string { return filepath.Join(t.TempDir(), "seal.db") }

	cases := []struct {
		args []string
		code int
	}{
		// seal: content is sealed (0); JSON that is not valid content is
		// invalid (1); input that is not JSON cannot be parsed (2).
		{[]string{"seal", "--db", newDB(), file("content")}, exitOK},
		{[]string{"seal", "--db", newDB(), file("confidence")}, exitInvalid},
		{[]string{"seal", "--db", newDB(), file("status")}, exitInvalid},
		{[]string{"seal", "--db", newDB(), file("wrongtype")}, exitInvalid},
		{[]string{"seal", "--db", newDB(), file("unknown")}, exitInvalid},
		{[]string{"seal", "--db", newDB(), file("sealedin")}, exitInvalid},
		{[]string{"seal", "--db", newDB(), file("number")}, exitInvalid},
		{[]string{"seal", "--db", newDB(), file("dupkeys")}, exitInvalid},
		{[]string{"seal", "--db", newDB(), file("syntax")}, exitError},
		{[]string{"seal", "--db", newDB(), file("notjson")}, exitError},
		{[]string{"seal", "--db", newDB(), file("missing")}, exitError},
		{[]string{"seal", file("content")}, exitError},

		// verify FILE: a chain (0); JSON that is not a valid chain (1);
		// not JSON, empty, missing (2).
		{[]string{"verify", file("chain")}, exitOK},
		{[]string{"verify", "--signatures", file("chain")}, exitOK},
		{[]string{"verify", "--db", db}, exitOK},
		{[]string{"verify", file("broken")}, exitInvalid},
		{[]string{"verify", file("content")}, exitInvalid},
		{[]string{"verify", file("object")}, exitInvalid},
		{[]string{"verify", file("number")}, exitInvalid},
		{[]string{"verify", file("numbers")}, exitInvalid},
		{[]string{"verify", file("null")}, exitInvalid},
		{[]string{"verify", file("dupkeys")}, exitInvalid},
		{[]string{"verify", file("syntax")}, exitError},
		{[]string{"verify", file("unclosed")}, exitError},
		{[]string{"verify", file("notjson")}, exitError},
		{[]string{"verify", file("empty")}, exitError},
		{[]string{"verify", file("missing")}, exitError},
		{[]string{"verify", "--structural", "--full", file("chain")}, exitError},

		// inspect and export read a chain as verify does.
		{[]string{"inspect", "--seq", "0", file("chain")}, exitOK},
		{[]string{"inspect", "--seq", "0", file("numbers")}, exitInvalid},
		{[]string{"inspect", "--seq", "0", file("dupkeys")}, exitInvalid},
		{[]string{"inspect", "--seq", "0", file("syntax")}, exitError},
		{[]string{"inspect", "--seq", "0", file("missing")}, exitError},
		{[]string{"inspect", file("chain")}, exitError},
		{[]string{"export", file("chain")}, exitOK},
		{[]string{"export", file("numbers")}, exitInvalid},
		{[]string{"export", file("null")}, exitInvalid},
		{[]string{"export", file("syntax")}, exitError},
		{[]string{"export", file("missing")}, exitError},

		// canonical: content or a sealed capsule (0); JSON that is not an
		// object or has duplicate keys (1); not JSON (2).
		{[]string{"canonical", file("content")}, exitOK},
		{[]string{"canonical", file("sealedin")}, exitOK},
		{[]string{"canonical", file("numbers")}, exitInvalid},
		{[]string{"canonical", file("dupkeys")}, exitInvalid},
		{[]string{"canonical", file("syntax")}, exitError},
		{[]string{"canonical", file("empty")}, exitError},
		{[]string{"canonical", file("missing")}, exitError},

		// validate: a valid capsule (0); JSON that is not one (1); not JSON (2).
		{[]string{"validate", file("sealedin")}, exitOK},
		{[]string{"validate", file("confidence")}, exitInvalid},
		{[]string{"validate", "--json", file("confidence")}, exitInvalid},
		{[]string{"validate", file("numbers")}, exitInvalid},
		{[]string{"validate", file("dupkeys")}, exitInvalid},
		{[]string{"validate", file("syntax")}, exitError},
		{[]string{"validate", "--json", file("notjson")}, exitError},
		{[]string{"validate", file("missing")}, exitError},

		// The commands without a verdict: 0 or 2.
		{[]string{"hash", file("chain")}, exitOK},
		{[]string{"hash", file("missing")}, exitError},
		{[]string{"keys", "info"}, exitOK},
		{[]string{"keys", "bogus"}, exitError},
		{[]string{"checkpoint", "--db", db}, exitOK},
		{[]string{"checkpoint", file("chain")}, exitError},
		{[]string{"serve"}, exitError},
		{[]string{"bench", "extra"}, exitError},
		{[]string{"help"}, exitOK},
		{[]string{"bogus"}, exitError},
		{nil, exitError},
	}
	for _, c := range cases {
		r := capsuleCmd(t, "", c.args...)
		if r.code != c.code {
			t.Errorf("capsule %s: exit %d, want %d\nstderr: %s", strings.Join(c.args, " "), r.code, c.code, r.stderr)
		}
		verdict := len(c.args) > 0 && (c.args[0] == "validate" || c.args[0] == "verify")
		if c.code != exitOK && !verdict && r.stderr == "" {
			t.Errorf("capsule %s: exit %d with nothing on stderr", strings.Join(c.args, " "), r.code)
		}
	}
	// Every command's --help exits 0.
	for _, cmd := range commands() {
		capsuleCmd(t, "", cmd.name, "--help").want(t, exitOK)
	}
}

// A refusal of the runtime to store an invalid capsule is exit code 1; a
// storage failure is 2.
func TestAppendCode(t *testing.T) {
	for _, c := range []struct {
		err  error
		code int
	}{
		{fmt.Errorf("append: %w", &validate.Error{Category: validate.InvalidValue, Field: "domain", Message: "too long"}), exitInvalid},
		{fmt.Errorf("append: %w", &capsule.FieldError{Field: "session_id", Msg: "too long"}), exitInvalid},
		{errors.New("connection refused"), exitError},
	} {
		if got := appendCode(c.err); got != c.code {
			t.Errorf("appendCode(%v) = %d, want %d", c.err, got, c.code)
		}
	}
}

// The main usage and README state the same contract.
func TestExitCodesDocumented(t *testing.T) {
	var b strings.Builder
	writeMainUsage(&b)
	if !strings.Contains(b.String(), "0 pass; 1 the input was read and is\ninvalid or does not verify; 2 usage or I/O error") {
		t.Errorf("capsule help lacks the exit code contract:\n%s", b.String())
	}
	readme := strings.Join(strings.Fields(string(readFile(t, "../../README.md"))), " ")
	if !strings.Contains(readme, "0 pass; 1 the input was read and is invalid or does not verify") ||
		!strings.Contains(readme, "2 usage or I/O error (the input cannot be read, or is not JSON at all)") {
		t.Error("README.md lacks the exit code contract")
	}
}
