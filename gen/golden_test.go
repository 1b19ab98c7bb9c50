package gen

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/diff"

	"github.com/capsule-go/capsule/internal/testmod"
)

var update = flag.Bool("update", false, "rewrite the golden files of TestGolden and the want.txt files of TestErrors")

// TestGolden generates the wrappers of every case in testdata/golden in
// one run and compares each generated file, byte for byte, with the case's
// <package>_capsule.go.golden. It then checks that a second run touches
// nothing and that the generated code compiles and passes go vet.
func TestGolden(t *testing.T) {
	files := make(map[string]string)
	cases := copyCases(t, filepath.Join("testdata", "golden"), files)
	dir := testmod.New(t, files)
	res, err := Generate(context.Background(), Config{Dir: dir, Patterns: []string{"./..."}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Files) != len(cases) {
		t.Errorf("generated %d files for %d cases: %+v", len(res.Files), len(cases), res.Files)
	}
	for _, f := range res.Files {
		if f.Status != Written {
			t.Errorf("%s: status %s, want written", f.Path, f.Status)
		}
	}
	for _, c := range cases {
		t.Run(c, func(t *testing.T) {
			generated, err := filepath.Glob(filepath.Join(dir, c, "*_capsule.go"))
			if err != nil || len(generated) != 1 {
				t.Fatalf("want one generated file in %s, found %v (%v)", c, generated, err)
			}
			got := read(t, generated[0])
			golden := filepath.Join("testdata", "golden", c, filepath.Base(generated[0])+".golden")
			if *update {
				write(t, golden, got)
				return
			}
			want := read(t, golden)
			if got != want {
				t.Errorf("generated file differs from %s:\n%s", golden, diff.Diff("want", []byte(want), "got", []byte(got)))
			}
		})
	}

	// A second run leaves every file as it is, modification time included.
	mtimes := make(map[string]time.Time)
	for _, f := range res.Files {
		fi, err := os.Stat(f.Path)
		if err != nil {
			t.Fatal(err)
		}
		mtimes[f.Path] = fi.ModTime()
		// Make a rewrite visible even on coarse file system clocks.
		old := fi.ModTime().Add(-time.Hour)
		if err := os.Chtimes(f.Path, old, old); err != nil {
			t.Fatal(err)
		}
		mtimes[f.Path] = old
	}
	res2, err := Generate(context.Background(), Config{Dir: dir, Patterns: []string{"./..."}, Check: true})
	if err != nil {
		t.Fatal(err)
	}
	if !res2.UpToDate() {
		t.Errorf("check after generate: %+v", res2.Files)
	}
	res3, err := Generate(context.Background(), Config{Dir: dir, Patterns: []string{"./..."}})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range res3.Files {
		if f.Status != Unchanged {
			t.Errorf("second run: %s: status %s, want unchanged", f.Path, f.Status)
		}
		fi, err := os.Stat(f.Path)
		if err != nil {
			t.Fatal(err)
		}
		if !fi.ModTime().Equal(mtimes[f.Path]) {
			t.Errorf("second run: %s was rewritten", f.Path)
		}
	}

	if testing.Short() {
		t.Skip("compiling the generated code takes a while")
	}
	if out, err := goCmd(t, dir, nil, "vet", "./..."); err != nil {
		t.Fatalf("go vet of the generated code: %v\n%s", err, out)
	}
}
