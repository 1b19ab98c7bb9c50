package sqlite_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/capsule-go/capsule"
	"github.com/capsule-go/capsule/internal/bench"
	"github.com/capsule-go/capsule/keys"
	"github.com/capsule-go/capsule/storage/sqlite"
)

// BenchmarkTreeCostCapsules measures what keeping the Merkle tree costs
// appends as users see them: Typical capsules sealed and stored through
// capsule.Capsules (group commit), by 1 writer and by 64 writers on one
// chain and spread over 64 chains, into two SQLite files that differ only
// in the tree. Each iteration runs one round on each, alternately (each
// going first every other time), of 256 appends spread over the writers;
// it reports the appends/s of each from the median round (robust to the
// stalls of a shared machine) and the overhead in percent.
func BenchmarkTreeCostCapsules(b *testing.B) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	signer := keys.NewSigner(priv, "")
	const round = 256
	for _, c := range []struct{ writers, chains int }{{1, 1}, {64, 1}, {64, 64}} {
		b.Run(fmt.Sprintf("writers=%d/chains=%d", c.writers, c.chains), func(b *testing.B) {
			var cs [2]*capsule.Capsules
			for k := range cs {
				st, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "capsules.db"))
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { st.Close() })
				if k == 1 {
					sqlite.WithoutTree(st)
				}
				if cs[k], err = capsule.NewCapsules(st, capsule.WithSigner(signer)); err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { cs[k].Close() })
			}
			var spent [2][]time.Duration
			for i := 0; b.Loop(); i++ {
				for j := range cs {
					k := (i + j) % 2
					start := time.Now()
					if err := appendRound(b, cs[k], c.writers, c.chains, round); err != nil {
						b.Fatal(err)
					}
					spent[k] = append(spent[k], time.Since(start))
				}
			}
			median := func(d []time.Duration) float64 {
				slices.Sort(d)
				return d[len(d)/2].Seconds()
			}
			with, without := round/median(spent[0]), round/median(spent[1])
			b.ReportMetric(with, "tree-appends/s")
			b.ReportMetric(without, "notree-appends/s")
			b.ReportMetric(100*(without-with)/without, "cost-%")
		})
	}
}

// appendRound appends n Typical capsules with writers goroutines, writer w
// appending to chain w mod chains.
func appendRound(b *testing.B, c *capsule.Capsules, writers, chains, n int) error {
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for w := range writers {
		wg.Go(func() {
			tenant := fmt.Sprintf("tenant-%d", w%chains)
			for range n / writers {
				if _, err := c.Append(b.Context(), tenant, bench.Typical()); err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
