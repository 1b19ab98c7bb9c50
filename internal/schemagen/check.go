package main

import (
	"bytes"
	"fmt"
	"strconv"

	"github.com/capsule-go/capsule/protocol/schema"
)

// genCheck writes Capsule.check: the declaration's rules that the model's
// values can break (the chain's fields, constants and timestamps aside),
// in the declaration's order, and the lists of the enumerations. Paths of
// array elements are formatted only for a report.
func genCheck(b *bytes.Buffer) {
	b.WriteString("// check reports the first field of c that breaks a rule of the\n// declaration, as a *FieldError.\nfunc (c *Capsule) check() error {\n")
	var enums []*schema.Field
	var walk func(expr, path, index string, fs []schema.Field, depth int)
	walk = func(expr, path, index string, fs []schema.Field, depth int) {
		for i := range fs {
			f := &fs[i]
			x := expr + "." + f.Go
			p := join(path, f.Key)
			field := strconv.Quote(p)
			if index != "" {
				field = fmt.Sprintf("fmt.Sprintf(%s, %s)", strconv.Quote(path+"[%d]."+f.Key), index)
			}
			var msg string
			switch {
			case f.Chain:
				continue
			case f.Rule == schema.UUID:
				msg = fmt.Sprintf("uuidMsg(%s, %t)", x, f.Nullable)
			case f.Rule == schema.OneOf:
				enums = append(enums, f)
				msg = fmt.Sprintf("oneOfMsg(string(%s), enum%s)", x, f.Go)
			case f.Rule == schema.UnitInterval:
				msg = fmt.Sprintf("unitMsg(%s)", x)
			case f.Rule == schema.NonNegative:
				msg = fmt.Sprintf("nonNegativeMsg(%s)", x)
			}
			if msg != "" {
				fmt.Fprintf(b, "if msg := %s; msg != \"\" {\nreturn &FieldError{Field: %s, Msg: msg}\n}\n", msg, field)
			}
			if f.MaxLen > 0 {
				fmt.Fprintf(b, "if msg := maxLenMsg(%s, %d); msg != \"\" {\nreturn &FieldError{Field: %s, Msg: msg}\n}\n", x, f.MaxLen, field)
			}
			switch {
			case f.IsSection():
				walk(x, p, index, f.Fields, depth)
			case f.Kind == schema.Array && len(f.Fields) > 0 && hasRules(f.Fields):
				i, el := "i", "el"
				if depth > 0 {
					i, el = fmt.Sprintf("i%d", depth), fmt.Sprintf("el%d", depth)
				}
				fmt.Fprintf(b, "for %s := range %s {\n%s := &%s[%s]\n", i, x, el, x, i)
				walk(el, p, i, f.Fields, depth+1)
				b.WriteString("}\n")
			}
		}
	}
	walk("c", "", "", schema.Content, 0)
	b.WriteString("return nil\n}\n\n")
	for _, f := range enums {
		fmt.Fprintf(b, "// enum%s are the values of %s.\nvar enum%s = []string{", f.Go, f.Key, f.Go)
		for i, v := range f.Enum {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(strconv.Quote(v))
		}
		b.WriteString("}\n\n")
	}
}

// hasRules reports whether any of fs, or of their declared objects, has a
// rule that check tests.
func hasRules(fs []schema.Field) bool {
	for _, f := range fs {
		switch f.Rule {
		case schema.UUID, schema.OneOf, schema.UnitInterval, schema.NonNegative:
			return true
		}
		if f.MaxLen > 0 || hasRules(f.Fields) {
			return true
		}
	}
	return false
}
