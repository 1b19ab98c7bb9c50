package sqlite

import (
	"testing"

	"github.com/capsule-go/capsule/storage"
	"github.com/capsule-go/capsule/storage/storagetest"
)

// BenchmarkTreeCost compares appends with and without the tree, in the
// same run, on a tenant's chain.
func BenchmarkTreeCost(b *testing.B) {
	storagetest.BenchmarkTreeCost(b, openWithTree, openWithoutTree)
}

// BenchmarkTreeCostNullTenant is BenchmarkTreeCost on the null tenant's
// chain, the reference table's.
func BenchmarkTreeCostNullTenant(b *testing.B) {
	storagetest.BenchmarkTreeCostOf(b, "", openWithTree, openWithoutTree)
}

func openWithTree(b *testing.B) storage.Store { s, _ := openTemp(b); return s }

func openWithoutTree(b *testing.B) storage.Store { s, _ := openTemp(b); s.noTree = true; return s }
