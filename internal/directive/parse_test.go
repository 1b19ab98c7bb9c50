package directive

import (
	"go/token"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestIsAudit(t *testing.T) {
	for text, want := range map[string]bool{
		"//capsule:audit":            true,
		"//capsule:audit type=agent": true,
		"//capsule:audit\ttype=tool": true,
		"// capsule:audit type=tool": false,
		"//capsule:auditing":         false,
		"/*capsule:audit type=x*/":   false,
		"//go:generate capsulegen":   false,
	} {
		if got := IsAudit(text); got != want {
			t.Errorf("IsAudit(%q) = %v, want %v", text, got, want)
		}
	}
}

func TestParseDirective(t *testing.T) {
	const base = token.Pos(100)
	type kv struct {
		key, value string
		keyCol     int // byte offset of the key in the text
	}
	tests := []struct {
		text string
		args []kv
		errs []string // "offset: message"
	}{
		{
			text: `//capsule:audit type=agent tenant_from=req.SiteID`,
			args: []kv{{"type", "agent", 16}, {"tenant_from", "req.SiteID", 27}},
		},
		{
			text: "//capsule:audit  type=tool\tsource=\"a \\\"b\\\" c\"   domain=\"\"",
			args: []kv{{"type", "tool", 17}, {"source", `a "b" c`, 27}, {"domain", "", 48}},
		},
		{
			text: `//capsule:audit source="caf\u00e9 \t x"`,
			args: []kv{{"source", "café \t x", 16}},
		},
		{
			text: `//capsule:audit type=agent type=tool bogus=1 x`,
			args: []kv{{"type", "agent", 16}},
			errs: []string{
				`27: duplicate key "type"`,
				`37: unknown key "bogus" (known keys: type, tenant_from, tenant_id, tenant_func, trigger_from, source, domain, swallow_errors, capsules)`,
				`45: malformed directive: want key=value, found "x"`,
			},
		},
		{
			text: `//capsule:audit source="open`,
			errs: []string{`23: malformed directive: unterminated quoted value for key "source"`},
		},
		{
			text: `//capsule:audit source="ends with backslash\"`,
			errs: []string{`23: malformed directive: unterminated quoted value for key "source"`},
		},
		{
			text: `//capsule:audit domain= type=tool`,
			args: []kv{{"type", "tool", 24}},
			errs: []string{`16: missing value for key "domain"`},
		},
	}
	for _, tt := range tests {
		d, errs := Parse(tt.text, base)
		var gotArgs []kv
		for _, a := range d.Args {
			gotArgs = append(gotArgs, kv{a.Key, a.Value, int(a.KeyPos - base)})
		}
		if !reflect.DeepEqual(gotArgs, tt.args) {
			t.Errorf("%s: args %+v, want %+v", tt.text, gotArgs, tt.args)
		}
		var gotErrs []string
		for _, e := range errs {
			gotErrs = append(gotErrs, strconv.Itoa(int(e.Pos-base))+": "+e.Msg)
		}
		if !reflect.DeepEqual(gotErrs, tt.errs) {
			t.Errorf("%s: errors %q, want %q", tt.text, gotErrs, tt.errs)
		}
	}
}

// FuzzParseDirective checks that parsing never panics, that every key
// position points at its key, and that values written back quoted parse
// to the same values.
func FuzzParseDirective(f *testing.F) {
	f.Add(`type=agent tenant_from=req.SiteID`)
	f.Add(`source="a \"b\" c" domain=""`)
	f.Add(`x= ="" "=" type="\u00e9\n`)
	f.Fuzz(func(t *testing.T, rest string) {
		if strings.ContainsAny(rest, "\n\r") {
			return // a line comment has no line breaks
		}
		text := AuditPrefix + " " + rest
		d, _ := Parse(text, 1)
		var again strings.Builder
		again.WriteString(AuditPrefix)
		for _, a := range d.Args {
			off := int(a.KeyPos - 1)
			if off < 0 || !strings.HasPrefix(text[off:], a.Key+"=") {
				t.Fatalf("key %q at offset %d of %q", a.Key, off, text)
			}
			again.WriteString(" " + a.Key + "=" + strconv.Quote(a.Value))
		}
		d2, errs := Parse(again.String(), 1)
		if len(errs) > 0 || len(d2.Args) != len(d.Args) {
			t.Fatalf("reparsing %q: %v", again.String(), errs)
		}
		for i := range d.Args {
			if d.Args[i].Key != d2.Args[i].Key || d.Args[i].Value != d2.Args[i].Value {
				t.Fatalf("reparsing %q: %+v != %+v", again.String(), d2.Args[i], d.Args[i])
			}
		}
	})
}
