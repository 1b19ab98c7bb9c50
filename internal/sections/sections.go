// Package sections is the order in which people read a capsule, shared by
// the capsule command's inspect and the HTTP explorer: the identity
// fields, the six sections with their keys in the protocol's order, and
// any other keys sorted after them.
package sections

import "slices"

// Identity lists the top-level fields shown above the sections.
var Identity = []string{"type", "domain", "sequence", "previous_hash", "parent_id", "spec_version"}

// Order lists each section's name followed by its keys in the protocol's
// order.
var Order = [][]string{
	{"trigger", "type", "source", "timestamp", "request", "correlation_id", "user_id"},
	{"context", "agent_id", "session_id", "environment"},
	{"reasoning", "analysis", "options", "options_considered", "selected_option", "reasoning", "confidence", "model", "prompt_hash"},
	{"authority", "type", "approver", "policy_reference", "chain", "escalation_reason"},
	{"execution", "tool_calls", "duration_ms", "resources_used"},
	{"outcome", "status", "result", "summary", "error", "side_effects", "metrics"},
}

// Keys returns m's keys: first those of order that m has, in that order,
// then the others sorted.
func Keys(m map[string]any, order []string) []string {
	var out, rest []string
	for _, k := range order {
		if _, ok := m[k]; ok {
			out = append(out, k)
		}
	}
	for k := range m {
		if !slices.Contains(order, k) {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	return append(out, rest...)
}
