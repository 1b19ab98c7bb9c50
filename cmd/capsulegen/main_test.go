package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capsule-go/capsule/internal/testmod"
)

// TestExitCodes runs the command in a module and checks its exit codes
// and output: 0 success, 1 directive errors or stale files under -check,
// 2 usage and load errors.
func TestExitCodes(t *testing.T) {
	dir := testmod.New(t, map[string]string{
		"good/good.go": "package good\n\n//capsule:audit type=agent\nfunc Run(task string) string { return task }\n",
		"bad/bad.go":   "package bad\n\n//capsule:audit type=agnet\nfunc Run() {}\n",
		"warn/warn.go": "package warn\n\n// capsule:audit type=agent\nfunc Run(task string) string { return task }\n\n//capsule:audit type=agent\nfunc Go(task string) string { return task }\n",
	})
	t.Chdir(dir)
	tests := []struct {
		args       []string
		code       int
		stdout     string
		stderrPart string
	}{
		{args: []string{"-bogus"}, code: 2, stderrPart: "usage: capsulegen"},
		{args: []string{"./missing"}, code: 2, stderrPart: "directory not found"},
		{args: []string{"-check", "./good"}, code: 1, stdout: "missing: good/good_capsule.go\n"},
		{args: []string{"./bad"}, code: 1, stderrPart: "bad/bad.go:3:17: unknown type \"agnet\""},
		{args: []string{"-v", "./good"}, code: 0, stdout: "wrote good/good_capsule.go\n"},
		{args: []string{"-check", "./good"}, code: 0},
		{args: []string{"./good"}, code: 0},
		{args: []string{"./warn"}, code: 0, stderrPart: "warn/warn.go:3:1: warning: \"// capsule:audit\" is not a directive and is ignored: write //capsule:audit, with no spaces\n"},
		{args: []string{"-check", "./warn"}, code: 0, stderrPart: "warn/warn.go:3:1: warning: "},
		{args: []string{"-check", "./..."}, code: 1, stderrPart: "bad/bad.go:3:17: unknown type"},
	}
	for _, tt := range tests {
		var stdout, stderr strings.Builder
		code := run(context.Background(), tt.args, &stdout, &stderr)
		if code != tt.code || stdout.String() != tt.stdout || !strings.Contains(stderr.String(), tt.stderrPart) {
			t.Errorf("capsulegen %s: exit %d, stdout %q, stderr %q; want exit %d, stdout %q, stderr containing %q",
				strings.Join(tt.args, " "), code, stdout.String(), stderr.String(), tt.code, tt.stdout, tt.stderrPart)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "bad", "bad_capsule.go")); err == nil {
		t.Error("a file was written for a package with directive errors")
	}
}
