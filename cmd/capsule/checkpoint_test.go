package main

import (
	"database/sql"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/capsule-go/capsule/keys"
)

// A checkpoint of the Python reference chain passes against the chain as
// it is and fails, at the right sequence, once its newest capsules are
// deleted: the truncation a hash chain cannot show by itself.
func TestCheckpointDetectsTruncation(t *testing.T) {
	dir := pythonDataDir(t)
	db := filepath.Join(dir, "capsules.db")
	cp := filepath.Join(t.TempDir(), "ref.checkpoint")
	capsuleCmd(t, "", "checkpoint", "--db", db, "-o", cp).want(t, exitOK)
	note := string(readFile(t, cp))
	if !strings.HasPrefix(note, "capsule/-\n12\n") || !strings.Contains(note, "\n\n— capsule/- ") {
		t.Fatalf("checkpoint:\n%s", note)
	}
	capsuleCmd(t, "", "verify", "--signatures", "--db", db, "--checkpoint", cp).want(t, exitOK)
	// A checkpoint of another tenant's chain is a usage mismatch.
	capsuleCmd(t, "", "verify", "--db", db, "--tenant", "acme", "--checkpoint", cp).want(t, exitError)

	conn, err := sql.Open("sqlite3", db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec("DELETE FROM capsules WHERE sequence >= 10"); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	// The shortened chain is valid by itself...
	capsuleCmd(t, "", "verify", "--signatures", "--db", db).want(t, exitOK)
	// ...but not against the checkpoint.
	r := capsuleCmd(t, "", "verify", "--json", "--db", db, "--checkpoint", cp).want(t, exitInvalid)
	var out verifyJSON
	decodeJSON(t, r.stdout, &out)
	if out.Valid || len(out.Errors) != 1 || out.Errors[0].Sequence != 11 || !strings.Contains(out.Errors[0].Error, "shorter than the checkpoint") {
		t.Fatalf("verify --checkpoint on a truncated chain: %s", r.stdout)
	}
	// A tampered checkpoint does not verify; one that is not a checkpoint
	// cannot be read.
	bad := writeFile(t, filepath.Join(t.TempDir(), "bad.checkpoint"), []byte(strings.Replace(note, "\n12\n", "\n11\n", 1)))
	r = capsuleCmd(t, "", "verify", "--db", db, "--checkpoint", bad).want(t, exitInvalid)
	if !strings.Contains(r.stderr, "invalid signature") {
		t.Errorf("tampered checkpoint: %q", r.stderr)
	}
	junk := writeFile(t, filepath.Join(t.TempDir(), "junk.checkpoint"), []byte("not a checkpoint\n"))
	capsuleCmd(t, "", "verify", "--db", db, "--checkpoint", junk).want(t, exitError)
	capsuleCmd(t, "", "verify", "--db", db, "--checkpoint", filepath.Join(t.TempDir(), "missing")).want(t, exitError)
	// checkpoint needs a database.
	capsuleCmd(t, "", "checkpoint").want(t, exitError)
	capsuleCmd(t, "", "checkpoint", filepath.Join(dir, "chain.json")).want(t, exitError)
}

func TestBenchUsage(t *testing.T) {
	capsuleCmd(t, "", "bench", "--writers", "0").want(t, exitError)
	capsuleCmd(t, "", "bench", "extra").want(t, exitError)
	r := capsuleCmd(t, "", "bench", "--help").want(t, exitOK)
	if !strings.Contains(r.stdout+r.stderr, "capsule bench --json") {
		t.Fatalf("bench --help lacks its example:\n%s%s", r.stdout, r.stderr)
	}
}

// keys info only looks: a key without keyring.json gets no keyring written.
func TestKeysInfoChangesNothing(t *testing.T) {
	dir := pythonDataDir(t)
	if err := os.Remove(filepath.Join(dir, "keyring.json")); err != nil {
		t.Fatal(err)
	}
	r := capsuleCmd(t, "", "keys", "info").want(t, exitOK)
	if !strings.Contains(r.stdout, "qp_key_ceef") {
		t.Fatalf("keys info:\n%s", r.stdout)
	}
	if _, err := os.Stat(filepath.Join(dir, "keyring.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("keys info wrote keyring.json (%v)", err)
	}
	r = capsuleCmd(t, "", "keys", "export-public").want(t, exitOK)
	if strings.TrimSpace(r.stdout) != strings.TrimSpace(string(readFile(t, filepath.Join(dir, "public_key.hex")))) {
		t.Fatalf("export-public: %q", r.stdout)
	}
}

// A checkpoint of the format before the Merkle tree (head hash on line 3,
// signed under the key's fingerprint) is refused with exit 2 and a
// message saying how to take a new one.
func TestVerifyLegacyCheckpoint(t *testing.T) {
	dir := pythonDataDir(t)
	db := filepath.Join(dir, "capsules.db")
	signer, err := keys.LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	vkey, err := note.NewEd25519VerifierKey(signer.Fingerprint(), signer.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	old := "capsule/-\n12\n3SkMxt4qbqE4u10b3ZmkAQfnVmuqRmvZmYiB4uEv8Zs=\ntime 2026-11-28T16:55:20Z\n"
	signed, err := note.Sign(&note.Note{Text: old}, fingerprintSigner{signer, v.KeyHash()})
	if err != nil {
		t.Fatal(err)
	}
	cp := writeFile(t, filepath.Join(t.TempDir(), "old.checkpoint"), signed)
	r := capsuleCmd(t, "", "verify", "--db", db, "--checkpoint", cp).want(t, exitError)
	if !strings.Contains(r.stderr, "old format") || !strings.Contains(r.stderr, "capsule checkpoint") {
		t.Fatalf("legacy checkpoint: %s", r.stderr)
	}
}

type fingerprintSigner struct {
	s    *keys.Signer
	hash uint32
}

func (f fingerprintSigner) Name() string                    { return f.s.Fingerprint() }
func (f fingerprintSigner) KeyHash() uint32                 { return f.hash }
func (f fingerprintSigner) Sign(msg []byte) ([]byte, error) { return f.s.SignMessage(msg), nil }

// verify --checkpoint checks a JSON file chain too, computing its tree as
// it streams: the exported chain extends the checkpoint, a chain cut short
// or with another capsule at its end does not.
func TestVerifyFileAgainstCheckpoint(t *testing.T) {
	dir := pythonDataDir(t)
	db := filepath.Join(dir, "capsules.db")
	cp := filepath.Join(t.TempDir(), "ref.checkpoint")
	capsuleCmd(t, "", "checkpoint", "--db", db, "-o", cp).want(t, exitOK)
	chain := filepath.Join(dir, "chain.json")
	capsuleCmd(t, "", "verify", chain, "--checkpoint", cp).want(t, exitOK)
	var recs []json.RawMessage
	decodeJSON(t, string(readFile(t, chain)), &recs)
	short, err := json.Marshal(recs[:11])
	if err != nil {
		t.Fatal(err)
	}
	r := capsuleCmd(t, "", "verify", writeFile(t, filepath.Join(t.TempDir(), "short.json"), short), "--checkpoint", cp).want(t, exitInvalid)
	if !strings.Contains(r.stdout, "shorter than the checkpoint") {
		t.Fatalf("short chain: %s", r.stdout)
	}
}
