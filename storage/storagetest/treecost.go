package storagetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/capsule-go/capsule/storage"
)

// BenchmarkTreeCost measures what keeping the Merkle tree costs appends:
// withTree and withoutTree open stores that differ only in that, and each
// iteration appends one batch to each, alternately, so that both see the
// same load of a shared machine, each going first every other time. It
// reports the records/s of each from the median append time (robust to the
// stalls of a loaded machine) and the overhead in percent.
func BenchmarkTreeCost(b *testing.B, withTree, withoutTree func(b *testing.B) storage.Store) {
	BenchmarkTreeCostOf(b, "bench", withTree, withoutTree)
}

// BenchmarkTreeCostOf is [BenchmarkTreeCost] on tenant's chain ("" for the
// null tenant's, which a backend may store apart).
func BenchmarkTreeCostOf(b *testing.B, tenant string, withTree, withoutTree func(b *testing.B) storage.Store) {
	for _, size := range []int{1, 64} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			stores := [2]storage.Store{withTree(b), withoutTree(b)}
			heads := [2]storage.Head{{Sequence: -1}, {Sequence: -1}}
			var spent [2][]time.Duration
			for i := 0; b.Loop(); i++ {
				for j := range stores {
					k := (i + j) % 2 // each goes first every other time
					recs := Chain(tenant, heads[k], size)
					heads[k] = storage.Head{Sequence: recs[size-1].Sequence, Hash: recs[size-1].Hash}
					start := time.Now()
					if err := stores[k].Append(b.Context(), tenant, recs); err != nil {
						b.Fatal(err)
					}
					spent[k] = append(spent[k], time.Since(start))
				}
			}
			median := func(d []time.Duration) float64 {
				slices.Sort(d)
				return d[len(d)/2].Seconds()
			}
			with, without := float64(size)/median(spent[0]), float64(size)/median(spent[1])
			b.ReportMetric(with, "tree-records/s")
			b.ReportMetric(without, "notree-records/s")
			b.ReportMetric(100*(without-with)/without, "cost-%")
		})
	}
}
