package sqlite

import (
	"context"
	"fmt"

	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/storage"
	"github.com/capsule-go/capsule/storage/internal/summary"
)

// Chains summarizes every chain, in the order of Tenants. Each chain costs
// three queries that the (tenant_id, sequence) index, or the sequence
// index of the reference table, answers: the first capsule, the last one
// and the count.
func (s *Store) Chains(ctx context.Context) ([]storage.Chain, error) {
	return summary.Chains(ctx, "sqlite", s.Tenants, s.chain)
}

// chain reads the summary of tenant's chain; ok is false when the chain
// has no capsule.
func (s *Store) chain(ctx context.Context, tenant string) (c storage.Chain, ok bool, err error) {
	if s.closed.Load() {
		return c, false, s.errClosed("chains")
	}
	p := parts(&tenant)[0]
	c.Tenant = tenant
	for _, end := range []struct {
		order string
		rec   *protocol.Sealed
	}{{"ASC", &c.First}, {"DESC", &c.Last}} {
		q, args := p.sql(p.t.cols)
		recs, err := s.queryRecords(ctx, q+" ORDER BY sequence "+end.order+" LIMIT 1", args...)
		if err != nil {
			return c, false, fmt.Errorf("chain %q: %w", tenant, err)
		}
		if len(recs) == 0 {
			return c, false, nil
		}
		*end.rec = recs[0]
	}
	q, args := p.sql("count(*)")
	if err := s.r.QueryRowContext(ctx, q, args...).Scan(&c.Length); err != nil {
		return c, false, fmt.Errorf("chain %q: count: %w", tenant, err)
	}
	return c, true, nil
}
