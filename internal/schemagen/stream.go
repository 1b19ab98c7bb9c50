package main

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/capsule-go/capsule/protocol/schema"
)

// genStream writes the methods of ParseContent's decoder, one per struct
// of the model (decodeCapsule, decodeTrigger, …): each reads one object
// of content text member by member, in the input's order, into the
// struct, and stops the decoder at the first member that FromContent
// would refuse: an unknown or repeated key, a value of the wrong type, a
// broken rule of the decoder (an id, a constant, a timestamp, a mirror).
// The capsule's type is read by capsuleType, which refuses what
// FromContent's check of the type refuses before anything else.
func genStream(b *bytes.Buffer) error {
	for _, o := range objects() {
		if len(o.fields) > 32 {
			return fmt.Errorf("%s: more than 32 fields for the decoder's seen bits", o.name)
		}
		what := "content"
		if o.path != "" {
			what = o.path
		}
		fmt.Fprintf(b, "// decode%s reads one %s object into x.\nfunc (d *decoder) decode%s(x *%s) {\n", o.name, what, o.name, o.name)
		b.WriteString("if !d.BeginObject() {\nreturn\n}\nvar seen uint32\nfor key, ok := d.Key(); ok; key, ok = d.Key() {\nswitch string(key) {\n")
		for i := range o.fields {
			f := &o.fields[i]
			fmt.Fprintf(b, "case %s:\nd.once(&seen, 1<<%d)\n", strconv.Quote(f.Key), i)
			if err := streamField(b, o, f); err != nil {
				return err
			}
		}
		b.WriteString("default:\nd.unknown()\n}\n}\n")
		for _, m := range o.fields {
			if array, key, ok := strings.Cut(m.Mirror, "."); ok {
				a := fieldOf(o.fields, array)
				fmt.Fprintf(b, "if len(x.%s) > 0 && x.%s != nil {\nd.mirror(x.%s, len(x.%s), func(i int) string { return x.%s[i].%s })\n}\n",
					a.Go, m.Go, m.Go, a.Go, a.Go, goName(a.Fields, key))
			}
		}
		b.WriteString("}\n\n")
	}
	return nil
}

// streamField writes the read of the value of the field f of the object o
// into x.
func streamField(b *bytes.Buffer, o object, f *schema.Field) error {
	x := "x." + f.Go
	switch {
	case f.Rule == schema.Const:
		fmt.Fprintf(b, "d.constant(%s)\n", strconv.Quote(f.Value))
	case f.Rule == schema.UUID && !f.Nullable:
		fmt.Fprintf(b, "d.uuid(&%s)\n", x)
	case f.Rule == schema.Timestamp:
		fmt.Fprintf(b, "d.time(&%s)\n", x)
	case o.path == "" && f.Key == "type":
		fmt.Fprintf(b, "d.capsuleType(&%s)\n", x)
	case f.Kind == schema.String && f.GoType != "":
		fmt.Fprintf(b, "if s := d.String(); s != \"\" {\n%s = %s(s)\n}\n", x, f.GoType)
	case f.Kind == schema.String && f.Nullable:
		fmt.Fprintf(b, "d.nullable(&%s)\n", x)
	case f.Kind == schema.String:
		fmt.Fprintf(b, "d.str(&%s)\n", x)
	case f.Kind == schema.Integer:
		fmt.Fprintf(b, "d.int(&%s)\n", x)
	case f.Kind == schema.Number:
		fmt.Fprintf(b, "d.float(&%s)\n", x)
	case f.Kind == schema.Bool:
		fmt.Fprintf(b, "d.bool(&%s)\n", x)
	case f.Kind == schema.Any:
		fmt.Fprintf(b, "d.any(&%s)\n", x)
	case f.IsSection():
		fmt.Fprintf(b, "d.decode%s(&%s)\n", f.GoType, x)
	case f.Kind == schema.Object:
		fmt.Fprintf(b, "d.object(&%s)\n", x)
	case f.Kind == schema.Array && f.Elem == schema.String:
		fmt.Fprintf(b, "d.strs(&%s)\n", x)
	case f.Kind == schema.Array && len(f.Fields) > 0:
		fmt.Fprintf(b, "if d.BeginArray() {\nfor d.More() {\nvar o %s\nd.decode%s(&o)\n%s = append(%s, o)\n}\n}\n", f.GoType, f.GoType, x, x)
	case f.Kind == schema.Array:
		fmt.Fprintf(b, "d.objects(&%s)\n", x)
	default:
		return fmt.Errorf("no stream reader for %s", join(o.path, f.Key))
	}
	return nil
}
