package cli

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// ErrTooLarge reports a JSON value longer than the limit of a ValueReader.
var ErrTooLarge = errors.New("value too large")

// ValueReader reads a stream of JSON values one at a time, holding at most
// one value (plus a read buffer) in memory: either the elements of a single
// top-level array, or consecutive top-level values (one object, or JSON
// lines).
//
// It checks the structure between values (commas, the closing bracket,
// nothing after the array) but only delimits each value: the value's bytes
// are returned exactly as written, for a strict parser to read. So a
// malformed value is returned as it is (bracket counting finds its end)
// and the parser reports it; encoding/json's Valid tells a malformed value
// from one the parser rejects for other reasons. Delimiting without
// parsing is several times faster than encoding/json's Decoder, which
// scans each value twice.
type ValueReader struct {
	br    *bufio.Reader
	limit int

	started bool
	array   bool
	done    bool
	index   int
	buf     []byte
	read    int64 // bytes consumed, for error offsets
}

// NewValueReader returns a ValueReader over r that refuses values longer
// than limit bytes with an error matching ErrTooLarge.
func NewValueReader(r io.Reader, limit int) *ValueReader {
	return &ValueReader{br: bufio.NewReaderSize(r, 64<<10), limit: limit, index: -1}
}

// Array reports whether the stream is a top-level array; it is known once
// Next has been called.
func (v *ValueReader) Array() bool { return v.array }

// Index returns the position (from 0) of the value Next last returned.
func (v *ValueReader) Index() int { return v.index }

// Next returns the bytes of the next value, valid until the following
// call, or io.EOF after the last one. Errors name the value's index: a
// missing comma or bracket, a value over the limit, data after the closing
// bracket of an array, an unexpected end of input, or a read error (which
// wraps the reader's error).
func (v *ValueReader) Next() ([]byte, error) {
	if v.done {
		return nil, io.EOF
	}
	raw, err := v.next()
	if err != nil {
		v.done = true
		return nil, err
	}
	v.index++
	return raw, nil
}

func (v *ValueReader) next() ([]byte, error) {
	i := v.index + 1
	c, err := v.skipSpace()
	if !v.started {
		v.started = true
		switch {
		case err == io.EOF:
			return nil, errors.New("empty input: want a JSON array or object")
		case err != nil:
			return nil, v.readError(i, err)
		case c == '[':
			v.array = true
			v.discard(1)
			if c, err = v.skipSpace(); err != nil {
				return nil, v.endError(i, err)
			}
			if c == ']' {
				v.discard(1)
				return nil, v.end()
			}
			return v.value(i)
		}
	}
	if !v.array {
		if err == io.EOF {
			return nil, io.EOF
		}
		if err != nil {
			return nil, v.readError(i, err)
		}
		return v.value(i)
	}
	// In an array, after a value: a comma and the next value, or the end.
	if err != nil {
		return nil, v.endError(i, err)
	}
	switch c {
	case ']':
		v.discard(1)
		return nil, v.end()
	case ',':
		v.discard(1)
		if c, err = v.skipSpace(); err != nil {
			return nil, v.endError(i, err)
		}
		if c == ']' {
			return nil, fmt.Errorf("element %d: invalid JSON at byte %d: a ] follows a comma", i, v.read)
		}
		return v.value(i)
	}
	return nil, fmt.Errorf("element %d: invalid JSON at byte %d: want a comma or ] after element %d, found %q", i, v.read, i-1, c)
}

// value reads the value starting at the next byte (not a space) into buf:
// an object or array up to its matching bracket, a string up to its
// closing quote, or a literal up to the next delimiter.
func (v *ValueReader) value(i int) ([]byte, error) {
	v.buf = v.buf[:0]
	depth := 0
	inString, escaped := false, false
	first := true
	scalar := false
	for {
		if v.br.Buffered() == 0 {
			if _, err := v.br.Peek(1); err != nil {
				if err == io.EOF && scalar && len(v.buf) > 0 {
					return v.buf, nil
				}
				return nil, v.endError(i, err)
			}
		}
		chunk, _ := v.br.Peek(v.br.Buffered())
		n, done := 0, false
	scan:
		for ; n < len(chunk); n++ {
			c := chunk[n]
			if first {
				first = false
				scalar = c != '{' && c != '[' && c != '"'
			}
			if inString {
				if !escaped {
					// Jump over the plain bytes of the string.
					if n += stringRun(chunk[n:]); n == len(chunk) {
						break scan
					}
					c = chunk[n]
				}
				switch {
				case escaped:
					escaped = false
				case c == '\\':
					escaped = true
				case c == '"':
					inString = false
					if depth == 0 {
						n++
						done = true
						break scan
					}
				}
				continue
			}
			switch c {
			case '"':
				if scalar {
					done = true
					break scan
				}
				inString = true
			case '{', '[':
				if scalar {
					done = true
					break scan
				}
				depth++
			case '}', ']':
				if scalar {
					done = true
					break scan
				}
				if depth--; depth == 0 {
					n++
					done = true
					break scan
				}
			case ' ', '\t', '\r', '\n', ',':
				if scalar {
					done = true
					break scan
				}
			}
		}
		if len(v.buf)+n > v.limit {
			return nil, fmt.Errorf("element %d: longer than %d bytes: %w", i, v.limit, ErrTooLarge)
		}
		v.buf = append(v.buf, chunk[:n]...)
		v.discard(n)
		if done {
			if len(v.buf) == 0 {
				return nil, fmt.Errorf("element %d: invalid JSON at byte %d: unexpected %q", i, v.read, chunk[0])
			}
			return v.buf, nil
		}
	}
}

// stringRun returns the length of the run of b, inside a string literal,
// before its next quote or backslash (len(b) if none).
func stringRun(b []byte) int {
	end := bytes.IndexByte(b, '"')
	if end < 0 {
		end = len(b)
	}
	if i := bytes.IndexByte(b[:end], '\\'); i >= 0 {
		return i
	}
	return end
}

// end checks that nothing but whitespace follows the array.
func (v *ValueReader) end() error {
	c, err := v.skipSpace()
	switch {
	case err == io.EOF:
		return io.EOF
	case err != nil:
		return v.readError(v.index+1, err)
	}
	return fmt.Errorf("unexpected data after the closing ] of the array at byte %d: %q", v.read, c)
}

// skipSpace discards whitespace and returns the next byte without
// consuming it.
func (v *ValueReader) skipSpace() (byte, error) {
	for {
		b, err := v.br.Peek(1)
		if err != nil {
			return 0, err
		}
		switch b[0] {
		case ' ', '\t', '\r', '\n':
			v.discard(1)
		default:
			return b[0], nil
		}
	}
}

func (v *ValueReader) discard(n int) {
	v.br.Discard(n)
	v.read += int64(n)
}

// endError reports the input ending inside the array or a value.
func (v *ValueReader) endError(i int, err error) error {
	if err == io.EOF {
		if v.array {
			return fmt.Errorf("element %d: unexpected end of input (the array is not closed)", i)
		}
		return fmt.Errorf("element %d: unexpected end of input", i)
	}
	return v.readError(i, err)
}

func (v *ValueReader) readError(i int, err error) error {
	return fmt.Errorf("element %d: read: %w", i, err)
}
