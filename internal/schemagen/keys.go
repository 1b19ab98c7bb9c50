package main

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"

	"github.com/capsule-go/capsule/protocol/schema"
)

// genKeys writes the canonical parser's interning: every key of the
// content and the seal, and the protocol's enumerated and default string
// values, returned without allocating.
func genKeys(b *bytes.Buffer) error {
	b.WriteString("package canonical\n\n// internKey returns the keys of the protocol without allocating.\nfunc internKey(b []byte) string {\n\tswitch string(b) {\n")
	for _, k := range schema.Keys() {
		fmt.Fprintf(b, "\tcase %q:\n\t\treturn %q\n", k, k)
	}
	b.WriteString("\t}\n\treturn string(b)\n}\n\n")
	b.WriteString("// internValue returns the enumerated and default string values of the\n// protocol as interface values without allocating.\nfunc internValue(b []byte) (any, bool) {\n\tswitch string(b) {\n")
	for _, v := range values() {
		fmt.Fprintf(b, "\tcase %s:\n\t\treturn %s, true\n", strconv.Quote(v), strconv.Quote(v))
	}
	b.WriteString("\t}\n\treturn nil, false\n}\n")
	return nil
}

// values returns the empty string and the declaration's enumerated,
// default and constant string values, each once, in declaration order.
func values() []string {
	vals := []string{""}
	add := func(vs ...string) {
		for _, v := range vs {
			if !slices.Contains(vals, v) {
				vals = append(vals, v)
			}
		}
	}
	var walk func([]schema.Field)
	walk = func(fs []schema.Field) {
		for _, f := range fs {
			if f.Kind == schema.String {
				add(f.Enum...)
				if f.Default != "" {
					add(f.Default)
				}
				if f.Value != "" {
					add(f.Value)
				}
			}
			walk(f.Fields)
		}
	}
	walk(schema.Content)
	return vals
}
