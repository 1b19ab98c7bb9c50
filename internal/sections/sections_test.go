package sections

import (
	"slices"
	"testing"
)

func TestKeys(t *testing.T) {
	m := map[string]any{"zeta": 1, "status": 2, "alpha": 3, "result": 4}
	got := Keys(m, []string{"status", "result", "summary"})
	if want := []string{"status", "result", "alpha", "zeta"}; !slices.Equal(got, want) {
		t.Errorf("Keys = %q, want %q", got, want)
	}
	if got := Keys(map[string]any{}, Order[0]); len(got) != 0 {
		t.Errorf("Keys of an empty map = %q", got)
	}
	if len(Order) != 6 {
		t.Errorf("%d sections, want 6", len(Order))
	}
}

// The order derived from the declaration is the one people have read.
func TestOrder(t *testing.T) {
	if want := []string{"type", "domain", "sequence", "previous_hash", "parent_id", "spec_version"}; !slices.Equal(Identity, want) {
		t.Errorf("Identity = %q, want %q", Identity, want)
	}
	want := [][]string{
		{"trigger", "type", "source", "timestamp", "request", "correlation_id", "user_id"},
		{"context", "agent_id", "session_id", "environment"},
		{"reasoning", "analysis", "options", "options_considered", "selected_option", "reasoning", "confidence", "model", "prompt_hash"},
		{"authority", "type", "approver", "policy_reference", "chain", "escalation_reason"},
		{"execution", "tool_calls", "duration_ms", "resources_used"},
		{"outcome", "status", "result", "summary", "error", "side_effects", "metrics"},
	}
	if !slices.EqualFunc(Order, want, slices.Equal) {
		t.Errorf("Order = %q, want %q", Order, want)
	}
	if want := []string{"hash", "signature", "signed_by", "signed_at", "signature_pq"}; !slices.Equal(Seal, want) {
		t.Errorf("Seal = %q, want %q", Seal, want)
	}
}
