package main

import (
	"strconv"
	"unicode"
	"unicode/utf8"
)

// Text read from a store or a file is shown to people by chains and
// inspect, who must see it as it is: bidi formatting characters (U+202E
// and the like) reorder what a terminal displays, control characters
// drive the terminal itself, and both can be planted in any capsule or
// column. So every rune that is not printable (unicode.IsPrint: letters,
// marks, numbers, punctuation, symbols and the ASCII space) is written as
// a visible escape; --json output is left exact.

// printable reports whether s is valid UTF-8 made of printable runes only.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// visible returns s when it is printable, else s quoted with Go's escapes
// (strconv.Quote: \u202e, \x1b, \x80 for a byte of invalid UTF-8).
func visible(s string) string {
	if printable(s) {
		return s
	}
	return strconv.Quote(s)
}

// visibleJSON returns s when it is printable, else s quoted as
// appendQuoted quotes it.
func visibleJSON(s string) string {
	if printable(s) {
		return s
	}
	return string(appendQuoted(nil, s))
}

// appendQuoted appends s as a double-quoted string with JSON's escapes:
// '"' and '\', control characters (\n, \t, \r, \b, \f where JSON has a
// short form), every other rune that is not printable as \uXXXX (a
// surrogate pair beyond the Basic Multilingual Plane), and each byte of
// invalid UTF-8 as \xNN. For printable text it is the canonical JSON
// string.
func appendQuoted(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, `\x`...)
			dst = appendHex(dst, uint32(s[i]), 2)
		case r == '"' || r == '\\':
			dst = append(dst, '\\', byte(r))
		case r == '\n':
			dst = append(dst, `\n`...)
		case r == '\t':
			dst = append(dst, `\t`...)
		case r == '\r':
			dst = append(dst, `\r`...)
		case r == '\b':
			dst = append(dst, `\b`...)
		case r == '\f':
			dst = append(dst, `\f`...)
		case !unicode.IsPrint(r):
			dst = appendEscape(dst, r)
		default:
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}

// appendVisibleJSON appends the JSON text js (canonical, perhaps indented)
// with every rune that is neither printable nor a newline escaped as
// \uXXXX. In canonical JSON such runes occur only inside strings (control
// characters are escaped already; newlines come from indenting), where
// the escape denotes the same string.
func appendVisibleJSON(dst, js []byte) []byte {
	for i := 0; i < len(js); {
		r, size := utf8.DecodeRune(js[i:])
		if r != '\n' && (r == utf8.RuneError && size == 1 || !unicode.IsPrint(r)) {
			if size == 1 && r == utf8.RuneError {
				dst = append(dst, `\x`...)
				dst = appendHex(dst, uint32(js[i]), 2)
			} else {
				dst = appendEscape(dst, r)
			}
		} else {
			dst = append(dst, js[i:i+size]...)
		}
		i += size
	}
	return dst
}

// appendEscape appends r as \uXXXX, or as a surrogate pair of them beyond
// U+FFFF.
func appendEscape(dst []byte, r rune) []byte {
	if r > 0xFFFF {
		r -= 0x10000
		dst = appendEscape(dst, 0xD800+(r>>10))
		return appendEscape(dst, 0xDC00+(r&0x3FF))
	}
	dst = append(dst, `\u`...)
	return appendHex(dst, uint32(r), 4)
}

// appendHex appends v in n lowercase hex digits.
func appendHex(dst []byte, v uint32, n int) []byte {
	const digits = "0123456789abcdef"
	for shift := 4 * (n - 1); shift >= 0; shift -= 4 {
		dst = append(dst, digits[v>>shift&0xF])
	}
	return dst
}
