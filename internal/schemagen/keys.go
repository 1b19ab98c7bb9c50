package main

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"

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
	b.WriteString("\t}\n\treturn nil, false\n}\n\n")
	genRules(b)
	return nil
}

// node is an object or array of the content on the way to a field that a
// content rule of canonical JSON applies to: a float-typed number (rule
// 3) or a timestamp (rule 4).
type node struct {
	name, path string
	members    [][2]string // key, node name
	elem       string      // for an array, the node of its elements
}

// genRules writes the canonical encoder's map of the content rules: the
// type field (where a value sits), child and elem.
func genRules(b *bytes.Buffer) {
	var nodes []*node
	// walk returns the name of the node of the object fs at path, "" when
	// no rule applies below it.
	var walk func(name, path string, fs []schema.Field) string
	walk = func(name, path string, fs []schema.Field) string {
		n := &node{name: name, path: path}
		nodes = append(nodes, n)
		at := len(nodes)
		for _, f := range fs {
			p := join(path, f.Key)
			sub := ""
			switch {
			case f.Kind == schema.Number:
				sub = "fFloat"
			case f.Rule == schema.Timestamp:
				sub = "fTimestamp"
			case f.IsSection():
				sub = walk(goIdent(p), p, f.Fields)
			case f.Kind == schema.Array && len(f.Fields) > 0:
				arr := &node{name: goIdent(p), path: p}
				nodes = append(nodes, arr)
				i := len(nodes)
				if arr.elem = walk(goIdent(p)+"Elem", p+"[i]", f.Fields); arr.elem != "" {
					sub = arr.name
				} else {
					nodes = slices.Delete(nodes, i-1, i)
				}
			}
			if sub != "" {
				n.members = append(n.members, [2]string{f.Key, sub})
			}
		}
		if len(n.members) == 0 {
			nodes = slices.Delete(nodes, at-1, at)
			return ""
		}
		return name
	}
	walk("fContent", "", schema.Content)
	b.WriteString("// field says where a value sits in capsule content, for the capsule rules.\ntype field uint8\n\nconst (\n")
	b.WriteString("\tfAny field = iota // generic JSON, no capsule rules\n")
	for _, n := range nodes {
		what := n.path
		if what == "" {
			what = "the content object"
		}
		fmt.Fprintf(b, "\t%s // %s\n", n.name, what)
	}
	b.WriteString("\tfFloat // a float-typed number (rule 3)\n\tfTimestamp // a timestamp (rule 4)\n)\n\n")
	b.WriteString("// child returns the field of the member key of an object at f.\nfunc child[S ~string | ~[]byte](f field, key S) field {\n\tswitch f {\n")
	for _, n := range nodes {
		if len(n.members) == 0 {
			continue
		}
		fmt.Fprintf(b, "\tcase %s:\n\t\tswitch string(key) {\n", n.name)
		for _, m := range n.members {
			fmt.Fprintf(b, "\t\tcase %q:\n\t\t\treturn %s\n", m[0], m[1])
		}
		b.WriteString("\t\t}\n")
	}
	b.WriteString("\t}\n\treturn fAny\n}\n\n")
	b.WriteString("// elem returns the field of the elements of an array at f.\nfunc (f field) elem() field {\n\tswitch f {\n")
	for _, n := range nodes {
		if n.elem != "" {
			fmt.Fprintf(b, "\tcase %s:\n\t\treturn %s\n", n.name, n.elem)
		}
	}
	b.WriteString("\t}\n\treturn fAny\n}\n")
}

// goIdent returns the name of the field constant of the content at path:
// f and its keys in camel case.
func goIdent(path string) string {
	name := "f"
	for _, part := range strings.FieldsFunc(path, func(r rune) bool { return r == '.' || r == '_' }) {
		name += strings.ToUpper(part[:1]) + part[1:]
	}
	return name
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
