package gen

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/capsule-go/capsule/internal/testmod"
)

// run runs Generate in dir over ./... and returns the result and report.
func run(t *testing.T, dir string, check bool) (Result, string) {
	t.Helper()
	var out strings.Builder
	res, err := Generate(context.Background(), Config{Dir: dir, Patterns: []string{"./..."}, Check: check, Verbose: true, Stdout: &out})
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return res, out.String()
}

// statuses maps each file of res, relative to dir, to its status.
func statuses(t *testing.T, dir string, res Result) map[string]Status {
	t.Helper()
	m := make(map[string]Status)
	for _, f := range res.Files {
		rel, err := filepath.Rel(dir, f.Path)
		if err != nil {
			t.Fatal(err)
		}
		m[filepath.ToSlash(rel)] = f.Status
	}
	return m
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// TestLifecycle follows one package through the life of its generated
// file: missing, written, stale, regenerated after its function was
// renamed (the stale file then calls a function that no longer exists),
// moved after a package rename, and orphaned when the last directive goes.
func TestLifecycle(t *testing.T) {
	const user = `package a

import "context"

func use(ctx context.Context) { _, _ = AuditedRun(ctx, "x") }
`
	const src = `package a

import "context"

//capsule:audit type=agent
func Run(ctx context.Context, task string) (string, error) { return task, nil }
`
	dir := testmod.New(t, map[string]string{"a/a.go": src, "a/use.go": user})
	gen := filepath.Join(dir, "a", "a_capsule.go")

	// Missing: -check reports it and writes nothing. The package does not
	// compile yet (use.go calls AuditedRun): that must not matter.
	res, out := run(t, dir, true)
	if want := map[string]Status{"a/a_capsule.go": Missing}; !reflect.DeepEqual(statuses(t, dir, res), want) {
		t.Errorf("check before generate: %v, want %v", statuses(t, dir, res), want)
	}
	if res.UpToDate() || out != "missing: a/a_capsule.go\n" || exists(gen) {
		t.Errorf("check before generate: up to date %v, report %q, file written %v", res.UpToDate(), out, exists(gen))
	}

	res, out = run(t, dir, false)
	if out != "wrote a/a_capsule.go\n" || !res.UpToDate() || !strings.Contains(read(t, gen), "func AuditedRun(") {
		t.Fatalf("generate: report %q, result %+v", out, res)
	}

	// Stale: the check prints a unified diff and leaves the file alone.
	write(t, filepath.Join(dir, "a", "a.go"), strings.Replace(src, "type=agent", "type=tool", 1))
	before := read(t, gen)
	res, out = run(t, dir, true)
	if want := map[string]Status{"a/a_capsule.go": Stale}; !reflect.DeepEqual(statuses(t, dir, res), want) {
		t.Errorf("check after edit: %v, want %v", statuses(t, dir, res), want)
	}
	wantDiff := "stale: a/a_capsule.go\ndiff a/a/a_capsule.go b/a/a_capsule.go\n--- a/a/a_capsule.go\n+++ b/a/a_capsule.go\n@@ -12,7 +12,7 @@\n )\n \n var capsuleSiteRun = &runtime.Site{\n-\tType:    capsule.TypeAgent,\n+\tType:    capsule.TypeTool,\n \tAgentID: \"example.com/m/a.Run\",\n }\n \n"
	if out != wantDiff {
		t.Errorf("check report:\n%s\nwant:\n%s", out, wantDiff)
	}
	if read(t, gen) != before {
		t.Error("check rewrote the stale file")
	}

	// Renamed function: the stale file calls Run, which is gone.
	renamed := strings.NewReplacer("func Run(", "func Go(", "type=agent", "type=tool").Replace(src)
	write(t, filepath.Join(dir, "a", "a.go"), renamed)
	write(t, filepath.Join(dir, "a", "use.go"), strings.Replace(user, "AuditedRun", "AuditedGo", 1))
	run(t, dir, false)
	if g := read(t, gen); !strings.Contains(g, "func AuditedGo(") || strings.Contains(g, "AuditedRun") {
		t.Errorf("after renaming Run to Go:\n%s", g)
	}
	if out, err := goCmd(t, dir, nil, "build", "./a"); err != nil && !testing.Short() {
		t.Errorf("go build after regeneration: %v\n%s", err, out)
	}

	// Renamed package: a_capsule.go (package a) is an orphan and would
	// make the directory hold two packages; b_capsule.go replaces it.
	for _, f := range []string{"a.go", "use.go"} {
		p := filepath.Join(dir, "a", f)
		write(t, p, strings.Replace(read(t, p), "package a", "package b", 1))
	}
	res, out = run(t, dir, false)
	if want := map[string]Status{"a/a_capsule.go": Removed, "a/b_capsule.go": Written}; !reflect.DeepEqual(statuses(t, dir, res), want) {
		t.Errorf("after renaming the package: %v, want %v", statuses(t, dir, res), want)
	}
	if out != "removed a/a_capsule.go\nwrote a/b_capsule.go\n" || exists(gen) {
		t.Errorf("after renaming the package: report %q, old file exists %v", out, exists(gen))
	}

	// No directive left: the generated file is orphaned.
	write(t, filepath.Join(dir, "a", "a.go"), strings.Replace(strings.Replace(renamed, "//capsule:audit type=tool\n", "", 1), "package a", "package b", 1))
	write(t, filepath.Join(dir, "a", "use.go"), "package b\n")
	gen = filepath.Join(dir, "a", "b_capsule.go")
	res, out = run(t, dir, true)
	if out != "orphaned: a/b_capsule.go\n" || res.UpToDate() || !exists(gen) {
		t.Errorf("check with no directive: report %q, result %+v", out, res)
	}
	res, out = run(t, dir, false)
	if out != "removed a/b_capsule.go\n" || exists(gen) {
		t.Errorf("generate with no directive: report %q, result %+v", out, res)
	}
	res, out = run(t, dir, true)
	if out != "" || len(res.Files) != 0 || !res.UpToDate() {
		t.Errorf("nothing to do: report %q, result %+v", out, res)
	}
}

// TestOrphanOnly removes a generated file that is all that is left of its
// package, when the package is named explicitly.
func TestOrphanOnly(t *testing.T) {
	generated := Header + "\n\n//go:build !" + BuildTag + "\n\npackage gone\n\nfunc AuditedGone() { Gone() }\n"
	dir := testmod.New(t, map[string]string{"gone/gone_capsule.go": generated})
	var out strings.Builder
	res, err := Generate(context.Background(), Config{Dir: dir, Patterns: []string{"./gone"}, Check: true, Stdout: &out})
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != "orphaned: gone/gone_capsule.go\n" || res.UpToDate() {
		t.Errorf("check: report %q, result %+v", out.String(), res)
	}
	if _, err := Generate(context.Background(), Config{Dir: dir, Patterns: []string{"./gone"}}); err != nil {
		t.Fatal(err)
	}
	if exists(filepath.Join(dir, "gone", "gone_capsule.go")) {
		t.Error("the orphan was not removed")
	}
}

// TestLoadErrors checks that packages that cannot be loaded stop the run
// before anything is written, with an error that is not a DirectiveError.
func TestLoadErrors(t *testing.T) {
	dir := testmod.New(t, map[string]string{
		"ok/ok.go":   "package ok\n\n//capsule:audit type=agent\nfunc Run() {}\n",
		"bad/bad.go": "package bad\n\nfunc Broken( {}\n",
	})
	for _, patterns := range [][]string{{"./..."}, {"./missing"}} {
		_, err := Generate(context.Background(), Config{Dir: dir, Patterns: patterns})
		var derr *DirectiveError
		if err == nil || errors.As(err, &derr) {
			t.Errorf("%v: error %v, want a load error", patterns, err)
		}
	}
	if exists(filepath.Join(dir, "ok", "ok_capsule.go")) {
		t.Error("a file was written although loading failed")
	}
	if _, err := Generate(context.Background(), Config{Dir: dir, Patterns: []string{"./ok"}}); err != nil {
		t.Errorf("the loadable package alone: %v", err)
	}
}

func TestBuildTags(t *testing.T) {
	for goflags, want := range map[string]string{
		"":                         "capsulegen",
		"-mod=mod":                 "capsulegen",
		"-tags=a,b -mod=mod":       "a,b,capsulegen",
		"--tags=x -tags=y":         "y,capsulegen",
		"-trimpath -tags=netgo,ci": "netgo,ci,capsulegen",
	} {
		if got := buildTags(goflags); got != want {
			t.Errorf("buildTags(%q) = %q, want %q", goflags, got, want)
		}
	}
}

// TestExamplesUpToDate checks that the generated code checked in under
// examples/ is what the generator writes today.
func TestExamplesUpToDate(t *testing.T) {
	var out strings.Builder
	res, err := Generate(context.Background(), Config{Dir: testmod.Root(t), Patterns: []string{"./examples/..."}, Check: true, Stdout: &out})
	if err != nil {
		t.Fatal(err)
	}
	if !res.UpToDate() || len(res.Files) == 0 {
		t.Errorf("examples are not up to date (run go generate ./examples/...):\n%s", out.String())
	}
}

// TestUntaggedGeneratedFile regenerates over a generated file that lost
// its build constraint: its declarations (a stale call, the wrapper about
// to be rewritten) must neither break loading nor count as conflicts.
func TestUntaggedGeneratedFile(t *testing.T) {
	dir := testmod.New(t, map[string]string{
		"a/a.go":         "package a\n\n//capsule:audit type=agent\nfunc Go() {}\n",
		"a/a_capsule.go": Header + "\n\npackage a\n\nfunc AuditedGo() {}\n\nfunc AuditedRun() { Run() }\n",
	})
	res, out := run(t, dir, false)
	if want := map[string]Status{"a/a_capsule.go": Written}; !reflect.DeepEqual(statuses(t, dir, res), want) || out != "wrote a/a_capsule.go\n" {
		t.Errorf("result %v, report %q", statuses(t, dir, res), out)
	}
	if g := read(t, filepath.Join(dir, "a", "a_capsule.go")); !strings.Contains(g, "//go:build !capsulegen") || strings.Contains(g, "AuditedRun") {
		t.Errorf("regenerated file:\n%s", g)
	}
}

// TestGoGenerate runs the command the way users do: through a
// //go:generate line, which runs it in the package's directory with no
// package arguments.
func TestGoGenerate(t *testing.T) {
	if testing.Short() {
		t.Skip("builds capsulegen")
	}
	dir := testmod.New(t, map[string]string{
		"a/a.go": "package a\n\n//go:generate go run github.com/capsule-go/capsule/cmd/capsulegen\n\n//capsule:audit type=agent\nfunc Run(task string) string { return task }\n",
		"b/b.go": "package b\n\n//capsule:audit type=agent\nfunc Run(task string) string { return task }\n",
	})
	if out, err := goCmd(t, dir, nil, "generate", "./..."); err != nil {
		t.Fatalf("go generate: %v\n%s", err, out)
	}
	if !exists(filepath.Join(dir, "a", "a_capsule.go")) {
		t.Error("a_capsule.go was not generated")
	}
	if exists(filepath.Join(dir, "b", "b_capsule.go")) {
		t.Error("go generate in package a generated package b")
	}
	if out, err := goCmd(t, dir, nil, "run", "github.com/capsule-go/capsule/cmd/capsulegen", "-check", "./a"); err != nil {
		t.Errorf("capsulegen -check after go generate: %v\n%s", err, out)
	}
}
