package postgres

import (
	"testing"

	"github.com/capsule-go/capsule/storage"
	"github.com/capsule-go/capsule/storage/storagetest"
)

// BenchmarkTreeCost compares appends with and without the tree, in the
// same run.
func BenchmarkTreeCost(b *testing.B) {
	storagetest.BenchmarkTreeCost(b,
		func(b *testing.B) storage.Store { s, _ := openSchema(b); return s },
		func(b *testing.B) storage.Store { s, _ := openSchema(b); s.noTree = true; return s })
}
