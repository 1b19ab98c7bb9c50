package postgres

import (
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/capsule-go/capsule/storage"
	"github.com/capsule-go/capsule/storage/storagetest"
)

// TestAppendPlansReadHeadByIndex checks, in the plans the server actually
// ran (auto_explain, sent back as notices), that every append reads its
// chain's head through the unique index on (tenant_id, sequence), or on
// sequence for the null tenant, while a new table grows by 64-record
// batches: the way a generic plan made while the table was small went
// wrong (the tenant_id index and a sort of the whole chain, 3.7 ms of a 5.7
// ms INSERT at 6,400 capsules).
func TestAppendPlansReadHeadByIndex(t *testing.T) {
	for _, tc := range []struct {
		name   string
		noTree bool
		tenant string
		chains int
	}{
		{"tenant", false, "bench", 1},
		{"tenant without tree", true, "bench", 1},
		{"null tenant", false, "", 1},
		{"many chains", false, "", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var plans []string
			schema := newSchema(t)
			s, err := Open(t.Context(), testURL(t), inSchema(schema), WithPoolConfig(func(c *pgxpool.Config) {
				c.MaxConns = 1
				p := c.ConnConfig.RuntimeParams
				p["session_preload_libraries"] = "auto_explain"
				p["auto_explain.log_min_duration"] = "0"
				p["auto_explain.log_level"] = "notice"
				c.ConnConfig.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
					if strings.Contains(n.Message, "INSERT INTO quantumpipes_capsules") {
						mu.Lock()
						plans = append(plans, n.Message)
						mu.Unlock()
					}
				}
			}))
			if err != nil {
				t.Skipf("cannot load auto_explain (it takes a superuser): %v", err)
			}
			defer s.Close()
			s.noTree = tc.noTree
			tenants := []string{tc.tenant}
			if tc.chains > 1 {
				tenants = []string{"a", "b", "c"}
			}
			heads := make([]storage.Head, len(tenants))
			for i := range heads {
				heads[i].Sequence = -1
			}
			const rounds, size = 40, 64
			for range rounds {
				var batches []storage.Batch
				for i, tenant := range tenants {
					recs := storagetest.Chain(tenant, heads[i], size)
					heads[i] = storage.Head{Sequence: recs[size-1].Sequence, Hash: recs[size-1].Hash}
					batches = append(batches, storage.Batch{Tenant: tenant, Records: recs})
				}
				for i, err := range s.AppendBatches(t.Context(), batches) {
					if err != nil {
						t.Fatalf("append to %q: %v", batches[i].Tenant, err)
					}
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if len(plans) < rounds {
				t.Fatalf("%d plans seen for %d appends", len(plans), rounds)
			}
			for i, plan := range plans {
				if bad := badHeadRead(plan); bad != "" {
					t.Fatalf("append %d of %d reads the head %s:\n%s", i+1, len(plans), bad, plan)
				}
			}
		})
	}
}

// badHeadRead says how plan reads a chain's head other than through one
// end of a unique index, or "" when it does not.
func badHeadRead(plan string) string {
	for _, line := range strings.Split(plan, "\n") {
		switch {
		case strings.Contains(line, "Scan using ix_quantumpipes_capsules_tenant_id"):
			return "through the tenant_id index"
		case strings.Contains(line, "Seq Scan on quantumpipes_capsules"):
			return "by reading the whole table"
		case strings.Contains(line, "Sort Key:") && strings.Contains(line, "sequence"):
			return "by sorting the chain"
		}
	}
	return ""
}
