package main

import (
	"database/sql"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/capsule-go/capsule/proof"
)

// A proof of a capsule of the Python reference chain (which has no tree
// until one is needed) verifies offline with the log key alone, and
// fails once any part of it is altered; the tree check finds an altered
// tree.
func TestProveAndVerifyProof(t *testing.T) {
	dir := pythonDataDir(t)
	db := filepath.Join(dir, "capsules.db")
	out := filepath.Join(t.TempDir(), "c3.tlog-proof")
	capsuleCmd(t, "", "prove", "--db", db, "--seq", "3", "-o", out).want(t, exitOK)
	vkey := strings.TrimSpace(capsuleCmd(t, "", "keys", "export-public", "--note", "capsule/-").want(t, exitOK).stdout)
	if !strings.HasPrefix(vkey, "capsule/-+") {
		t.Fatalf("note key %q", vkey)
	}
	r := capsuleCmd(t, "", "verify-proof", "--log-key", vkey, out).want(t, exitOK)
	if !strings.Contains(r.stdout, "valid") || !strings.Contains(r.stdout, "sequence 3") {
		t.Fatalf("verify-proof: %s", r.stdout)
	}
	text := string(readFile(t, out))
	p, err := proof.Parse([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	// An independent check of the inclusion proof with tlog.
	cpText, _, _ := strings.Cut(string(p.Checkpoint), "\n\n")
	lines := strings.Split(cpText, "\n")
	root, err := tlog.ParseHash(lines[2])
	if err != nil {
		t.Fatal(err)
	}
	if lines[1] != "12" || p.Index != 3 || !strings.HasPrefix(text, "c2sp.org/tlog-proof@v1\nextra ") {
		t.Fatalf("proof:\n%s", text)
	}
	var rec struct {
		Hash string `json:"hash"`
	}
	if err := json.Unmarshal(p.Extra, &rec); err != nil {
		t.Fatal(err)
	}
	raw := make([]byte, 32)
	for i := range raw {
		raw[i] = unhex(rec.Hash[2*i])<<4 | unhex(rec.Hash[2*i+1])
	}
	if err := tlog.CheckRecord(p.Inclusion, 12, root, 3, tlog.RecordHash(raw)); err != nil {
		t.Fatalf("tlog.CheckRecord: %v", err)
	}
	// Altered: the index, a proof hash, the capsule, the checkpoint.
	for name, bad := range map[string]string{
		"index":      strings.Replace(text, "\nindex 3\n", "\nindex 2\n", 1),
		"hash":       strings.Replace(text, "\n"+p.Inclusion[0].String()+"\n", "\n"+p.Inclusion[1].String()+"\n", 1),
		"checkpoint": strings.Replace(text, "\n12\n", "\n13\n", 1),
		"capsule":    strings.Replace(text, "extra "+text[len("c2sp.org/tlog-proof@v1\nextra "):len("c2sp.org/tlog-proof@v1\nextra ")+8], "extra eyJhIjoxfQ==", 1),
	} {
		f := writeFile(t, filepath.Join(t.TempDir(), name), []byte(bad))
		if r := capsuleCmd(t, "", "verify-proof", "--log-key", vkey, f); r.code != exitInvalid && r.code != exitError {
			t.Errorf("%s altered: exit %d", name, r.code)
		}
	}
	capsuleCmd(t, "", "verify-proof", "--log-key", strings.Replace(vkey, "capsule/-", "other", 1), out).want(t, exitError)
	junk := writeFile(t, filepath.Join(t.TempDir(), "junk"), []byte("not a proof\n"))
	capsuleCmd(t, "", "verify-proof", "--log-key", vkey, junk).want(t, exitError)
	capsuleCmd(t, "", "verify-proof", "--log-key", vkey, "--min-witnesses", "1", out).want(t, exitError)

	capsuleCmd(t, "", "tree", "check", "--db", db).want(t, exitOK)
	conn, err := sql.Open("sqlite3", db)
	if err != nil {
		t.Fatal(err)
	}
	// Stored hash 4 of the run from 0 (the tree the catch-up wrote) zeroed.
	var run []byte
	if err := conn.QueryRow("SELECT hashes FROM capsule_tree WHERE tenant_id = '' AND idx = 0").Scan(&run); err != nil {
		t.Fatal(err)
	}
	copy(run[4*32:5*32], make([]byte, 32))
	if _, err := conn.Exec("UPDATE capsule_tree SET hashes = ? WHERE tenant_id = '' AND idx = 0", run); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	r = capsuleCmd(t, "", "tree", "check", "--db", db).want(t, exitInvalid)
	if !strings.Contains(r.stdout, "stored hash 4") {
		t.Fatalf("tree check: %s", r.stdout)
	}
}

func unhex(c byte) byte {
	if c >= 'a' {
		return c - 'a' + 10
	}
	return c - '0'
}
