package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	fixturesPath = "../../testdata/conformance/fixtures.json"
	invalidPath  = "../../testdata/conformance/invalid-fixtures.json"
	pythonDir    = "../../testdata/interop/python-reference"
	chainPath    = pythonDir + "/chain.json"
)

// result is the outcome of one in-process run of the command.
type result struct {
	stdout, stderr string
	code           int
}

// capsuleCmd runs the command line args with stdin, in process.
func capsuleCmd(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(t.Context(), args, strings.NewReader(stdin), &out, &errb)
	return result{out.String(), errb.String(), code}
}

// want checks the exit code, reporting the outputs when it differs.
func (r result) want(t *testing.T, code int) result {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit code %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
	return r
}

// pythonDataDir copies the Python reference directory (key, keyring,
// database) into a temporary data directory, points QUANTUMPIPES_DATA_DIR
// at it and returns it.
func pythonDataDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"capsules.db", "chain.json", "key", "keyring.json", "public_key.hex"} {
		data, err := os.ReadFile(filepath.Join(pythonDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(dir, "key"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("QUANTUMPIPES_DATA_DIR", dir)
	t.Setenv("CAPSULE_URL", "")
	return dir
}

// emptyDataDir points QUANTUMPIPES_DATA_DIR at a new empty directory.
func emptyDataDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	t.Setenv("QUANTUMPIPES_DATA_DIR", dir)
	t.Setenv("CAPSULE_URL", "")
	return dir
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func writeFile(t *testing.T, path string, data []byte) string {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// decodeJSON decodes s strictly into v.
func decodeJSON(t *testing.T, s string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		t.Fatalf("trailing data after JSON in %q", s)
	}
}

// chainElements returns the raw elements of the Python reference's
// chain.json.
func chainElements(t *testing.T) []json.RawMessage {
	t.Helper()
	var elems []json.RawMessage
	if err := json.Unmarshal(readFile(t, chainPath), &elems); err != nil {
		t.Fatal(err)
	}
	if len(elems) != 12 {
		t.Fatalf("chain.json has %d capsules, want 12", len(elems))
	}
	return elems
}

func TestHelpAndUsage(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		r := capsuleCmd(t, "", args...).want(t, 0)
		for _, c := range commands() {
			if !strings.Contains(r.stdout, "  "+c.name+" ") {
				t.Errorf("%v: main usage lacks %q:\n%s", args, c.name, r.stdout)
			}
		}
	}
	for _, c := range commands() {
		for _, args := range [][]string{{c.name, "--help"}, {c.name, "-h"}, {"help", c.name}} {
			r := capsuleCmd(t, "", args...).want(t, 0)
			if !strings.HasPrefix(r.stdout, "Usage: capsule "+c.name) || !strings.Contains(r.stdout, "\nExample:\n  ") {
				t.Errorf("%v: usage is\n%s", args, r.stdout)
			}
			if r.stderr != "" {
				t.Errorf("%v: stderr %q", args, r.stderr)
			}
		}
	}
	for _, sub := range []string{"info", "rotate", "export-public"} {
		r := capsuleCmd(t, "", "keys", sub, "--help").want(t, 0)
		if !strings.HasPrefix(r.stdout, "Usage: capsule keys "+sub) || !strings.Contains(r.stdout, "Example:") {
			t.Errorf("keys %s --help:\n%s", sub, r.stdout)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	emptyDataDir(t)
	missingDB := filepath.Join(t.TempDir(), "missing.db")
	cases := []struct {
		args []string
		msg  string // in stderr
	}{
		{nil, "Usage: capsule <command>"},
		{[]string{"frobnicate"}, `capsule: unknown command "frobnicate"`},
		{[]string{"help", "frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"verify", "--bogus", chainPath}, "capsule verify: flag provided but not defined: -bogus"},
		{[]string{"verify"}, "capsule verify: no source: give a FILE, --db PATH or --pg URL, or set CAPSULE_URL; the default database $QUANTUMPIPES_DATA_DIR/capsules.db ("},
		{[]string{"verify", chainPath, "--db", "x.db"}, "capsule verify: give either a FILE or --db/--pg, not both"},
		{[]string{"verify", "--db", "a.db", "--pg", "postgres://x"}, "give either --db or --pg, not both"},
		{[]string{"verify", "--pg", "mysql://x"}, "--pg wants a postgres:// or postgresql:// URL"},
		{[]string{"verify", "--db", "postgres://x"}, "use --pg for a PostgreSQL URL"},
		{[]string{"verify", "--structural", "--full", chainPath}, "at most one of --structural, --full and --signatures"},
		{[]string{"verify", "--public-key", "abc", chainPath}, "--public-key wants 64 hex digits"},
		{[]string{"verify", "--full", "--public-key", strings.Repeat("ab", 32), chainPath}, "cannot be combined with --full"},
		{[]string{"verify", "--json", "--quiet", chainPath}, "at most one of --json and --quiet"},
		{[]string{"verify", chainPath, chainPath}, "too many arguments"},
		{[]string{"verify", "--db", missingDB}, "capsule verify: open database " + missingDB + ": no such file or directory"},
		{[]string{"verify", "nonexistent.json"}, "capsule verify: open nonexistent.json: no such file or directory"},
		{[]string{"verify", "--tenant"}, "flag needs an argument: -tenant"},
		{[]string{"inspect", chainPath}, chainPath + " holds more than one capsule: give --seq N or --id UUID"},
		{[]string{"inspect", chainPath, "--seq", "1", "--id", "0000"}, "give at most one of --seq N and --id UUID"},
		{[]string{"chains"}, "no source"},
		{[]string{"chains", "--db", "x.db", "--tenant", "a"}, "chains has no --tenant"},
		{[]string{"inspect", chainPath, "--seq", "-3"}, "--seq wants a sequence number >= 0"},
		{[]string{"inspect", chainPath, "--seq", "x"}, `invalid value "x" for flag -seq`},
		{[]string{"inspect", chainPath, "--seq", "99"}, "capsule inspect: no capsule at sequence 99 in " + chainPath},
		{[]string{"inspect", chainPath, "--id", "ffff"}, "capsule inspect: no capsule with id ffff in " + chainPath},
		{[]string{"export"}, "no source"},
		{[]string{"seal", "x.json"}, "no database: give --db PATH or --pg URL"},
		{[]string{"canonical", "a", "b"}, "too many arguments"},
		{[]string{"canonical", "nonexistent.json"}, "capsule canonical: open nonexistent.json: no such file or directory"},
		{[]string{"validate", "nonexistent.json"}, "capsule validate: open nonexistent.json: no such file or directory"},
		{[]string{"hash", "nonexistent.bin"}, "capsule hash: open nonexistent.bin: no such file or directory"},
		{[]string{"keys"}, "missing subcommand"},
		{[]string{"keys", "bogus"}, `unknown subcommand "bogus"`},
		{[]string{"keys", "info", "extra"}, "unexpected arguments"},
		{[]string{"keys", "export-public"}, "no signing key or keyring in the data directory"},
		{[]string{"serve"}, "capsule serve: no source: give a FILE, --db PATH or --pg URL, or set CAPSULE_URL; the default database $QUANTUMPIPES_DATA_DIR/capsules.db ("},
		{[]string{"serve", "x.db"}, "serve wants a database: --db PATH or --pg URL"},
		{[]string{"serve", "--db", "x.db", "--tenant", "a"}, "serve has no --tenant"},
	}
	for _, c := range cases {
		r := capsuleCmd(t, "", c.args...)
		if r.code != 2 {
			t.Errorf("%q: exit code %d, want 2 (stderr %q)", c.args, r.code, r.stderr)
		}
		if !strings.Contains(r.stderr, c.msg) {
			t.Errorf("%q: stderr %q lacks %q", c.args, r.stderr, c.msg)
		}
		if r.stdout != "" {
			t.Errorf("%q: stdout %q", c.args, r.stdout)
		}
	}
	// A read-only command never creates a database.
	if _, err := os.Stat(missingDB); !os.IsNotExist(err) {
		t.Errorf("verify created %s: %v", missingDB, err)
	}
}

func TestFlagsAfterArguments(t *testing.T) {
	pythonDataDir(t)
	want := `{"valid":true,"level":"structural","capsules_verified":12,"total_capsules":12,"errors":[]}` + "\n"
	for _, args := range [][]string{
		{"verify", "--json", "--structural", chainPath},
		{"verify", chainPath, "--json", "--structural"},
		{"verify", "--json", chainPath, "--structural"},
		{"verify", "--json=true", "--structural", "--", chainPath},
	} {
		if r := capsuleCmd(t, "", args...).want(t, 0); r.stdout != want {
			t.Errorf("%q: %q, want %q", args, r.stdout, want)
		}
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:secret@host:5432/db?sslmode=disable": "postgres://u:***@host:5432/db?sslmode=disable",
		"postgres://u@host/db":                             "postgres://u@host/db",
		"postgres://host/db":                               "postgres://host/db",
		"/var/lib/capsules.db":                             "/var/lib/capsules.db",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
