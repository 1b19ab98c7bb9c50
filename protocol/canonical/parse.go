package canonical

import "strconv"

// Parse reads one JSON value from data; whitespace may surround it, nothing
// else may follow it. Objects become map[string]any, arrays []any, strings
// string, numbers [Number] (the literal text, checked against the JSON
// grammar), true and false bool, and null nil.
//
// Beyond syntax errors (reported with their byte offset), Parse rejects
// what rule 7 of the protocol cannot canonicalize: duplicate keys in one
// object, invalid UTF-8, lone surrogates in \u escapes, float literals that
// overflow float64 (1e400), and nesting deeper than [MaxDepth]. Every error
// is an [*Error] naming the field path.
func Parse(data []byte) (any, error) {
	p := parser{data: data}
	v, err := p.value()
	if err == nil {
		if p.pos = skipSpace(data, p.pos); p.pos < len(data) {
			err = syntaxError(p.pos, "unexpected "+describe(data, p.pos)+" after top-level value")
		}
	}
	if err != nil {
		return nil, err
	}
	return v, nil
}

// parser builds the tree of [Parse]. Array elements and object members are
// collected on shared stacks first, so that each slice and map is
// allocated once at its final size.
type parser struct {
	data  []byte
	pos   int
	depth int
	// text, when not empty, is a copy of data (made by a [Decoder]):
	// strings and numbers are its substrings instead of new strings.
	text string
	buf  []byte     // scratch for unescaping
	vals stack[any] // pending array elements
	kvs  stack[kv]  // pending object members
}

type kv struct {
	key string
	val any
	off int // offset of the key in the input
}

func (p *parser) value() (any, *Error) {
	p.pos = skipSpace(p.data, p.pos)
	if p.pos >= len(p.data) {
		return nil, syntaxError(p.pos, "unexpected end of input, expected a value")
	}
	switch c := p.data[p.pos]; c {
	case '{':
		return p.object()
	case '[':
		return p.array()
	case '"':
		return p.str()
	case 't':
		return true, p.literal("true")
	case 'f':
		return false, p.literal("false")
	case 'n':
		return nil, p.literal("null")
	default:
		if c == '-' || isDigit(c) {
			return p.number()
		}
		return nil, syntaxError(p.pos, "unexpected "+describe(p.data, p.pos)+", expected a value")
	}
}

func (p *parser) literal(lit string) *Error {
	if len(p.data)-p.pos < len(lit) || string(p.data[p.pos:p.pos+len(lit)]) != lit {
		return syntaxError(p.pos, "invalid literal, expected "+lit)
	}
	p.pos += len(lit)
	return nil
}

func (p *parser) enter() *Error {
	if p.depth++; p.depth > MaxDepth {
		return atError(p.pos, "nesting deeper than "+strconv.Itoa(MaxDepth)+" levels")
	}
	return nil
}

func (p *parser) object() (any, *Error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	p.pos = skipSpace(p.data, p.pos+1)
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		p.depth--
		return map[string]any{}, nil
	}
	base := p.kvs.len()
	for {
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return nil, syntaxError(p.pos, "unexpected "+describe(p.data, p.pos)+", expected a string for an object key")
		}
		off := p.pos
		key, err := p.key()
		if err != nil {
			return nil, err
		}
		if p.pos = skipSpace(p.data, p.pos); p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return nil, syntaxError(p.pos, "unexpected "+describe(p.data, p.pos)+", expected ':' after an object key")
		}
		p.pos++
		v, err := p.value()
		if err != nil {
			return nil, err.inKey(key)
		}
		p.kvs.push(kv{key, v, off})
		if p.pos = skipSpace(p.data, p.pos); p.pos < len(p.data) {
			if c := p.data[p.pos]; c == ',' {
				p.pos = skipSpace(p.data, p.pos+1)
				continue
			} else if c == '}' {
				p.pos++
				break
			}
		}
		return nil, syntaxError(p.pos, "unexpected "+describe(p.data, p.pos)+", expected ',' or '}' after an object member")
	}
	kvs := p.kvs.from(base)
	m := make(map[string]any, len(kvs))
	for _, e := range kvs {
		if _, dup := m[e.key]; dup {
			return nil, duplicateKey(e.key, e.off)
		}
		m[e.key] = e.val
	}
	p.kvs.truncate(base)
	p.depth--
	return m, nil
}

func duplicateKey(key string, off int) *Error {
	return (&Error{Offset: int64(off), Msg: "duplicate key " + strconv.Quote(key)}).inKey(key)
}

func (p *parser) array() (any, *Error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	p.pos = skipSpace(p.data, p.pos+1)
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		p.depth--
		return []any{}, nil
	}
	base := p.vals.len()
	for i := 0; ; i++ {
		// The index is counted here, not read off the shared stack: a
		// nested array that fails leaves its elements on it.
		v, err := p.value()
		if err != nil {
			return nil, err.inIndex(i)
		}
		p.vals.push(v)
		if p.pos = skipSpace(p.data, p.pos); p.pos < len(p.data) {
			if c := p.data[p.pos]; c == ',' {
				p.pos++
				continue
			} else if c == ']' {
				p.pos++
				break
			}
		}
		return nil, syntaxError(p.pos, "unexpected "+describe(p.data, p.pos)+", expected ',' or ']' after an array element")
	}
	a := make([]any, p.vals.len()-base)
	copy(a, p.vals.from(base))
	p.vals.truncate(base)
	p.depth--
	return a, nil
}

// key reads the object key at p.pos.
func (p *parser) key() (string, *Error) {
	end, escaped, err := scanString(p.data, p.pos)
	if err != nil {
		return "", err
	}
	if escaped || p.text != "" {
		return p.string(end, escaped), nil
	}
	lit := p.data[p.pos+1 : end-1]
	p.pos = end
	return internKey(lit), nil
}

func (p *parser) str() (any, *Error) {
	start := p.pos
	end, escaped, err := scanString(p.data, start)
	if err != nil {
		return nil, err
	}
	if !escaped {
		if v, ok := internValue(p.data[start+1 : end-1]); ok {
			p.pos = end
			return v, nil
		}
	}
	return p.string(end, escaped), nil
}

// string returns the text of the string literal at p.pos, which
// [scanString] has validated up to end, and moves past it.
func (p *parser) string(end int, escaped bool) string {
	start := p.pos
	p.pos = end
	lit := p.data[start+1 : end-1]
	switch {
	case escaped:
		p.buf = unescape(p.buf[:0], lit)
		return string(p.buf)
	case p.text != "":
		return p.text[start+1 : end-1]
	}
	return string(lit)
}

func (p *parser) number() (any, *Error) {
	n, err := p.numberLit()
	if err != nil {
		return nil, err
	}
	switch n {
	case "0":
		return Number("0"), nil
	case "1":
		return Number("1"), nil
	case "0.0":
		return Number("0.0"), nil
	case "1.0":
		return Number("1.0"), nil
	}
	return n, nil
}

// numberLit reads the number literal at p.pos.
func (p *parser) numberLit() (Number, *Error) {
	start := p.pos
	end, integer, err := scanNumber(p.data, start)
	if err != nil {
		return "", err
	}
	p.pos = end
	lit := p.data[start:end]
	if integer {
		if err := checkIntDigits(lit); err != nil {
			return "", atError(start, err.Msg)
		}
	} else if mayOverflow(lit) {
		if _, err := parseFloat(lit); err != nil {
			return "", atError(start, err.Msg)
		}
	}
	switch {
	case p.text != "":
		return Number(p.text[start:end]), nil
	case string(lit) == "0.0":
		return "0.0", nil
	case string(lit) == "1.0":
		return "1.0", nil
	}
	return Number(lit), nil
}
