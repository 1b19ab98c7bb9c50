package main

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/capsule-go/capsule/protocol/schema"
)

// emitter writes straight-line code that appends to b, merging the
// literal JSON between values into one append.
type emitter struct {
	b   *bytes.Buffer
	lit strings.Builder
}

func (e *emitter) text(s string) { e.lit.WriteString(s) }

func (e *emitter) flush() {
	if e.lit.Len() == 0 {
		return
	}
	s := e.lit.String()
	q := "`" + s + "`"
	if strings.Contains(s, "`") {
		q = strconv.Quote(s)
	}
	if len(s) == 1 {
		q = strconv.QuoteRune(rune(s[0]))
		fmt.Fprintf(e.b, "b = append(b, %s)\n", q)
	} else {
		fmt.Fprintf(e.b, "b = append(b, %s...)\n", q)
	}
	e.lit.Reset()
}

func (e *emitter) code(format string, args ...any) {
	e.flush()
	fmt.Fprintf(e.b, format+"\n", args...)
}

// genEncoder writes parts.encode: the canonical JSON of the content, keys
// in code-point order, with the chain's fields left for parts.assemble.
func genEncoder(b *bytes.Buffer) {
	b.WriteString(`// encode writes c's content except previous_hash and sequence into p.buf.
// Keys are written in code-point order; see PROTOCOL.md for the layout.
func (p *parts) encode(c *Capsule) error {
	b := p.buf[:0]
	e := encoder{}
`)
	em := &emitter{b: b}
	em.object("c", "", "", schema.Content, 0)
	em.flush()
	b.WriteString("\tp.buf = b\n\treturn e.err\n}\n\n")
}

// object writes the object of fields fs held by the Go value expr: at
// path, or inside the array at path when index names the loop variable.
func (e *emitter) object(expr, path, index string, fs []schema.Field, depth int) {
	// An array that a mirror lists is read from a variable, which the
	// reference's legacy form fills from the mirror when it is empty.
	for i := range fs {
		f := &fs[i]
		if m := mirrored(fs, f); m != nil && f.Kind == schema.Array {
			v := lowerFirst(f.Go)
			e.code("%s := %s.%s", v, expr, f.Go)
			e.code("if len(%s) == 0 && len(%s.%s) > 0 {\n%s = legacy%s(&%s)\n}", v, expr, m.Go, v, f.Go, expr)
		}
	}
	e.text("{")
	for i, f := range keysOf(fs) {
		if i > 0 {
			e.text(",")
		}
		e.text(strconv.Quote(f.Key) + ":")
		p := path
		if index == "" {
			p = join(path, f.Key)
		}
		e.value(expr, p, index, fs, &f, depth)
	}
	e.text("}")
}

// value writes the value of field f (one of fs) of the Go value expr.
func (e *emitter) value(expr, path, index string, fs []schema.Field, f *schema.Field, depth int) {
	x := expr + "." + f.Go
	q := strconv.Quote(path)
	switch {
	case f.Chain && f.Kind == schema.String:
		e.code("p.prevAt = len(b)")
	case f.Chain && f.Kind == schema.Integer:
		e.code("p.seqAt = len(b)")
	case f.Rule == schema.Const:
		e.text(strconv.Quote(f.Value))
	case f.Rule == schema.Timestamp:
		e.text(`"`)
		e.code("b = canonical.AppendTimestamp(b, %s)", x)
		e.text(`"`)
	case f.Kind == schema.String && f.Nullable:
		e.code("b = e.nullable(b, %s, %s)", x, q)
	case f.Kind == schema.String && f.GoType != "":
		e.code("b = e.str(b, string(%s), %s)", x, q)
	case f.Kind == schema.String:
		e.code("b = e.str(b, %s, %s)", x, q)
	case f.Kind == schema.Integer:
		e.code("b = strconv.AppendInt(b, %s, 10)", x)
	case f.Kind == schema.Number:
		e.code("b = e.float(b, %s, %s)", x, q)
	case f.Kind == schema.Bool:
		e.code("b = strconv.AppendBool(b, %s)", x)
	case f.IsSection():
		e.object(x, path, index, f.Fields, depth)
	case f.Kind == schema.Object:
		e.code("b = e.object(b, %s, %s)", x, q)
	case f.Kind == schema.Any:
		if index == "" {
			index = "-1"
		}
		e.code("b = e.value(b, %s, %s, %s)", x, q, index)
	case f.Kind == schema.Array && f.Mirror != "":
		array, key, _ := strings.Cut(f.Mirror, ".")
		src := lowerFirst(goName(fs, array))
		e.text("[")
		e.code("for i := range %s {\nif i > 0 {\nb = append(b, ',')\n}\nb = e.str(b, %s[i].%s, %s)\n}", src, src, goName(fieldOf(fs, array).Fields, key), q)
		e.text("]")
	case f.Kind == schema.Array && f.Elem == schema.String:
		e.code("b = e.strings(b, %s, %s)", x, q)
	case f.Kind == schema.Array && len(f.Fields) > 0:
		src := x
		if mirrored(fs, f) != nil {
			src = lowerFirst(f.Go)
		}
		i, el := "i", "el"
		if depth > 0 {
			i, el = fmt.Sprintf("i%d", depth), fmt.Sprintf("el%d", depth)
		}
		e.text("[")
		e.code("for %s := range %s {\n%s := &%s[%s]\nif %s > 0 {\nb = append(b, ',')\n}", i, src, el, src, i, i)
		e.object(el, path, i, f.Fields, depth+1)
		e.code("}")
		e.text("]")
	case f.Kind == schema.Array:
		e.text("[")
		e.code("for i, v := range %s {\nif i > 0 {\nb = append(b, ',')\n}\nb = e.value(b, v, %s, i)\n}", x, q)
		e.text("]")
	default:
		panic("schemagen: no encoding for " + path)
	}
}

// fieldOf returns the field of fs with the key.
func fieldOf(fs []schema.Field, key string) *schema.Field {
	for i := range fs {
		if fs[i].Key == key {
			return &fs[i]
		}
	}
	panic("schemagen: no field " + key)
}

// goName returns the Go name of the field of fs with the key.
func goName(fs []schema.Field, key string) string { return fieldOf(fs, key).Go }
