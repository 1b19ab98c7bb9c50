package postgres

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/storage"
	"github.com/capsule-go/capsule/storage/storagetest"
)

// count returns the single integer query answers on pool.
func count(t *testing.T, pool *pgxpool.Pool, query string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := pool.QueryRow(t.Context(), query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Appends store the tree hashes of each record in its own row and none in
// capsule_tree, whose rows are one more heap tuple and index entry per
// chain a commit extends: one chain at a time (the null tenant and a
// named one) and many chains in one statement alike.
func TestTreeInRows(t *testing.T) {
	s, _ := openSchema(t)
	chains := map[string][]protocol.Sealed{}
	for _, batch := range []int{1, 5, 64, 2} {
		chains["acme"] = storagetest.AppendChain(t, s, "acme", chains["acme"], 2*batch, batch)
		chains[""] = storagetest.AppendChain(t, s, "", chains[""], batch, batch)
		var batches []storage.Batch
		for _, tenant := range []string{"", "beta", "gamma", "delta"} {
			recs := storagetest.Chain(tenant, headOf(t, s, tenant), batch)
			chains[tenant] = append(chains[tenant], recs...)
			batches = append(batches, storage.Batch{Tenant: tenant, Records: recs})
		}
		for i, err := range s.AppendBatches(t.Context(), batches) {
			if err != nil {
				t.Fatalf("batch %d: %v", i, err)
			}
		}
	}
	if n := count(t, s.pool, "SELECT count(*) FROM capsule_tree"); n != 0 {
		t.Errorf("appends stored %d rows in capsule_tree, want none", n)
	}
	var all int64
	for tenant, recs := range chains {
		all += int64(len(recs))
		storagetest.CheckTree(t.Context(), t, s, tenant, recs)
	}
	if n := count(t, s.pool, "SELECT count(*) FROM quantumpipes_capsules WHERE tree IS NOT NULL"); n != all {
		t.Errorf("%d of %d rows hold their tree hashes", n, all)
	}
}

// A table that predates the tree column (its trees all in capsule_tree)
// reads whole through a read-only store, and gets the column from a
// writable one: appends then keep the new records' hashes in their rows,
// and every hash reads back from wherever it is.
func TestTreeColumnMigration(t *testing.T) {
	ctx := context.Background()
	s, schema := openSchema(t)
	acme := storagetest.AppendChain(t, s, "acme", nil, 40, 7)
	null := storagetest.AppendChain(t, s, "", nil, 9, 4)
	// Move the trees to capsule_tree as runs and drop the column: the
	// layout a version before it wrote.
	rows, err := s.pool.Query(ctx, "SELECT coalesce(tenant_id, ''), sequence, tree FROM quantumpipes_capsules")
	if err != nil {
		t.Fatal(err)
	}
	var tenants []string
	var idx []int64
	var hashes [][]byte
	for rows.Next() {
		var tenant string
		var seq int64
		var hs []byte
		if err := rows.Scan(&tenant, &seq, &hs); err != nil {
			t.Fatal(err)
		}
		tenants, idx, hashes = append(tenants, tenant), append(idx, tlog.StoredHashCount(seq)), append(hashes, hs)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for k := range tenants {
		if _, err := s.pool.Exec(ctx, treeInsertPlain, tenants[k], []int64{idx[k]}, [][]byte{hashes[k]}); err != nil {
			t.Fatal(err)
		}
	}
	runs := count(t, s.pool, "SELECT count(*) FROM capsule_tree")
	if _, err := s.pool.Exec(ctx, "ALTER TABLE quantumpipes_capsules DROP COLUMN tree"); err != nil {
		t.Fatal(err)
	}
	s.Close()

	ro, err := Open(ctx, testURL(t), inSchema(schema), WithReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	for tenant, recs := range map[string][]protocol.Sealed{"acme": acme, "": null} {
		if n, err := ro.TreeSize(ctx, tenant); err != nil || n != int64(len(recs)) {
			t.Fatalf("read-only tree size of %q without the column: %d, %v; want %d", tenant, n, err, len(recs))
		}
		storagetest.CheckTree(ctx, t, ro, tenant, recs)
	}
	ro.Close()

	s, err = Open(ctx, testURL(t), inSchema(schema))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n, err := s.TreeSize(ctx, "acme"); err != nil || n != int64(len(acme)) {
		t.Fatalf("tree size after the migration: %d, %v; want %d", n, err, len(acme))
	}
	acme = storagetest.AppendChain(t, s, "acme", acme, 30, 4)
	null = storagetest.AppendChain(t, s, "", null, 5, 2)
	if n := count(t, s.pool, "SELECT count(*) FROM capsule_tree"); n != runs {
		t.Errorf("appends after the migration stored %d runs in capsule_tree, want the %d before", n-runs, runs)
	}
	if n := count(t, s.pool, "SELECT count(*) FROM quantumpipes_capsules WHERE tree IS NOT NULL"); n != 35 {
		t.Errorf("%d rows hold their tree hashes, want the 35 appended after the migration", n)
	}
	storagetest.CheckTree(ctx, t, s, "acme", acme)
	storagetest.CheckTree(ctx, t, s, "", null)
}

// A tree whose rows hold hashes up to some record, with later records
// appended without a tree, has that size, and the next append catches the
// rest up.
func TestRowTreeLag(t *testing.T) {
	s, _ := openSchema(t)
	storagetest.TreeLag(t, s, func(tenant string, keep bool) {
		s.noTree = !keep
		if keep {
			s.trees.Drop(tenant)
		}
	})
}

// A writer that keeps the tree in capsule_tree alone (a version before
// the column, or a role that may not add it) and one that keeps it in the
// rows append to the same chains in turns: each sees the other's tree,
// catches up what it does not see, and the tree stays whole.
func TestTreeWithRunsWriter(t *testing.T) {
	ctx := context.Background()
	rows, schema := openSchema(t)
	runs, err := Open(ctx, testURL(t), inSchema(schema))
	if err != nil {
		t.Fatal(err)
	}
	defer runs.Close()
	if err := runs.ready(ctx); err != nil {
		t.Fatal(err)
	}
	runs.rowTree.Store(false)
	chains := map[string][]protocol.Sealed{}
	for round, batch := range []int{3, 1, 8, 2, 5} {
		for _, s := range []*Store{rows, runs} {
			for _, tenant := range []string{"", "acme"} {
				chains[tenant] = storagetest.AppendChain(t, s, tenant, chains[tenant], batch+round, batch)
			}
		}
	}
	for tenant, recs := range chains {
		storagetest.CheckTree(ctx, t, rows, tenant, recs)
		storagetest.CheckTree(ctx, t, runs, tenant, recs)
	}
	if n := count(t, rows.pool, "SELECT count(*) FROM quantumpipes_capsules WHERE tree IS NOT NULL"); n == 0 {
		t.Error("no row holds tree hashes")
	}
}

// A table whose lock is taken for longer than treeColumnLockTimeout (a
// long transaction that read it) does not get the column from a store
// that opens meanwhile: that store appends, keeping its tree in
// capsule_tree, and a later one adds the column.
func TestTreeColumnLockBusy(t *testing.T) {
	ctx := context.Background()
	s, schema := openSchema(t)
	acme := storagetest.AppendChain(t, s, "acme", nil, 4, 2)
	if _, err := s.pool.Exec(ctx, "ALTER TABLE quantumpipes_capsules DROP COLUMN tree"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	pool := rawPool(t, schema)
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "SELECT count(*) FROM quantumpipes_capsules"); err != nil {
		t.Fatal(err)
	}
	busy, err := Open(ctx, testURL(t), inSchema(schema))
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	acme = storagetest.AppendChain(t, busy, "acme", acme, 6, 3)
	if busy.rowTree.Load() {
		t.Fatal("the column was added while the table's lock was taken")
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	storagetest.CheckTree(ctx, t, busy, "acme", acme)

	later, err := Open(ctx, testURL(t), inSchema(schema))
	if err != nil {
		t.Fatal(err)
	}
	defer later.Close()
	acme = storagetest.AppendChain(t, later, "acme", acme, 3, 1)
	if !later.rowTree.Load() {
		t.Fatal("a store opened after the lock was free did not add the column")
	}
	if n := count(t, pool, "SELECT count(*) FROM quantumpipes_capsules WHERE tree IS NOT NULL"); n != 3 {
		t.Errorf("%d rows hold their tree hashes, want 3", n)
	}
	storagetest.CheckTree(ctx, t, later, "acme", acme)
	storagetest.CheckTree(ctx, t, busy, "acme", acme)
}
