package canonical

import (
	"strconv"
	"unicode/utf8"
)

// This file holds the token-level pieces shared by the tree parser
// (parse.go) and the streaming canonicalizer (stream.go): whitespace,
// string literals and number literals. All of them work on the raw input
// and report positions as byte offsets into it.

// isSpace reports whether c is JSON whitespace.
func isSpace(c byte) bool {
	return c == ' ' || c == '\n' || c == '\r' || c == '\t'
}

// skipSpace returns the index of the first non-whitespace byte at or after i.
func skipSpace(data []byte, i int) int {
	for i < len(data) {
		c := data[i]
		if c > ' ' || !isSpace(c) {
			return i
		}
		i++
		// Indentation: skip eight spaces at a time.
		for i+8 <= len(data) && load64(data, i) == spaces8 {
			i += 8
		}
	}
	return i
}

const (
	ones8   = 0x0101010101010101
	highs8  = 0x8080808080808080
	spaces8 = ones8 * ' '
)

// load64 reads the eight bytes at s[i:] as a little-endian word (the
// compiler turns this into one load).
func load64[S ~string | ~[]byte](s S, i int) uint64 {
	s = s[i : i+8]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// plainRun returns the index of the first byte at or after i that is not
// [plain], testing eight bytes at a time: a word has no special byte when
// none is below 0x20, none is '"' or '\\' and none has the high bit set.
// (The zero-byte tests below are exact about whether any byte matches.)
func plainRun[S ~string | ~[]byte](s S, i int) int {
	for i+8 <= len(s) {
		v := load64(s, i)
		q := v ^ (ones8 * '"')
		b := v ^ (ones8 * '\\')
		if ((v-ones8*0x20)&^v|(q-ones8)&^q|(b-ones8)&^b|v)&highs8 != 0 {
			break
		}
		i += 8
	}
	for i < len(s) && plain(s[i]) {
		i++
	}
	return i
}

// plain reports whether the byte c can stand for itself both inside a JSON
// string literal and in canonical output: ASCII 0x20..0x7F other than '"'
// and '\\'.
func plain(c byte) bool {
	return c >= 0x20 && c < utf8.RuneSelf && c != '"' && c != '\\'
}

// describe names the byte at data[i] for a syntax error message.
func describe(data []byte, i int) string {
	if i >= len(data) {
		return "end of input"
	}
	c := data[i]
	if c >= 0x20 && c < 0x7f {
		return "character " + strconv.QuoteRune(rune(c))
	}
	return "byte 0x" + strconv.FormatUint(uint64(c), 16)
}

// scanString validates the string literal whose opening quote is at
// data[i]. It returns the index just past the closing quote and whether the
// literal contains backslash escapes. It rejects raw control characters,
// unknown escapes, invalid UTF-8 and lone surrogates.
func scanString(data []byte, i int) (end int, escaped bool, err *Error) {
	start := i
	i++ // opening quote
	for {
		i = plainRun(data, i) // fast path over plain ASCII
		if i >= len(data) {
			return 0, false, syntaxError(start, "unterminated string")
		}
		switch c := data[i]; {
		case c == '"':
			return i + 1, escaped, nil
		case c == '\\':
			escaped = true
			n, e := scanEscape(data, i)
			if e != nil {
				return 0, false, e
			}
			i += n
		case c < 0x20:
			return 0, false, syntaxError(i, "control character "+strconv.QuoteRune(rune(c))+" in string")
		default:
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size <= 1 {
				return 0, false, atError(i, "invalid UTF-8 in string")
			}
			i += size
		}
	}
}

// scanEscape validates the escape sequence whose backslash is at data[i]
// and returns its length, including a following low surrogate escape when
// the first one is a high surrogate.
func scanEscape(data []byte, i int) (int, *Error) {
	if i+1 >= len(data) {
		return 0, syntaxError(i, "unterminated string")
	}
	switch data[i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2, nil
	case 'u':
	default:
		return 0, syntaxError(i, "invalid escape "+strconv.Quote(string(data[i:i+2])))
	}
	r, ok := hex4(data, i+2)
	if !ok {
		return 0, syntaxError(i, "invalid \\u escape")
	}
	switch {
	case r >= 0xDC00 && r <= 0xDFFF:
		return 0, atError(i, "lone low surrogate "+string(data[i:i+6])+" in string")
	case r >= 0xD800 && r <= 0xDBFF:
		if i+7 < len(data) && data[i+6] == '\\' && data[i+7] == 'u' {
			if r2, ok := hex4(data, i+8); ok && r2 >= 0xDC00 && r2 <= 0xDFFF {
				return 12, nil
			}
		}
		return 0, atError(i, "lone high surrogate "+string(data[i:i+6])+" in string")
	}
	return 6, nil
}

// hex4 decodes the four hex digits at data[i:i+4].
func hex4(data []byte, i int) (rune, bool) {
	if i+4 > len(data) {
		return 0, false
	}
	var r rune
	for _, c := range data[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// decodeEscape decodes the escape at lit[i], which [scanString] has
// validated, and returns the rune and the length of the escape.
func decodeEscape(lit []byte, i int) (rune, int) {
	switch lit[i+1] {
	case 'b':
		return '\b', 2
	case 'f':
		return '\f', 2
	case 'n':
		return '\n', 2
	case 'r':
		return '\r', 2
	case 't':
		return '\t', 2
	case 'u':
		r, _ := hex4(lit, i+2)
		if r >= 0xD800 && r <= 0xDBFF {
			r2, _ := hex4(lit, i+8)
			return 0x10000 + (r-0xD800)<<10 + (r2 - 0xDC00), 12
		}
		return r, 6
	}
	return rune(lit[i+1]), 2 // '"', '\\', '/'
}

// unescape appends the decoded text of lit, the validated contents of a
// string literal without its quotes.
func unescape(dst, lit []byte) []byte {
	for i := 0; i < len(lit); {
		j := i
		for j < len(lit) && lit[j] != '\\' {
			j++
		}
		dst = append(dst, lit[i:j]...)
		if j == len(lit) {
			break
		}
		r, n := decodeEscape(lit, j)
		dst = utf8.AppendRune(dst, r)
		i = j + n
	}
	return dst
}

// appendLiteral appends the canonical quoted form of lit, the validated
// contents of a string literal without its quotes, decoding its escapes
// and escaping again only what rule 5 escapes.
func appendLiteral(dst, lit []byte) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(lit); {
		j := i
		for j < len(lit) && lit[j] != '\\' {
			j++
		}
		dst = append(dst, lit[i:j]...)
		if j == len(lit) {
			break
		}
		r, n := decodeEscape(lit, j)
		if r < utf8.RuneSelf {
			dst = appendASCII(dst, byte(r))
		} else {
			dst = utf8.AppendRune(dst, r)
		}
		i = j + n
	}
	return append(dst, '"')
}

const hexDigits = "0123456789abcdef"

// appendASCII appends the ASCII character c, escaped as rule 5 requires.
func appendASCII(dst []byte, c byte) []byte {
	if plain(c) || c == 0x7f {
		return append(dst, c)
	}
	switch c {
	case '"':
		return append(dst, '\\', '"')
	case '\\':
		return append(dst, '\\', '\\')
	case '\b':
		return append(dst, '\\', 'b')
	case '\f':
		return append(dst, '\\', 'f')
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	}
	return append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
}

// appendQuoted appends s quoted per rule 5. s must be valid UTF-8.
func appendQuoted[S ~string | ~[]byte](dst []byte, s S) []byte {
	dst = append(dst, '"')
	i := 0
	for j := 0; j < len(s); j++ {
		if c := s[j]; c < 0x20 || c == '"' || c == '\\' {
			dst = append(dst, s[i:j]...)
			dst = appendASCII(dst, c)
			i = j + 1
		}
	}
	dst = append(dst, s[i:]...)
	return append(dst, '"')
}

// appendQuotedValid appends s quoted per rule 5, checking in the same pass
// that s is valid UTF-8. On invalid UTF-8 it returns the byte index of the
// problem and false.
func appendQuotedValid(dst []byte, s string) ([]byte, int, bool) {
	dst = append(dst, '"')
	i := 0
	for j := 0; j < len(s); {
		if j = plainRun(s, j); j == len(s) {
			break
		}
		c := s[j]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[j:])
			if r == utf8.RuneError && size <= 1 {
				return dst, j, false
			}
			j += size
			continue
		}
		dst = append(dst, s[i:j]...)
		dst = appendASCII(dst, c)
		j++
		i = j
	}
	dst = append(dst, s[i:]...)
	return append(dst, '"'), 0, true
}

// maxIntDigits is the longest integer literal accepted: Python's json.loads
// refuses longer ones (sys.get_int_max_str_digits()), so the reference
// could not verify a capsule holding one.
const maxIntDigits = 4300

// scanNumber validates the number literal starting at data[i] against the
// JSON grammar and returns the index just past it and whether it is an
// integer literal (no fraction, no exponent). The callers check the length
// of integer literals with [checkIntDigits].
func scanNumber(data []byte, i int) (end int, integer bool, err *Error) {
	if i < len(data) && data[i] == '-' {
		i++
	}
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case i < len(data) && data[i] >= '1' && data[i] <= '9':
		i++
		for i < len(data) && isDigit(data[i]) {
			i++
		}
	default:
		return 0, false, syntaxError(i, "invalid number: expected digit, found "+describe(data, i))
	}
	integer = true
	if i < len(data) && data[i] == '.' {
		integer = false
		i++
		if i >= len(data) || !isDigit(data[i]) {
			return 0, false, syntaxError(i, "invalid number: expected digit after decimal point, found "+describe(data, i))
		}
		for i < len(data) && isDigit(data[i]) {
			i++
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		integer = false
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if i >= len(data) || !isDigit(data[i]) {
			return 0, false, syntaxError(i, "invalid number: expected digit in exponent, found "+describe(data, i))
		}
		for i < len(data) && isDigit(data[i]) {
			i++
		}
	}
	return i, integer, nil
}

// checkIntDigits returns an error when the integer literal lit has more
// than maxIntDigits digits.
func checkIntDigits[S ~string | ~[]byte](lit S) *Error {
	digits := len(lit)
	if len(lit) > 0 && lit[0] == '-' {
		digits--
	}
	if digits <= maxIntDigits {
		return nil
	}
	return newError(-1, "integer of "+strconv.Itoa(digits)+" digits, more than the "+
		strconv.Itoa(maxIntDigits)+" that Python's json.loads accepts")
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
