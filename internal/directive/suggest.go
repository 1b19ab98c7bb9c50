package directive

import (
	"fmt"
	"strings"

	"github.com/agnivade/levenshtein"
)

// Nearest returns the candidate a misspelled word most likely meant: the
// nearest by edit distance when it is close (at most two edits, or a third
// of the word), else a candidate the word is a prefix of; "" when none is.
func Nearest(word string, candidates []string) string {
	best, bestDist := "", -1
	for _, c := range candidates {
		d := levenshtein.ComputeDistance(word, c)
		if bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	if best != "" && (bestDist <= 2 || bestDist <= len(word)/3) {
		return best
	}
	if len(word) >= 3 {
		for _, c := range candidates {
			if strings.HasPrefix(c, word) {
				return c
			}
		}
	}
	return ""
}

// unknownKey is the message for a key that is not a directive key.
func unknownKey(key string) string {
	if near := Nearest(key, Keys); near != "" {
		return fmt.Sprintf("unknown key %q (did you mean %s?)", key, near)
	}
	return fmt.Sprintf("unknown key %q (known keys: %s)", key, strings.Join(Keys, ", "))
}

// words are the directive names after "//capsule:".
var words = []string{"audit", "direct"}

// NearMiss returns a warning when the text of a comment looks like a
// capsule directive but is not one, so that it would be ignored: a space
// after "//" or around the colon ("// capsule:audit", "//capsule: audit"),
// a word that is not a directive ("//capsule:audti"), or a directive name
// run into what follows ("//capsule:audit,type=tool"). It returns "" for
// directives and for other comments.
func NearMiss(text string) string {
	body, ok := strings.CutPrefix(text, "//")
	if !ok || IsAudit(text) || IsDirect(text) {
		return ""
	}
	trimmed := strings.TrimLeft(body, " \t")
	rest, ok := strings.CutPrefix(trimmed, "capsule")
	if !ok {
		return ""
	}
	beforeColon := strings.TrimLeft(rest, " \t")
	after, ok := strings.CutPrefix(beforeColon, ":")
	if !ok {
		return ""
	}
	tail := strings.TrimLeft(after, " \t")
	spaced := len(trimmed) != len(body) || len(beforeColon) != len(rest) || len(tail) != len(after)
	word := tail
	if end := strings.IndexFunc(tail, func(r rune) bool {
		return !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}); end >= 0 {
		word = tail[:end]
	}
	comment := text[:len(text)-len(tail)+len(word)] // up to the end of the word
	near := Nearest(word, words)
	switch {
	case word == "audit" || word == "direct":
		if spaced {
			return fmt.Sprintf("%q is not a directive and is ignored: write //capsule:%s, with no spaces", comment, word)
		}
		return fmt.Sprintf("%q is not a directive and is ignored: //capsule:%s must be followed by a space or the end of the line", firstField(text), word)
	case spaced && near != "":
		return fmt.Sprintf("%q is not a directive and is ignored (did you mean //capsule:%s?)", comment, near)
	case spaced:
		return ""
	}
	if near == "" {
		near = "audit"
	}
	return fmt.Sprintf("unknown directive //capsule:%s is ignored (did you mean %s?)", word, near)
}

// firstField returns text up to its first space or tab.
func firstField(text string) string {
	if i := strings.IndexAny(text, " \t"); i >= 0 {
		return text[:i]
	}
	return text
}
