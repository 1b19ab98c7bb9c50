package postgres

import (
	"context"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/storage"
	"github.com/capsule-go/capsule/storage/storagetest"
)

// After an append the store knows its chain's tree frontier, so the next
// append computes its tree rows without reading: one round trip.
func TestTreeCacheKept(t *testing.T) {
	s, _ := openSchema(t)
	for _, tenant := range []string{"", "acme"} {
		for i := range 3 {
			if _, err := storagetest.AppendRetry(t.Context(), s, tenant, 1+i); err != nil {
				t.Fatal(err)
			}
			f, ok := s.trees.Get(tenant)
			if want := int64((i + 1) * (i + 2) / 2); !ok || f.Size != want {
				t.Fatalf("%q after append %d: cached frontier %+v (%v), want size %d", tenant, i, f, ok, want)
			}
		}
	}
}

// batchCounter counts the statements of the pipelines a pool sends.
type batchCounter struct {
	mu      sync.Mutex
	batches [][]string // the statements of each pipeline, in order
	queries []string   // the statements sent alone
}

func (c *batchCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.queries = append(c.queries, d.SQL)
	return ctx
}

func (c *batchCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (c *batchCounter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.batches = append(c.batches, nil)
	return ctx
}

func (c *batchCounter) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.batches[len(c.batches)-1] = append(c.batches[len(c.batches)-1], d.SQL)
}

func (c *batchCounter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// sizes returns the number of statements of each pipeline.
func (c *batchCounter) sizes() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := make([]int, len(c.batches))
	for i, b := range c.batches {
		n[i] = len(b)
	}
	return n
}

// Keeping the tree adds no statement to an append's pipeline: the tree
// rows go in the capsules' INSERT (BEGIN, appendSettings, the chain's
// lock, the INSERT, COMMIT), for the null tenant and a named one, and in a
// transaction of three chains (BEGIN, appendSettings, the locks, the null
// tenant's INSERT, the named tenants' INSERT, COMMIT); once the store
// knows a chain's frontier, an append sends nothing else (no catch-up).
// So in both layouts: hashes in the capsules' rows, and in runs of
// capsule_tree (a store that may not add the column). A tree lost
// meanwhile is caught up.
func TestTreeInInsert(t *testing.T) {
	for _, layout := range []string{"rows", "runs"} {
		t.Run(layout, func(t *testing.T) { testTreeInInsert(t, layout == "rows") })
	}
}

func testTreeInInsert(t *testing.T, inRows bool) {
	schema := newSchema(t)
	var c batchCounter
	s, err := Open(t.Context(), testURL(t), inSchema(schema), WithPoolConfig(func(pc *pgxpool.Config) {
		pc.ConnConfig.Tracer = &c
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.rowTree.Store(inRows)
	ctx := t.Context()
	chains := map[string][]protocol.Sealed{}
	for round := range 3 {
		var batches []storage.Batch
		for _, tenant := range []string{"", "acme", "beta"} {
			if round < 2 && tenant == "beta" {
				continue
			}
			recs := storagetest.Chain(tenant, headOf(t, s, tenant), 1+round)
			chains[tenant] = append(chains[tenant], recs...)
			if round < 2 {
				c.batches, c.queries = nil, nil
				if err := s.Append(ctx, tenant, recs); err != nil {
					t.Fatal(err)
				}
				if got := c.batches; len(got) != 1 || len(got[0]) != 5 {
					t.Fatalf("round %d, %q: pipelines of %v statements, want one of 5", round, tenant, c.sizes())
				}
				if round == 1 && len(c.queries) > 0 {
					t.Fatalf("round %d, %q: the append sent %q besides its pipeline", round, tenant, c.queries)
				}
				continue
			}
			batches = append(batches, storage.Batch{Tenant: tenant, Records: recs})
		}
		if batches == nil {
			continue
		}
		c.batches = nil
		for i, err := range s.AppendBatches(ctx, batches) {
			if err != nil {
				t.Fatalf("batch %d: %v", i, err)
			}
		}
		if got := c.batches; len(got) != 1 || len(got[0]) != 6 {
			t.Fatalf("three chains: pipelines of %v statements, want one of 6", c.sizes())
		}
	}
	rows := count(t, s.pool, "SELECT count(*) FROM quantumpipes_capsules WHERE tree IS NOT NULL")
	runs := count(t, s.pool, "SELECT count(*) FROM capsule_tree")
	if inRows && (rows == 0 || runs != 0) || !inRows && (rows != 0 || runs == 0) {
		t.Fatalf("%d rows hold hashes, %d runs in capsule_tree", rows, runs)
	}
	// A tree lost while the store has its frontier cached: the INSERT
	// stores the capsules and not the tree rows, and the append catches
	// the tree up; the other chains' rows are stored as planned.
	if err := dropTree(s, "acme"); err != nil {
		t.Fatal(err)
	}
	var batches []storage.Batch
	for _, tenant := range []string{"", "acme", "beta"} {
		recs := storagetest.Chain(tenant, headOf(t, s, tenant), 2)
		chains[tenant] = append(chains[tenant], recs...)
		batches = append(batches, storage.Batch{Tenant: tenant, Records: recs})
	}
	for i, err := range s.AppendBatches(ctx, batches) {
		if err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
	}
	for tenant, recs := range chains {
		storagetest.CheckTree(ctx, t, s, tenant, recs)
	}
}

// headOf returns the head of tenant's chain in s.
func headOf(t *testing.T, s storage.Store, tenant string) storage.Head {
	t.Helper()
	h, err := s.Head(t.Context(), tenant)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
