package main

import (
	"bytes"
	"crypto/ed25519"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/mattn/go-sqlite3"

	"github.com/capsule-go/capsule/protocol"
)

// verifyOut is the --json output of verify.
type verifyOut struct {
	Valid            bool             `json:"valid"`
	Level            string           `json:"level"`
	CapsulesVerified int64            `json:"capsules_verified"`
	TotalCapsules    int64            `json:"total_capsules"`
	Errors           []verifyOutError `json:"errors"`
	// Chains is there when every chain of a store with tenant chains was
	// verified: one summary per chain.
	Chains []json.RawMessage `json:"chains,omitempty"`
}

// verifyOutError is an element of its errors.
type verifyOutError struct {
	TenantID  *string `json:"tenant_id,omitempty"` // when every chain was verified
	Sequence  int64   `json:"sequence"`
	CapsuleID string  `json:"capsule_id"`
	Error     string  `json:"error"`
}

func verifyJSONOf(t *testing.T, code int, args ...string) verifyOut {
	t.Helper()
	r := capsuleCmd(t, "", append([]string{"verify", "--json"}, args...)...).want(t, code)
	var out verifyOut
	decodeJSON(t, r.stdout, &out)
	if out.Errors == nil {
		t.Fatalf("errors is not an array: %s", r.stdout)
	}
	return out
}

func TestVerifyPythonReference(t *testing.T) {
	dir := pythonDataDir(t)
	db := filepath.Join(dir, "capsules.db")
	pub := strings.TrimSpace(string(readFile(t, filepath.Join(pythonDir, "public_key.hex"))))
	sources := map[string][]string{"file": {chainPath}, "sqlite": {"--db", db}}
	for name, src := range sources {
		for _, level := range []string{"structural", "full", "signatures"} {
			want := fmt.Sprintf(`{"valid":true,"level":%q,"capsules_verified":12,"total_capsules":12,"errors":[]}`+"\n", level)
			r := capsuleCmd(t, "", append([]string{"verify", "--json", "--" + level}, src...)...).want(t, 0)
			if r.stdout != want {
				t.Errorf("%s %s: %q, want %q", name, level, r.stdout, want)
			}
			r = capsuleCmd(t, "", append([]string{"verify", "--" + level}, src...)...).want(t, 0)
			if want := "✓ chain valid: 12 capsules verified (" + level + ")\n"; r.stdout != want {
				t.Errorf("%s %s: %q, want %q", name, level, r.stdout, want)
			}
			r = capsuleCmd(t, "", append([]string{"verify", "--quiet", "--" + level}, src...)...).want(t, 0)
			if r.stdout != "" || r.stderr != "" {
				t.Errorf("--quiet printed %q %q", r.stdout, r.stderr)
			}
		}
		// The default level is full; --public-key implies signatures.
		if out := verifyJSONOf(t, 0, src...); out.Level != "full" {
			t.Errorf("%s: default level %q", name, out.Level)
		}
		if out := verifyJSONOf(t, 0, append([]string{"--public-key", pub}, src...)...); out.Level != "signatures" || out.CapsulesVerified != 12 {
			t.Errorf("%s --public-key: %+v", name, out)
		}
		// A wrong public key breaks every signature, from the first.
		other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32)).Public().(ed25519.PublicKey)
		out := verifyJSONOf(t, 1, append([]string{"--public-key", hex.EncodeToString(other)}, src...)...)
		if out.Valid || out.CapsulesVerified != 0 || len(out.Errors) != 1 || out.Errors[0].Sequence != 0 ||
			out.Errors[0].CapsuleID != "00001234-0000-4000-8000-000000000000" || out.Errors[0].Error != "bad signature" {
			t.Errorf("%s wrong key: %+v", name, out)
		}
	}

	// Standard input works as a file.
	r := capsuleCmd(t, string(readFile(t, chainPath)), "verify", "--signatures", "-").want(t, 0)
	if r.stdout != "✓ chain valid: 12 capsules verified (signatures)\n" {
		t.Errorf("stdin: %q", r.stdout)
	}
	// One sealed capsule alone is a chain of one when it is the genesis.
	elems := chainElements(t)
	one := writeFile(t, filepath.Join(t.TempDir(), "one.json"), elems[0])
	if out := verifyJSONOf(t, 0, "--signatures", one); out.TotalCapsules != 1 || out.CapsulesVerified != 1 {
		t.Errorf("single capsule: %+v", out)
	}
	// Another tenant of the database is an empty chain: valid, and said so.
	r = capsuleCmd(t, "", "verify", "--db", db, "--tenant", "nobody").want(t, 0)
	if want := `✓ chain valid: 0 capsules verified (full); the chain of tenant "nobody" in ` + db + " is empty\n"; r.stdout != want {
		t.Errorf("empty tenant: %q, want %q", r.stdout, want)
	}
}

func TestVerifyWithoutKeys(t *testing.T) {
	emptyDataDir(t)
	r := capsuleCmd(t, "", "verify", "--signatures", chainPath).want(t, 2)
	if !strings.Contains(r.stderr, "no keyring or key in the data directory") || !strings.Contains(r.stderr, "--public-key") {
		t.Errorf("stderr %q", r.stderr)
	}
	// Lower levels need no key.
	verifyJSONOf(t, 0, "--full", chainPath)
}

// tamperedDB copies the Python reference database, lets edit change it
// with SQL and returns its path.
func tamperedDB(t *testing.T, dir string, edit func(db *sql.DB)) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tampered.db")
	writeFile(t, path, readFile(t, filepath.Join(dir, "capsules.db")))
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	edit(db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func exec1(t *testing.T, db *sql.DB, query string, args ...any) {
	t.Helper()
	res, err := db.Exec(query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("%s: %d rows affected, want 1", query, n)
	}
}

func TestVerifyTamperedDatabase(t *testing.T) {
	dir := pythonDataDir(t)
	id := func(seq int) string { return fmt.Sprintf("00001234-0000-4000-8000-%012x", seq) }
	cases := []struct {
		name string
		edit func(db *sql.DB)
		// per level: expected broken sequence, or -1 when still valid
		structural, full, signatures int64
		gap                          bool // a capsule is missing before the break
		fullError                    string
	}{
		{
			name: "edited row",
			edit: func(db *sql.DB) {
				exec1(t, db, `UPDATE capsules SET data = replace(data, '"s3"', '"s3 (edited)"') WHERE sequence = 3 AND instr(data, '"s3"') > 0`)
			},
			structural: -1, full: 3, signatures: 3, fullError: "hash mismatch: stored 0b6af3a401",
		},
		{
			name:       "deleted row",
			edit:       func(db *sql.DB) { exec1(t, db, `DELETE FROM capsules WHERE sequence = 7`) },
			structural: 8, full: 8, signatures: 8, gap: true, fullError: "sequence gap: expected 7, found 8",
		},
		{
			name: "swapped rows",
			edit: func(db *sql.DB) {
				var d4, h4, d5, h5 string
				if err := db.QueryRow(`SELECT data, hash FROM capsules WHERE sequence = 4`).Scan(&d4, &h4); err != nil {
					t.Fatal(err)
				}
				if err := db.QueryRow(`SELECT data, hash FROM capsules WHERE sequence = 5`).Scan(&d5, &h5); err != nil {
					t.Fatal(err)
				}
				exec1(t, db, `UPDATE capsules SET data = ?, hash = ? WHERE sequence = 4`, d5, h5)
				exec1(t, db, `UPDATE capsules SET data = ?, hash = ? WHERE sequence = 5`, d4, h4)
			},
			// Linkage breaks at 5 (its previous_hash is no longer the hash
			// stored at 4); content checks see at 4 that the content is
			// another capsule's.
			structural: 5, full: 4, signatures: 4, fullError: `id column "` + id(4) + `" differs from content id "` + id(5) + `"`,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			db := tamperedDB(t, dir, c.edit)
			for level, want := range map[string]int64{"structural": c.structural, "full": c.full, "signatures": c.signatures} {
				if want < 0 {
					verifyJSONOf(t, 0, "--"+level, "--db", db)
					continue
				}
				out := verifyJSONOf(t, 1, "--"+level, "--db", db)
				if out.Valid || len(out.Errors) != 1 || out.Errors[0].Sequence != want || out.Errors[0].CapsuleID != id(int(want)) {
					t.Errorf("%s: %+v, want broken at %d", level, out, want)
					continue
				}
				// Every capsule before the break verified: all of them, or
				// all but the missing one.
				wantVerified := want
				if c.gap {
					wantVerified--
				}
				if out.CapsulesVerified != wantVerified || out.TotalCapsules != 12-int64(count(c.gap)) {
					t.Errorf("%s: capsules_verified %d, total %d", level, out.CapsulesVerified, out.TotalCapsules)
				}
				if level == "full" && !strings.HasPrefix(out.Errors[0].Error, c.fullError) {
					t.Errorf("full: error %q, want prefix %q", out.Errors[0].Error, c.fullError)
				}
			}
			r := capsuleCmd(t, "", "verify", "--db", db).want(t, 1)
			want := fmt.Sprintf("✗ chain broken at sequence %d (id %s): %s", c.full, id(int(c.full)), c.fullError)
			if !strings.HasPrefix(r.stdout, want) || !strings.HasSuffix(r.stdout, fmt.Sprintf(" capsules verified before it)\n")) {
				t.Errorf("human output %q, want prefix %q", r.stdout, want)
			}
			if r := capsuleCmd(t, "", "verify", "--quiet", "--db", db).want(t, 1); r.stdout != "" {
				t.Errorf("--quiet printed %q", r.stdout)
			}
		})
	}
}

func TestVerifyTamperedFile(t *testing.T) {
	pythonDataDir(t)
	elems := chainElements(t)
	write := func(elems [][]byte) string {
		return writeFile(t, filepath.Join(t.TempDir(), "chain.json"), append(append([]byte("[\n"), bytes.Join(elems, []byte(",\n"))...), "\n]\n"...))
	}
	clone := func() [][]byte {
		out := make([][]byte, len(elems))
		for i, e := range elems {
			out[i] = bytes.Clone(e)
		}
		return out
	}

	// An edited summary: hash mismatch at 3; the total still counts the
	// whole file although verification stopped at 3.
	edited := clone()
	edited[3] = bytes.Replace(edited[3], []byte(`"s3"`), []byte(`"S3"`), 1)
	out := verifyJSONOf(t, 1, write(edited))
	if len(out.Errors) != 1 || out.Errors[0].Sequence != 3 || out.CapsulesVerified != 3 || out.TotalCapsules != 12 ||
		!strings.HasPrefix(out.Errors[0].Error, "hash mismatch") {
		t.Errorf("edited: %+v", out)
	}

	// A duplicate key is not a readable capsule: broken there, exit 1.
	dup := clone()
	dup[6] = bytes.Replace(dup[6], []byte(`"domain"`), []byte(`"domain": "x", "domain"`), 1)
	out = verifyJSONOf(t, 1, "--structural", write(dup))
	if len(out.Errors) != 1 || out.Errors[0].Sequence != 6 || out.Errors[0].CapsuleID != "00001234-0000-4000-8000-000000000006" ||
		out.CapsulesVerified != 6 || out.TotalCapsules != 12 || !strings.Contains(out.Errors[0].Error, "duplicate key") {
		t.Errorf("duplicate key: %+v", out)
	}

	// An element that is not an object.
	notObj := clone()
	notObj[2] = []byte(`42`)
	out = verifyJSONOf(t, 1, write(notObj))
	if len(out.Errors) != 1 || out.Errors[0].Sequence != 2 || out.Errors[0].Error != "not a JSON object" {
		t.Errorf("not an object: %+v", out)
	}

	// Malformed JSON is an I/O error (2), naming the element.
	bad := clone()
	bad[9] = []byte(`{"id": }`)
	r := capsuleCmd(t, "", "verify", write(bad)).want(t, 2)
	if !strings.Contains(r.stderr, "element 9: invalid JSON") {
		t.Errorf("malformed: %q", r.stderr)
	}
	// So is data after the array.
	path := write(clone())
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("[]")
	f.Close()
	r = capsuleCmd(t, "", "verify", path).want(t, 2)
	if !strings.Contains(r.stderr, "unexpected data after the closing ] of the array") {
		t.Errorf("trailing data: %q", r.stderr)
	}
	// An empty array is an empty, valid chain.
	if out := verifyJSONOf(t, 0, writeFile(t, filepath.Join(t.TempDir(), "e.json"), []byte(" [ ] "))); out.TotalCapsules != 0 {
		t.Errorf("empty: %+v", out)
	}
}

func TestVerifyCapsuleSizeLimit(t *testing.T) {
	pythonDataDir(t)
	elems := chainElements(t)
	big := append([]byte(`{"pad":"`), bytes.Repeat([]byte{'x'}, protocol.MaxCapsuleBytes)...)
	big = append(big, `"}`...)
	data := append(append(append([]byte("["), elems[0]...), ","...), big...)
	data = append(data, "]"...)
	r := capsuleCmd(t, "", "verify", writeFile(t, filepath.Join(t.TempDir(), "big.json"), data)).want(t, 2)
	if want := fmt.Sprintf("element 1: longer than %d bytes", protocol.MaxCapsuleBytes); !strings.Contains(r.stderr, want) {
		t.Errorf("stderr %q lacks %q", r.stderr, want)
	}
}

func TestVerifyKeyWithoutKeyring(t *testing.T) {
	// The local key alone verifies the capsules whose signed_by names it
	// (its fingerprint), as in the reference.
	dir := pythonDataDir(t)
	os.Remove(filepath.Join(dir, "keyring.json"))
	verifyJSONOf(t, 0, "--signatures", chainPath)
}

// Signer resolution is strict: a signed_by that names no known key fails
// --signatures, as does a missing one; --public-key overrides signed_by.
func TestVerifyStrictSigner(t *testing.T) {
	dir := pythonDataDir(t)
	pub := strings.TrimSpace(string(readFile(t, filepath.Join(pythonDir, "public_key.hex"))))
	chain := readFile(t, chainPath)
	for _, relabel := range []string{`"signed_by": "qp_key_0000"`, `"signed_by": ""`, `"signed_by": null`} {
		edited := bytes.Replace(chain, []byte(`"signed_by": "qp_key_ceef"`), []byte(relabel), 3)
		path := writeFile(t, filepath.Join(dir, "relabelled.json"), edited)
		out := verifyJSONOf(t, 1, "--signatures", path)
		if out.CapsulesVerified != 0 || len(out.Errors) != 1 || !strings.Contains(out.Errors[0].Error, "unknown signer") {
			t.Errorf("%s: %+v", relabel, out)
		}
		verifyJSONOf(t, 0, "--public-key", pub, path)
	}
}

// A chain written by application-style Python code through the reference
// (ints where floats are typed, naive and offset timestamps) verifies at
// every level from its JSON export and its SQLite file, through the
// keyring of QUANTUMPIPES_DATA_DIR and with --public-key.
func TestVerifyPythonAppChain(t *testing.T) {
	const appDir = "../../testdata/interop/python-app"
	dir := t.TempDir()
	for _, name := range []string{"capsules.db", "chain.json", "key", "keyring.json", "public_key.hex"} {
		writeFile(t, filepath.Join(dir, name), readFile(t, filepath.Join(appDir, name)))
	}
	os.Chmod(filepath.Join(dir, "key"), 0o600)
	t.Setenv("QUANTUMPIPES_DATA_DIR", dir)
	pub := strings.TrimSpace(string(readFile(t, filepath.Join(dir, "public_key.hex"))))
	for _, src := range [][]string{{filepath.Join(dir, "chain.json")}, {"--db", filepath.Join(dir, "capsules.db")}} {
		for _, level := range [][]string{{"--structural"}, {"--full"}, {"--signatures"}, {"--public-key", pub}} {
			if out := verifyJSONOf(t, 0, append(level, src...)...); out.CapsulesVerified != 16 {
				t.Errorf("%v %v: %+v", src, level, out)
			}
		}
	}
}

// A row at a negative sequence is no position in a chain: verify reports
// it, naming the row, instead of skipping it while chains counts it.
func TestVerifyNegativeSequence(t *testing.T) {
	dir := pythonDataDir(t)
	const forged = "00001234-0000-4000-8000-0000000fffff"
	db := tamperedDB(t, dir, func(db *sql.DB) {
		exec1(t, db, `INSERT INTO capsules (id, type, sequence, previous_hash, data, hash, signature, signature_pq, signed_at, signed_by, session_id)
			SELECT ?, type, -1, previous_hash, data, hash, signature, signature_pq, signed_at, signed_by, session_id FROM capsules WHERE sequence = 5`, forged)
	})
	r := capsuleCmd(t, "", "chains", "--json", "--db", db).want(t, 0)
	if !strings.Contains(r.stdout, `"length":13`) {
		t.Fatalf("chains does not count the row at -1: %s", r.stdout)
	}
	for _, level := range []string{"structural", "full", "signatures"} {
		out := verifyJSONOf(t, 1, "--"+level, "--db", db)
		if out.Valid || len(out.Errors) != 1 || out.Errors[0].Sequence != -1 || out.Errors[0].CapsuleID != forged ||
			!strings.Contains(out.Errors[0].Error, "negative sequence -1") || out.CapsulesVerified != 0 || out.TotalCapsules != 13 {
			t.Errorf("%s: %+v, want broken at -1 (%s)", level, out, forged)
		}
	}
	r = capsuleCmd(t, "", "verify", "--db", db).want(t, 1)
	if want := "✗ chain broken at sequence -1 (id " + forged + "): "; !strings.HasPrefix(r.stdout, want) {
		t.Errorf("human output %q, want prefix %q", r.stdout, want)
	}
	// The export carries the row, first, so that its verification fails
	// too (there it is the copy of capsule 5 that its content says).
	exported := filepath.Join(t.TempDir(), "chain.json")
	capsuleCmd(t, "", "export", "--db", db, "-o", exported).want(t, 0)
	if out := verifyJSONOf(t, 1, exported); len(out.Errors) != 1 || out.TotalCapsules != 13 || out.CapsulesVerified != 0 {
		t.Errorf("verify of the export: %+v", out)
	}
}
