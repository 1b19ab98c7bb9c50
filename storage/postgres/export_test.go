package postgres

import (
	"context"
	"testing"
)

// OpenTreeCostStores opens two stores in new schemas that differ only in
// that the second keeps no tree, for the benchmarks of the external test
// package.
func OpenTreeCostStores(tb testing.TB) (withTree, withoutTree *Store) {
	withTree, _ = openSchema(tb)
	withoutTree, _ = openSchema(tb)
	withoutTree.noTree = true
	return withTree, withoutTree
}

// WALPosition returns the server's current WAL insert position, in bytes.
func WALPosition(ctx context.Context, s *Store) (int64, error) {
	var pos int64
	err := s.pool.QueryRow(ctx, "SELECT (pg_current_wal_insert_lsn() - '0/0')::int8").Scan(&pos)
	return pos, err
}
