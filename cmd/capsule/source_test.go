package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Without a FILE, --db or --pg the commands read the library's default
// database ($CAPSULE_URL, else capsules.db in the data directory) and say
// on stderr which one.
func TestDefaultSource(t *testing.T) {
	dir := pythonDataDir(t)
	db := filepath.Join(dir, "capsules.db")
	r := capsuleCmd(t, "", "chains").want(t, 0)
	if want := "capsule chains: reading " + db + " ($QUANTUMPIPES_DATA_DIR/capsules.db)\n"; r.stderr != want {
		t.Errorf("stderr %q, want %q", r.stderr, want)
	}
	if !strings.Contains(r.stdout, "12") {
		t.Errorf("chains of the default database:\n%s", r.stdout)
	}
	if r := capsuleCmd(t, "", "verify", "--quiet").want(t, 0); r.stderr != "" {
		t.Errorf("verify --quiet printed %q", r.stderr)
	}

	// $CAPSULE_URL comes first, as in the library.
	other := filepath.Join(t.TempDir(), "other.db")
	if err := os.WriteFile(other, readFile(t, db), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CAPSULE_URL", "sqlite:"+other)
	r = capsuleCmd(t, "", "verify", "--structural").want(t, 0)
	if want := "capsule verify: reading sqlite:" + other + " ($CAPSULE_URL)\n"; !strings.HasPrefix(r.stderr, want) {
		t.Errorf("stderr %q, want it to start with %q", r.stderr, want)
	}

	// A source given on the command line is used as it is, silently.
	if r := capsuleCmd(t, "", "chains", "--db", db).want(t, 0); r.stderr != "" {
		t.Errorf("chains --db printed %q", r.stderr)
	}

	// Without either variable: ~/.quantumpipes/capsules.db.
	t.Setenv("CAPSULE_URL", "")
	t.Setenv("QUANTUMPIPES_DATA_DIR", "")
	home := t.TempDir()
	t.Setenv("HOME", home)
	r = capsuleCmd(t, "", "chains").want(t, 2)
	want := "capsule chains: no source: give a FILE, --db PATH or --pg URL, or set CAPSULE_URL; the default database ~/.quantumpipes/capsules.db (" +
		filepath.Join(home, ".quantumpipes", "capsules.db") + ") does not exist"
	if !strings.Contains(r.stderr, want) {
		t.Errorf("stderr %q lacks %q", r.stderr, want)
	}
	if _, err := os.Stat(filepath.Join(home, ".quantumpipes")); !os.IsNotExist(err) {
		t.Errorf("a read-only command created the data directory: %v", err)
	}
}

// A SQLite database given as FILE is a usage error that suggests --db,
// not a JSON syntax error.
func TestSQLiteFileAsFile(t *testing.T) {
	db := filepath.Join(pythonDataDir(t), "capsules.db")
	for _, cmd := range []string{"verify", "inspect", "export"} {
		r := capsuleCmd(t, "", cmd, db).want(t, 2)
		want := "capsule " + cmd + ": " + db + " is a SQLite database, not a JSON file: give it as --db " + db
		if !strings.Contains(r.stderr, want) {
			t.Errorf("%s: stderr %q lacks %q", cmd, r.stderr, want)
		}
	}
}
