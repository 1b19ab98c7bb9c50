package main

import (
	"context"
	"fmt"

	"github.com/capsule-go/capsule/protocol"
)

// findOnly returns the capsule of a source whose chain holds exactly one,
// for inspect without --seq or --id. A longer chain is a usage error that
// says how long it is.
func findOnly(ctx context.Context, src *source) (protocol.Sealed, error) {
	var only protocol.Sealed
	n := 0
	for rec, err := range src.Records(ctx) {
		if err != nil {
			return rec, fmt.Errorf("%s: %w", src.name, err)
		}
		if n++; n > 1 {
			break
		}
		only = rec
	}
	switch {
	case n == 0 && src.store != nil:
		return only, fmt.Errorf("%s", emptyChainNote(ctx, src))
	case n == 0:
		return only, fmt.Errorf("%s holds no capsules", src.name)
	case n > 1:
		what := src.name
		if src.store != nil {
			what = fmt.Sprintf("the chain of tenant %s in %s", tenantLabel(src.tenant), src.name)
		}
		if total, ok := src.Total(ctx); ok && src.store != nil {
			what += fmt.Sprintf(" (%d capsules)", total)
		}
		return only, usageError(what + " holds more than one capsule: give --seq N or --id UUID")
	}
	return only, nil
}
