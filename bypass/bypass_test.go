package bypass_test

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/tools/go/analysis/analysistest"

	"github.com/capsule-go/capsule/bypass"
)

// TestAnalyzer checks the diagnostics and facts of testdata/src against
// their // want comments, and the suggested fixes against the .golden
// files: calls, method calls, generic calls, function values, method
// values and expressions, //capsule:direct, generated files, the wrapper
// itself, and use from another package through facts.
func TestAnalyzer(t *testing.T) {
	analysistest.RunWithSuggestedFixes(t, analysistest.TestData(), bypass.Analyzer, "app", "caller", "tests", "gensrc", "dispatch")
}

// TestCgo checks a package with a file that imports "C", which the
// analyzer sees as rewritten by cgo, with a "Code generated" header: the
// directives in it are facts and the calls in it are reported.
func TestCgo(t *testing.T) {
	if out, err := exec.Command("go", "env", "CGO_ENABLED").Output(); err != nil || strings.TrimSpace(string(out)) != "1" {
		t.Skipf("needs cgo (a C compiler): go env CGO_ENABLED = %q, %v", out, err)
	}
	analysistest.Run(t, analysistest.TestData(), bypass.Analyzer, "cgocall")
}

// TestNoTestFiles checks that -testfiles=false leaves test files alone.
func TestNoTestFiles(t *testing.T) {
	a := bypass.New()
	if err := a.Flags.Set("testfiles", "false"); err != nil {
		t.Fatal(err)
	}
	results := analysistest.Run(&quiet{Testing: t}, analysistest.TestData(), a, "tests")
	if len(results) == 0 {
		t.Fatal("package tests was not analyzed")
	}
	for _, r := range results {
		if r.Err != nil {
			t.Errorf("%s: %v", r.Pass.Pkg.Path(), r.Err)
		}
		for _, d := range r.Diagnostics {
			t.Errorf("%s: %s", r.Pass.Fset.Position(d.Pos), d.Message)
		}
	}
}

// TestQuietKeepsLoadErrors checks that quiet passes on every complaint
// but the unmet // want comments: a package that cannot be loaded fails
// the test.
func TestQuietKeepsLoadErrors(t *testing.T) {
	rec := &recorder{}
	results := analysistest.Run(&quiet{Testing: rec}, analysistest.TestData(), bypass.New(), "nosuchpackage")
	if len(rec.errs) == 0 {
		t.Errorf("loading a missing package reported nothing (results: %d)", len(results))
	}
	rec.errs = nil
	analysistest.Run(&quiet{Testing: rec}, analysistest.TestData(), bypass.New(), "tests")
	if len(rec.errs) != 0 {
		t.Errorf("the unmet expectations of package tests were reported: %q", rec.errs)
	}
}

// quiet passes analysistest's complaints on, except those about unmet
// // want comments ("no diagnostic was reported matching"), which
// TestNoTestFiles expects.
type quiet struct{ analysistest.Testing }

func (q *quiet) Errorf(format string, args ...any) {
	if msg := fmt.Sprintf(format, args...); !strings.Contains(msg, ": no diagnostic was reported matching ") {
		q.Testing.Errorf("%s", msg)
	}
}

// recorder is an analysistest.Testing that records the errors.
type recorder struct{ errs []string }

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}
