// Package testmod creates throwaway Go modules for tests that run the go
// command on code that uses this module.
package testmod

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// Root returns the root of this module (the directory holding go.mod),
// found from the test's working directory.
func Root(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test's directory")
		}
		dir = parent
	}
}

// New creates a module example.com/m in a temporary directory that
// requires this module through a replace directive, with the given files
// (slash-separated paths relative to the module root). It copies this
// module's go.sum and requirements, so the go command needs no network.
func New(t testing.TB, files map[string]string) string {
	t.Helper()
	root := Root(t)
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
	Write(t, dir, map[string]string{"go.mod": mod.String(), "go.sum": string(sum)})
	Write(t, dir, files)
	return dir
}

// Write writes files (slash-separated paths relative to dir) into dir,
// creating directories as needed.
func Write(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
