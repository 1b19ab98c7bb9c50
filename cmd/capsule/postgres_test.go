package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgURL returns the URL of a new schema of the test server (dropped when
// the test ends), reached through search_path, or skips the test.
func pgURL(t *testing.T) (url string, conn *pgx.Conn) {
	t.Helper()
	base := os.Getenv("CAPSULE_TEST_POSTGRES_URL")
	if base == "" {
		t.Skip("set CAPSULE_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable to run the PostgreSQL tests")
	}
	var b [8]byte
	rand.Read(b[:])
	schema := "capsule_cli_test_" + hex.EncodeToString(b[:])
	conn, err := pgx.Connect(t.Context(), base)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	if _, err := conn.Exec(t.Context(), "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema: %v", err)
		}
		conn.Close(ctx)
	})
	if _, err := conn.Exec(t.Context(), "SET search_path TO "+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema, conn
}

func TestPostgres(t *testing.T) {
	url, conn := pgURL(t)
	emptyDataDir(t)
	r := capsuleCmd(t, `[{"type":"tool"},{"type":"agent"},{"type":"chat"},{"type":"auth"}]`, "seal", "--pg", url).want(t, 0)
	lines := sealedLines(t, r.stdout, 0, "")
	r = capsuleCmd(t, `{"type":"kill"}`, "seal", "--pg", url, "--tenant", "site-7").want(t, 0)
	tenantLines := sealedLines(t, r.stdout, 0, "")

	if r := capsuleCmd(t, "", "export", "--pg", url).want(t, 0); r.stdout != exportOf(lines) {
		t.Errorf("export:\n%s", r.stdout)
	}
	if r := capsuleCmd(t, "", "export", "--pg", url, "--tenant", "site-7").want(t, 0); r.stdout != exportOf(tenantLines) {
		t.Errorf("tenant export:\n%s", r.stdout)
	}
	// Without --tenant, every chain of the store: the null tenant's and site-7's.
	for _, level := range []string{"structural", "full", "signatures"} {
		r := capsuleCmd(t, "", "verify", "--json", "--"+level, "--pg", url).want(t, 0)
		if want := `{"valid":true,"level":"` + level + `","capsules_verified":5,"total_capsules":5,"errors":[],"chains":[` +
			`{"tenant_id":null,"valid":true,"capsules_verified":4,"total_capsules":4,"errors":[]},` +
			`{"tenant_id":"site-7","valid":true,"capsules_verified":1,"total_capsules":1,"errors":[]}]}` + "\n"; r.stdout != want {
			t.Errorf("%s: %s", level, r.stdout)
		}
	}
	if r := capsuleCmd(t, "", "inspect", "--pg", url, "--seq", "2", "--json").want(t, 0); r.stdout != lines[2]+"\n" {
		t.Errorf("inspect: %s", r.stdout)
	}

	// Tampering with the content of one row breaks the chain there.
	tag, err := conn.Exec(t.Context(), `UPDATE quantumpipes_capsules SET data = replace(data::text, '"chat"', '"vault"')::`+dataType(t, conn)+
		` WHERE sequence = 2 AND tenant_id IS NULL`)
	if err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("tamper: %v %v", err, tag)
	}
	out := verifyJSONOf(t, 1, "--pg", url)
	if out.Errors[0].Sequence != 2 || out.Errors[0].TenantID != nil || out.CapsulesVerified != 3 || out.TotalCapsules != 5 || len(out.Chains) != 2 {
		t.Errorf("tampered: %+v", out)
	}
	verifyJSONOf(t, 0, "--pg", url, "--tenant", "site-7", "--signatures")

	// A password never appears in messages.
	r = capsuleCmd(t, "", "verify", "--pg", "postgres://u:secret@127.0.0.1:1/x?connect_timeout=1").want(t, 2)
	if strings.Contains(r.stderr, "secret") {
		t.Errorf("password in %q", r.stderr)
	}
}

// dataType returns the SQL type of the data column, so the tampering
// update works whether it is text or json.
func dataType(t *testing.T, conn *pgx.Conn) string {
	t.Helper()
	var typ string
	err := conn.QueryRow(t.Context(), `SELECT data_type FROM information_schema.columns
		WHERE table_name = 'quantumpipes_capsules' AND column_name = 'data' AND table_schema = current_schema()`).Scan(&typ)
	if err != nil {
		t.Fatal(err)
	}
	return typ
}

// On PostgreSQL, a tenant longer than the reference's tenant_id column is
// refused before anything is stored.
func TestPostgresTenantTooLong(t *testing.T) {
	url, _ := pgURL(t)
	emptyDataDir(t)
	long := strings.Repeat("t", 37)
	r := capsuleCmd(t, `{"type":"tool"}`, "seal", "--pg", url, "--tenant", long).want(t, 2)
	if !strings.Contains(r.stderr, "tenant: is 37 characters long, more than the 36 of PostgreSQL's tenant_id column") {
		t.Errorf("stderr %q", r.stderr)
	}
	if r := capsuleCmd(t, "", "export", "--pg", url, "--tenant", long); r.stdout != "[]\n" {
		t.Errorf("stored: %q", r.stdout)
	}
	capsuleCmd(t, `{"type":"tool"}`, "seal", "--pg", url, "--tenant", long[:36]).want(t, 0)
}
