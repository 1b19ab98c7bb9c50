package postgres

import (
	"context"
	"fmt"

	"github.com/capsule-go/capsule/storage"
	"github.com/capsule-go/capsule/storage/internal/summary"
)

// Chains summarizes every chain, in the order of Tenants. Each chain costs
// three queries that the (tenant_id, sequence) unique
// index answers: the first capsule, the last one and the count.
func (s *Store) Chains(ctx context.Context) ([]storage.Chain, error) {
	return summary.Chains(ctx, "postgres", s.Tenants, s.chain)
}

// chain reads the summary of tenant's chain; ok is false when the chain
// has no capsule.
func (s *Store) chain(ctx context.Context, tenant string) (c storage.Chain, ok bool, err error) {
	if err := s.ready(ctx); err != nil {
		return c, false, err
	}
	var q query
	q.tenant(tenant)
	c.Tenant = tenant
	first, err := s.queryRecords(ctx, q.sql(recordCols, "ORDER BY sequence ASC LIMIT 1"), q.args...)
	if err != nil || len(first) == 0 {
		return c, false, err
	}
	last, err := s.queryRecords(ctx, q.sql(recordCols, "ORDER BY sequence DESC LIMIT 1"), q.args...)
	if err != nil || len(last) == 0 {
		return c, false, err
	}
	c.First, c.Last = first[0], last[0]
	if err := s.pool.QueryRow(ctx, q.sql("count(*)", ""), readArgs(q.args)...).Scan(&c.Length); err != nil {
		return c, false, fmt.Errorf("chain %q: count: %w", tenant, err)
	}
	return c, true, nil
}
