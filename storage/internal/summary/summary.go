// Package summary builds the answer of storage.Store.Chains from one
// chain's summary at a time, for the database backends of this module.
package summary

import (
	"context"

	"github.com/capsule-go/capsule/storage"
)

// Chains returns the summary of each of tenants' chains, in order,
// leaving out the chains one reports empty (ok false). It stops at the
// first error.
func Chains(ctx context.Context, tenants []string, one func(ctx context.Context, tenant string) (c storage.Chain, ok bool, err error)) ([]storage.Chain, error) {
	out := make([]storage.Chain, 0, len(tenants))
	for _, tenant := range tenants {
		c, ok, err := one(ctx, tenant)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, c)
		}
	}
	return out, nil
}
