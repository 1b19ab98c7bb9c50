package gen

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/diff"

	"github.com/capsule-go/capsule/internal/testmod"
)

// TestPlatforms generates the wrappers of testdata/platforms, whose
// audited functions are in files with build constraints (a GOOS in the
// file name, //go:build lines, cgo, a tag of their own, a package built on
// Windows only), and compares every generated file, byte for byte, with
// its .golden file: each wrapper is in a file under its function's
// constraint. It then builds the module, with files calling each wrapper
// under the same constraints, for linux (with and without cgo, and with
// the tag), windows and darwin, and checks that -check notices a missing,
// a stale and an orphaned constrained file. Open is declared in
// x_linux.go and x_windows.go: the two wrappers' site variables differ.
func TestPlatforms(t *testing.T) {
	if out, err := goCmd(t, ".", nil, "env", "CGO_ENABLED"); err != nil || out != "1" {
		t.Skipf("needs cgo (a C compiler) for plat/c.go: go env CGO_ENABLED = %q, %v", out, err)
	}
	src := filepath.Join("testdata", "platforms")
	files := copyTree(t, src)
	goldens := make(map[string]string) // generated file -> golden file
	for rel := range files {
		if name, ok := strings.CutSuffix(rel, ".golden"); ok {
			goldens[name] = filepath.Join(src, filepath.FromSlash(rel))
			delete(files, rel)
		}
	}
	dir := testmod.New(t, files)
	patterns := []string{"./...", "./winonly"}
	res, err := Generate(context.Background(), Config{Dir: dir, Patterns: patterns})
	if err != nil {
		t.Fatal(err)
	}
	var generated []string
	for _, f := range res.Files {
		rel, _ := filepath.Rel(dir, f.Path)
		rel = filepath.ToSlash(rel)
		generated = append(generated, rel)
		if f.Status != Written {
			t.Errorf("%s: status %s, want written", rel, f.Status)
		}
	}
	if *update {
		for _, rel := range generated {
			write(t, filepath.Join(src, filepath.FromSlash(rel)+".golden"), read(t, filepath.Join(dir, rel)))
		}
		return
	}
	if want := slices.Sorted(maps.Keys(goldens)); !slices.Equal(generated, want) {
		t.Errorf("generated %q, want %q", generated, want)
	}
	for _, rel := range generated {
		golden, ok := goldens[rel]
		if !ok {
			continue
		}
		if got, want := read(t, filepath.Join(dir, rel)), read(t, golden); got != want {
			t.Errorf("%s differs from %s:\n%s", rel, golden, diff.Diff("want", []byte(want), "got", []byte(got)))
		}
	}
	if res, err := Generate(context.Background(), Config{Dir: dir, Patterns: patterns, Check: true}); err != nil || !res.UpToDate() {
		t.Errorf("check after generate: %+v, %v", res.Files, err)
	}

	if !testing.Short() {
		for _, b := range []struct {
			env  []string
			args []string
		}{
			{[]string{"GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=1"}, []string{"./..."}},
			{[]string{"GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0"}, []string{"./..."}},
			{[]string{"GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=1"}, []string{"-tags=feature", "./..."}},
			{[]string{"GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0"}, []string{"./..."}},
			{[]string{"GOOS=darwin", "GOARCH=amd64", "CGO_ENABLED=0"}, []string{"./..."}},
		} {
			if out, err := goCmd(t, dir, b.env, append([]string{"build"}, b.args...)...); err != nil {
				t.Errorf("%s go build %s: %v\n%s", strings.Join(b.env, " "), strings.Join(b.args, " "), err, out)
			}
		}
	}

	// A constrained file missing, another (for another platform) stale.
	lin, win := filepath.Join(dir, "plat", "plat_linux_capsule.go"), filepath.Join(dir, "plat", "plat_windows_capsule.go")
	linSrc, winSrc := read(t, lin), read(t, win)
	if err := os.Remove(lin); err != nil {
		t.Fatal(err)
	}
	write(t, win, strings.Replace(winSrc, "TypeAgent", "TypeTool", 1))
	var out strings.Builder
	res, err = Generate(context.Background(), Config{Dir: dir, Patterns: patterns, Check: true, Stdout: &out})
	if err != nil {
		t.Fatal(err)
	}
	if got := out.String(); res.UpToDate() || !strings.HasPrefix(got, "missing: plat/plat_linux_capsule.go\nstale: plat/plat_windows_capsule.go\ndiff ") || !strings.Contains(got, "+\tType:    capsule.TypeAgent,\n") {
		t.Errorf("check with a missing and a stale file: report %q", got)
	}
	if _, err := Generate(context.Background(), Config{Dir: dir, Patterns: patterns}); err != nil {
		t.Fatal(err)
	}
	if read(t, lin) != linSrc || read(t, win) != winSrc {
		t.Error("regenerating did not restore the missing and the stale file")
	}

	// The Windows-only directives go: their generated file is an orphan.
	xw := filepath.Join(dir, "plat", "x_windows.go")
	write(t, xw, strings.ReplaceAll(read(t, xw), "//capsule:audit", "// not audited:"))
	write(t, filepath.Join(dir, "plat", "use_windows.go"), "package plat\n")
	out.Reset()
	res, err = Generate(context.Background(), Config{Dir: dir, Patterns: patterns, Check: true, Stdout: &out})
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != "orphaned: plat/plat_windows_capsule.go\n" || res.UpToDate() {
		t.Errorf("check without the Windows directive: report %q", out.String())
	}
}

// TestFileConstraint checks the constraint read from a file's //go:build
// or // +build lines, its name and its import of "C".
func TestFileConstraint(t *testing.T) {
	dir := t.TempDir()
	for name, c := range map[string]struct{ src, want string }{
		"a.go":                {"package p\n", ""},
		"linux.go":            {"package p\n", ""}, // a leading element is no constraint
		"x_linux.go":          {"package p\n", "linux"},
		"x_windows_amd64.go":  {"package p\n", "windows && amd64"},
		"x_arm64.go":          {"package p\n", "arm64"},
		"x_linux_test.go":     {"package p\n", "linux"},
		"x_capsule.go":        {"package p\n", ""},
		"b.go":                {"//go:build (linux || darwin) && !race\n\npackage p\n", "(linux || darwin) && !race"},
		"c_windows.go":        {"//go:build cgo\n\npackage p\n\nimport \"C\"\n", "cgo && windows && cgo"},
		"plus.go":             {"// +build linux darwin\n// +build amd64\n\npackage p\n", "(linux || darwin) && amd64"},
		"late.go":             {"package p\n\n//go:build linux\n", ""},
		"d.go":                {"// Package p.\n//go:build ignore\n\npackage p\n", "ignore"},
		"x_plan9_unknown.go":  {"package p\n", ""},
		"x_unknown_plan9.go":  {"package p\n", "plan9"},
		"x_wasip1_wasm.go":    {"package p\n", "wasip1 && wasm"},
		"x_darwin_arm64_x.go": {"package p\n", ""},
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(c.src), 0o644); err != nil {
			t.Fatal(err)
		}
		x, err := fileConstraint(path)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		got := ""
		if x != nil {
			got = x.String()
		}
		if got != c.want {
			t.Errorf("%s: constraint %q, want %q", name, got, c.want)
		}
	}
}

// TestGeneratedName checks the names of generated files: readable for
// plain constraints, with a hash when the spelling is ambiguous or long,
// never implying a constraint of their own.
func TestGeneratedName(t *testing.T) {
	dir := t.TempDir()
	for expr, want := range map[string]string{
		"":                            "p_capsule.go",
		"linux":                       "p_linux_capsule.go",
		"linux && amd64":              "p_linux_amd64_capsule.go",
		"!windows":                    "p_not_windows_capsule.go",
		"linux || darwin":             "p_linux_or_darwin_capsule.go",
		"(linux || darwin) && cgo":    "p_linux_or_darwin_cgo_3866dc44_capsule.go",
		"linux || (darwin && cgo)":    "p_linux_or_darwin_cgo_capsule.go",
		"!(linux && cgo)":             "p_not_linux_cgo_51c237fe_capsule.go",
		"go1.22":                      "p_go1_22_1ecb4941_capsule.go",
		"my_tag":                      "p_my_tag_793e2779_capsule.go",
		"windows && amd64 && !purego": "p_windows_amd64_not_purego_capsule.go",
	} {
		src := "package p\n"
		if expr != "" {
			src = "//go:build " + expr + "\n\n" + src
		}
		path := filepath.Join(dir, "f.go")
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		x, err := fileConstraint(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := generatedName("p", x); got != want {
			t.Errorf("generatedName(%q) = %q, want %q", expr, got, want)
		}
	}
}
