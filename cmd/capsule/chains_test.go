package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/capsule-go/capsule"
)

// chainsDB seals two tenant chains and a null-tenant chain into a new
// SQLite database and returns its path.
func chainsDB(t *testing.T) string {
	t.Helper()
	emptyDataDir(t)
	db := filepath.Join(t.TempDir(), "capsules.db")
	capsuleCmd(t, `[{"type":"tool"},{"type":"agent"},{"type":"chat"}]`, "seal", "--db", db, "--tenant", "site-a").want(t, exitOK)
	capsuleCmd(t, `{"type":"auth"}`, "seal", "--db", db, "--tenant", "site b").want(t, exitOK)
	capsuleCmd(t, `[{"type":"tool"},{"type":"tool"}]`, "seal", "--db", db).want(t, exitOK)
	return db
}

type chainsOut struct {
	Chains []struct {
		Tenant         *string `json:"tenant_id"`
		Length         int64   `json:"length"`
		HeadSequence   int64   `json:"head_sequence"`
		HeadHash       string  `json:"head_hash"`
		FirstTimestamp string  `json:"first_timestamp"`
		LastTimestamp  string  `json:"last_timestamp"`
	} `json:"chains"`
}

func TestChains(t *testing.T) {
	db := chainsDB(t)
	r := capsuleCmd(t, "", "chains", "--json", "--db", db).want(t, exitOK)
	var out chainsOut
	decodeJSON(t, r.stdout, &out)
	if len(out.Chains) != 3 {
		t.Fatalf("chains --json: %s", r.stdout)
	}
	wantTenants := []string{"<null>", "site b", "site-a"}
	wantLen := []int64{2, 1, 3}
	hexHash := regexp.MustCompile(`^[0-9a-f]{64}$`)
	for i, c := range out.Chains {
		tenant := "<null>"
		if c.Tenant != nil {
			tenant = *c.Tenant
		}
		if tenant != wantTenants[i] || c.Length != wantLen[i] || c.HeadSequence != wantLen[i]-1 {
			t.Errorf("chain %d: %+v, want tenant %s length %d", i, c, wantTenants[i], wantLen[i])
		}
		if !hexHash.MatchString(c.HeadHash) || c.FirstTimestamp == "" || c.LastTimestamp < c.FirstTimestamp {
			t.Errorf("chain %d: head hash or timestamps wrong: %+v", i, c)
		}
	}
	// The head hash is that of the chain's last capsule.
	exp := capsuleCmd(t, "", "export", "--db", db, "--tenant", "site-a").want(t, exitOK)
	var elems []struct {
		Hash string `json:"hash"`
	}
	if err := json.Unmarshal([]byte(exp.stdout), &elems); err != nil || len(elems) != 3 {
		t.Fatalf("export: %v %s", err, exp.stdout)
	}
	if out.Chains[2].HeadHash != elems[2].Hash {
		t.Errorf("head hash %s, export's last hash %s", out.Chains[2].HeadHash, elems[2].Hash)
	}

	// The table: one line per chain, the null tenant named as such.
	r = capsuleCmd(t, "", "chains", "--db", db).want(t, exitOK)
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "TENANT") || !strings.HasPrefix(lines[1], "(null) ") ||
		!strings.HasPrefix(lines[2], `"site b" `) || !strings.HasPrefix(lines[3], "site-a ") ||
		!strings.Contains(lines[4], "3 chains, 6 capsules in "+db) {
		t.Errorf("chains table:\n%s", r.stdout)
	}

	// A file is one chain.
	file := writeFile(t, filepath.Join(t.TempDir(), "a.json"), []byte(exp.stdout))
	r = capsuleCmd(t, "", "chains", "--json", file).want(t, exitOK)
	decodeJSON(t, r.stdout, &out)
	if len(out.Chains) != 1 || out.Chains[0].Length != 3 || out.Chains[0].HeadHash != elems[2].Hash {
		t.Errorf("chains of a file: %s", r.stdout)
	}
	empty := writeFile(t, filepath.Join(t.TempDir(), "empty.json"), []byte("[]"))
	r = capsuleCmd(t, "", "chains", empty).want(t, exitOK)
	if r.stdout != empty+" holds no capsules\n" {
		t.Errorf("chains of an empty file: %q", r.stdout)
	}
	r = capsuleCmd(t, "", "chains", "--json", empty).want(t, exitOK)
	if r.stdout != `{"chains":[]}`+"\n" {
		t.Errorf("chains --json of an empty file: %q", r.stdout)
	}
	// A missing database is an I/O error.
	capsuleCmd(t, "", "chains", "--db", filepath.Join(t.TempDir(), "none.db")).want(t, exitError)
}

// verify and export of an empty chain say so and name the chains that
// exist, with the flag that selects each.
func TestEmptyChainListsChains(t *testing.T) {
	db := chainsDB(t)
	want := db + ` holds 3 chains: the null tenant's chain, without --tenant (2 capsules), --tenant 'site b' (1 capsule), --tenant site-a (3 capsules)`
	r := capsuleCmd(t, "", "verify", "--db", db, "--tenant", "site-c").want(t, exitOK)
	if !strings.Contains(r.stdout, `the chain of tenant "site-c" in `+db+" is empty") || !strings.Contains(r.stderr, want) {
		t.Errorf("verify of an empty chain:\nstdout %q\nstderr %q\nwant %q", r.stdout, r.stderr, want)
	}
	r = capsuleCmd(t, "", "verify", "--json", "--db", db, "--tenant", "site-c").want(t, exitOK)
	if !strings.Contains(r.stderr, want) {
		t.Errorf("verify --json of an empty chain: stderr %q", r.stderr)
	}
	r = capsuleCmd(t, "", "export", "--db", db, "--tenant", "site-c").want(t, exitOK)
	if r.stdout != "[]\n" || !strings.Contains(r.stderr, "the chain of tenant site-c in "+db+" is empty; "+want) {
		t.Errorf("export of an empty chain:\nstdout %q\nstderr %q", r.stdout, r.stderr)
	}
	// A chain with capsules gets no note.
	r = capsuleCmd(t, "", "export", "--db", db, "--tenant", "site-a").want(t, exitOK)
	if r.stderr != "" {
		t.Errorf("export of a chain: stderr %q", r.stderr)
	}
	r = capsuleCmd(t, "", "verify", "--quiet", "--db", db, "--tenant", "site-c").want(t, exitOK)
	if r.stdout != "" || r.stderr != "" {
		t.Errorf("verify --quiet of an empty chain: %q %q", r.stdout, r.stderr)
	}
}

func TestVersion(t *testing.T) {
	for _, arg := range []string{"--version", "version", "-version"} {
		r := capsuleCmd(t, "", arg).want(t, exitOK)
		if !regexp.MustCompile(`^capsule \S+ .*go1\.\d+.*, Capsule Protocol 1\.0\n$`).MatchString(r.stdout) {
			t.Errorf("%s: %q", arg, r.stdout)
		}
	}
}

// inspect of a file holding one capsule needs no --seq or --id.
func TestInspectOnlyCapsule(t *testing.T) {
	emptyDataDir(t)
	elems := chainElements(t)
	one := writeFile(t, filepath.Join(t.TempDir(), "one.json"), elems[3])
	r := capsuleCmd(t, "", "inspect", one).want(t, exitOK)
	if !strings.HasPrefix(r.stdout, "Capsule 00001234-0000-4000-8000-000000000003\n") {
		t.Errorf("inspect of one capsule:\n%s", r.stdout)
	}
	db := filepath.Join(t.TempDir(), "capsules.db")
	capsuleCmd(t, `{"type":"tool"}`, "seal", "--db", db, "--tenant", "solo").want(t, exitOK)
	capsuleCmd(t, "", "inspect", "--db", db, "--tenant", "solo").want(t, exitOK)
	r = capsuleCmd(t, "", "inspect", "--db", db).want(t, exitError)
	if !strings.Contains(r.stderr, "the chain of tenant (null) in "+db+" is empty; "+db+" holds 1 chain: --tenant solo (1 capsule)") {
		t.Errorf("inspect of an empty chain: %q", r.stderr)
	}
}

// verify of JSON that is not a capsule names the missing field instead of
// reporting a broken chain ("genesis missing").
func TestVerifyNotACapsule(t *testing.T) {
	emptyDataDir(t)
	var m map[string]json.RawMessage
	if err := json.Unmarshal(chainElements(t)[0], &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "trigger")
	b, _ := json.Marshal(m)
	dir := t.TempDir()
	r := capsuleCmd(t, "", "verify", writeFile(t, filepath.Join(dir, "no-trigger.json"), b)).want(t, exitInvalid)
	if !strings.Contains(r.stdout, `not a sealed capsule: field "trigger" is missing`) || strings.Contains(r.stdout, "genesis") {
		t.Errorf("verify without trigger: %q", r.stdout)
	}
	r = capsuleCmd(t, "", "verify", writeFile(t, filepath.Join(dir, "other.json"), []byte(`{"name":"not a capsule"}`))).want(t, exitInvalid)
	if !strings.Contains(r.stdout, `not a sealed capsule: fields "id", "type", "domain" and 11 others are missing`) {
		t.Errorf("verify of another object: %q", r.stdout)
	}
	out := verifyJSONOf(t, exitInvalid, writeFile(t, filepath.Join(dir, "no-hash.json"), []byte(strings.Replace(string(chainElements(t)[0]), `"hash"`, `"hashx"`, 1))))
	if len(out.Errors) != 1 || out.Errors[0].Error != `not a sealed capsule: field "hash" is missing` {
		t.Errorf("verify --json without hash: %+v", out)
	}
}

// verify --checkpoint says, on success, that the chain extends it.
func TestVerifyCheckpointSaysExtends(t *testing.T) {
	dir := pythonDataDir(t)
	db := filepath.Join(dir, "capsules.db")
	cp := filepath.Join(t.TempDir(), "ref.checkpoint")
	capsuleCmd(t, "", "checkpoint", "--db", db, "-o", cp).want(t, exitOK)
	r := capsuleCmd(t, "", "verify", "--db", db, "--checkpoint", cp).want(t, exitOK)
	if !strings.Contains(r.stdout, "it extends the checkpoint of "+cp+" (origin capsule/-, size 12, root X79Y1kRGe5RQtZfNMNCmcp0imc5tKzt3MFTTPhPPqbA=)") {
		t.Errorf("verify --checkpoint: %q", r.stdout)
	}
	if _, err := os.Stat(cp); err != nil {
		t.Fatal(err)
	}
}

func TestChainsPostgres(t *testing.T) {
	url, _ := pgURL(t)
	emptyDataDir(t)
	capsuleCmd(t, `[{"type":"tool"},{"type":"agent"}]`, "seal", "--pg", url, "--tenant", "acme").want(t, exitOK)
	capsuleCmd(t, `{"type":"chat"}`, "seal", "--pg", url).want(t, exitOK)
	r := capsuleCmd(t, "", "chains", "--json", "--pg", url).want(t, exitOK)
	var out chainsOut
	decodeJSON(t, r.stdout, &out)
	if len(out.Chains) != 2 || out.Chains[0].Tenant != nil || out.Chains[0].Length != 1 ||
		out.Chains[1].Tenant == nil || *out.Chains[1].Tenant != "acme" || out.Chains[1].Length != 2 || out.Chains[1].HeadSequence != 1 {
		t.Fatalf("chains --pg: %s", r.stdout)
	}
	r = capsuleCmd(t, "", "verify", "--pg", url, "--tenant", "nobody").want(t, exitOK)
	if !strings.Contains(r.stderr, "holds 2 chains: the null tenant's chain, without --tenant (1 capsule), --tenant acme (2 capsules)") {
		t.Errorf("verify of an empty chain on PostgreSQL: %q", r.stderr)
	}
}

// The note naming a store's chains lists at most ten of them and says how
// many more there are: a shared database may hold hundreds.
func TestEmptyChainNoteBounded(t *testing.T) {
	db, caps := newDatabase(t)
	for i := range 13 {
		if _, err := caps.Append(t.Context(), fmt.Sprintf("t%02d", i), capsule.New(capsule.TypeTool)); err != nil {
			t.Fatal(err)
		}
	}
	caps.Close()
	r := capsuleCmd(t, "", "export", "--db", db, "--tenant", "nobody").want(t, exitOK)
	want := db + " holds 13 chains: --tenant t00 (1 capsule), --tenant t01 (1 capsule), --tenant t02 (1 capsule), " +
		"--tenant t03 (1 capsule), --tenant t04 (1 capsule), --tenant t05 (1 capsule), --tenant t06 (1 capsule), " +
		"--tenant t07 (1 capsule), --tenant t08 (1 capsule), --tenant t09 (1 capsule), and 3 more (capsule chains --db " + db + " lists them all)\n"
	if !strings.HasSuffix(r.stderr, want) {
		t.Errorf("note %q, want it to end with %q", r.stderr, want)
	}
}
