package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// newModule creates a module example.com/m requiring this module through a
// replace directive, with this module's requirements and go.sum, and the
// given files.
func newModule(t *testing.T, files map[string]string) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	rootMod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	var mod bytes.Buffer
	mod.WriteString("module example.com/m\n\n")
	mod.Write(regexp.MustCompile(`(?m)^go .*$`).Find(rootMod))
	mod.WriteString("\n\nrequire github.com/capsule-go/capsule v0.0.0\n\nreplace github.com/capsule-go/capsule => " + root + "\n\n")
	for _, block := range regexp.MustCompile(`(?ms)^require \(.*?^\)`).FindAll(rootMod, -1) {
		mod.Write(block)
		mod.WriteString("\n")
	}
	dir := t.TempDir()
	files["go.mod"] = mod.String()
	files["go.sum"] = string(sum)
	for name, data := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestExitCodes runs the command in a module and checks its exit codes
// and output: 0 success, 1 directive errors or stale files under -check,
// 2 usage and load errors.
func TestExitCodes(t *testing.T) {
	dir := newModule(t, map[string]string{
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
