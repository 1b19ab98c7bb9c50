package sqlite

import (
	"context"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/storage/storagetest"
)

// count returns the single integer query answers on s's writer.
func count(t *testing.T, s *Store, query string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := s.w.QueryRowContext(t.Context(), query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A tenant chain's appends store the tree hashes of each record in its own
// row, whose page they write anyway, and none in capsule_tree, whose pages
// (ordered by tenant) they would write besides; the null tenant's go to
// capsule_tree, as the reference table has no column for them.
func TestTenantTreeInRows(t *testing.T) {
	s, _ := openTemp(t)
	var acme, null []protocol.Sealed
	for _, batch := range []int{1, 5, 64, 2} {
		acme = storagetest.AppendChain(t, s, "acme", acme, 2*batch, batch)
		null = storagetest.AppendChain(t, s, "", null, batch, batch)
	}
	if n := count(t, s, "SELECT count(*) FROM capsule_tree WHERE tenant_id = 'acme'"); n != 0 {
		t.Errorf("appends to acme stored %d rows in capsule_tree, want none", n)
	}
	if n := count(t, s, "SELECT count(*) FROM capsule_tenant_chains WHERE tenant_id = 'acme' AND tree IS NOT NULL"); n != int64(len(acme)) {
		t.Errorf("%d of acme's %d rows hold their tree hashes", n, len(acme))
	}
	if n := count(t, s, "SELECT count(*) FROM capsule_tree WHERE tenant_id = ''"); n == 0 {
		t.Error("the null tenant's tree is not in capsule_tree")
	}
	storagetest.CheckTree(t.Context(), t, s, "acme", acme)
	storagetest.CheckTree(t.Context(), t, s, "", null)
}

// A file whose tenant table predates the tree column (its tenant trees all
// in capsule_tree) opens read-only with its trees whole, and writable with
// the column added: appends then keep the new records' hashes in their
// rows, and every hash reads back from wherever it is.
func TestTreeColumnMigration(t *testing.T) {
	ctx := context.Background()
	s, path := openTemp(t)
	acme := storagetest.AppendChain(t, s, "acme", nil, 40, 7)
	// Move the trees to capsule_tree as runs and drop the column: the
	// layout of a file written before it.
	rows, err := s.w.QueryContext(ctx, "SELECT sequence, tree FROM capsule_tenant_chains WHERE tenant_id = 'acme' ORDER BY sequence")
	if err != nil {
		t.Fatal(err)
	}
	type run struct {
		idx    int64
		hashes []byte
	}
	var runs []run
	for rows.Next() {
		var seq int64
		var hs []byte
		if err := rows.Scan(&seq, &hs); err != nil {
			t.Fatal(err)
		}
		runs = append(runs, run{tlog.StoredHashCount(seq), hs})
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	for _, r := range runs {
		if _, err := s.w.ExecContext(ctx, treeInsert, "acme", r.idx, r.hashes); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.w.ExecContext(ctx, "ALTER TABLE capsule_tenant_chains DROP COLUMN tree"); err != nil {
		t.Fatal(err)
	}
	s.Close()

	ro, err := Open(ctx, path, WithReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	if n, err := ro.TreeSize(ctx, "acme"); err != nil || n != int64(len(acme)) {
		t.Fatalf("read-only tree size of a file without the column: %d, %v; want %d", n, err, len(acme))
	}
	storagetest.CheckTree(ctx, t, ro, "acme", acme)
	ro.Close()

	s, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n, err := s.TreeSize(ctx, "acme"); err != nil || n != int64(len(acme)) {
		t.Fatalf("tree size after the migration: %d, %v; want %d", n, err, len(acme))
	}
	acme = storagetest.AppendChain(t, s, "acme", acme, 30, 4)
	if n := count(t, s, "SELECT count(*) FROM capsule_tree WHERE tenant_id = 'acme'"); n != int64(len(runs)) {
		t.Errorf("appends after the migration stored %d runs in capsule_tree, want the %d before", n, len(runs))
	}
	if n := count(t, s, "SELECT count(*) FROM capsule_tenant_chains WHERE tree IS NOT NULL"); n != 30 {
		t.Errorf("%d rows hold their tree hashes, want the 30 appended after the migration", n)
	}
	storagetest.CheckTree(ctx, t, s, "acme", acme)
}

// A tenant tree whose rows hold hashes up to some record, with later
// records appended without a tree, has that size, and the next append
// catches the rest up.
func TestRowTreeLag(t *testing.T) {
	s, _ := openTemp(t)
	storagetest.TreeLag(t, s, func(keep bool) {
		s.noTree = !keep
		if keep {
			s.trees.Drop("acme")
		}
	})
}

// The tree reads of a tenant's rows each search the (tenant_id, sequence)
// index: a read of a few hashes, of a range, and of one row's presence
// never scan the chain.
func TestRowTreeReadsUseIndex(t *testing.T) {
	s, _ := openTemp(t)
	storagetest.AppendChain(t, s, "acme", nil, 3, 3)
	for _, q := range []struct {
		query string
		args  []any
	}{
		{rowTreeReadQuery, []any{"acme", "[[1,0],[2,1]]"}},
		{rowTreeRangeQuery, []any{"acme", 0, 2}},
		{rowHasTree, []any{"acme", 1}},
		{rowTreeHead, []any{"acme"}},
	} {
		plan := explainPlan(t, s, q.query, q.args)
		searched := false
		for _, step := range plan {
			if strings.Contains(step, "SCAN") && strings.Contains(step, "capsule_tenant_chains") {
				t.Errorf("%s: plan scans the table: %q", q.query, plan)
			}
			searched = searched || strings.Contains(step, "USING INDEX sqlite_autoindex_capsule_tenant_chains_2 (tenant_id=?")
		}
		if !searched {
			t.Errorf("%s: plan does not search the (tenant_id, sequence) index: %q", q.query, plan)
		}
	}
}
