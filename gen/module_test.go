package gen

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// repoRoot returns the root of this module (the directory holding go.mod),
// found from the test's working directory.
func repoRoot(t testing.TB) string {
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

// newModule creates a module example.com/m in a temporary directory that
// requires this module through a replace directive, with the given files
// (paths relative to the module root). It copies this module's go.sum and
// requirements, so the go command needs no network.
func newModule(t testing.TB, files map[string]string) string {
	t.Helper()
	root := repoRoot(t)
	rootMod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	goLine := regexp.MustCompile(`(?m)^go .*$`).Find(rootMod)
	var mod bytes.Buffer
	mod.WriteString("module example.com/m\n\n")
	mod.Write(goLine)
	mod.WriteString("\n\nrequire github.com/capsule-go/capsule v0.0.0\n\nreplace github.com/capsule-go/capsule => " + root + "\n\n")
	for _, block := range regexp.MustCompile(`(?ms)^require \(.*?^\)`).FindAll(rootMod, -1) {
		mod.Write(block)
		mod.WriteString("\n")
	}
	dir := t.TempDir()
	write(t, filepath.Join(dir, "go.mod"), mod.String())
	write(t, filepath.Join(dir, "go.sum"), string(sum))
	for name, src := range files {
		write(t, filepath.Join(dir, name), src)
	}
	return dir
}

func write(t testing.TB, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func read(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// copyCases copies the .go files of each case directory under dir (e.g.
// testdata/golden) into files, as package directories of the same name.
func copyCases(t testing.TB, dir string, files map[string]string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var cases []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		cases = append(cases, e.Name())
		srcs, err := filepath.Glob(filepath.Join(dir, e.Name(), "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, src := range srcs {
			files[e.Name()+"/"+filepath.Base(src)] = read(t, src)
		}
	}
	return cases
}

// goCmd runs the go command in dir and returns its combined output.
func goCmd(t testing.TB, dir string, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}
