package canonical

import (
	"strings"
	"testing"
)

// TestPlainRun checks the word-at-a-time scan against the byte test for
// every byte value at every position of a word, after any prefix.
func TestPlainRun(t *testing.T) {
	for c := 0; c < 256; c++ {
		for pos := 0; pos < 24; pos++ {
			b := []byte(strings.Repeat("a~ /<&\x7fZ", 4))
			b[pos] = byte(c)
			want := len(b)
			if !plain(byte(c)) {
				want = pos
			}
			if got := plainRun(b, 0); got != want {
				t.Fatalf("byte %#x at %d: plainRun = %d, want %d", c, pos, got, want)
			}
			if got := plainRun(string(b), 0); got != want {
				t.Fatalf("string: byte %#x at %d: plainRun = %d, want %d", c, pos, got, want)
			}
			if got, want2 := plainRun(b, 3), max(want, 3); pos >= 3 && got != want2 {
				t.Fatalf("byte %#x at %d from 3: plainRun = %d, want %d", c, pos, got, want2)
			}
		}
	}
}

func TestSkipSpace(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int
	}{
		{"", 0}, {"x", 0}, {" x", 1}, {"\t\r\n x", 4}, {strings.Repeat(" ", 20) + "x", 20},
		{strings.Repeat(" ", 20), 20}, {"\n" + strings.Repeat(" ", 17) + "\t\n\"", 20}, {"\v", 0}, {"\x00", 0},
		{"         \u00a0", 9},
	} {
		if got := skipSpace([]byte(tt.in), 0); got != tt.want {
			t.Errorf("skipSpace(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}
