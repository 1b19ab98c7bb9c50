package schema

import (
	"slices"
	"strings"
	"testing"
)

// The declaration is well formed: every field has a kind and a Go home
// (unless the encoders write it as a constant), rules fit kinds, keys are
// unique within their object, and mirrors name a sibling array's key.
func TestDeclaration(t *testing.T) {
	var walk func(path string, fs []Field)
	walk = func(path string, fs []Field) {
		seen := map[string]bool{}
		for _, f := range fs {
			p := path + f.Key
			switch {
			case f.Kind < String || f.Kind > Any:
				t.Errorf("%s: no kind", p)
			case seen[f.Key]:
				t.Errorf("%s: declared twice", p)
			case f.Go == "" && f.Rule != Const:
				t.Errorf("%s: no Go field", p)
			case (f.Rule == OneOf) != (len(f.Enum) > 0):
				t.Errorf("%s: Enum goes with OneOf", p)
			case (f.Rule == Const) != (f.Value != ""):
				t.Errorf("%s: Value goes with Const", p)
			case len(f.Fields) > 0 && f.GoType == "":
				t.Errorf("%s: declared object without a Go struct name", p)
			case len(f.Fields) > 0 && f.Kind != Object && f.Elem != Object:
				t.Errorf("%s: Fields on a %v", p, f.Kind)
			}
			seen[f.Key] = true
			if f.Mirror != "" {
				array, key, _ := strings.Cut(f.Mirror, ".")
				i := slices.IndexFunc(fs, func(g Field) bool { return g.Key == array })
				if i < 0 || !slices.ContainsFunc(fs[i].Fields, func(g Field) bool { return g.Key == key }) {
					t.Errorf("%s: mirror %q names no sibling array's key", p, f.Mirror)
				}
			}
			walk(p+".", f.Fields)
		}
	}
	walk("", Content)
	if n := len(slices.DeleteFunc(slices.Clone(Content), func(f Field) bool { return !f.IsSection() })); n != 6 {
		t.Errorf("%d sections, want 6", n)
	}
}

func TestKeys(t *testing.T) {
	keys := Keys()
	for _, k := range []string{"id", "trigger", "prompt_hash", "tool", "rejection_reason", "hash", "signed_by"} {
		if !slices.Contains(keys, k) {
			t.Errorf("Keys lacks %q", k)
		}
	}
	if len(slices.Compact(slices.Sorted(slices.Values(keys)))) != len(keys) {
		t.Errorf("Keys has duplicates: %q", keys)
	}
}
