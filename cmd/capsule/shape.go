package main

import (
	"fmt"
	"strings"
)

// sealedFields are the members every sealed capsule has: the content's
// top-level fields (the six sections among them) and the seal's hash and
// signature.
var sealedFields = []string{
	"id", "type", "domain", "parent_id", "sequence", "previous_hash", "spec_version",
	"trigger", "context", "reasoning", "authority", "execution", "outcome",
	"hash", "signature",
}

// notACapsuleError reports a JSON object that lacks members every sealed
// capsule has: the input is not a capsule, rather than a capsule whose
// chain is broken.
type notACapsuleError struct{ missing []string }

func (e *notACapsuleError) Error() string {
	if len(e.missing) == 1 {
		return fmt.Sprintf("not a sealed capsule: field %q is missing", e.missing[0])
	}
	if len(e.missing) <= 4 {
		return fmt.Sprintf("not a sealed capsule: fields %s are missing", strings.Join(quoteAll(e.missing), ", "))
	}
	return fmt.Sprintf("not a sealed capsule: fields %s and %d others are missing",
		strings.Join(quoteAll(e.missing[:3]), ", "), len(e.missing)-3)
}

// checkSealedShape returns a *notACapsuleError naming the fields of
// sealedFields that m lacks, nil when it has them all. Their values are
// checked by verification, which reports a bad one at its sequence.
func checkSealedShape(m map[string]any) error {
	var missing []string
	for _, k := range sealedFields {
		if _, ok := m[k]; !ok {
			missing = append(missing, k)
		}
	}
	if missing == nil {
		return nil
	}
	return &notACapsuleError{missing}
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}
