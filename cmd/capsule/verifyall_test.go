package main

import (
	"database/sql"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capsule-go/capsule"
)

// verifyAllOut is the --json output of verify over every chain.
type verifyAllOut struct {
	verifyOut
	Chains []struct {
		Tenant           *string          `json:"tenant_id"`
		Valid            bool             `json:"valid"`
		CapsulesVerified int64            `json:"capsules_verified"`
		TotalCapsules    int64            `json:"total_capsules"`
		Errors           []verifyOutError `json:"errors"`
	} `json:"chains"`
}

// newDatabase returns a new SQLite database, open for appending, with its
// key beside it, and an empty data directory.
func newDatabase(t *testing.T) (string, *capsule.Capsules) {
	t.Helper()
	emptyDataDir(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "capsules.db")
	caps, err := capsule.Open(t.Context(), db, capsule.WithKeyDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { caps.Close() })
	return db, caps
}

// verify of a database without --tenant verifies every chain, one line
// each and a total; --tenant narrows it to one chain.
func TestVerifyAllChains(t *testing.T) {
	db := chainsDB(t)
	r := capsuleCmd(t, "", "verify", "--db", db).want(t, exitOK)
	want := `✓ chain of tenant (null) valid: 2 capsules verified
✓ chain of tenant "site b" valid: 1 capsule verified
✓ chain of tenant site-a valid: 3 capsules verified
✓ all 3 chains valid: 6 capsules verified (full)
`
	if r.stdout != want {
		t.Errorf("verify of every chain:\n%s\nwant\n%s", r.stdout, want)
	}
	r = capsuleCmd(t, "", "verify", "--json", "--db", db).want(t, exitOK)
	wantJSON := `{"valid":true,"level":"full","capsules_verified":6,"total_capsules":6,"errors":[],"chains":[` +
		`{"tenant_id":null,"valid":true,"capsules_verified":2,"total_capsules":2,"errors":[]},` +
		`{"tenant_id":"site b","valid":true,"capsules_verified":1,"total_capsules":1,"errors":[]},` +
		`{"tenant_id":"site-a","valid":true,"capsules_verified":3,"total_capsules":3,"errors":[]}]}` + "\n"
	if r.stdout != wantJSON {
		t.Errorf("verify --json of every chain:\n%s\nwant\n%s", r.stdout, wantJSON)
	}
	r = capsuleCmd(t, "", "verify", "--db", db, "--tenant", "site-a").want(t, exitOK)
	if want := "✓ chain valid: 3 capsules verified (full)\n"; r.stdout != want {
		t.Errorf("verify --tenant site-a: %q, want %q", r.stdout, want)
	}

	// One broken chain breaks the whole: exit 1, and the chain is named.
	sdb, err := sql.Open("sqlite3", db)
	if err != nil {
		t.Fatal(err)
	}
	exec1(t, sdb, `UPDATE capsule_tenant_chains SET data = replace(data, '"agent"', '"chat"') WHERE tenant_id = 'site-a' AND sequence = 1`)
	sdb.Close()
	r = capsuleCmd(t, "", "verify", "--db", db).want(t, exitInvalid)
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[2], "✗ chain of tenant site-a broken at sequence 1 (id ") ||
		!strings.HasSuffix(lines[2], "(1 of 3 capsules verified before it)") ||
		lines[3] != "✗ 1 of 3 chains broken: 4 of 6 capsules verified (full)" {
		t.Errorf("verify with a broken chain:\n%s", r.stdout)
	}
	r = capsuleCmd(t, "", "verify", "--json", "--db", db).want(t, exitInvalid)
	var out verifyAllOut
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("%v: %s", err, r.stdout)
	}
	if out.Valid || out.CapsulesVerified != 4 || out.TotalCapsules != 6 || len(out.Errors) != 1 || out.Errors[0].Sequence != 1 ||
		len(out.Chains) != 3 || out.Chains[2].Valid || *out.Chains[2].Tenant != "site-a" || len(out.Chains[2].Errors) != 1 ||
		!strings.Contains(r.stdout, `"errors":[{"tenant_id":"site-a","sequence":1,`) {
		t.Errorf("verify --json with a broken chain: %s", r.stdout)
	}
	if r := capsuleCmd(t, "", "verify", "--quiet", "--db", db).want(t, exitInvalid); r.stdout != "" || r.stderr != "" {
		t.Errorf("--quiet printed %q %q", r.stdout, r.stderr)
	}
}

// An empty store is said to be empty, without a tick over nothing.
func TestVerifyEmptyStore(t *testing.T) {
	db, caps := newDatabase(t)
	caps.Close()
	r := capsuleCmd(t, "", "verify", "--db", db).want(t, exitOK)
	if want := db + " is empty: it holds no chains, so there is nothing to verify\n"; r.stdout != want {
		t.Errorf("verify of an empty store: %q, want %q", r.stdout, want)
	}
	r = capsuleCmd(t, "", "verify", "--json", "--db", db).want(t, exitOK)
	if want := `{"valid":true,"level":"full","capsules_verified":0,"total_capsules":0,"errors":[],"chains":[]}` + "\n"; r.stdout != want {
		t.Errorf("verify --json of an empty store: %q, want %q", r.stdout, want)
	}
}
