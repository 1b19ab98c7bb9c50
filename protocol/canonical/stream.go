package canonical

import (
	"bytes"
	"encoding/binary"
	"slices"
	"strconv"
)

// Canonicalize returns the canonical JSON of the JSON value in data: it is
// [Parse] followed by [Append], without the capsule rules of
// [CanonicalizeContent], and fails with the same errors.
func Canonicalize(data []byte) ([]byte, error) {
	return AppendCanonical(make([]byte, 0, outCap(data)), data)
}

// AppendCanonical is [Canonicalize] appending to dst: it reuses dst's
// capacity, so that canonicalizing many documents typically allocates
// nothing (keys with escapes and objects of many members may). On
// error it returns dst unchanged.
func AppendCanonical(dst, data []byte) ([]byte, error) {
	return appendCanonical(dst, data, fAny)
}

// CanonicalizeContent returns the canonical JSON of capsule content: data
// must hold one JSON object, which is canonicalized as [Parse] followed by
// [AppendContent] would, with the capsule rules (float-typed fields,
// trigger.timestamp) applied.
func CanonicalizeContent(data []byte) ([]byte, error) {
	return AppendCanonicalContent(make([]byte, 0, outCap(data)), data)
}

// AppendCanonicalContent is [CanonicalizeContent] appending to dst. On
// error it returns dst unchanged.
func AppendCanonicalContent(dst, data []byte) ([]byte, error) {
	return appendCanonical(dst, data, fContent)
}

// outCap is the capacity to allocate for canonicalizing data: the output
// is rarely longer than the input, and reordering an object's members uses
// the space after it as scratch.
func outCap(data []byte) int {
	return 2*len(data) + 64
}

func appendCanonical(dst, data []byte, f field) ([]byte, error) {
	c := canon{data: data}
	n := len(dst)
	var err *Error
	if f == fContent {
		if i := skipSpace(data, 0); i >= len(data) || data[i] != '{' {
			// Report a syntax error first, as Parse would.
			if _, err = c.value(dst, fAny); err == nil {
				err = newError(-1, "capsule content must be a JSON object, got "+kind(data, i))
			}
			return dst[:n], err
		}
	}
	out, err := c.value(dst, f)
	if err == nil {
		if c.pos = skipSpace(data, c.pos); c.pos < len(data) {
			err = syntaxError(c.pos, "unexpected "+describe(data, c.pos)+" after top-level value")
		}
	}
	if err != nil {
		return dst[:n], err
	}
	return out, nil
}

// canon canonicalizes JSON text in one pass, without building a tree.
// Each object's members are written in input order into the output, then
// reordered in place once the object is complete. Typical documents
// allocate nothing here: the member stack starts inline, and the arena is
// only used for keys with escapes.
type canon struct {
	data    []byte
	pos     int
	depth   int
	members stack[member] // pending members of the objects being written
	arena   []byte        // unescaped keys that contained escapes
}

// member is one object member written to the output at dst[start:end]
// (`"key":value`); its unescaped key is data[k0:k1], or arena[k0:k1] when
// inArena.
type member struct {
	prefix     uint64 // first bytes of the key, see keyPrefix
	k0, k1     int
	start, end int
	off        int // offset of the key in the input
	inArena    bool
}

func (c *canon) key(m *member) []byte {
	if m.inArena {
		return c.arena[m.k0:m.k1]
	}
	return c.data[m.k0:m.k1]
}

func (c *canon) value(dst []byte, f field) ([]byte, *Error) {
	c.pos = skipSpace(c.data, c.pos)
	if c.pos >= len(c.data) {
		return dst, syntaxError(c.pos, "unexpected end of input, expected a value")
	}
	if f >= fFloat {
		return c.special(dst, f)
	}
	switch ch := c.data[c.pos]; ch {
	case '{':
		return c.object(dst, f)
	case '[':
		return c.array(dst, f)
	case '"':
		end, escaped, err := scanString(c.data, c.pos)
		if err != nil {
			return dst, err
		}
		if escaped {
			dst = appendLiteral(dst, c.data[c.pos+1:end-1])
		} else {
			dst = append(dst, c.data[c.pos:end]...)
		}
		c.pos = end
		return dst, nil
	case 't':
		return c.literal(dst, "true")
	case 'f':
		return c.literal(dst, "false")
	case 'n':
		return c.literal(dst, "null")
	default:
		if ch == '-' || isDigit(ch) {
			return c.number(dst, appendNumberLit[[]byte])
		}
		return dst, syntaxError(c.pos, "unexpected "+describe(c.data, c.pos)+", expected a value")
	}
}

// number writes the number literal at c.pos with write: appendNumberLit
// for free-form values, appendFloatLit for float-typed fields.
func (c *canon) number(dst []byte, write func([]byte, []byte, bool) ([]byte, *Error)) ([]byte, *Error) {
	start := c.pos
	end, integer, err := scanNumber(c.data, start)
	if err != nil {
		return dst, err
	}
	c.pos = end
	if integer {
		err = checkIntDigits(c.data[start:end])
	}
	if err == nil {
		dst, err = write(dst, c.data[start:end], integer)
	}
	if err != nil {
		return dst, atError(start, err.Msg)
	}
	return dst, nil
}

func (c *canon) literal(dst []byte, lit string) ([]byte, *Error) {
	if len(c.data)-c.pos < len(lit) || string(c.data[c.pos:c.pos+len(lit)]) != lit {
		return dst, syntaxError(c.pos, "invalid literal, expected "+lit)
	}
	c.pos += len(lit)
	return append(dst, lit...), nil
}

// special writes the value of a float-typed field or of trigger.timestamp.
func (c *canon) special(dst []byte, f field) ([]byte, *Error) {
	start := c.pos
	ch := c.data[start]
	if f == fFloat {
		if ch != '-' && !isDigit(ch) {
			return dst, atError(start, "must be a number, got "+kind(c.data, start))
		}
		return c.number(dst, appendFloatLit[[]byte])
	}
	// fTimestamp
	if ch != '"' {
		return dst, atError(start, "timestamp must be a string, got "+kind(c.data, start))
	}
	end, escaped, err := scanString(c.data, start)
	if err != nil {
		return dst, err
	}
	c.pos = end
	s := c.data[start+1 : end-1]
	if escaped {
		a := len(c.arena)
		c.arena = unescape(c.arena, s)
		s = c.arena[a:]
		defer func() { c.arena = c.arena[:a] }()
	}
	out, ok := appendTimestampText(dst, s)
	if !ok {
		return dst, timestampError(start, string(s))
	}
	return out, nil
}

func timestampError(off int, s string) *Error {
	e := &Error{Offset: int64(off), Msg: "unparseable timestamp " + strconv.Quote(truncate(s)) +
		", want YYYY-MM-DDTHH:MM:SS[.ffffff][Z|±HH:MM]"}
	return e
}

// kind names the type of the JSON value starting at data[i].
func kind(data []byte, i int) string {
	if i >= len(data) {
		return "nothing"
	}
	switch data[i] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

func (c *canon) enter() *Error {
	if c.depth++; c.depth > MaxDepth {
		return atError(c.pos, "nesting deeper than "+strconv.Itoa(MaxDepth)+" levels")
	}
	return nil
}

func (c *canon) object(dst []byte, f field) ([]byte, *Error) {
	if err := c.enter(); err != nil {
		return dst, err
	}
	dst = append(dst, '{')
	c.pos = skipSpace(c.data, c.pos+1)
	if c.pos < len(c.data) && c.data[c.pos] == '}' {
		c.pos++
		c.depth--
		return append(dst, '}'), nil
	}
	base, arenaBase := c.members.len(), len(c.arena)
	first := len(dst)
	sorted := true
	for {
		if c.pos >= len(c.data) || c.data[c.pos] != '"' {
			return dst, syntaxError(c.pos, "unexpected "+describe(c.data, c.pos)+", expected a string for an object key")
		}
		end, escaped, err := scanString(c.data, c.pos)
		if err != nil {
			return dst, err
		}
		if c.members.len() > base {
			dst = append(dst, ',')
		}
		m := member{off: c.pos, start: len(dst)}
		if escaped {
			m.k0 = len(c.arena)
			c.arena = unescape(c.arena, c.data[c.pos+1:end-1])
			m.k1, m.inArena = len(c.arena), true
			dst = appendQuoted(dst, c.arena[m.k0:])
		} else {
			m.k0, m.k1 = c.pos+1, end-1
			dst = append(dst, c.data[c.pos:end]...)
		}
		if c.pos = skipSpace(c.data, end); c.pos >= len(c.data) || c.data[c.pos] != ':' {
			return dst, syntaxError(c.pos, "unexpected "+describe(c.data, c.pos)+", expected ':' after an object key")
		}
		c.pos++
		dst = append(dst, ':')
		m.prefix = keyPrefix(c.key(&m))
		sub := fAny
		if f != fAny {
			sub = child(f, c.key(&m))
		}
		if dst, err = c.value(dst, sub); err != nil {
			return dst, err.inKey(string(c.key(&m)))
		}
		m.end = len(dst)
		if n := c.members.len(); sorted && n > base && c.compare(&c.members.from(n - 1)[0], &m) >= 0 {
			sorted = false
		}
		c.members.push(m)
		if c.pos = skipSpace(c.data, c.pos); c.pos < len(c.data) {
			if ch := c.data[c.pos]; ch == ',' {
				c.pos = skipSpace(c.data, c.pos+1)
				continue
			} else if ch == '}' {
				c.pos++
				break
			}
		}
		return dst, syntaxError(c.pos, "unexpected "+describe(c.data, c.pos)+", expected ',' or '}' after an object member")
	}
	if !sorted {
		ms := c.members.from(base)
		c.sort(ms)
		for i := 1; i < len(ms); i++ {
			if bytes.Equal(c.key(&ms[i-1]), c.key(&ms[i])) {
				return dst, duplicateKey(string(c.key(&ms[i])), max(ms[i-1].off, ms[i].off))
			}
		}
		// Write the members in order after the object, then move them
		// back over the unordered ones.
		tail := len(dst)
		for i := range ms {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, dst[ms[i].start:ms[i].end]...)
		}
		dst = dst[:first+copy(dst[first:], dst[tail:])]
	}
	c.members.truncate(base)
	c.arena = c.arena[:arenaBase]
	c.depth--
	return append(dst, '}'), nil
}

// compare orders members by key: bytes of valid UTF-8 compare in code
// point order. The key prefixes decide most comparisons.
func (c *canon) compare(a, b *member) int {
	if a.prefix != b.prefix {
		if a.prefix < b.prefix {
			return -1
		}
		return 1
	}
	return bytes.Compare(c.key(a), c.key(b))
}

// sort orders ms by key.
func (c *canon) sort(ms []member) {
	if len(ms) > 32 {
		slices.SortFunc(ms, func(a, b member) int { return c.compare(&a, &b) })
		return
	}
	for i := 1; i < len(ms); i++ {
		m := ms[i]
		j := i
		for ; j > 0 && c.compare(&ms[j-1], &m) > 0; j-- {
			ms[j] = ms[j-1]
		}
		ms[j] = m
	}
}

// keyPrefix returns the first eight bytes of key as a big-endian number,
// padded with zeros: prefixes that differ order their keys.
func keyPrefix(key []byte) uint64 {
	if len(key) >= 8 {
		return binary.BigEndian.Uint64(key)
	}
	var p uint64
	for i, b := range key {
		p |= uint64(b) << (56 - 8*i)
	}
	return p
}

func (c *canon) array(dst []byte, f field) ([]byte, *Error) {
	if err := c.enter(); err != nil {
		return dst, err
	}
	dst = append(dst, '[')
	c.pos = skipSpace(c.data, c.pos+1)
	if c.pos < len(c.data) && c.data[c.pos] == ']' {
		c.pos++
		c.depth--
		return append(dst, ']'), nil
	}
	elem := f.elem()
	for i := 0; ; i++ {
		if i > 0 {
			dst = append(dst, ',')
		}
		var err *Error
		if dst, err = c.value(dst, elem); err != nil {
			return dst, err.inIndex(i)
		}
		if c.pos = skipSpace(c.data, c.pos); c.pos < len(c.data) {
			if ch := c.data[c.pos]; ch == ',' {
				c.pos++
				continue
			} else if ch == ']' {
				c.pos++
				break
			}
		}
		return dst, syntaxError(c.pos, "unexpected "+describe(c.data, c.pos)+", expected ',' or ']' after an array element")
	}
	c.depth--
	return append(dst, ']'), nil
}
