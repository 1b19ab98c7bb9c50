package bypass_test

import (
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
	analysistest.RunWithSuggestedFixes(t, analysistest.TestData(), bypass.Analyzer, "app", "caller", "tests")
}

// TestNoTestFiles checks that -testfiles=false leaves test files alone.
func TestNoTestFiles(t *testing.T) {
	a := bypass.New()
	if err := a.Flags.Set("testfiles", "false"); err != nil {
		t.Fatal(err)
	}
	results := analysistest.Run(&quiet{T: t}, analysistest.TestData(), a, "tests")
	for _, r := range results {
		for _, d := range r.Diagnostics {
			t.Errorf("%s: %s", r.Pass.Fset.Position(d.Pos), d.Message)
		}
	}
}

// quiet is a testing.T that ignores analysistest's complaints about unmet
// // want comments, which TestNoTestFiles expects.
type quiet struct{ *testing.T }

func (q *quiet) Errorf(format string, args ...any) {}
