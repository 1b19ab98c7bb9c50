package diff

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

func numbered(from, to int) string {
	var sb strings.Builder
	for i := from; i <= to; i++ {
		fmt.Fprintf(&sb, "line %d\n", i)
	}
	return sb.String()
}

func TestUnified(t *testing.T) {
	tests := []struct {
		name     string
		old, new string
		want     string
	}{
		{name: "equal", old: "a\nb\n", new: "a\nb\n", want: ""},
		{name: "both empty", old: "", new: "", want: ""},
		{
			name: "change in the middle",
			old:  numbered(1, 10),
			new:  strings.Replace(numbered(1, 10), "line 5\n", "line five\n", 1),
			want: "--- a\n+++ b\n@@ -2,7 +2,7 @@\n line 2\n line 3\n line 4\n-line 5\n+line five\n line 6\n line 7\n line 8\n",
		},
		{
			name: "from empty",
			old:  "",
			new:  "x\ny\n",
			want: "--- a\n+++ b\n@@ -0,0 +1,2 @@\n+x\n+y\n",
		},
		{
			name: "to empty",
			old:  "x\n",
			new:  "",
			want: "--- a\n+++ b\n@@ -1 +0,0 @@\n-x\n",
		},
		{
			name: "insert at the top",
			old:  "b\nc\n",
			new:  "a\nb\nc\n",
			want: "--- a\n+++ b\n@@ -1,2 +1,3 @@\n+a\n b\n c\n",
		},
		{
			name: "no newline at end",
			old:  "a\nb",
			new:  "a\nb\n",
			want: "--- a\n+++ b\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n",
		},
		{
			name: "two hunks",
			old:  numbered(1, 20),
			new:  strings.Replace(strings.Replace(numbered(1, 20), "line 2\n", "", 1), "line 19\n", "line 19\nnew\n", 1),
			want: "--- a\n+++ b\n@@ -1,5 +1,4 @@\n line 1\n-line 2\n line 3\n line 4\n line 5\n" +
				"@@ -17,4 +16,5 @@\n line 17\n line 18\n line 19\n+new\n line 20\n",
		},
		{
			name: "merged hunks",
			old:  numbered(1, 12),
			new:  strings.Replace(strings.Replace(numbered(1, 12), "line 3\n", "3\n", 1), "line 9\n", "9\n", 1),
			want: "--- a\n+++ b\n@@ -1,12 +1,12 @@\n line 1\n line 2\n-line 3\n+3\n line 4\n line 5\n line 6\n line 7\n line 8\n-line 9\n+9\n line 10\n line 11\n line 12\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Unified("a", "b", []byte(tt.old), []byte(tt.new))
			if got != tt.want {
				t.Errorf("Unified:\n%s\nwant:\n%s", got, tt.want)
			}
			if got != "" {
				if applied := apply(t, tt.old, got); applied != tt.new {
					t.Errorf("applying the diff gives %q, want %q", applied, tt.new)
				}
			}
		})
	}
}

// TestRandom checks on random inputs that applying the diff reproduces the
// new text and that the script is a shortest one.
func TestRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for iter := range 2000 {
		a := randomLines(r)
		b := randomLines(r)
		if iter%3 == 0 {
			// Related inputs: b is a mutation of a.
			b = mutate(r, a)
		}
		old, new := strings.Join(a, ""), strings.Join(b, "")
		got := Unified("a", "b", []byte(old), []byte(new))
		if old == new {
			if got != "" {
				t.Fatalf("equal inputs gave a diff:\n%s", got)
			}
			continue
		}
		if applied := apply(t, old, got); applied != new {
			t.Fatalf("old %q new %q: applying\n%s\ngives %q", old, new, got, applied)
		}
		edits := 0
		for _, o := range script(a, b) {
			if o.kind != opEqual {
				edits++
			}
		}
		if want := len(a) + len(b) - 2*lcs(a, b); edits != want {
			t.Fatalf("old %q new %q: %d edits, shortest is %d", old, new, edits, want)
		}
	}
}

func randomLines(r *rand.Rand) []string {
	n := r.IntN(12)
	lines := make([]string, n)
	for i := range lines {
		lines[i] = string(rune('a'+r.IntN(4))) + "\n"
	}
	if n > 0 && r.IntN(5) == 0 {
		lines[n-1] = strings.TrimSuffix(lines[n-1], "\n")
	}
	return lines
}

func mutate(r *rand.Rand, a []string) []string {
	b := append([]string(nil), a...)
	for range r.IntN(4) {
		switch i := r.IntN(len(b) + 1); {
		case r.IntN(2) == 0 || len(b) == 0:
			b = append(b[:i], append([]string{"z\n"}, b[i:]...)...)
		case i < len(b):
			b = append(b[:i], b[i+1:]...)
		}
	}
	return b
}

func lcs(a, b []string) int {
	dp := make([][]int, len(a)+1)
	for i := range dp {
		dp[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				dp[i][j] = dp[i+1][j+1] + 1
			} else {
				dp[i][j] = max(dp[i+1][j], dp[i][j+1])
			}
		}
	}
	return dp[0][0]
}

// apply applies a unified diff produced by Unified to old, checking every
// context and deleted line against old.
func apply(t *testing.T, old, patch string) string {
	t.Helper()
	src := splitLines([]byte(old))
	lines := strings.SplitAfter(patch, "\n")
	if !strings.HasPrefix(lines[0], "--- ") || !strings.HasPrefix(lines[1], "+++ ") {
		t.Fatalf("bad header in\n%s", patch)
	}
	var out []string
	pos := 0 // next line of src to copy
	var last *string
	for _, l := range lines[2:] {
		switch {
		case l == "":
		case strings.HasPrefix(l, "@@ "):
			f := strings.Fields(l)
			start, _, _ := strings.Cut(strings.TrimPrefix(f[1], "-"), ",")
			n, err := strconv.Atoi(start)
			if err != nil {
				t.Fatalf("bad hunk header %q", l)
			}
			if strings.HasSuffix(f[1], ",0") {
				n++ // an empty range names the line before it
			}
			for pos < n-1 {
				out = append(out, src[pos])
				pos++
			}
			last = nil
		case l == "\\ No newline at end of file\n":
			if last == nil {
				t.Fatalf("misplaced no-newline marker in\n%s", patch)
			}
			*last = strings.TrimSuffix(*last, "\n")
		case l[0] == ' ' || l[0] == '-':
			want := l[1:]
			if pos >= len(src) || strings.TrimSuffix(src[pos], "\n") != strings.TrimSuffix(want, "\n") {
				t.Fatalf("line %d: patch has %q, source has %q", pos+1, want, src[min(pos, len(src)-1)])
			}
			if l[0] == ' ' {
				out = append(out, src[pos])
				last = &out[len(out)-1]
				*last = want
			} else {
				var discard = want
				last = &discard
			}
			pos++
		case l[0] == '+':
			out = append(out, l[1:])
			last = &out[len(out)-1]
		default:
			t.Fatalf("bad patch line %q", l)
		}
	}
	out = append(out, src[pos:]...)
	return strings.Join(out, "")
}
