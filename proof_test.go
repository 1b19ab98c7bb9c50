package capsule

import (
	"bytes"
	"testing"

	"github.com/capsule-go/capsule/protocol/canonical"
	"github.com/capsule-go/capsule/protocol/validate"
)

// A field added to the declaration is encoded, decoded, validated and
// interned without any other change.
func TestThrowawayField(t *testing.T) {
	c := New(TypeAgent)
	c.Context.SourceAttribution = "doc-7"
	b, err := c.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"session_id":null,"source_attribution":"doc-7"}`)) {
		t.Fatalf("canonical JSON: %s", b)
	}
	v, err := canonical.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if verr := validate.Content(v.(map[string]any)); verr != nil {
		t.Fatal(verr)
	}
	d, err := FromContent(v.(map[string]any))
	if err != nil || d.Context.SourceAttribution != "doc-7" {
		t.Fatalf("FromContent: %v, %+v", err, d)
	}
	delete(v.(map[string]any)["context"].(map[string]any), "source_attribution")
	if verr := validate.Content(v.(map[string]any)); verr == nil || verr.Field != "context.source_attribution" {
		t.Fatalf("validate without the field: %v", verr)
	}
}
