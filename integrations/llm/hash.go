package llm

import (
	"bytes"
	"crypto/sha3"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// PromptHash returns the prompt hash of a JSON value (an array of
// messages, as an LLM request carries it): SHA3-256, as 64 lowercase hex
// digits, of the value serialized as capsule-litellm serializes messages,
// Python's json.dumps(messages, sort_keys=True, separators=(",", ":"),
// ensure_ascii=False), encoded as UTF-8. The same conversation therefore
// hashes the same here and in Python. See [PythonJSON] for the
// serialization.
func PromptHash(messages []byte) (string, error) {
	b, err := PythonJSON(messages)
	if err != nil {
		return "", err
	}
	return hashOf(b), nil
}

// hashOf returns the lowercase hex SHA3-256 of b.
func hashOf(b []byte) string {
	sum := sha3.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// PythonJSON returns the JSON value v as Python writes it after
// json.loads: json.dumps(value, sort_keys=True, separators=(",", ":"),
// ensure_ascii=False). Object keys are sorted by code point (a duplicate
// key keeps its last value); strings keep every character but the ones
// Python escapes (", \, and U+0000 to U+001F: \b \t \n \f \r by name, the
// others as \u00XX); integers keep their digits (-0 is 0); other numbers
// are Python floats, written as Python's repr writes them (1e-05, 1e+16,
// 100.0, -0.0), and Infinity or -Infinity when they overflow. Where Python
// itself would fail (a lone surrogate escape such as "\ud800", invalid
// UTF-8, an integer of more than 4,300 digits), the result is the one of
// Go's decoding: U+FFFD for the bad character, all the digits.
func PythonJSON(v []byte) ([]byte, error) {
	val, err := decodeJSON(v)
	if err != nil {
		return nil, err
	}
	return appendPython(nil, val), nil
}

// decodeJSON parses one JSON value, keeping numbers as they are written.
func decodeJSON(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("llm: parsing JSON: %w", err)
	}
	if d.More() {
		return nil, fmt.Errorf("llm: parsing JSON: data after the value at offset %d", d.InputOffset())
	}
	return v, nil
}

// pythonDump returns v, a value decodeJSON returned (or built of the same
// types), serialized as PythonJSON serializes it.
func pythonDump(v any) []byte { return appendPython(nil, v) }

func appendPython(b []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...)
	case bool:
		return strconv.AppendBool(b, v)
	case json.Number:
		return appendPythonNumber(b, string(v))
	case string:
		return appendPythonString(b, v)
	case []any:
		b = append(b, '[')
		for i, x := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendPython(b, x)
		}
		return append(b, ']')
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		// UTF-8 byte order is code point order, Python's order of str.
		slices.Sort(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendPythonString(b, k)
			b = append(b, ':')
			b = appendPython(b, v[k])
		}
		return append(b, '}')
	}
	panic(fmt.Sprintf("llm: pythonDump of %T", v))
}

// appendPythonNumber writes a JSON number as Python's json module reads
// and writes it back: an int when it has neither fraction nor exponent,
// else a float.
func appendPythonNumber(b []byte, s string) []byte {
	if !strings.ContainsAny(s, ".eE") {
		if s == "-0" {
			return append(b, '0')
		}
		return append(b, s...)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !math.IsInf(f, 0) {
		// Not a JSON number: the decoder accepts none such.
		return append(b, s...)
	}
	return appendPythonFloat(b, f)
}

// appendPythonFloat writes f as Python's float.__repr__ and json.dumps do:
// the shortest digits that read back as f, in positional notation when the
// decimal exponent is from -4 to 15 (with ".0" when there is no fraction),
// else as d.ddde±XX.
func appendPythonFloat(b []byte, f float64) []byte {
	switch {
	case math.IsInf(f, 1):
		return append(b, "Infinity"...)
	case math.IsInf(f, -1):
		return append(b, "-Infinity"...)
	case math.IsNaN(f):
		return append(b, "NaN"...)
	}
	var buf [32]byte
	e := strconv.AppendFloat(buf[:0], f, 'e', -1, 64) // -d.ddde±XX
	if e[0] == '-' {
		b = append(b, '-')
		e = e[1:]
	}
	mant, exps, _ := bytes.Cut(e, []byte("e"))
	exp, _ := strconv.Atoi(string(exps))
	digits := make([]byte, 0, len(mant))
	for _, c := range mant {
		if c != '.' {
			digits = append(digits, c)
		}
	}
	decpt := exp + 1 // f = 0.digits × 10^decpt
	if decpt > -4 && decpt <= 16 {
		switch {
		case decpt <= 0:
			b = append(b, "0."...)
			b = append(b, strings.Repeat("0", -decpt)...)
			return append(b, digits...)
		case decpt < len(digits):
			b = append(b, digits[:decpt]...)
			b = append(b, '.')
			return append(b, digits[decpt:]...)
		default:
			b = append(b, digits...)
			b = append(b, strings.Repeat("0", decpt-len(digits))...)
			return append(b, ".0"...)
		}
	}
	b = append(b, digits[0])
	if len(digits) > 1 {
		b = append(b, '.')
		b = append(b, digits[1:]...)
	}
	b = append(b, 'e')
	if exp < 0 {
		b = append(b, '-')
		exp = -exp
	} else {
		b = append(b, '+')
	}
	if exp < 10 {
		b = append(b, '0')
	}
	return strconv.AppendInt(b, int64(exp), 10)
}

// appendPythonString writes s as json.dumps with ensure_ascii=False does.
func appendPythonString(b []byte, s string) []byte {
	const hexdig = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				b = append(b, "\uFFFD"...)
			} else {
				b = append(b, s[i:i+n]...)
			}
			i += n
			continue
		}
		switch c {
		case '"':
			b = append(b, `\"`...)
		case '\\':
			b = append(b, `\\`...)
		case '\n':
			b = append(b, `\n`...)
		case '\r':
			b = append(b, `\r`...)
		case '\t':
			b = append(b, `\t`...)
		case '\b':
			b = append(b, `\b`...)
		case '\f':
			b = append(b, `\f`...)
		default:
			if c < 0x20 {
				b = append(b, '\\', 'u', '0', '0', hexdig[c>>4], hexdig[c&0xf])
			} else {
				b = append(b, c)
			}
		}
		i++
	}
	return append(b, '"')
}
