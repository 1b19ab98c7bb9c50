package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/capsule-go/capsule/internal/tree"
	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/storage"
)

// The Merkle tree of each chain (see [storage.TreeStore]) is kept where the
// Python reference neither reads nor needs it: the column tree of each
// capsule's row, which Open adds to both tables (the reference table, the
// null tenant's chain, and the tenant table), holds the stored hashes its
// record adds to the tree (those at indexes tlog.StoredHashCount(n) to
// tlog.StoredHashCount(n+1)-1 for record n); capsule_tree holds stored
// hashes in runs, keyed by tenant (the empty string for the null tenant)
// and stored-hash index; capsule_checkpoints the latest cosigned
// checkpoint of each chain.
//
// An append stores the hashes of its records in their rows, whose pages
// it writes anyway, where a row of capsule_tree is one more page per
// commit, per chain a commit extends (capsule_tree is ordered by tenant):
// writers spread over 64 chains wrote a page of tree for each capsule, and
// a single writer on the null tenant's chain a page more per one-capsule
// commit. The Python reference names its columns in every statement
// (SQLAlchemy's model), so it neither reads the column nor writes it: a
// row it inserts holds NULL there, a tree not built yet. capsule_tree
// keeps the hashes that versions before the column wrote (every chain's
// then) and those of catch-ups (an append's of a short lag, and
// GrowTree's, over the reference's rows say). So a chain's tree of size
// records holds its hashes in capsule_tree up to some size (the end of its
// last run there), and, from that size on, in the rows of records up to
// size-1; no later row holds any. A row that holds none reads as NULL, and
// a hash is read from the row first, then from capsule_tree. A read-only
// store on a file whose table lacks the column reads the chain's tree from
// capsule_tree alone. Both tables run the same statements (rowTreeSQL),
// which select a chain's rows by tenant.
const (
	treeTableDDL = "CREATE TABLE IF NOT EXISTS capsule_tree (\n" +
		"\ttenant_id TEXT NOT NULL,\n" +
		"\tidx INTEGER NOT NULL,\n" +
		"\thashes BLOB NOT NULL,\n" +
		"\tPRIMARY KEY (tenant_id, idx)\n" +
		") WITHOUT ROWID"
	checkpointTableDDL = "CREATE TABLE IF NOT EXISTS capsule_checkpoints (\n" +
		"\ttenant_id TEXT NOT NULL PRIMARY KEY,\n" +
		"\tsize INTEGER NOT NULL,\n" +
		"\tnote BLOB NOT NULL\n" +
		")"
)

// maxRun is how many stored hashes one row of capsule_tree holds at most
// (2 KB): a run is those an append adds, so that an append adds a row or
// two to the tree rather than one per hash.
const maxRun = 64

// Statements of the tree.
const (
	treeCountQuery = "SELECT coalesce((SELECT idx + length(hashes) / 32 FROM capsule_tree WHERE tenant_id = ?1 ORDER BY idx DESC LIMIT 1), 0)"
	// treeReadQuery reads each index of the JSON array ?2 from the run that
	// holds it (NULL when none does).
	treeReadQuery = "SELECT j.value, (SELECT substr(c.hashes, (j.value - c.idx) * 32 + 1, 32) FROM capsule_tree c " +
		"WHERE c.tenant_id = ?1 AND c.idx <= j.value AND c.idx + length(c.hashes) / 32 > j.value ORDER BY c.idx DESC LIMIT 1) " +
		"FROM json_each(?2) AS j"
	treeInsert = "INSERT INTO capsule_tree (tenant_id, idx, hashes) VALUES (?1, ?2, ?3)"
	// treeRangeQuery reads the runs that may hold indexes [?2, ?3): a run
	// starts at most maxRun-1 (?4-1) before the first.
	treeRangeQuery = "SELECT idx, hashes FROM capsule_tree WHERE tenant_id = ?1 AND idx > ?2 - ?4 AND idx < ?3 ORDER BY idx"
	saveCheckpoint = "INSERT INTO capsule_checkpoints (tenant_id, size, note) VALUES (?1, ?2, ?3) ON CONFLICT (tenant_id) DO UPDATE SET size = excluded.size, note = excluded.note WHERE excluded.size >= capsule_checkpoints.size"
	readCheckpoint = "SELECT note FROM capsule_checkpoints WHERE tenant_id = ?"
)

// rowTreeSQL is the tree's SQL on one of the two tables: the hashes its
// rows hold in their column tree, which Open adds to a file of any
// version, and the leaves of its chains. ?1 is the tenant in every
// statement but the two on the column, so that both tables run them
// alike.
type rowTreeSQL struct {
	// where selects the rows of the chain of tenant ?1.
	where string
	// addColumn adds the column; hasColumn counts it (0 or 1).
	addColumn, hasColumn string
	// head reads the chain's last record and whether its row holds
	// hashes; has whether record ?2's row does.
	head, has string
	// read reads, for each [record, offset] of the JSON array ?2, the
	// hash at offset in the record's row (NULL or empty when the row
	// holds none).
	read string
	// rangeOf reads the tree hashes of records ?2 to ?3.
	rangeOf string
	// leaves reads the sequence and hash of at most ?3 records from
	// sequence ?2 on.
	leaves string
}

// rowTreeStatements returns the statements of table name, whose rows
// belong to the tenant tenantKey (an SQL expression: the reference table
// holds the null tenant's chain alone, and its key, the empty string, is a
// literal that SQLite compares with ?1 once, as a constant, searching the
// sequence index as it would without it).
func rowTreeStatements(name, tenantKey string) rowTreeSQL {
	where := tenantKey + " = ?1"
	chain := " WHERE " + where
	return rowTreeSQL{
		where:     where,
		addColumn: "ALTER TABLE " + name + " ADD COLUMN tree BLOB",
		hasColumn: "SELECT count(*) FROM pragma_table_info('" + name + "') WHERE name = 'tree'",
		head:      "SELECT sequence, tree IS NOT NULL FROM " + name + chain + " ORDER BY sequence DESC LIMIT 1",
		has:       "SELECT tree IS NOT NULL FROM " + name + chain + " AND sequence = ?2",
		// The names of read's subquery are the table's (json_each has
		// none of them).
		read: "SELECT j.key, (SELECT substr(tree, json_extract(j.value, '$[1]') * 32 + 1, 32) FROM " + name + chain +
			" AND sequence = json_extract(j.value, '$[0]')) FROM json_each(?2) AS j",
		rangeOf: "SELECT sequence, tree FROM " + name + chain +
			" AND sequence >= ?2 AND sequence <= ?3 AND tree IS NOT NULL ORDER BY sequence",
		leaves: "SELECT sequence, hash FROM " + name + chain + " AND sequence >= ?2 ORDER BY sequence LIMIT ?3",
	}
}

// inlineCatchUp is how far behind its chain a tree may be for an append to
// catch it up in its own transaction; a tree further behind is caught up
// by [Store.GrowTree], when a proof or a checkpoint needs it.
const inlineCatchUp = 256

var _ storage.TreeStore = (*Store)(nil)

// querier is a transaction or a pool.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// runsSize returns the size of the tree tenant's runs in capsule_tree
// cover, as q sees them.
func runsSize(ctx context.Context, q querier, tenant string) (int64, error) {
	var count int64
	if err := q.QueryRowContext(ctx, treeCountQuery, tenant).Scan(&count); err != nil {
		return 0, fmt.Errorf("read the tree size: %w", err)
	}
	return tree.Size(count)
}

// treeSize returns the size of tenant's stored tree as q sees it; rows
// reports that the table of tenant's chain has the tree column.
func treeSize(ctx context.Context, q querier, tenant string, rows bool) (int64, error) {
	runs, err := runsSize(ctx, q, tenant)
	if err != nil || !rows {
		return runs, err
	}
	var head int64
	var has bool
	err = q.QueryRowContext(ctx, tableOf(tenant).tree.head, tenant).Scan(&head, &has)
	if errors.Is(err, sql.ErrNoRows) {
		return runs, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read the tree size: %w", err)
	}
	return rowTreeEnd(ctx, q, tenant, runs, head, has)
}

// rowTreeEnd returns the size of the tree of tenant's chain, whose last
// record is head (-1 for none), from runs, the size its runs in
// capsule_tree cover, and has, whether head's row holds its hashes (see
// [tree.RowEnd]).
func rowTreeEnd(ctx context.Context, q querier, tenant string, runs, head int64, has bool) (int64, error) {
	return tree.RowEnd(runs, head, has, func(seq int64) (bool, error) {
		var h bool
		err := q.QueryRowContext(ctx, tableOf(tenant).tree.has, tenant, seq).Scan(&h)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return false, fmt.Errorf("read the tree size: %w", err)
		}
		return h, nil
	})
}

// readHashes returns tenant's stored hashes at indexes as q sees them;
// rows reports that the table of tenant's chain has the tree column.
func readHashes(ctx context.Context, q querier, tenant string, rows bool, indexes []int64) ([]tlog.Hash, error) {
	if len(indexes) == 0 {
		return nil, nil
	}
	if tree.Contiguous(indexes, maxRun) {
		return readRange(ctx, q, tenant, rows, indexes[0], int64(len(indexes)))
	}
	found := make(map[int64]tlog.Hash, len(indexes))
	missing := indexes
	if rows {
		pairs := make([][2]int64, len(indexes))
		for k, i := range indexes {
			n := tree.Record(i)
			pairs[k] = [2]int64{n, i - tlog.StoredHashCount(n)}
		}
		if err := scanHashes(ctx, q, tableOf(tenant).tree.read, tenant, pairs, func(k int64, h tlog.Hash) {
			found[indexes[k]] = h
		}); err != nil {
			return nil, err
		}
		missing = slices.DeleteFunc(slices.Clone(indexes), func(i int64) bool { _, ok := found[i]; return ok })
	}
	if len(missing) > 0 {
		if err := scanHashes(ctx, q, treeReadQuery, tenant, missing, func(i int64, h tlog.Hash) { found[i] = h }); err != nil {
			return nil, err
		}
	}
	return tree.InOrder(tenant, indexes, found)
}

// scanHashes runs query, one of tenant's hash reads, with the JSON of arg
// as ?2, and passes each (key, hash) row to add, but for those that name
// no hash.
func scanHashes(ctx context.Context, q querier, query, tenant string, arg any, add func(int64, tlog.Hash)) error {
	j, err := json.Marshal(arg)
	if err != nil {
		return err
	}
	rows, err := q.QueryContext(ctx, query, tenant, string(j))
	if err != nil {
		return fmt.Errorf("read the tree: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var i int64
		var h []byte
		if err := rows.Scan(&i, &h); err != nil {
			return fmt.Errorf("read the tree: %w", err)
		}
		switch len(h) {
		case 0:
			continue // none stored there
		case tlog.HashSize:
			add(i, tlog.Hash(h))
		default:
			return fmt.Errorf("read the tree: stored hash %d has %d bytes", i, len(h))
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read the tree: %w", err)
	}
	return nil
}

// readRange returns tenant's n stored hashes from index lo, reading the
// rows of the records that hold them, when rows, then the runs in
// capsule_tree that may hold the others in one range of its primary key
// (tree check reads the whole tree so).
func readRange(ctx context.Context, q querier, tenant string, rows bool, lo, n int64) ([]tlog.Hash, error) {
	r := tree.NewRange(lo, n)
	if rows {
		c, err := q.QueryContext(ctx, tableOf(tenant).tree.rangeOf, tenant, tree.Record(lo), tree.Record(lo+n-1))
		if err != nil {
			return nil, fmt.Errorf("read the tree: %w", err)
		}
		defer c.Close()
		for c.Next() {
			var seq int64
			var hs []byte
			if err := c.Scan(&seq, &hs); err != nil {
				return nil, fmt.Errorf("read the tree: %w", err)
			}
			r.Add(tlog.StoredHashCount(seq), hs)
		}
		if err := c.Err(); err != nil {
			return nil, fmt.Errorf("read the tree: %w", err)
		}
		c.Close()
	}
	if !r.Full() {
		c, err := q.QueryContext(ctx, treeRangeQuery, tenant, lo, lo+n, maxRun)
		if err != nil {
			return nil, fmt.Errorf("read the tree: %w", err)
		}
		defer c.Close()
		if err := r.ScanRuns(c); err != nil {
			return nil, fmt.Errorf("read the tree: %w", err)
		}
	}
	hs, err := r.Hashes()
	if err != nil {
		return nil, fmt.Errorf("read the tree of %q: %w", tenant, err)
	}
	return hs, nil
}

// readLeaves returns the leaves of up to limit capsules of tenant's chain
// from sequence from, as q sees them; fewer when the chain ends.
func readLeaves(ctx context.Context, q querier, tenant string, from int64, limit int) ([]tlog.Hash, error) {
	rows, err := q.QueryContext(ctx, tableOf(tenant).tree.leaves, tenant, from, limit)
	if err != nil {
		return nil, fmt.Errorf("read the chain: %w", err)
	}
	defer rows.Close()
	var leaves []tlog.Hash
	for rows.Next() {
		var seq int64
		var hash string
		if err := rows.Scan(&seq, &hash); err != nil {
			return nil, fmt.Errorf("read the chain: %w", err)
		}
		if want := from + int64(len(leaves)); seq != want {
			return nil, fmt.Errorf("read the chain: capsule %d is missing (found %d)", want, seq)
		}
		leaf, err := tree.Leaf(hash)
		if err != nil {
			return nil, fmt.Errorf("capsule %d: %w", seq, err)
		}
		leaves = append(leaves, leaf)
	}
	return leaves, rows.Err()
}

// extension is what adding records to a tree adds: the stored hashes
// from index tlog.StoredHashCount(size) on, and the tree's frontier after
// them.
type extension struct {
	size  int64
	added []tlog.Hash
	front tree.Front
}

// extend computes what adding leaves (records size, size+1, ...) to
// tenant's stored tree of size records adds, inside w. The frontier of
// size comes from the cache when it holds that size's (the tree cannot
// have changed since, as its size did not: only the write lock's holder
// writes it), else from the tree.
func (s *Store) extend(ctx context.Context, w *writeTx, tenant string, size int64, leaves []tlog.Hash) (extension, error) {
	f, ok := s.trees.Get(tenant)
	if !ok || f.Size != size {
		hs, err := readHashes(ctx, w.tx, tenant, true, tree.Frontier(size))
		if err != nil {
			return extension{}, err
		}
		f = tree.Front{Size: size, Hashes: hs}
	}
	added, err := tree.Extend(size, f.Hashes, leaves)
	if err != nil {
		return extension{}, err
	}
	end := size + int64(len(leaves))
	return extension{size: size, added: added, front: tree.Front{Size: end, Hashes: tree.NextFrontier(size, f.Hashes, added, end)}}, nil
}

// storeRuns stores in capsule_tree, inside w, the hashes x adds for the
// records from x.size to upto-1.
func (s *Store) storeRuns(ctx context.Context, w *writeTx, tenant string, x extension, upto int64) error {
	base := tlog.StoredHashCount(x.size)
	n := tlog.StoredHashCount(upto) - base
	if n == 0 {
		return nil
	}
	st, err := w.stmt(ctx, treeInsert)
	if err != nil {
		return fmt.Errorf("prepare the tree insert: %w", err)
	}
	starts, runs := tree.Runs(base, x.added[:n], maxRun)
	for i := range starts {
		if _, err := st.ExecContext(ctx, tenant, starts[i], runs[i]); err != nil {
			return fmt.Errorf("store tree hashes from %d: %w", starts[i], err)
		}
	}
	return nil
}

// growTx adds leaves (records size, size+1, ...) to tenant's stored tree of
// size records, in capsule_tree, inside w, and notes the tree's new
// frontier in w for the cache once w commits.
func (s *Store) growTx(ctx context.Context, w *writeTx, tenant string, size int64, leaves []tlog.Hash) error {
	x, err := s.extend(ctx, w, tenant, size, leaves)
	if err != nil {
		return err
	}
	if err := s.storeRuns(ctx, w, tenant, x, x.front.Size); err != nil {
		return err
	}
	w.grown(tenant, x.front)
	return nil
}

// planTree computes, in the append's transaction w and before recs are
// inserted after head, what they add to tenant's tree; headTree reports
// whether head's row holds its tree hashes. The tree grows with the chain
// when it covers the chain up to head, or lags by at most inlineCatchUp
// capsules (which it then catches up); else (or when the store keeps no
// tree) planTree returns nil, and the tree is left for GrowTree.
func (s *Store) planTree(ctx context.Context, w *writeTx, tenant string, head storage.Head, headTree bool, recs []protocol.Sealed) (*extension, error) {
	if s.noTree {
		return nil, nil
	}
	next := head.Sequence + 1
	size := next
	// The tree covers the chain when head's row says so or when the
	// cache says the tree of this process's last append or catch-up did
	// (a catch-up's hashes are in capsule_tree, not in head's row): the
	// chain has not grown since (its head is where that left it), and no
	// writer shrinks a tree.
	if f, ok := s.trees.Get(tenant); !headTree && !(ok && f.Size == next) {
		runs, err := runsSize(ctx, w.tx, tenant)
		if err != nil {
			return nil, err
		}
		if size, err = rowTreeEnd(ctx, w.tx, tenant, runs, head.Sequence, false); err != nil {
			return nil, err
		}
	}
	if size > next || next-size > inlineCatchUp {
		return nil, nil
	}
	leaves := make([]tlog.Hash, 0, next-size+int64(len(recs)))
	if size < next {
		var err error
		if leaves, err = readLeaves(ctx, w.tx, tenant, size, int(next-size)); err != nil {
			return nil, err
		}
		if int64(len(leaves)) != next-size {
			return nil, fmt.Errorf("read the chain: %d capsules from %d, want %d", len(leaves), size, next-size)
		}
	}
	for _, r := range recs {
		leaf, err := tree.Leaf(r.Hash)
		if err != nil {
			return nil, fmt.Errorf("capsule %d: %w", r.Sequence, err)
		}
		leaves = append(leaves, leaf)
	}
	x, err := s.extend(ctx, w, tenant, size, leaves)
	if err != nil {
		return nil, err
	}
	return &x, nil
}

// rowTree returns what the tree column of record n's row holds: the
// hashes it adds, or nil (NULL) when x is nil.
func (x *extension) rowTree(n int64) any {
	if x == nil {
		return nil
	}
	return tree.RecordHashes(x.size, x.added, n)
}

// hasTree reports whether the tree's tables exist; a read-only store
// looks again until they do.
func (s *Store) hasTree(ctx context.Context) (bool, error) {
	if s.treeTables.Load() {
		return true, nil
	}
	var n int
	err := s.r.QueryRowContext(ctx,
		"SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('capsule_tree', 'capsule_checkpoints')").Scan(&n)
	if err != nil {
		return false, fmt.Errorf("read the schema: %w", err)
	}
	if n == 2 {
		s.treeTables.Store(true)
	}
	return n == 2, nil
}

// hasRowTrees reports whether the table of tenant's chain has the tree
// column; a read-only store looks again until it has.
func (s *Store) hasRowTrees(ctx context.Context, tenant string) (bool, error) {
	t := tableOf(tenant)
	if tableSet(s.rowTrees.Load())&t.bit != 0 {
		return true, nil
	}
	var n int
	if err := s.r.QueryRowContext(ctx, t.tree.hasColumn).Scan(&n); err != nil {
		return false, fmt.Errorf("read the schema: %w", err)
	}
	if n == 1 {
		s.rowTrees.Or(uint32(t.bit))
	}
	return n == 1, nil
}

// TreeSize returns how many capsules of tenant's chain the stored tree
// covers; see [storage.TreeStore].
func (s *Store) TreeSize(ctx context.Context, tenant string) (int64, error) {
	if s.closed.Load() {
		return 0, s.errClosed("tree size")
	}
	ok, err := s.hasTree(ctx)
	if err != nil || !ok {
		return 0, err
	}
	rows, err := s.hasRowTrees(ctx, tenant)
	if err != nil {
		return 0, err
	}
	n, err := treeSize(ctx, s.r, tenant, rows)
	if err != nil {
		return 0, fmt.Errorf("sqlite: tree of %q: %w", tenant, err)
	}
	return n, nil
}

// ReadTreeHashes returns tenant's stored hashes at indexes; see
// [storage.TreeStore].
func (s *Store) ReadTreeHashes(ctx context.Context, tenant string, indexes []int64) ([]tlog.Hash, error) {
	if s.closed.Load() {
		return nil, s.errClosed("read tree")
	}
	if ok, err := s.hasTree(ctx); err != nil || !ok {
		return nil, fmt.Errorf("sqlite: tree of %q: no tree stored (%v)", tenant, err)
	}
	rows, err := s.hasRowTrees(ctx, tenant)
	if err != nil {
		return nil, err
	}
	hs, err := readHashes(ctx, s.r, tenant, rows, indexes)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	return hs, nil
}

// GrowTree catches tenant's stored tree up by up to max capsules of its
// chain, in one write transaction; see [storage.TreeStore]. On a
// read-only store it returns [ErrReadOnly].
func (s *Store) GrowTree(ctx context.Context, tenant string, max int) (int64, error) {
	if s.closed.Load() {
		return 0, s.errClosed("grow tree")
	}
	if s.readOnly {
		return 0, fmt.Errorf("sqlite: grow the tree of %q in %s: %w", tenant, s.path, ErrReadOnly)
	}
	fail := func(err error) (int64, error) {
		return 0, fmt.Errorf("sqlite: grow the tree of %q in %s: %w", tenant, s.path, err)
	}
	tx, err := s.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE: excludes appenders
	if err != nil {
		return fail(fmt.Errorf("begin: %w", err))
	}
	defer tx.Rollback()
	if err := s.checkFile(); err != nil {
		return fail(err)
	}
	if err := s.checkWAL(); err != nil {
		return fail(s.refuse(ctx, tx, err))
	}
	w := newWriteTx(tx)
	defer w.close()
	size, err := treeSize(ctx, tx, tenant, true)
	if err != nil {
		return fail(err)
	}
	leaves, err := readLeaves(ctx, tx, tenant, size, max)
	if err != nil {
		return fail(err)
	}
	if len(leaves) == 0 {
		return size, nil
	}
	if err := s.growTx(ctx, w, tenant, size, leaves); err != nil {
		return fail(err)
	}
	if err := s.commit(ctx, tx); err != nil {
		return fail(err)
	}
	return size + int64(len(leaves)), nil
}

// SaveCheckpoint keeps signedNote as tenant's latest checkpoint unless the
// one kept has a larger size; see [storage.TreeStore].
func (s *Store) SaveCheckpoint(ctx context.Context, tenant string, signedNote []byte) error {
	if s.closed.Load() {
		return s.errClosed("save checkpoint")
	}
	if s.readOnly {
		return fmt.Errorf("sqlite: save checkpoint of %q in %s: %w", tenant, s.path, ErrReadOnly)
	}
	size, err := tree.CheckpointSize(signedNote)
	if err != nil {
		return fmt.Errorf("sqlite: save checkpoint of %q: %w", tenant, err)
	}
	if _, err := s.w.ExecContext(ctx, saveCheckpoint, tenant, size, signedNote); err != nil {
		return fmt.Errorf("sqlite: save checkpoint of %q: %w", tenant, err)
	}
	return nil
}

// LatestCheckpoint returns tenant's latest kept checkpoint, or an error
// wrapping [storage.ErrNotFound]; see [storage.TreeStore].
func (s *Store) LatestCheckpoint(ctx context.Context, tenant string) ([]byte, error) {
	if s.closed.Load() {
		return nil, s.errClosed("read checkpoint")
	}
	ok, err := s.hasTree(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqlite: checkpoint of %q: %w", tenant, err)
	}
	var note []byte
	if ok {
		err = s.r.QueryRowContext(ctx, readCheckpoint, tenant).Scan(&note)
	}
	if !ok || errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: checkpoint of %q: %w", tenant, storage.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: checkpoint of %q: %w", tenant, err)
	}
	return note, nil
}

// grown notes that the transaction grew tenant's tree to f.
func (w *writeTx) grown(tenant string, f tree.Front) {
	if w.tree == nil {
		w.tree = make(map[string]tree.Front, 1)
	}
	w.tree[tenant] = f
}
