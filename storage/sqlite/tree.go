package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/capsule-go/capsule/internal/tree"
	"github.com/capsule-go/capsule/storage"
)

// The Merkle tree of each chain (see [storage.TreeStore]) lives in two
// tables of this package's own, which the Python reference neither reads
// nor needs: capsule_tree holds tlog's stored hashes of every chain, keyed
// by tenant (the empty string for the null tenant) and stored-hash index, and
// capsule_checkpoints the latest cosigned checkpoint of each chain.
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
	treeRangeQuery  = "SELECT idx, hashes FROM capsule_tree WHERE tenant_id = ?1 AND idx > ?2 - ?4 AND idx < ?3 ORDER BY idx"
	saveCheckpoint  = "INSERT INTO capsule_checkpoints (tenant_id, size, note) VALUES (?1, ?2, ?3) ON CONFLICT (tenant_id) DO UPDATE SET size = excluded.size, note = excluded.note WHERE excluded.size >= capsule_checkpoints.size"
	readCheckpoint  = "SELECT note FROM capsule_checkpoints WHERE tenant_id = ?"
	leavesRefQuery  = "SELECT sequence, hash FROM capsules WHERE sequence >= ?1 ORDER BY sequence LIMIT ?2"
	leavesTenantQry = "SELECT sequence, hash FROM capsule_tenant_chains WHERE tenant_id = ?3 AND sequence >= ?1 ORDER BY sequence LIMIT ?2"
)

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

// treeSize returns the size of tenant's stored tree as q sees it.
func treeSize(ctx context.Context, q querier, tenant string) (int64, error) {
	var count int64
	if err := q.QueryRowContext(ctx, treeCountQuery, tenant).Scan(&count); err != nil {
		return 0, fmt.Errorf("read the tree size: %w", err)
	}
	return tree.Size(count)
}

// readHashes returns tenant's stored hashes at indexes as q sees them.
func readHashes(ctx context.Context, q querier, tenant string, indexes []int64) ([]tlog.Hash, error) {
	if len(indexes) == 0 {
		return nil, nil
	}
	if tree.Contiguous(indexes, maxRun) {
		return readRange(ctx, q, tenant, indexes[0], int64(len(indexes)))
	}
	idx, err := json.Marshal(indexes)
	if err != nil {
		return nil, err
	}
	rows, err := q.QueryContext(ctx, treeReadQuery, tenant, string(idx))
	if err != nil {
		return nil, fmt.Errorf("read the tree: %w", err)
	}
	defer rows.Close()
	found := make(map[int64]tlog.Hash, len(indexes))
	for rows.Next() {
		var i int64
		var h []byte
		if err := rows.Scan(&i, &h); err != nil {
			return nil, fmt.Errorf("read the tree: %w", err)
		}
		if h == nil {
			continue // no run holds it
		}
		if len(h) != tlog.HashSize {
			return nil, fmt.Errorf("read the tree: stored hash %d has %d bytes", i, len(h))
		}
		found[i] = tlog.Hash(h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the tree: %w", err)
	}
	return tree.InOrder(tenant, indexes, found)
}

// readRange returns tenant's n stored hashes from index lo, reading the
// runs that hold them in one range of the primary key (tree check reads
// the whole tree so).
func readRange(ctx context.Context, q querier, tenant string, lo, n int64) ([]tlog.Hash, error) {
	rows, err := q.QueryContext(ctx, treeRangeQuery, tenant, lo, lo+n, maxRun)
	if err != nil {
		return nil, fmt.Errorf("read the tree: %w", err)
	}
	defer rows.Close()
	r := tree.NewRange(lo, n)
	if err := r.ScanRuns(rows); err != nil {
		return nil, fmt.Errorf("read the tree: %w", err)
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
	query, args := leavesRefQuery, []any{from, limit}
	if tenant != "" {
		query, args = leavesTenantQry, append(args, tenant)
	}
	rows, err := q.QueryContext(ctx, query, args...)
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

// growTx adds leaves (records size, size+1, ...) to tenant's stored tree of
// size records, inside w, and notes the tree's new frontier in w for the
// cache once w commits. The frontier of size comes from the cache when it
// holds that size's (the tree cannot have changed since, as its size did
// not: only the write lock's holder writes it), else from the tree.
func (s *Store) growTx(ctx context.Context, w *writeTx, tenant string, size int64, leaves []tlog.Hash) error {
	f, ok := s.trees.Get(tenant)
	if !ok || f.Size != size {
		hs, err := readHashes(ctx, w.tx, tenant, tree.Frontier(size))
		if err != nil {
			return err
		}
		f = tree.Front{Size: size, Hashes: hs}
	}
	added, err := tree.Extend(size, f.Hashes, leaves)
	if err != nil {
		return err
	}
	st, err := w.stmt(ctx, treeInsert)
	if err != nil {
		return fmt.Errorf("prepare the tree insert: %w", err)
	}
	starts, runs := tree.Runs(tlog.StoredHashCount(size), added, maxRun)
	for i := range starts {
		if _, err := st.ExecContext(ctx, tenant, starts[i], runs[i]); err != nil {
			return fmt.Errorf("store tree hashes from %d: %w", starts[i], err)
		}
	}
	end := size + int64(len(leaves))
	w.grown(tenant, tree.Front{Size: end, Hashes: tree.NextFrontier(size, f.Hashes, added, end)})
	return nil
}

// extendTree stores, in the append's transaction w, the tree hashes of
// recs, just inserted after head. The tree grows with the chain when it
// covers the chain up to head, or lags by at most inlineCatchUp capsules
// (which it then catches up); else it is left for GrowTree.
func (s *Store) extendTree(ctx context.Context, w *writeTx, tenant string, head storage.Head, recs []storage.Record) error {
	if s.noTree {
		return nil
	}
	size, err := treeSize(ctx, w.tx, tenant)
	if err != nil {
		return err
	}
	next := head.Sequence + 1
	if size > next || next-size > inlineCatchUp {
		return nil
	}
	leaves := make([]tlog.Hash, 0, next-size+int64(len(recs)))
	if size < next {
		if leaves, err = readLeaves(ctx, w.tx, tenant, size, int(next-size)); err != nil {
			return err
		}
		if int64(len(leaves)) != next-size {
			return fmt.Errorf("read the chain: %d capsules from %d, want %d", len(leaves), size, next-size)
		}
	}
	for _, r := range recs {
		leaf, err := tree.Leaf(r.Hash)
		if err != nil {
			return fmt.Errorf("capsule %d: %w", r.Sequence, err)
		}
		leaves = append(leaves, leaf)
	}
	return s.growTx(ctx, w, tenant, size, leaves)
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
	n, err := treeSize(ctx, s.r, tenant)
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
	hs, err := readHashes(ctx, s.r, tenant, indexes)
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
	size, err := treeSize(ctx, tx, tenant)
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
