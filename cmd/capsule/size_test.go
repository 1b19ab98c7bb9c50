package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/capsule-go/capsule"
)

// resultContent returns capsule content whose outcome.result is a string
// of n bytes.
func resultContent(n int) string {
	return `{"type":"tool","outcome":{"result":"` + strings.Repeat("x", n) + `"}}`
}

// seal refuses content that could not be sealed within the size limit
// that verify reads (16 MiB), naming it, with exit code 1; nothing is
// stored.
func TestSealRefusesOversizedCapsule(t *testing.T) {
	emptyDataDir(t)
	db := filepath.Join(t.TempDir(), "capsules.db")
	// Under 16 MiB as input, but too large once sealed with its defaults
	// and seal.
	in := resultContent(16<<20 - 4<<10)
	r := capsuleCmd(t, in, "seal", "--db", db).want(t, exitInvalid)
	if !strings.Contains(r.stderr, "capsule too large") || !strings.Contains(r.stderr, "16777216") {
		t.Errorf("stderr %q does not name the limit", r.stderr)
	}
	if r := capsuleCmd(t, "", "export", "--db", db).want(t, 0); r.stdout != "[]\n" {
		t.Errorf("export after a refused capsule: %q", r.stdout)
	}
}

// The largest capsule Capsules.Append stores exports, and verify reads the
// export back: writing and reading share one limit.
func TestExportVerifyAtSizeLimit(t *testing.T) {
	keyDir := emptyDataDir(t)
	db := filepath.Join(t.TempDir(), "capsules.db")
	caps, err := capsule.Open(t.Context(), db, capsule.WithKeyDir(keyDir))
	if err != nil {
		t.Fatal(err)
	}
	base, err := capsule.New(capsule.TypeTool).Canonical() // outcome.result null
	if err != nil {
		t.Fatal(err)
	}
	// The largest result Append takes (the chain fields counted at their
	// longest), found from just over it down.
	n := 16<<20 - 8<<10 - len(base) - 70
	for ; ; n-- {
		cp := capsule.New(capsule.TypeTool)
		cp.Outcome.Result = strings.Repeat("x", n)
		if _, err = caps.Append(t.Context(), "", cp); err == nil {
			break
		}
		if !strings.Contains(err.Error(), "capsule too large") || n < 16<<20-8<<10-len(base)-200 {
			t.Fatalf("result of %d bytes: %v", n, err)
		}
	}
	if err := caps.Close(); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "export.json")
	capsuleCmd(t, "", "export", "--db", db, "-o", out).want(t, 0)
	if out := verifyJSONOf(t, 0, "--signatures", out); out.CapsulesVerified != 1 {
		t.Errorf("verify of the export: %+v", out)
	}
	r := capsuleCmd(t, "", "export", "--db", db).want(t, 0)
	capsuleCmd(t, r.stdout, "verify", "-").want(t, 0)
	t.Logf("a result of %d bytes is the largest stored; its export is %d bytes", n, len(r.stdout))
}
