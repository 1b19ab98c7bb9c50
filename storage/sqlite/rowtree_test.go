package sqlite

import (
	"bytes"
	"context"
	"regexp"
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

// Every chain's appends store the tree hashes of each record in its own
// row, whose page they write anyway, and none in capsule_tree, whose pages
// (ordered by tenant) they would write besides: a tenant chain's in the
// tenant table, the null tenant's in the reference table.
func TestTreeInRows(t *testing.T) {
	s, _ := openTemp(t)
	chains := map[string][]protocol.Sealed{}
	for _, batch := range []int{1, 5, 64, 2} {
		chains["acme"] = storagetest.AppendChain(t, s, "acme", chains["acme"], 2*batch, batch)
		chains[""] = storagetest.AppendChain(t, s, "", chains[""], batch, batch)
	}
	for tenant, recs := range chains {
		if n := count(t, s, "SELECT count(*) FROM capsule_tree WHERE tenant_id = ?", tenant); n != 0 {
			t.Errorf("appends to %q stored %d rows in capsule_tree, want none", tenant, n)
		}
		checkRowHashes(t, s, tenant, recs)
		storagetest.CheckTree(t.Context(), t, s, tenant, recs)
	}
}

// checkRowHashes checks that the row of each of recs, tenant's chain,
// holds the stored hashes its record adds to the tree, as tlog computes
// them, no more, no fewer.
func checkRowHashes(t *testing.T, s *Store, tenant string, recs []protocol.Sealed) {
	t.Helper()
	ref := storagetest.IndependentTree(t, recs)
	tbl := tableOf(tenant)
	rows, err := s.w.QueryContext(t.Context(), "SELECT sequence, tree FROM "+tbl.name+" WHERE "+tbl.tree.where+" ORDER BY sequence", tenant)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var n int64
	for ; rows.Next(); n++ {
		var seq int64
		var got []byte
		if err := rows.Scan(&seq, &got); err != nil {
			t.Fatal(err)
		}
		var idx []int64
		for i := tlog.StoredHashCount(seq); i < tlog.StoredHashCount(seq+1); i++ {
			idx = append(idx, i)
		}
		hs, err := ref.ReadHashes(idx)
		if err != nil {
			t.Fatal(err)
		}
		var want []byte
		for _, h := range hs {
			want = append(want, h[:]...)
		}
		if seq != n || !bytes.Equal(got, want) {
			t.Fatalf("%q: row %d (record %d) holds %x, want %x", tenant, n, seq, got, want)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != int64(len(recs)) {
		t.Fatalf("%q: %d rows, want %d", tenant, n, len(recs))
	}
}

// treeToRuns moves the tree hashes the rows of tenant's chain hold to
// capsule_tree, a run per record, and drops the table's tree column: the
// layout of a file written before the column. It returns how many runs it
// stored.
func treeToRuns(t *testing.T, s *Store, tenant string) int64 {
	t.Helper()
	ctx := t.Context()
	tbl := tableOf(tenant)
	rows, err := s.w.QueryContext(ctx, "SELECT sequence, tree FROM "+tbl.name+" WHERE "+tbl.tree.where+" ORDER BY sequence", tenant)
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
		if _, err := s.w.ExecContext(ctx, treeInsert, tenant, r.idx, r.hashes); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.w.ExecContext(ctx, "ALTER TABLE "+tbl.name+" DROP COLUMN tree"); err != nil {
		t.Fatal(err)
	}
	return int64(len(runs))
}

// A file whose tables predate the tree column (its trees in capsule_tree:
// every chain's, as versions before the tenant table's column wrote them,
// or the null tenant's alone, as versions before the reference table's
// wrote it) opens read-only with its trees whole, and writable with the
// column added: appends then keep the new records' hashes in their rows,
// and every hash reads back from wherever it is, on a writable and on a
// read-only store.
func TestTreeColumnMigration(t *testing.T) {
	for name, moved := range map[string][]string{
		"both tables":         {"acme", ""},
		"the reference table": {""},
	} {
		t.Run(name, func(t *testing.T) { testTreeColumnMigration(t, moved) })
	}
}

// testTreeColumnMigration is TestTreeColumnMigration on a file whose
// chains of the tenants moved have their trees in capsule_tree, and whose
// tables of those chains lack the column.
func testTreeColumnMigration(t *testing.T, moved []string) {
	ctx := context.Background()
	s, path := openTemp(t)
	chains := map[string][]protocol.Sealed{
		"acme": storagetest.AppendChain(t, s, "acme", nil, 40, 7),
		"":     storagetest.AppendChain(t, s, "", nil, 45, 6),
	}
	runs := map[string]int64{}
	rows := map[string]int64{"acme": 40, "": 45}
	for _, tenant := range moved {
		runs[tenant] = treeToRuns(t, s, tenant)
		rows[tenant] = 0
	}
	s.Close()
	ro, err := Open(ctx, path, WithReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	for tenant, recs := range chains {
		if n, err := ro.TreeSize(ctx, tenant); err != nil || n != int64(len(recs)) {
			t.Fatalf("%q: read-only tree size of a file without the column: %d, %v; want %d", tenant, n, err, len(recs))
		}
		storagetest.CheckTree(ctx, t, ro, tenant, recs)
	}
	ro.Close()

	s, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	for tenant, recs := range chains {
		if n, err := s.TreeSize(ctx, tenant); err != nil || n != int64(len(recs)) {
			t.Fatalf("%q: tree size after the migration: %d, %v; want %d", tenant, n, err, len(recs))
		}
		chains[tenant] = storagetest.AppendChain(t, s, tenant, recs, 30, 4)
	}
	for tenant, recs := range chains {
		if n := count(t, s, "SELECT count(*) FROM capsule_tree WHERE tenant_id = ?", tenant); n != runs[tenant] {
			t.Errorf("%q: appends after the migration stored %d runs in capsule_tree, want the %d before", tenant, n, runs[tenant])
		}
		tbl := tableOf(tenant)
		if n := count(t, s, "SELECT count(*) FROM "+tbl.name+" WHERE "+tbl.tree.where+" AND tree IS NOT NULL", tenant); n != rows[tenant]+30 {
			t.Errorf("%q: %d rows hold their tree hashes, want %d and the 30 appended after the migration", tenant, n, rows[tenant])
		}
		storagetest.CheckTree(ctx, t, s, tenant, recs)
	}
	s.Close()

	ro, err = Open(ctx, path, WithReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	for tenant, recs := range chains {
		if n, err := ro.TreeSize(ctx, tenant); err != nil || n != int64(len(recs)) {
			t.Fatalf("%q: read-only tree size in runs and rows: %d, %v; want %d", tenant, n, err, len(recs))
		}
		storagetest.CheckTree(ctx, t, ro, tenant, recs)
	}
}

// A tenant tree whose rows hold hashes up to some record, with later
// records appended without a tree, has that size, and the next append
// catches the rest up.
func TestRowTreeLag(t *testing.T) {
	s, _ := openTemp(t)
	storagetest.TreeLag(t, s, func(tenant string, keep bool) {
		s.noTree = !keep
		if keep {
			s.trees.Drop(tenant)
		}
	})
}

// The tree reads of a chain's rows each search the (tenant_id, sequence)
// index of the tenant table, or a sequence index of the reference table:
// a read of a few hashes, of a range, and of one row's presence never
// scan the chain. (The head of the reference table is read as Head reads
// it, by scanning its sequence index from the end for one entry.)
func TestRowTreeReadsUseIndex(t *testing.T) {
	s, _ := openTemp(t)
	for tenant, index := range map[string]*regexp.Regexp{
		"acme": regexp.MustCompile(`^SEARCH capsule_tenant_chains USING INDEX sqlite_autoindex_capsule_tenant_chains_2 \(tenant_id=\?`),
		"":     regexp.MustCompile(`^(SEARCH capsules USING INDEX (ix_capsules_sequence|sqlite_autoindex_capsules_2) \(sequence|SCAN capsules USING INDEX ix_capsules_sequence$)`),
	} {
		storagetest.AppendChain(t, s, tenant, nil, 3, 3)
		tbl := tableOf(tenant)
		for _, q := range []struct {
			query string
			args  []any
		}{
			{tbl.tree.read, []any{tenant, "[[1,0],[2,1]]"}},
			{tbl.tree.rangeOf, []any{tenant, 0, 2}},
			{tbl.tree.has, []any{tenant, 1}},
			{tbl.tree.head, []any{tenant}},
			{tbl.tree.leaves, []any{tenant, 1, 2}},
		} {
			plan := explainPlan(t, s, q.query, q.args)
			searched := false
			for _, step := range plan {
				switch {
				case index.MatchString(step):
					searched = true
				case strings.Contains(step, tbl.name) || strings.Contains(step, "TEMP B-TREE"):
					t.Errorf("%s: plan reads the table otherwise: %q", q.query, plan)
				}
			}
			if !searched {
				t.Errorf("%s: plan does not search the index (%s): %q", q.query, index, plan)
			}
		}
	}
}
