package capsule

import (
	"testing"

	"github.com/capsule-go/capsule/protocol/canonical"
)

// BenchmarkFromContent measures the decoder: the "full" fixture's content
// dict read into a Capsule.
func BenchmarkFromContent(b *testing.B) {
	f := loadFixtures(b)[1] // "full"
	v, err := canonical.Parse(f.CapsuleDict)
	if err != nil {
		b.Fatal(err)
	}
	m := v.(map[string]any)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := FromContent(m); err != nil {
			b.Fatal(err)
		}
	}
}

// FromContent reports a field of an option or a tool call that has the
// wrong type or is unknown, as it does for the sections' own fields (it
// used to drop those errors and read the field as its zero value).
func TestFromContentElementErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		m     map[string]any
		field string
	}{
		{"option id not a string", map[string]any{"reasoning": map[string]any{"options": []any{map[string]any{"id": canonical.Number("5")}}}}, "reasoning.options[0].id"},
		{"unknown tool call key", map[string]any{"execution": map[string]any{"tool_calls": []any{map[string]any{"tool": "t"}, map[string]any{"bogus": true}}}}, "execution.tool_calls[1].bogus"},
		{"tool call not an object", map[string]any{"execution": map[string]any{"tool_calls": []any{"x"}}}, "execution.tool_calls[0]"},
		{"option's list item not a string", map[string]any{"reasoning": map[string]any{"options": []any{map[string]any{"pros": []any{"a", true}}}}}, "reasoning.options[0].pros[1]"},
		{"unknown section key", map[string]any{"trigger": map[string]any{"bogus": true}}, "trigger.bogus"},
		{"unknown top-level key", map[string]any{"bogus": true}, "bogus"},
		{"section not an object", map[string]any{"outcome": "x"}, "outcome"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := FromContent(tc.m)
			fe, ok := err.(*FieldError)
			if !ok || fe.Field != tc.field {
				t.Fatalf("FromContent: %v, want a *FieldError for %s", err, tc.field)
			}
		})
	}
}

// A nullable string that is not valid UTF-8 is refused by the encoder, as
// every other string is: it used to be left out, which wrote a key with no
// value (JSON that nothing can read) and sealed it.
func TestCanonicalRefusesInvalidUTF8Nullable(t *testing.T) {
	for field, set := range map[string]func(*Capsule){
		"authority.approver":          func(c *Capsule) { c.Authority.Approver = "\xff" },
		"authority.policy_reference":  func(c *Capsule) { c.Authority.PolicyReference = "\xff" },
		"authority.escalation_reason": func(c *Capsule) { c.Authority.EscalationReason = "\xff" },
		"context.session_id":          func(c *Capsule) { c.Context.SessionID = "\xff" },
	} {
		c := New(TypeAgent)
		set(c)
		if b, err := c.Canonical(); err == nil {
			t.Errorf("%s: Canonical wrote %s, want an error", field, b)
		}
	}
}

// The messages built from the declaration's enumerations read as they did
// when the lists were spelled out.
func TestEnumMessages(t *testing.T) {
	_, err := FromContent(map[string]any{"type": "bogus"})
	if want := "capsule: type: unknown capsule type bogus (want one of agent, tool, system, kill, workflow, chat, vault, auth)"; err == nil || err.Error() != want {
		t.Errorf("FromContent: %v, want %s", err, want)
	}
	c := New(TypeAgent)
	c.Outcome.Status = "done"
	if want := `capsule: outcome.status: must be one of pending, success, failure, partial, blocked; got "done"`; c.Check() == nil || c.Check().Error() != want {
		t.Errorf("Check: %v, want %s", c.Check(), want)
	}
}
