package canonical

// Decoder reads one JSON document token by token, for a reader that
// knows the shape it expects (such as capsule content) and decodes it
// straight into its own types instead of walking the tree of [Parse].
// It checks what Parse checks: the JSON grammar, invalid UTF-8, lone
// surrogates, float literals that overflow float64, integer literals
// Python cannot read, and nesting deeper than [MaxDepth]; and [Decoder.Value]
// reads a free-form value exactly as Parse would (duplicate keys
// included). The keys of the objects its caller walks with
// [Decoder.Key] are the caller's to check for duplicates.
//
// The first error stops the Decoder: [Decoder.Err] returns it, and every
// method returns a zero value from then on. Its errors are [*Error]
// values with the byte offset of the problem; unlike Parse's they do not
// name the field path, which only the caller knows.
//
// The strings and numbers a Decoder returns are substrings of one copy of
// its input, made by [Decoder.Reset], rather than one new string each.
// A Decoder is not safe for concurrent use.
type Decoder struct {
	p     parser
	first bool // the object or array just begun has no member or element yet
	err   *Error
	key   []byte // an escaped key, unescaped
}

// Reset makes d read data from its start, keeping d's buffers.
func (d *Decoder) Reset(data []byte) {
	d.p.data, d.p.text = data, string(data)
	d.p.pos, d.p.depth = 0, 0
	d.p.vals.truncate(0)
	d.p.kvs.truncate(0)
	d.first, d.err = false, nil
}

// Err returns the first error d met, nil if none.
func (d *Decoder) Err() error {
	if d.err == nil {
		return nil
	}
	return d.err
}

func (d *Decoder) fail(err *Error) {
	if d.err == nil {
		d.err = err
	}
}

// Peek returns the first byte of the next value without reading it: '{',
// '[', '"', 't', 'f' or 'n', and '0' for any number. It returns 0 at
// the end of the input, before something that cannot start a value, and
// after an error.
func (d *Decoder) Peek() byte {
	if d.err != nil {
		return 0
	}
	p := &d.p
	p.pos = skipSpace(p.data, p.pos)
	if p.pos >= len(p.data) {
		return 0
	}
	switch c := p.data[p.pos]; c {
	case '{', '[', '"', 't', 'f', 'n':
		return c
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return '0'
	}
	return 0
}

// want reports, unless the next value starts with c (see [Decoder.Peek]),
// that it is not what the caller expected.
func (d *Decoder) want(c byte, what string) bool {
	if got := d.Peek(); got == c {
		return true
	} else if got == 0 && d.err == nil {
		_, err := d.p.value() // the syntax error, as Parse reports it
		d.fail(err)
	}
	d.fail(atError(d.p.pos, "expected "+what+", got "+kind(d.p.data, d.p.pos)))
	return false
}

// BeginObject reads the opening brace of an object, whose members
// [Decoder.Key] then reads; it reports false when the next value is not
// an object.
func (d *Decoder) BeginObject() bool { return d.begin('{', "an object") }

// begin reads the opening byte c of an object or an array (what).
func (d *Decoder) begin(c byte, what string) bool {
	if !d.want(c, what) {
		return false
	}
	if err := d.p.enter(); err != nil {
		d.fail(err)
		return false
	}
	d.p.pos++
	d.first = true
	return true
}

// Key reads the key of the next member of the object being read (and the
// colon after it), leaving the member's value to read next; the key, with
// its escapes decoded, is valid until the next call. After the last
// member Key reads the closing brace and returns false, as it does after
// an error.
func (d *Decoder) Key() ([]byte, bool) {
	if !d.next('}', "',' or '}' after an object member") {
		return nil, false
	}
	p := &d.p
	if p.pos >= len(p.data) || p.data[p.pos] != '"' {
		d.fail(syntaxError(p.pos, "unexpected "+describe(p.data, p.pos)+", expected a string for an object key"))
		return nil, false
	}
	end, escaped, err := scanString(p.data, p.pos)
	if err != nil {
		d.fail(err)
		return nil, false
	}
	key := p.data[p.pos+1 : end-1]
	if escaped {
		d.key = unescape(d.key[:0], key)
		key = d.key
	}
	if p.pos = skipSpace(p.data, end); p.pos >= len(p.data) || p.data[p.pos] != ':' {
		d.fail(syntaxError(p.pos, "unexpected "+describe(p.data, p.pos)+", expected ':' after an object key"))
		return nil, false
	}
	p.pos++
	return key, true
}

// BeginArray reads the opening bracket of an array, whose elements
// [Decoder.More] then steps through; it reports false when the next value
// is not an array.
func (d *Decoder) BeginArray() bool { return d.begin('[', "an array") }

// More reports whether the array being read has another element, moving
// to it; after the last element it reads the closing bracket and returns
// false, as it does after an error.
func (d *Decoder) More() bool {
	return d.next(']', "',' or ']' after an array element")
}

// next moves to the next member or element of the object or array being
// read, whose closing byte is closing, and reports whether there is one.
func (d *Decoder) next(closing byte, expected string) bool {
	if d.err != nil {
		return false
	}
	p := &d.p
	p.pos = skipSpace(p.data, p.pos)
	if p.pos < len(p.data) && p.data[p.pos] == closing {
		p.pos++
		p.depth--
		d.first = false
		return false
	}
	if d.first {
		d.first = false
		return true
	}
	if p.pos >= len(p.data) || p.data[p.pos] != ',' {
		d.fail(syntaxError(p.pos, "unexpected "+describe(p.data, p.pos)+", expected "+expected))
		return false
	}
	p.pos = skipSpace(p.data, p.pos+1)
	return true
}

// String reads a string.
func (d *Decoder) String() string {
	if !d.want('"', "a string") {
		return ""
	}
	end, escaped, err := scanString(d.p.data, d.p.pos)
	if err != nil {
		d.fail(err)
		return ""
	}
	return d.p.string(end, escaped)
}

// Number reads a number, as its literal text.
func (d *Decoder) Number() Number {
	if !d.want('0', "a number") {
		return ""
	}
	n, err := d.p.numberLit()
	if err != nil {
		d.fail(err)
	}
	return n
}

// Bool reads true or false.
func (d *Decoder) Bool() bool {
	switch d.Peek() {
	case 't':
		d.fail(d.p.literal("true"))
		return d.err == nil
	case 'f':
		d.fail(d.p.literal("false"))
		return false
	}
	d.want('t', "a boolean")
	return false
}

// Null reads null.
func (d *Decoder) Null() {
	if d.want('n', "null") {
		d.fail(d.p.literal("null"))
	}
}

// Value reads any value as [Parse] reads it: an object is a
// map[string]any, an array an []any, a number a [Number].
func (d *Decoder) Value() any {
	if d.err != nil {
		return nil
	}
	v, err := d.p.value()
	if err != nil {
		d.fail(err)
		return nil
	}
	return v
}

// End checks that nothing but whitespace follows the value read.
func (d *Decoder) End() {
	if d.err != nil {
		return
	}
	p := &d.p
	if p.pos = skipSpace(p.data, p.pos); p.pos < len(p.data) {
		d.fail(syntaxError(p.pos, "unexpected "+describe(p.data, p.pos)+" after top-level value"))
	}
}

// Fail records msg as the error at the decoder's offset, for a caller that
// refuses what it read; it does nothing after an error.
func (d *Decoder) Fail(msg string) {
	d.fail(atError(d.p.pos, msg))
}
