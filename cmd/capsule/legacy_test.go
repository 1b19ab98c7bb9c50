package main

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/capsule-go/capsule"
	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/protocol/canonical"
)

const (
	storedFixturesPath = "../../testdata/conformance/stored-document-fixtures.json"
	// legacyDir holds a chain the Python reference sealed as 1.5.2 did,
	// without spec_version in its content (see its README.md).
	legacyDir = "../../testdata/interop/python-legacy"
)

// storedFixture is the record of stored-document-fixtures.json sealed
// before spec_version existed, with its model re-serialization and key.
type storedFixture struct {
	SealedRecord   map[string]json.RawMessage `json:"sealed_record"`
	StoredDocument map[string]json.RawMessage `json:"stored_document"`
	ModelDocument  map[string]json.RawMessage `json:"model_document"`
	ModelHash      string                     `json:"model_sha3_256_hash"`
	PublicKeyHex   string                     `json:"public_key_hex"`
}

func loadStoredFixture(t *testing.T) storedFixture {
	t.Helper()
	var file struct{ Fixtures []storedFixture }
	if err := json.Unmarshal(readFile(t, storedFixturesPath), &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Fixtures) == 0 {
		t.Fatal("no fixture")
	}
	return file.Fixtures[0]
}

// withMembers returns the JSON object of m with the members of edit set
// (values as written) and those in drop removed.
func withMembers(t *testing.T, m map[string]json.RawMessage, edit map[string]json.RawMessage, drop ...string) []byte {
	t.Helper()
	out := make(map[string]json.RawMessage, len(m)+len(edit))
	for k, v := range m {
		out[k] = v
	}
	for _, k := range drop {
		delete(out, k)
	}
	for k, v := range edit {
		out[k] = v
	}
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The reference's conformance record sealed before spec_version existed
// verifies from a file and from standard input, with its key given each
// way and without a data directory; the model's re-serialization (which
// fills spec_version in) and injected keys fail against the stored seal;
// inspect and validate read it as it is.
func TestVerifyStoredDocumentFixture(t *testing.T) {
	emptyDataDir(t)
	f := loadStoredFixture(t)
	dir := t.TempDir()
	rec := withMembers(t, f.SealedRecord, nil)
	file := writeFile(t, filepath.Join(dir, "record.json"), rec)
	keyFile := writeFile(t, filepath.Join(dir, "public_key.hex"), []byte(f.PublicKeyHex+"\n"))

	for _, key := range [][]string{{"--pubkey", f.PublicKeyHex}, {"--pubkey-file", keyFile}, {"--public-key", f.PublicKeyHex}} {
		if out := verifyJSONOf(t, 0, append(key, file)...); out.Level != "signatures" || out.CapsulesVerified != 1 {
			t.Errorf("%v: %+v", key, out)
		}
		r := capsuleCmd(t, string(rec), append(append([]string{"verify"}, key...), "-")...).want(t, 0)
		if r.stdout != "✓ chain valid: 1 capsule verified (signatures)\n" {
			t.Errorf("%v, standard input: %q", key, r.stdout)
		}
	}
	verifyJSONOf(t, 0, "--full", file)

	// The model document under the stored seal: its hash is the model's.
	modelRec := writeFile(t, filepath.Join(dir, "model.json"), withMembers(t, f.SealedRecord, f.ModelDocument))
	out := verifyJSONOf(t, 1, "--pubkey", f.PublicKeyHex, modelRec)
	if len(out.Errors) != 1 || !strings.Contains(out.Errors[0].Error, "hash mismatch") || !strings.Contains(out.Errors[0].Error, f.ModelHash) {
		t.Errorf("model document: %+v, want a hash mismatch computing %s", out, f.ModelHash)
	}
	// Injected keys, at the top level and nested.
	for name, edit := range map[string]map[string]json.RawMessage{
		"spec_version": {"spec_version": json.RawMessage(`"1.0"`)},
		"top level":    {"note": json.RawMessage(`null`)},
		"nested":       {"trigger": json.RawMessage(`{"type":"user_request","source":"conformance","timestamp":"2026-03-07T12:00:00+00:00","request":"Summarize the quarterly report","correlation_id":null,"user_id":null,"channel":"web"}`)},
	} {
		path := writeFile(t, filepath.Join(dir, "injected.json"), withMembers(t, f.SealedRecord, edit))
		if out := verifyJSONOf(t, 1, "--full", path); len(out.Errors) != 1 || !strings.Contains(out.Errors[0].Error, "hash mismatch") {
			t.Errorf("%s injected: %+v", name, out)
		}
	}

	// Reading it neither fails nor adds the field.
	r := capsuleCmd(t, "", "inspect", file).want(t, 0)
	if strings.Contains(r.stdout, "spec_version") || !strings.Contains(r.stdout, "Summarize the quarterly report") {
		t.Errorf("inspect:\n%s", r.stdout)
	}
	r = capsuleCmd(t, "", "inspect", "--json", file).want(t, 0)
	if want := canonicalOf(t, rec) + "\n"; r.stdout != want {
		t.Errorf("inspect --json:\n%s\nwant\n%s", r.stdout, want)
	}
	r = capsuleCmd(t, "", "export", file).want(t, 0)
	if want := "[\n" + canonicalOf(t, rec) + "\n]\n"; r.stdout != want {
		t.Errorf("export:\n%s\nwant\n%s", r.stdout, want)
	}
	capsuleCmd(t, "", "validate", file).want(t, 0)
	// As content to seal, it lacks spec_version.
	r = capsuleCmd(t, "", "validate", "--json", writeFile(t, filepath.Join(dir, "content.json"), withMembers(t, f.StoredDocument, nil))).want(t, 1)
	if !strings.Contains(r.stdout, `"category":"missing_field","field":"spec_version"`) {
		t.Errorf("validate content: %s", r.stdout)
	}
}

// canonicalOf returns the canonical JSON of a JSON text.
func canonicalOf(t *testing.T, text []byte) string {
	t.Helper()
	b, err := canonical.Canonicalize(text)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// legacyRecords returns the records of the legacy chain, for tenant.
func legacyRecords(t *testing.T, tenant string) []protocol.Sealed {
	t.Helper()
	v, err := canonical.Parse(readFile(t, filepath.Join(legacyDir, "chain.json")))
	if err != nil {
		t.Fatal(err)
	}
	var recs []protocol.Sealed
	for _, e := range v.([]any) {
		m := e.(map[string]any)
		if _, ok := m["spec_version"]; ok {
			t.Fatal("the legacy chain has spec_version")
		}
		rec, err := protocol.ParseSealed(m, tenant)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	return recs
}

// referenceSchema returns the SQLite table of qp_capsule/storage.py, as
// the differential oracle (testdata/interop/refdiff.py) writes it.
func referenceSchema(t *testing.T) string {
	t.Helper()
	_, rest, ok := strings.Cut(string(readFile(t, "../../testdata/interop/refdiff.py")), `SCHEMA = """`)
	schema, _, ok2 := strings.Cut(rest, `"""`)
	if !ok || !ok2 || !strings.Contains(schema, "CREATE TABLE capsules") {
		t.Fatal("no SCHEMA in refdiff.py")
	}
	return schema
}

// referenceDB writes recs to a new SQLite file in the reference's layout,
// each content as indented JSON text (stored text need not be canonical).
func referenceDB(t *testing.T, recs []protocol.Sealed) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "capsules.db")
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(referenceSchema(t)); err != nil {
		t.Fatal(err)
	}
	null := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	for _, r := range recs {
		var data bytes.Buffer
		if err := json.Indent(&data, r.Data, "", "  "); err != nil {
			t.Fatal(err)
		}
		exec1(t, db, "INSERT INTO capsules VALUES (?,?,?,?,?,?,?,?,?,?,?)", r.ID, r.Type, r.Sequence, null(r.PreviousHash),
			data.String(), r.Hash, r.Signature, r.SignaturePQ, null(r.SignedAt), null(r.SignedBy), null(r.SessionID))
	}
	return path
}

// legacyDataDir copies the legacy chain's data directory (keys and
// chain.json) to QUANTUMPIPES_DATA_DIR and returns it.
func legacyDataDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"chain.json", "key", "keyring.json", "public_key.hex"} {
		writeFile(t, filepath.Join(dir, name), readFile(t, filepath.Join(legacyDir, name)))
	}
	os.Chmod(filepath.Join(dir, "key"), 0o600)
	t.Setenv("QUANTUMPIPES_DATA_DIR", dir)
	return dir
}

// checkLegacyExport checks that export of src writes the legacy chain's
// records as stored (no key added, none dropped, numbers as stored), and
// that verify reads the export back at every level.
func checkLegacyExport(t *testing.T, pub string, src ...string) {
	t.Helper()
	r := capsuleCmd(t, "", append([]string{"export"}, src...)...).want(t, 0)
	got, err := canonical.Parse([]byte(r.stdout))
	if err != nil {
		t.Fatalf("export of %v: %v", src, err)
	}
	want, _ := canonical.Parse(readFile(t, filepath.Join(legacyDir, "chain.json")))
	if !reflect.DeepEqual(got, want) {
		t.Errorf("export of %v differs from the chain as stored:\n%s", src, r.stdout)
	}
	for _, level := range [][]string{{"--structural"}, {"--full"}, {"--signatures"}, {"--pubkey", pub}} {
		r := capsuleCmd(t, r.stdout, append(append([]string{"verify", "--json"}, level...), "-")...).want(t, 0)
		var out verifyOut
		decodeJSON(t, r.stdout, &out)
		if out.CapsulesVerified != 12 {
			t.Errorf("export of %v | verify %v: %+v", src, level, out)
		}
	}
}

// A chain sealed by the reference as 1.5.2 did, without spec_version,
// verifies at every level from its JSON file, from a SQLite file in the
// reference's layout and from PostgreSQL, and from our export of each.
func TestVerifyPythonLegacyChain(t *testing.T) {
	dir := legacyDataDir(t)
	pub := strings.TrimSpace(string(readFile(t, filepath.Join(dir, "public_key.hex"))))
	keyFile := filepath.Join(dir, "public_key.hex")
	chain := filepath.Join(dir, "chain.json")
	db := referenceDB(t, legacyRecords(t, ""))
	for _, src := range [][]string{{chain}, {"--db", db}} {
		for _, level := range [][]string{{"--structural"}, {"--full"}, {"--signatures"}, {"--pubkey", pub}, {"--pubkey-file", keyFile}} {
			if out := verifyJSONOf(t, 0, append(level, src...)...); out.CapsulesVerified != 12 || out.TotalCapsules != 12 {
				t.Errorf("%v %v: %+v", src, level, out)
			}
		}
		checkLegacyExport(t, pub, src...)
		r := capsuleCmd(t, "", append([]string{"inspect", "--seq", "3"}, src...)...).want(t, 0)
		if strings.Contains(r.stdout, "spec_version") {
			t.Errorf("inspect %v shows spec_version:\n%s", src, r.stdout)
		}
	}
	// A wrong key fails the chain at its first capsule.
	other := strings.Repeat("ab", 32)
	if out := verifyJSONOf(t, 1, "--pubkey", other, chain); out.CapsulesVerified != 0 || out.Errors[0].Error != "bad signature" {
		t.Errorf("wrong key: %+v", out)
	}

	t.Run("postgres", func(t *testing.T) {
		// One schema per tenant: ids are unique in the whole table.
		for _, tenant := range []string{"", "site-1"} {
			url, _ := pgURL(t)
			st, err := capsule.OpenStore(t.Context(), url)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if err := st.Append(t.Context(), tenant, legacyRecords(t, tenant)); err != nil {
				t.Fatal(err)
			}
			src := []string{"--pg", url, "--tenant", tenant}
			for _, level := range [][]string{{"--full"}, {"--signatures"}, {"--pubkey", pub}} {
				if out := verifyJSONOf(t, 0, append(level, src...)...); out.CapsulesVerified != 12 {
					t.Errorf("%s %v: %+v", tenant, level, out)
				}
			}
			checkLegacyExport(t, pub, src...)
		}
	})
}

// Two of --public-key, --pubkey and --pubkey-file at once is a usage
// error; a --pubkey-file that is missing or holds no key is an I/O error.
func TestVerifyPubkeyFlagErrors(t *testing.T) {
	emptyDataDir(t)
	dir := t.TempDir()
	key := strings.Repeat("ab", 32)
	keyFile := writeFile(t, filepath.Join(dir, "key.hex"), []byte(key))
	notKey := writeFile(t, filepath.Join(dir, "not-key.hex"), []byte("hello"))
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--pubkey", key, "--public-key", key}, "give at most one of --public-key, --pubkey and --pubkey-file"},
		{[]string{"--pubkey", key, "--pubkey-file", keyFile}, "give at most one of --public-key, --pubkey and --pubkey-file"},
		{[]string{"--public-key", key, "--pubkey-file", keyFile}, "give at most one of --public-key, --pubkey and --pubkey-file"},
		{[]string{"--pubkey", "abc"}, "--pubkey wants 64 hex digits"},
		{[]string{"--structural", "--pubkey-file", keyFile}, "--pubkey-file checks signatures: it cannot be combined with --structural"},
		{[]string{"--pubkey-file", filepath.Join(dir, "missing.hex")}, "--pubkey-file: open " + filepath.Join(dir, "missing.hex") + ": no such file or directory"},
		{[]string{"--pubkey-file", notKey}, "--pubkey-file " + notKey + ": want 64 hex digits"},
	} {
		r := capsuleCmd(t, "", append(append([]string{"verify"}, c.args...), chainPath)...)
		if r.code != 2 || !strings.Contains(r.stderr, c.msg) {
			t.Errorf("%q: exit code %d, stderr %q; want 2 and %q", c.args, r.code, r.stderr, c.msg)
		}
	}
	r := capsuleCmd(t, "", "verify", "--help").want(t, 0)
	for _, name := range []string{"--pubkey HEX", "--pubkey-file PATH"} {
		if !strings.Contains(r.stdout, name) {
			t.Errorf("verify --help lacks %s", name)
		}
	}
	readme := string(readFile(t, "../../README.md"))
	for _, name := range []string{"--pubkey HEX", "--pubkey-file PATH"} {
		if !strings.Contains(readme, name) {
			t.Errorf("README.md lacks %s", name)
		}
	}
}
