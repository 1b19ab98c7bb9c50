package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/capsule-go/capsule/protocol/schema"
)

// The generated files in the tree are what the declaration gives now, and
// generating is deterministic.
func TestGeneratedFilesAreFresh(t *testing.T) {
	files, err := generate()
	if err != nil {
		t.Fatal(err)
	}
	again, err := generate()
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range files {
		if !bytes.Equal(f.src, again[i].src) {
			t.Errorf("%s: two runs differ", f.path)
		}
		old, err := os.ReadFile(filepath.Join("..", "..", f.path))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(old, f.src) {
			t.Errorf("%s is stale: run go generate . in the module's root", f.path)
		}
	}
}

// A field added to the declaration reaches the model's struct, encoder,
// decoder and the parser's interned keys with no other change (the proof
// of issue 20: one declaration plus its tests). The field is a throwaway,
// added to a copy of the declaration for the test.
func TestOneDeclarationAddsAField(t *testing.T) {
	saved := schema.Content
	defer func() { schema.Content = saved }()
	content := slices.Clone(saved)
	i := slices.IndexFunc(content, func(f schema.Field) bool { return f.Key == "context" })
	content[i].Fields = append(slices.Clone(content[i].Fields),
		schema.Field{Key: "source_attribution", Kind: schema.String, Nullable: true, Go: "SourceAttribution"})
	schema.Content = content

	files, err := generate()
	if err != nil {
		t.Fatal(err)
	}
	src := map[string]string{}
	for _, f := range files {
		src[f.path] = string(f.src)
	}
	for path, want := range map[string][]string{
		"model_gen.go": {
			"\tSourceAttribution string\n", // the struct
			"Context.SourceAttribution",    // its doc: a null default
			"`,\"source_attribution\":`",   // the encoder, in key order
			"e.nullable(b, c.Context.SourceAttribution, \"context.source_attribution\")",                      // its value
			"x0.nullable(\"context.source_attribution\", &c.Context.SourceAttribution)",                       // the decoder
			"case \"source_attribution\":\n\t\t\td.once(&seen, 1<<3)\n\t\t\td.nullable(&x.SourceAttribution)", // the text decoder
		},
		"protocol/canonical/schema_gen.go": {"case \"source_attribution\":"}, // the interned key
	} {
		for _, w := range want {
			if !strings.Contains(src[path], w) {
				t.Errorf("%s lacks %q", path, w)
			}
		}
	}
	if !strings.Contains(src["model_gen.go"], "`,\"session_id\":`...)\n\tb = e.nullable(b, c.Context.SessionID, \"context.session_id\")\n\tb = append(b, `,\"source_attribution\":`") {
		t.Errorf("source_attribution is not encoded right after session_id")
	}
}
