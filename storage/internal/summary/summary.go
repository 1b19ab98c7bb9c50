// Package summary builds the answer of storage.Store.Chains from one
// chain's summary at a time, for the database backends of this module.
package summary

import (
	"context"
	"fmt"

	"github.com/capsule-go/capsule/storage"
)

// Chains returns the summary of each chain of a store, in the order that
// tenants lists them, leaving out the chains one reports empty (ok false).
// It stops at the first error, which it prefixes with backend.
func Chains(ctx context.Context, backend string, tenants func(context.Context) ([]string, error),
	one func(ctx context.Context, tenant string) (c storage.Chain, ok bool, err error)) ([]storage.Chain, error) {
	ts, err := tenants(ctx)
	if err != nil {
		return nil, err
	}
	out, err := each(ctx, ts, one)
	if err != nil {
		return nil, fmt.Errorf("%s: chains: %w", backend, err)
	}
	return out, nil
}

// each returns the summaries of tenants' chains, in order.
func each(ctx context.Context, tenants []string, one func(ctx context.Context, tenant string) (c storage.Chain, ok bool, err error)) ([]storage.Chain, error) {
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
