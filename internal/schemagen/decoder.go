package main

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/capsule-go/capsule/protocol/schema"
)

// genDecoder writes reader.content, the body of FromContent: each field
// read with the reader method of its kind, in the declaration's order.
// The decoder enforces the rules the model cannot hold otherwise: a
// constant (the model has no field for it) and a required id (UUID, not
// nullable). It also writes contentKey, the top-level keys.
func genDecoder(b *bytes.Buffer) error {
	b.WriteString(`// content reads the content dict r.m into c, field by field in the
// protocol's order; the first error is kept in r.err.
func (r *reader) content(c *Capsule) {
`)
	if err := readFields(b, "r", "c", "", schema.Content, 0); err != nil {
		return err
	}
	b.WriteString("}\n\n// contentKey reports whether k is a top-level key of content.\nfunc contentKey(k string) bool {\n\tswitch k {\n\tcase ")
	for i, f := range schema.Content {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Quote(f.Key))
	}
	b.WriteString(":\n\t\treturn true\n\t}\n\treturn false\n}\n\n")
	return nil
}

// readFields writes the reads of the fields fs of the object that reader
// r reads into the Go value expr, at path. The readers of array elements
// (el<depth>) carry their element's path as a prefix.
func readFields(b *bytes.Buffer, r, expr, path string, fs []schema.Field, depth int) error {
	for i := range fs {
		f := &fs[i]
		x := expr + "." + f.Go
		p := strconv.Quote(join(path, f.Key))
		if strings.HasPrefix(r, "el") {
			p = strconv.Quote(f.Key) // the element's reader prefixes its path
		}
		switch {
		case f.Rule == schema.Const:
			fmt.Fprintf(b, "%s.constant(%s, %s)\n", r, p, strconv.Quote(f.Value))
		case f.Rule == schema.UUID && !f.Nullable:
			fmt.Fprintf(b, "%s.uuid(%s, &%s)\n", r, p, x)
		case f.Rule == schema.Timestamp:
			fmt.Fprintf(b, "%s.time(%s, &%s)\n", r, p, x)
		case f.Kind == schema.String && f.GoType != "":
			fmt.Fprintf(b, "if s := %s.named(%s); s != \"\" {\n%s = %s(s)\n}\n", r, p, x, f.GoType)
		case f.Kind == schema.String && f.Nullable:
			fmt.Fprintf(b, "%s.nullable(%s, &%s)\n", r, p, x)
		case f.Kind == schema.String:
			fmt.Fprintf(b, "%s.str(%s, &%s)\n", r, p, x)
		case f.Kind == schema.Integer:
			fmt.Fprintf(b, "%s.int(%s, &%s)\n", r, p, x)
		case f.Kind == schema.Number:
			fmt.Fprintf(b, "%s.float(%s, &%s)\n", r, p, x)
		case f.Kind == schema.Bool:
			fmt.Fprintf(b, "%s.bool(%s, &%s)\n", r, p, x)
		case f.Kind == schema.Any:
			fmt.Fprintf(b, "%s.any(%s, &%s)\n", r, p, x)
		case f.IsSection():
			s := fmt.Sprintf("x%d", depth)
			fmt.Fprintf(b, "if %s, ok := %s.section(%s); ok {\n", s, r, p)
			if err := readFields(b, s, x, join(path, f.Key), f.Fields, depth+1); err != nil {
				return err
			}
			for _, m := range f.Fields {
				if array, key, ok := strings.Cut(m.Mirror, "."); ok {
					a := fieldOf(f.Fields, array)
					fmt.Fprintf(b, "if len(%s.%s) > 0 && %s.%s != nil {\n%s.mirror(%s, %s, %s, %s.%s, len(%s.%s), func(i int) string { return %s.%s[i].%s })\n}\n",
						x, a.Go, x, m.Go,
						s, strconv.Quote(join(join(path, f.Key), m.Key)), strconv.Quote(join(join(path, f.Key), array)), strconv.Quote(key), x, m.Go, x, a.Go,
						x, a.Go, goName(a.Fields, key))
				}
			}
			fmt.Fprintf(b, "%s.done(%s)\n}\n", s, p)
		case f.Kind == schema.Object:
			fmt.Fprintf(b, "%s.object(%s, &%s)\n", r, p, x)
		case f.Kind == schema.Array && f.Elem == schema.String:
			fmt.Fprintf(b, "%s.strs(%s, &%s)\n", r, p, x)
		case f.Kind == schema.Array && len(f.Fields) > 0:
			el := fmt.Sprintf("el%d", depth)
			fmt.Fprintf(b, "%s.list(%s, func(i int, v any) {\n%s, ok := %s.elem(%s, i, v)\nif !ok {\nreturn\n}\nvar o %s\n", r, p, el, r, p, f.GoType)
			if err := readFields(b, el, "o", join(path, f.Key), f.Fields, depth+1); err != nil {
				return err
			}
			fmt.Fprintf(b, "%s.done(\"\")\n%s = append(%s, o)\n})\n", el, x, x)
		case f.Kind == schema.Array:
			fmt.Fprintf(b, "%s.objects(%s, &%s)\n", r, p, x)
		default:
			return fmt.Errorf("no reader for %s", p)
		}
	}
	return nil
}
