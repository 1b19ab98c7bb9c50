package gen

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/diff"

	"github.com/capsule-go/capsule/internal/testmod"
)

// TestErrors runs the generator once over every case of testdata/errors
// and compares the diagnostics of each case, as file:line:col: message
// lines, and its warnings, as file:line:col: warning: message lines, with
// the case's want.txt. A case whose want.txt has no errors must have its
// file generated; the others must have nothing written.
func TestErrors(t *testing.T) {
	files := make(map[string]string)
	cases := copyCases(t, filepath.Join("testdata", "errors"), files)
	dir := testmod.New(t, files)
	res, err := Generate(context.Background(), Config{Dir: dir, Patterns: []string{"./..."}})
	var derr *DirectiveError
	if !errors.As(err, &derr) {
		t.Fatalf("Generate returned %v, want a *DirectiveError", err)
	}
	all := slices.Clone(derr.Diagnostics)
	for _, w := range res.Warnings {
		w.Message = "warning: " + w.Message
		all = append(all, w)
	}
	got := make(map[string][]string)
	for _, d := range sortDiagnostics(all) {
		c, rest, _ := strings.Cut(filepath.ToSlash(d.Pos.Filename), "/")
		d.Pos.Filename = rest
		got[c] = append(got[c], d.String())
	}
	if lines := strings.Split(derr.Error(), "\n"); len(lines) != len(derr.Diagnostics) {
		t.Errorf("Error() has %d lines for %d diagnostics", len(lines), len(derr.Diagnostics))
	}
	written := make(map[string]bool)
	for _, f := range res.Files {
		if f.Status != Written {
			t.Errorf("%s: status %s, want written", f.Path, f.Status)
		}
		rel, _ := filepath.Rel(dir, f.Path)
		c, _, _ := strings.Cut(filepath.ToSlash(rel), "/")
		written[c] = true
	}
	for _, c := range cases {
		t.Run(c, func(t *testing.T) {
			wantFile := filepath.Join("testdata", "errors", c, "want.txt")
			gotText := strings.Join(got[c], "\n")
			if gotText != "" {
				gotText += "\n"
			}
			if *update {
				write(t, wantFile, gotText)
				return
			}
			want := read(t, wantFile)
			if gotText != want {
				t.Errorf("diagnostics differ from %s:\n%s", wantFile, diff.Diff("want", []byte(want), "got", []byte(gotText)))
			}
			generated := true
			for line := range strings.Lines(want) {
				if !strings.Contains(line, ": warning: ") {
					generated = false
				}
			}
			if written[c] != generated {
				t.Errorf("file written: %v, want %v", written[c], generated)
			}
		})
	}
	// The hand-written file that capsulegen refused to overwrite is intact.
	if got, want := read(t, filepath.Join(dir, "overwrite", "overwrite_capsule.go")), files["overwrite/overwrite_capsule.go"]; got != want {
		t.Errorf("overwrite_capsule.go was changed:\n%s", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "valid", "valid_capsule.go")); err != nil {
		t.Errorf("valid package: %v", err)
	}
}
