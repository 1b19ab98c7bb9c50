// Package benchfn holds the audited no-op functions that `capsule bench`
// and the overhead benchmarks call through their generated wrappers, so the
// figures measure the same generated code users get.
package benchfn

import (
	"context"

	"github.com/capsule-go/capsule"
)

//go:generate go run github.com/capsule-go/capsule/cmd/capsulegen

// Target is where the audited no-ops record; the benchmark sets it.
var Target *capsule.Capsules

// Noop does nothing; its wrapper measures the cost of auditing a call.
//
//capsule:audit type=tool tenant_id=bench capsules=Target
func Noop(ctx context.Context, request string) (string, error) {
	return request, nil
}
