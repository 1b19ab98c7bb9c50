package postgres_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/capsule-go/capsule"
	"github.com/capsule-go/capsule/internal/bench"
	"github.com/capsule-go/capsule/keys"
	"github.com/capsule-go/capsule/storage/postgres"
)

// treeCostPhase is how long each store takes appends in one iteration of
// BenchmarkTreeCostCapsules.
const treeCostPhase = 100 * time.Millisecond

// BenchmarkTreeCostCapsules measures what keeping the Merkle tree costs
// appends as users make them: typical capsules sealed and appended through
// capsule.Capsules (group commit included) by 1 writer, and by 64 writers
// on one chain and spread over 64 chains. Each iteration gives each of two stores, one keeping the tree and
// one not, a phase of treeCostPhase, in alternating order, so that both
// see the same load of a shared machine. It reports the capsules/s of
// each from the median phase, the overhead in percent from the median
// ratio of the two rates in one iteration (robust to the load of a shared
// machine changing between iterations) and the WAL bytes per capsule of
// each (the server's whole WAL during the store's phases: exact on a
// server nothing else writes to).
func BenchmarkTreeCostCapsules(b *testing.B) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	signer := keys.NewSigner(priv, "")
	for _, c := range []struct{ writers, chains int }{{1, 1}, {64, 1}, {64, 64}} {
		writers, chains := c.writers, c.chains
		b.Run(fmt.Sprintf("writers=%d/chains=%d", writers, chains), func(b *testing.B) {
			ctx := b.Context()
			withTree, withoutTree := postgres.OpenTreeCostStores(b)
			var cs [2]*capsule.Capsules
			for k, st := range []*postgres.Store{withTree, withoutTree} {
				c, err := capsule.NewCapsules(st, capsule.WithSigner(signer))
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { c.Close() })
				cs[k] = c
			}
			stores := [2]*postgres.Store{withTree, withoutTree}
			var rates [2][]float64
			var capsules, wal [2]int64
			for i := 0; b.Loop(); i++ {
				for j := range cs {
					k := (i + j) % 2 // each goes first every other time
					before, err := postgres.WALPosition(ctx, stores[k])
					if err != nil {
						b.Fatal(err)
					}
					n, d, err := appendFor(ctx, cs[k], writers, chains, treeCostPhase)
					if err != nil {
						b.Fatal(err)
					}
					after, err := postgres.WALPosition(ctx, stores[k])
					if err != nil {
						b.Fatal(err)
					}
					rates[k] = append(rates[k], float64(n)/d.Seconds())
					capsules[k] += n
					wal[k] += after - before
				}
			}
			median := func(r []float64) float64 {
				slices.Sort(r)
				return r[len(r)/2]
			}
			ratios := make([]float64, len(rates[0]))
			for i := range ratios {
				ratios[i] = rates[0][i] / rates[1][i]
			}
			b.ReportMetric(100*(1-median(ratios)), "cost-%")
			b.ReportMetric(median(rates[0]), "tree-capsules/s")
			b.ReportMetric(median(rates[1]), "notree-capsules/s")
			b.ReportMetric(float64(wal[0])/float64(capsules[0]), "tree-WAL-B/capsule")
			b.ReportMetric(float64(wal[1])/float64(capsules[1]), "notree-WAL-B/capsule")
		})
	}
}

// appendFor appends typical capsules from writers goroutines for d, spread
// over chains chains ("bench0", "bench1"…), and returns how many it stored
// and how long it took.
func appendFor(ctx context.Context, c *capsule.Capsules, writers, chains int, d time.Duration) (int64, time.Duration, error) {
	var n atomic.Int64
	var once sync.Once
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	stop := start.Add(d)
	for w := range writers {
		tenant := fmt.Sprint("bench", w%chains)
		wg.Go(func() {
			for time.Now().Before(stop) {
				if _, err := c.Append(ctx, tenant, bench.Typical()); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				n.Add(1)
			}
		})
	}
	wg.Wait()
	return n.Load(), time.Since(start), firstErr
}
