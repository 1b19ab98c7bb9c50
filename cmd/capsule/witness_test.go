package main

import (
	"database/sql"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/capsule-go/capsule"
	"github.com/capsule-go/capsule/checkpoint"
	"github.com/capsule-go/capsule/internal/witnesstest"
	"github.com/capsule-go/capsule/keys"
	"github.com/capsule-go/capsule/storage"
	"github.com/capsule-go/capsule/witness"
)

// vkey is a witness's cosignature/v1 verifier key (of the zero seed).
const vkey = "witness.example/w1+e42b2f2c+BDtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"

// appendCapsules appends n new capsules to tenant's chain in the database
// db (a SQLite path or a PostgreSQL URL), sealed with the key of the data directory dir.
func appendCapsules(t *testing.T, db, dir, tenant string, n int) {
	t.Helper()
	c, err := capsule.Open(t.Context(), db, capsule.WithKeyDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for range n {
		if _, err := c.Append(t.Context(), tenant, capsule.New(capsule.TypeAgent)); err != nil {
			t.Fatal(err)
		}
	}
}

// keptCheckpoint returns the checkpoint the database keeps for tenant.
func keptCheckpoint(t *testing.T, db, tenant string) ([]byte, error) {
	t.Helper()
	st, err := capsule.OpenStore(t.Context(), db, capsule.ReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	return st.(storage.TreeStore).LatestCheckpoint(t.Context(), tenant)
}

// TestWitnessLitewitness is the end-to-end test of "capsule witness"
// against a real witness written by others: litewitness from
// filippo.io/torchwood v0.6.1. With -v the command logs what the witness
// answered at each step; the test log shows it.
func TestWitnessLitewitness(t *testing.T) {
	if testing.Short() {
		t.Skip("litewitness test SKIPPED in -short mode")
	}
	db := filepath.Join(t.TempDir(), "capsules.db")
	witnessEndToEnd(t, "--db", db, filepath.Join(t.TempDir(), "fork.db"), func(seq int) { deleteFrom(t, db, "acme", seq) })
}

// The same on PostgreSQL.
func TestWitnessLitewitnessPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("litewitness test SKIPPED in -short mode")
	}
	url, conn := pgURL(t)
	fork, _ := pgURL(t)
	witnessEndToEnd(t, "--pg", url, fork, func(seq int) {
		if _, err := conn.Exec(t.Context(), "DELETE FROM quantumpipes_capsules WHERE tenant_id = 'acme' AND sequence >= $1", seq); err != nil {
			t.Fatal(err)
		}
	})
}

// witnessEndToEnd runs capsule witness against litewitness on tenant
// acme's chain of db (a --db path or a --pg URL, as flag says), then on
// another history of it in forkDB; cut deletes db's capsules from a
// sequence on.
func witnessEndToEnd(t *testing.T, flag, db, forkDB string, cut func(seq int)) {
	dir := emptyDataDir(t)
	appendCapsules(t, db, dir, "acme", 5)
	signer, err := keys.LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	const origin = "capsule.test/audit/acme"
	lw := witnesstest.Start(t, "witness.capsule.test/w1")
	wV, err := witness.NewVerifier(lw.VKey)
	if err != nil {
		t.Fatal(err)
	}
	logV := lw.AddLogKey(t, origin, signer.PublicKey())
	out := filepath.Join(t.TempDir(), "acme.checkpoint")
	witnessCmd := func(db, out string, code int) result {
		t.Helper()
		r := capsuleCmd(t, "", "witness", "-v", flag, db, "--tenant", "acme", "--origin", origin,
			"--url", lw.URL, "--witness-key", lw.VKey, "-o", out)
		for _, line := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
			t.Logf("stderr: %s", line)
		}
		return r.want(t, code)
	}
	// cosigned opens the checkpoint in file: the log's signature and the
	// witness's cosignature must verify.
	cosigned := func(file string, size int64) []byte {
		t.Helper()
		b := readFile(t, file)
		cp, _, err := checkpoint.Open(b, logV)
		if err != nil || cp.Size != size || cp.Origin != origin {
			t.Fatalf("checkpoint of size %d, origin %q (%v), want %d:\n%s", cp.Size, cp.Origin, err, size, b)
		}
		n, err := note.Open(b, note.VerifierList(wV))
		if err != nil || len(n.Sigs) != 1 || n.Sigs[0].Name != lw.Name {
			t.Fatalf("cosignature of %s: %v\n%s", lw.Name, err, b)
		}
		kept, err := keptCheckpoint(t, db, "acme")
		if err != nil || string(kept) != string(b) {
			t.Fatalf("the database keeps (%v):\n%s\nwant:\n%s", err, kept, b)
		}
		return b
	}

	t.Log("step 1: cosign size 5")
	witnessCmd(db, out, exitOK)
	t.Logf("cosigned checkpoint:\n%s", cosigned(out, 5))

	t.Log("step 2: append 3, cosign size 8 (a consistency proof from 5)")
	appendCapsules(t, db, dir, "acme", 3)
	r := witnessCmd(db, out, exitOK)
	if !strings.Contains(r.stderr, "old=5 size=8 proof_hashes=") || !strings.Contains(r.stderr, "status=200") {
		t.Errorf("no consistency proof from 5 to 8 in the exchanges:\n%s", r.stderr)
	}
	cosigned(out, 8)

	t.Log("step 2b: capsule prove takes the kept cosigned checkpoint; verify-proof checks the cosignature offline")
	logKey, err := checkpoint.VerifierKey(origin, signer.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	proofFile := filepath.Join(t.TempDir(), "acme-3.tlog-proof")
	capsuleCmd(t, "", "prove", flag, db, "--tenant", "acme", "--seq", "3", "-o", proofFile).want(t, exitOK)
	if !strings.Contains(string(readFile(t, proofFile)), "\n— "+lw.Name+" ") {
		t.Errorf("the proof does not carry the cosignature:\n%s", readFile(t, proofFile))
	}
	capsuleCmd(t, "", "verify-proof", "--log-key", logKey, "--witness-key", lw.VKey, "--min-witnesses", "1", proofFile).want(t, exitOK)

	t.Log("step 3: another history of the same log (same origin and key, other capsules): a fork")
	appendCapsules(t, forkDB, dir, "acme", 8)
	forkOut := filepath.Join(t.TempDir(), "fork.checkpoint")
	r = witnessCmd(forkDB, forkOut, exitInvalid)
	if !strings.Contains(r.stderr, "witness "+lw.URL+" saw a different history of log "+origin+": a fork") {
		t.Errorf("fork message:\n%s", r.stderr)
	}
	if _, err := os.Stat(forkOut); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a checkpoint was written for the fork: %v", err)
	}
	if _, err := keptCheckpoint(t, forkDB, "acme"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("the fork's database keeps a checkpoint: %v", err)
	}
	t.Log("step 4: the other history, longer: a fork")
	appendCapsules(t, forkDB, dir, "acme", 2)
	r = witnessCmd(forkDB, forkOut, exitInvalid)
	if !strings.Contains(r.stderr, "saw a different history") {
		t.Errorf("fork message:\n%s", r.stderr)
	}

	t.Log("step 5: the chain loses its last 2 capsules: shorter than what the witness cosigned")
	cut(6)
	r = witnessCmd(db, filepath.Join(t.TempDir(), "cut.checkpoint"), exitInvalid)
	if !strings.Contains(r.stderr, "has cosigned size 8 of log "+origin+", and the chain has only 6 capsules") {
		t.Errorf("truncation message:\n%s", r.stderr)
	}
	t.Logf("witnessctl list-logs: %s", strings.TrimSpace(lw.Logs(t)))
}

// deleteFrom deletes the capsules of tenant's chain in db from sequence
// seq on.
func deleteFrom(t *testing.T, db, tenant string, seq int) {
	t.Helper()
	name := "sqlite" // the driver this build links: mattn's with cgo, modernc's without
	if slices.Contains(sql.Drivers(), "sqlite3") {
		name = "sqlite3"
	}
	raw, err := sql.Open(name, db)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec("DELETE FROM capsule_tenant_chains WHERE tenant_id = ? AND sequence >= ?", tenant, seq); err != nil {
		t.Fatal(err)
	}
}

func TestWitnessUsage(t *testing.T) {
	dir := emptyDataDir(t)
	db := filepath.Join(t.TempDir(), "capsules.db")
	appendCapsules(t, db, dir, "", 2)
	base := []string{"witness", "--db", db, "--origin", "example.com/log", "--url", "http://127.0.0.1:1", "--witness-key", vkey}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"witness", "--origin", "o", "--url", "u", "--witness-key", vkey}, "give --db PATH or --pg URL"},
		{[]string{"witness", "--db", db, "--url", "u", "--witness-key", vkey}, "--origin"},
		{[]string{"witness", "--db", db, "--origin", "o", "--witness-key", vkey}, "--url"},
		{[]string{"witness", "--db", db, "--origin", "o", "--url", "u"}, "--witness-key"},
		{append(slices.Clone(base[:len(base)-1]), "nope"), "want name+hash+key"},
		{append(slices.Clone(base), "--origin", "a b"), "--origin"},
		{append(slices.Clone(base), "--timeout", "0s"), "--timeout"},
		{append(slices.Clone(base), "extra"), "no FILE"},
	} {
		r := capsuleCmd(t, "", c.args...).want(t, exitError)
		if !strings.Contains(r.stderr, c.want) || !strings.Contains(r.stderr, "Usage: capsule witness") {
			t.Errorf("%q: stderr %q, want %q and the usage", c.args, r.stderr, c.want)
		}
	}
	if r := capsuleCmd(t, "", "witness", "--help").want(t, exitOK); !strings.Contains(r.stdout, "--witness-key") {
		t.Errorf("witness --help:\n%s", r.stdout)
	}
}

// A witness that cannot be reached: exit 2, the witness named, nothing
// written or kept.
func TestWitnessUnreachable(t *testing.T) {
	dir := emptyDataDir(t)
	db := filepath.Join(t.TempDir(), "capsules.db")
	appendCapsules(t, db, dir, "", 2)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close() // nobody listens there now
	out := filepath.Join(t.TempDir(), "cp")
	r := capsuleCmd(t, "", "witness", "--db", db, "--origin", "example.com/log", "--url", url,
		"--witness-key", vkey, "-o", out).want(t, exitError)
	if !strings.Contains(r.stderr, "witness "+url) || !strings.Contains(r.stderr, "no witness cosigned") {
		t.Errorf("stderr: %s", r.stderr)
	}
	if _, err := os.Stat(out); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a checkpoint was written: %v", err)
	}
	if _, err := keptCheckpoint(t, db, ""); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("the database keeps a checkpoint: %v", err)
	}
}
