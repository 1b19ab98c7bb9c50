package directive

import (
	"reflect"
	"testing"
)

func TestNearMiss(t *testing.T) {
	for text, want := range map[string]string{
		"//capsule:audit type=tool":          "",
		"//capsule:audit":                    "",
		"//capsule:direct":                   "",
		"//capsule:direct test fixture":      "",
		"// capsule:audit type=tool":         `"// capsule:audit" is not a directive and is ignored: write //capsule:audit, with no spaces`,
		"//capsule: audit type=tool":         `"//capsule: audit" is not a directive and is ignored: write //capsule:audit, with no spaces`,
		"//  capsule : audit":                `"//  capsule : audit" is not a directive and is ignored: write //capsule:audit, with no spaces`,
		"// capsule:direct":                  `"// capsule:direct" is not a directive and is ignored: write //capsule:direct, with no spaces`,
		"//capsule:audti type=tool":          "unknown directive //capsule:audti is ignored (did you mean audit?)",
		"//capsule:drect":                    "unknown directive //capsule:drect is ignored (did you mean direct?)",
		"//capsule:generate":                 "unknown directive //capsule:generate is ignored (did you mean audit?)",
		"//capsule:":                         "unknown directive //capsule: is ignored (did you mean audit?)",
		"//capsule:auditing":                 "unknown directive //capsule:auditing is ignored (did you mean audit?)",
		"//capsule:audit,type=tool":          `"//capsule:audit,type=tool" is not a directive and is ignored: //capsule:audit must be followed by a space or the end of the line`,
		"// capsule:audti":                   `"// capsule:audti" is not a directive and is ignored (did you mean //capsule:audit?)`,
		"// capsule: a sealed record":        "",
		"// capsule: the sealed record":      "",
		"// Capsule: a record":               "",
		"//go:generate capsulegen":           "",
		"// capsules are sealed":             "",
		"/* capsule:audit */":                `"/* capsule:audit" is a block comment and is ignored: a directive is a line comment, //capsule:audit`,
		"/*capsule:audit type=tool*/":        `"/*capsule:audit" is a block comment and is ignored: a directive is a line comment, //capsule:audit`,
		"/*capsule:direct replay*/":          `"/*capsule:direct" is a block comment and is ignored: a directive is a line comment, //capsule:direct`,
		"/*\n capsule:audit type=tool\n*/":   `"/*\n capsule:audit" is a block comment and is ignored: a directive is a line comment, //capsule:audit`,
		"/*capsule:audti*/":                  `"/*capsule:audti" is a block comment and is ignored (did you mean the line comment //capsule:audit?)`,
		"/* capsule: a sealed record */":     "",
		"/* capsules are sealed */":          "",
		"// see capsule:audit in the README": "",
	} {
		if got := NearMiss(text); got != want {
			t.Errorf("NearMiss(%q) = %q, want %q", text, got, want)
		}
	}
}

func TestNearest(t *testing.T) {
	for word, want := range map[string]string{
		"tenant_fro":    "tenant_from",
		"typ":           "type",
		"tpye":          "type",
		"trigger":       "trigger_from",
		"swallow_error": "swallow_errors",
		"capsule":       "capsules",
		"t":             "",
		"bogus":         "",
		"":              "",
	} {
		if got := Nearest(word, Keys); got != want {
			t.Errorf("Nearest(%q) = %q, want %q", word, got, want)
		}
	}
}

// TestParseBroken checks that a malformed or misspelled argument is
// reported with a suggestion and recorded as broken, so that checks of a
// missing key stay quiet about it.
func TestParseBroken(t *testing.T) {
	d, errs := Parse(`//capsule:audit typ=tool tenant_fro=x trigger_from="a domain=`, 0)
	var msgs []string
	for _, e := range errs {
		msgs = append(msgs, e.Msg)
	}
	want := []string{
		`unknown key "typ" (did you mean type?)`,
		`unknown key "tenant_fro" (did you mean tenant_from?)`,
		`malformed directive: unterminated quoted value for key "trigger_from"`,
	}
	if !reflect.DeepEqual(msgs, want) {
		t.Errorf("errors %q, want %q", msgs, want)
	}
	if got := []string{"type", "tenant_from", "trigger_from"}; !reflect.DeepEqual(d.Broken, got) {
		t.Errorf("Broken = %q, want %q", d.Broken, got)
	}
	if !d.Mentions(KeyType) || d.Mentions(KeySource) {
		t.Errorf("Mentions: type %v, source %v", d.Mentions(KeyType), d.Mentions(KeySource))
	}
}

func TestWrapperName(t *testing.T) {
	for name, want := range map[string]string{"Run": "AuditedRun", "run": "auditedRun", "éclair": "auditedÉclair"} {
		if got := WrapperName(name); got != want {
			t.Errorf("WrapperName(%q) = %q, want %q", name, got, want)
		}
	}
}

// FuzzNearMiss checks that NearMiss never panics and never warns about a
// directive.
func FuzzNearMiss(f *testing.F) {
	for _, s := range []string{"// capsule:audit", "//capsule:audti", "//capsule: direct x", "//capsule:", "// capsule : é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		if NearMiss(text) != "" && (IsAudit(text) || IsDirect(text)) {
			t.Fatalf("NearMiss(%q) warns about a directive", text)
		}
	})
}
