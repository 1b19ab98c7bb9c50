package postgres

import (
	"testing"

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
