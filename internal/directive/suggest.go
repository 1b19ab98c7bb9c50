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
// a word that is not a directive ("//capsule:audti"), a directive name
// run into what follows ("//capsule:audit,type=tool"), or a directive
// written as a block comment ("/*capsule:audit type=tool*/"). It returns
// "" for directives and for other comments.
func NearMiss(text string) string {
	if body, ok := strings.CutPrefix(text, "/*"); ok {
		return blockNearMiss(text, strings.TrimSuffix(body, "*/"))
	}
	body, ok := strings.CutPrefix(text, "//")
	if !ok || IsAudit(text) || IsDirect(text) {
		return ""
	}
	w, ok := cutWord(body, " \t")
	if !ok {
		return ""
	}
	comment := text[:len(text)-len(w.tail)+len(w.word)] // up to the end of the word
	near := Nearest(w.word, words)
	switch {
	case w.word == "audit" || w.word == "direct":
		if w.spaced {
			return fmt.Sprintf("%q is not a directive and is ignored: write //capsule:%s, with no spaces", comment, w.word)
		}
		return fmt.Sprintf("%q is not a directive and is ignored: //capsule:%s must be followed by a space or the end of the line", firstField(text), w.word)
	case w.spaced && near != "":
		return fmt.Sprintf("%q is not a directive and is ignored (did you mean //capsule:%s?)", comment, near)
	case w.spaced:
		return ""
	}
	if near == "" {
		near = "audit"
	}
	return fmt.Sprintf("unknown directive //capsule:%s is ignored (did you mean %s?)", w.word, near)
}

// blockNearMiss is NearMiss for a block comment, whose text between /*
// and */ is body: a directive word (or a near one) after "capsule:" is a
// directive written as a block comment, which is never one.
func blockNearMiss(text, body string) string {
	w, ok := cutWord(body, " \t\r\n")
	if !ok {
		return ""
	}
	near := Nearest(w.word, words)
	if near == "" {
		return ""
	}
	comment := text[:len("/*")+len(body)-len(w.tail)+len(w.word)]
	if w.word == near {
		return fmt.Sprintf("%q is a block comment and is ignored: a directive is a line comment, //capsule:%s", comment, near)
	}
	return fmt.Sprintf("%q is a block comment and is ignored (did you mean the line comment //capsule:%s?)", comment, near)
}

// directiveWord is what follows "capsule:" at the start of a comment.
type directiveWord struct {
	word   string // the word after the colon, up to a character that cannot be in one
	tail   string // the text from the word on
	spaced bool   // spaces before "capsule", or around the colon
}

// cutWord reads "capsule:" and the word after it at the start of body, the
// text of a comment after its opening // or /*, allowing the characters of
// space before "capsule" and around the colon; ok is false when body does
// not start that way.
func cutWord(body, space string) (w directiveWord, ok bool) {
	trimmed := strings.TrimLeft(body, space)
	rest, ok := strings.CutPrefix(trimmed, "capsule")
	if !ok {
		return w, false
	}
	beforeColon := strings.TrimLeft(rest, space)
	after, ok := strings.CutPrefix(beforeColon, ":")
	if !ok {
		return w, false
	}
	w.tail = strings.TrimLeft(after, space)
	w.spaced = len(trimmed) != len(body) || len(beforeColon) != len(rest) || len(w.tail) != len(after)
	w.word = w.tail
	if end := strings.IndexFunc(w.tail, func(r rune) bool {
		return !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}); end >= 0 {
		w.word = w.tail[:end]
	}
	return w, true
}

// firstField returns text up to its first space or tab.
func firstField(text string) string {
	if i := strings.IndexAny(text, " \t"); i >= 0 {
		return text[:i]
	}
	return text
}
