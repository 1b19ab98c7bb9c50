package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/capsule-go/capsule/internal/tree"
	"github.com/capsule-go/capsule/storage"
)

// The Merkle tree of each chain (see [storage.TreeStore]) lives in the
// capsules' rows (see below) and in two tables of this package's own
// beside the reference table: capsule_tree holds tlog's stored hashes in
// runs, one row per run of up to maxRun consecutive hashes (those a
// catch-up adds, or an append where the rows cannot hold them), keyed by
// tenant (the empty string for the null tenant) and the stored-hash index
// of the run's first hash; capsule_checkpoints holds the latest cosigned
// checkpoint of each chain.
var treeSchema = []string{
	`CREATE TABLE IF NOT EXISTS capsule_tree (
	tenant_id TEXT COLLATE "C" NOT NULL,
	idx BIGINT NOT NULL,
	hashes BYTEA NOT NULL,
	PRIMARY KEY (tenant_id, idx)
)`,
	// A run is at most 4 KB: kept in its row, never compressed (hashes do
	// not compress) nor moved to TOAST.
	"ALTER TABLE capsule_tree ALTER COLUMN hashes SET STORAGE PLAIN",
	`CREATE TABLE IF NOT EXISTS capsule_checkpoints (
	tenant_id TEXT NOT NULL PRIMARY KEY,
	size BIGINT NOT NULL,
	note BYTEA NOT NULL
)`,
}

// A chain's tree lives in the rows of its capsules too: an append to a
// chain whose tree is whole stores the stored hashes each record adds
// (those at indexes tlog.StoredHashCount(n) to tlog.StoredHashCount(n+1)-1
// for record n) in the record's own row, in a column tree that this
// package adds to the reference table (the reference neither reads nor
// writes it: a row it inserts holds NULL there). A row of capsule_tree is
// one more heap tuple and index entry per chain each commit extends, about
// 270 bytes of WAL per capsule when a commit carries one capsule per
// chain; the hashes in the row add their own size. capsule_tree keeps the
// hashes of catch-ups (an append's of a short lag, and GrowTree's), of
// versions before the column, and of a database whose table this package
// may not alter (it then writes every append's there, as before). So a
// chain's tree of size records holds its hashes in capsule_tree up to some
// size (the end of its last run there), and, from that size on, in the
// rows of records up to size-1; no later row holds any (see
// [tree.RowEnd]). A hash is read from the row first, then from
// capsule_tree.
const (
	treeColumnDDL = "ALTER TABLE quantumpipes_capsules ADD COLUMN IF NOT EXISTS tree BYTEA"
	// The hashes do not compress: kept in the row, never tried.
	treeColumnPlain = "ALTER TABLE quantumpipes_capsules ALTER COLUMN tree SET STORAGE PLAIN"
	treeColumnQuery = "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('quantumpipes_capsules') AND attname = 'tree' AND NOT attisdropped)"
	// treeColumnLockTimeout bounds how long adding the column waits for
	// the table's lock, behind which every append of every process queues:
	// past it, this process goes on without the column and the next Open
	// tries again.
	treeColumnLockTimeout = "SET LOCAL lock_timeout = '1s'"
)

// addTreeColumn adds the column tree to the reference table when missing,
// under the schema's advisory lock, and reports whether the table has it.
// A role that may not alter the table (not its owner), or a table whose
// lock is not free within treeColumnLockTimeout, leaves it without: the
// store then keeps the tree in capsule_tree alone.
func (s *Store) addTreeColumn(ctx context.Context) (bool, error) {
	var has bool
	if err := s.pool.QueryRow(ctx, treeColumnQuery).Scan(&has); err != nil {
		return false, fmt.Errorf("look for column tree: %w", err)
	}
	if has {
		return true, nil
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, stmt := range []string{treeColumnLockTimeout, treeColumnDDL, treeColumnPlain} {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return err
			}
		}
		return nil
	})
	var pe *pgconn.PgError
	if errors.As(err, &pe) && (pe.Code == "42501" || pe.Code == "55P03") {
		// insufficient_privilege or lock_not_available
		slog.WarnContext(ctx, "postgres: the tree stays in capsule_tree alone: cannot add column tree to quantumpipes_capsules", "err", err)
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("add column tree: %w", err)
	}
	return true, nil
}

// rowTrees reports whether the reference table has the column tree; a
// read-only store looks again until it finds it.
func (s *Store) rowTrees(ctx context.Context, q rowQuerier) (bool, error) {
	if s.rowTree.Load() {
		return true, nil
	}
	if !s.readOnly && s.schemaReady.Load() {
		return false, nil
	}
	var has bool
	if err := q.QueryRow(ctx, treeColumnQuery).Scan(&has); err != nil {
		return false, fmt.Errorf("look for column tree: %w", err)
	}
	if has {
		s.rowTree.Store(true)
	}
	return has, nil
}

// createTreeSchema creates the tree's tables when missing, under the
// schema's advisory lock.
func (s *Store) createTreeSchema(ctx context.Context) error {
	var exists bool
	if err := s.pool.QueryRow(ctx, "SELECT to_regclass('capsule_tree') IS NOT NULL AND to_regclass('capsule_checkpoints') IS NOT NULL").Scan(&exists); err != nil {
		return fmt.Errorf("look for table capsule_tree: %w", err)
	}
	if exists {
		return nil
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey("capsule:schema")); err != nil {
			return err
		}
		for _, stmt := range treeSchema {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create table capsule_tree: %w", err)
	}
	return nil
}

// treeCountQuery reads the stored-hash count of the runs of the tree of
// tenant $1 in capsule_tree.
var treeCountQuery = "SELECT " + runsEnd("$1")

// Statements of the tree.
const (
	// treeReadQuery reads each index from the run that holds it.
	treeReadQuery = `SELECT x.i, substring(r.hashes FROM (x.i - r.idx)::int * 32 + 1 FOR 32)
FROM unnest($2::int8[]) AS x(i)
CROSS JOIN LATERAL (SELECT c.idx, c.hashes FROM capsule_tree c
	WHERE c.tenant_id = $1 AND c.idx <= x.i AND c.idx + length(c.hashes) / 32 > x.i
	ORDER BY c.idx DESC LIMIT 1) r`
	// treeRangeQuery reads the runs that may hold indexes [lo, $3), $2
	// being lo - maxRun: a run starts at most maxRun-1 before lo.
	treeRangeQuery  = "SELECT idx, hashes FROM capsule_tree WHERE tenant_id = $1 AND idx > $2 AND idx < $3 ORDER BY idx"
	treeInsertPlain = "INSERT INTO capsule_tree (tenant_id, idx, hashes) SELECT $1, unnest($2::int8[]), unnest($3::bytea[]) ON CONFLICT DO NOTHING"
	saveCheckpoint  = `INSERT INTO capsule_checkpoints (tenant_id, size, note) VALUES ($1, $2, $3)
ON CONFLICT (tenant_id) DO UPDATE SET size = excluded.size, note = excluded.note WHERE excluded.size >= capsule_checkpoints.size`
	readCheckpoint = "SELECT note FROM capsule_checkpoints WHERE tenant_id = $1"
)

// maxRun is how many stored hashes one row of capsule_tree holds at most
// (4 KB).
const maxRun = 128

// inlineCatchUp is how far behind its chain a tree may be for an append to
// catch it up first; a tree further behind is caught up by
// [Store.GrowTree] when a proof or a checkpoint needs it.
const inlineCatchUp = 256

var _ storage.TreeStore = (*Store)(nil)

// treePlan is the tree rows of one append transaction. The rows of a
// batch go in the same statement as its capsules (see insertArgs and
// insertManyTree), stored only if that statement stored the batch and the
// tree has the stored-hash count they extend.
type treePlan struct {
	inRows  bool     // the rows go in the capsules' rows, not capsule_tree
	tenants []string // tenants whose tree rows are planned
	rows    map[string]treeRows
	next    map[string]tree.Front
	got     map[string]int64 // rows stored per tenant, once read
}

// treeRows is the tree rows of one batch: runs of stored hashes (see
// tree.Runs) for capsule_tree, or the stored hashes of each record for its
// row (rec, see tree.RecordHashes); the stored-hash count of the tree they
// extend; and how many rows hold them once stored.
type treeRows struct {
	idx    []int64
	hashes [][]byte
	rec    [][]byte
	want   int64
	count  int64
}

// planTree computes the tree rows of the queued batches whose trees cover
// their chains up to the batch: from the cached frontier, or one read
// first. A batch whose tree lags gets none (see GrowTree); nor does any
// batch when the tree cannot be read.
func (s *Store) planTree(ctx context.Context, batches []storage.Batch, queued []int) *treePlan {
	p := &treePlan{inRows: s.rowTree.Load(), rows: map[string]treeRows{}, next: map[string]tree.Front{}, got: map[string]int64{}}
	if s.noTree {
		return p
	}
	for _, i := range queued {
		b := batches[i]
		start := b.Records[0].Sequence
		f, ok := s.trees.Get(b.Tenant)
		if !ok || f.Size != start {
			var err error
			if f, err = s.loadFrontier(ctx, b.Tenant, start); err != nil {
				continue
			}
		}
		leaves := make([]tlog.Hash, len(b.Records))
		for k, r := range b.Records {
			leaves[k], _ = tree.Leaf(r.Hash) // batch.Check checked every hash
		}
		added, err := tree.Extend(f.Size, f.Hashes, leaves)
		if err != nil {
			continue
		}
		base := tlog.StoredHashCount(f.Size)
		rows := treeRows{want: base}
		if p.inRows {
			rows.rec = make([][]byte, len(leaves))
			for k := range rows.rec {
				rows.rec[k] = tree.RecordHashes(f.Size, added, start+int64(k))
			}
			rows.count = int64(len(leaves))
		} else {
			rows.idx, rows.hashes = tree.Runs(base, added, maxRun)
			rows.count = int64(len(rows.idx))
		}
		end := f.Size + int64(len(leaves))
		p.tenants = append(p.tenants, b.Tenant)
		p.rows[b.Tenant] = rows
		p.next[b.Tenant] = tree.Front{Size: end, Hashes: tree.NextFrontier(f.Size, f.Hashes, added, end)}
	}
	return p
}

// loadFrontier reads the frontier of tenant's tree, which must cover its
// chain up to start; one that lags by at most inlineCatchUp is caught up
// first.
func (s *Store) loadFrontier(ctx context.Context, tenant string, start int64) (tree.Front, error) {
	size, err := s.treeSize(ctx, tenant)
	if err != nil {
		return tree.Front{}, err
	}
	if size < start && start-size <= inlineCatchUp {
		if size, err = s.GrowTree(ctx, tenant, inlineCatchUp); err != nil {
			return tree.Front{}, err
		}
	}
	if size != start {
		return tree.Front{}, fmt.Errorf("the tree of %q has %d records, the chain %d", tenant, size, start)
	}
	hs, err := s.readHashes(ctx, tenant, tree.Frontier(size))
	if err != nil {
		return tree.Front{}, err
	}
	return tree.Front{Size: size, Hashes: hs}, nil
}

// manyArgs returns the arguments of insertManyTree's tree rows for the
// batches of tenants: one element per row ($16-$18), then one per tenant
// with rows ($19-$20). It returns nil when none of them has rows.
func (p *treePlan) manyArgs(tenants []string) []any {
	var rowTenant, tenant []string
	var idx, want []int64
	var hashes [][]byte
	for _, t := range tenants {
		r, ok := p.rows[t]
		if !ok {
			continue
		}
		for range r.idx {
			rowTenant = append(rowTenant, t)
		}
		idx = append(idx, r.idx...)
		hashes = append(hashes, r.hashes...)
		tenant = append(tenant, t)
		want = append(want, r.want)
	}
	if len(tenant) == 0 {
		return nil
	}
	return []any{rowTenant, idx, hashes, tenant, want}
}

// rowArgs returns the arguments of insertManyRowTree's tree part for the
// batches at named, in the order of their records: each record's hashes
// ($16) and its tenant's stored-hash count (-1 for a tenant without).
func (p *treePlan) rowArgs(batches []storage.Batch, named []int) []any {
	var rec [][]byte
	var want []int64
	for _, i := range named {
		b := batches[i]
		r, ok := p.rows[b.Tenant]
		for k := range b.Records {
			if ok {
				rec, want = append(rec, r.rec[k]), append(want, r.want)
			} else {
				rec, want = append(rec, nil), append(want, -1)
			}
		}
	}
	return []any{rec, want}
}

// done updates the cache once the transaction ended: a tenant whose rows
// were all stored in a committed transaction has its new frontier cached;
// any other is read again at its next append. It returns the tenants whose
// batch was stored but not their tree rows: their tree was not the size
// the cache said (a writer that keeps no tree appended, or the tree was
// dropped), and lags.
func (p *treePlan) done(c *tree.Cache, committed bool) (lagging []string) {
	for _, t := range p.tenants {
		switch {
		case committed && p.got[t] == p.rows[t].count:
			c.Set(t, p.next[t])
		case committed && p.got[t] == 0:
			c.Drop(t)
			lagging = append(lagging, t)
		default:
			c.Drop(t)
		}
	}
	return lagging
}

// catchUp grows the trees of tenants whose batch was just stored without
// its tree rows, when they lag by at most inlineCatchUp capsules; a tree
// further behind waits for GrowTree. The appends succeeded whatever
// happens here.
func (s *Store) catchUp(ctx context.Context, batches []storage.Batch, errs []error, lagging []string) {
	for _, t := range lagging {
		for i, b := range batches {
			if b.Tenant != t || errs[i] != nil || len(b.Records) == 0 {
				continue
			}
			size, err := s.treeSize(ctx, t)
			if err == nil && b.Records[len(b.Records)-1].Sequence+1-size <= inlineCatchUp {
				s.GrowTree(ctx, t, inlineCatchUp)
			}
		}
	}
}

// treeSize returns the size of tenant's stored tree.
func (s *Store) treeSize(ctx context.Context, tenant string) (int64, error) {
	n, err := s.treeSizeQ(ctx, s.pool, tenant)
	if err != nil {
		return 0, fmt.Errorf("read the tree size of %q: %w", tenant, err)
	}
	return n, nil
}

// treeSizeQ returns the size of tenant's stored tree as q sees it: the end
// of its runs in capsule_tree, or of the rows holding hashes after them.
func (s *Store) treeSizeQ(ctx context.Context, q rowQuerier, tenant string) (int64, error) {
	var count int64
	if err := q.QueryRow(ctx, treeCountQuery, readArgs([]any{tenant})...).Scan(&count); err != nil {
		return 0, err
	}
	runs, err := tree.Size(count)
	if err != nil {
		return 0, err
	}
	rows, err := s.rowTrees(ctx, q)
	if err != nil || !rows {
		return runs, err
	}
	var head query
	head.tenant(tenant)
	var last int64
	var has bool
	err = q.QueryRow(ctx, head.sql("sequence, tree IS NOT NULL", "ORDER BY sequence DESC LIMIT 1"), readArgs(head.args)...).Scan(&last, &has)
	if errors.Is(err, pgx.ErrNoRows) {
		return runs, nil
	}
	if err != nil {
		return 0, err
	}
	return tree.RowEnd(runs, last, has, func(seq int64) (bool, error) {
		var r query
		r.where("sequence = %s", seq)
		r.tenant(tenant)
		var h bool
		err := q.QueryRow(ctx, r.sql("tree IS NOT NULL", ""), readArgs(r.args)...).Scan(&h)
		if errors.Is(err, pgx.ErrNoRows) {
			return false, nil
		}
		return h, err
	})
}

// hasTree reports whether the tree's table exists (a read-only store may
// read a database without it).
func (s *Store) hasTree(ctx context.Context) (bool, error) {
	if s.schemaReady.Load() {
		return true, nil
	}
	var ok bool
	err := s.pool.QueryRow(ctx, "SELECT to_regclass('capsule_tree') IS NOT NULL AND to_regclass('capsule_checkpoints') IS NOT NULL").Scan(&ok)
	return ok, err
}

// readHashes returns tenant's stored hashes at indexes.
func (s *Store) readHashes(ctx context.Context, tenant string, indexes []int64) ([]tlog.Hash, error) {
	return s.readHashesQ(ctx, s.pool, tenant, indexes)
}

// rowQuerier is a pool or a transaction.
type rowQuerier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// readHashesQ returns tenant's stored hashes at indexes as q sees them:
// from the rows of the records that added them, then from capsule_tree.
func (s *Store) readHashesQ(ctx context.Context, q rowQuerier, tenant string, indexes []int64) ([]tlog.Hash, error) {
	if len(indexes) == 0 {
		return nil, nil
	}
	rowTrees, err := s.rowTrees(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("read the tree of %q: %w", tenant, err)
	}
	if tree.Contiguous(indexes, maxRun) {
		return readRange(ctx, q, tenant, rowTrees, indexes[0], int64(len(indexes)))
	}
	found := make(map[int64]tlog.Hash, len(indexes))
	missing := indexes
	if rowTrees {
		if err := readRowHashes(ctx, q, tenant, indexes, found); err != nil {
			return nil, fmt.Errorf("read the tree of %q: %w", tenant, err)
		}
		missing = slices.DeleteFunc(slices.Clone(indexes), func(i int64) bool { _, ok := found[i]; return ok })
	}
	if len(missing) == 0 {
		return tree.InOrder(tenant, indexes, found)
	}
	rows, err := q.Query(ctx, treeReadQuery, readArgs([]any{tenant, missing})...)
	if err != nil {
		return nil, fmt.Errorf("read the tree of %q: %w", tenant, err)
	}
	defer rows.Close()
	for rows.Next() {
		var i int64
		var h []byte
		if err := rows.Scan(&i, &h); err != nil {
			return nil, fmt.Errorf("read the tree of %q: %w", tenant, err)
		}
		if len(h) != tlog.HashSize {
			return nil, fmt.Errorf("read the tree of %q: stored hash %d has %d bytes", tenant, i, len(h))
		}
		found[i] = tlog.Hash(h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the tree of %q: %w", tenant, err)
	}
	return tree.InOrder(tenant, indexes, found)
}

// readRowHashes adds to found the hashes at indexes that the rows of the
// records that added them hold.
func readRowHashes(ctx context.Context, q rowQuerier, tenant string, indexes []int64, found map[int64]tlog.Hash) error {
	recs := make([]int64, len(indexes))
	for k, i := range indexes {
		recs[k] = tree.Record(i)
	}
	var r query
	r.where("sequence = ANY(%s::int8[])", slices.Compact(slices.Sorted(slices.Values(recs))))
	r.conds = append(r.conds, "tree IS NOT NULL")
	r.tenant(tenant)
	rows, err := q.Query(ctx, r.sql("sequence, tree", ""), readArgs(r.args)...)
	if err != nil {
		return err
	}
	defer rows.Close()
	held := make(map[int64][]byte)
	for rows.Next() {
		var seq int64
		var hs []byte
		if err := rows.Scan(&seq, &hs); err != nil {
			return err
		}
		held[seq] = hs
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for k, i := range indexes {
		hs := held[recs[k]]
		off := (i - tlog.StoredHashCount(recs[k])) * tlog.HashSize
		if off+tlog.HashSize <= int64(len(hs)) {
			found[i] = tlog.Hash(hs[off : off+tlog.HashSize])
		}
	}
	return nil
}

// readRange returns tenant's n stored hashes from index lo, reading the
// rows of the records that hold them, when rowTrees, then the runs in
// capsule_tree that may hold the others in one range of its primary key
// (tree check reads the whole tree so).
func readRange(ctx context.Context, q rowQuerier, tenant string, rowTrees bool, lo, n int64) ([]tlog.Hash, error) {
	r := tree.NewRange(lo, n)
	if rowTrees {
		var c query
		c.where("sequence >= %s", tree.Record(lo))
		c.where("sequence <= %s", tree.Record(lo+n-1))
		c.conds = append(c.conds, "tree IS NOT NULL")
		c.tenant(tenant)
		rows, err := q.Query(ctx, c.sql("sequence, tree", "ORDER BY sequence"), readArgs(c.args)...)
		if err != nil {
			return nil, fmt.Errorf("read the tree of %q: %w", tenant, err)
		}
		for rows.Next() {
			var seq int64
			var hs []byte
			if err := rows.Scan(&seq, &hs); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read the tree of %q: %w", tenant, err)
			}
			r.Add(tlog.StoredHashCount(seq), hs)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read the tree of %q: %w", tenant, err)
		}
	}
	if !r.Full() {
		rows, err := q.Query(ctx, treeRangeQuery, readArgs([]any{tenant, lo - maxRun, lo + n})...)
		if err != nil {
			return nil, fmt.Errorf("read the tree of %q: %w", tenant, err)
		}
		defer rows.Close()
		if err := r.ScanRuns(rows); err != nil {
			return nil, fmt.Errorf("read the tree of %q: %w", tenant, err)
		}
	}
	hs, err := r.Hashes()
	if err != nil {
		return nil, fmt.Errorf("read the tree of %q: %w", tenant, err)
	}
	return hs, nil
}

// TreeSize returns how many capsules of tenant's chain the stored tree
// covers; see [storage.TreeStore].
func (s *Store) TreeSize(ctx context.Context, tenant string) (int64, error) {
	if err := s.ready(ctx); err != nil {
		return 0, fmt.Errorf("postgres: tree of %q: %w", tenant, err)
	}
	if ok, err := s.hasTree(ctx); err != nil || !ok {
		return 0, err
	}
	n, err := s.treeSize(ctx, tenant)
	if err != nil {
		return 0, fmt.Errorf("postgres: %w", err)
	}
	return n, nil
}

// ReadTreeHashes returns tenant's stored hashes at indexes; see
// [storage.TreeStore].
func (s *Store) ReadTreeHashes(ctx context.Context, tenant string, indexes []int64) ([]tlog.Hash, error) {
	if err := s.ready(ctx); err != nil {
		return nil, fmt.Errorf("postgres: tree of %q: %w", tenant, err)
	}
	hs, err := s.readHashes(ctx, tenant, indexes)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return hs, nil
}

// GrowTree catches tenant's stored tree up by up to max capsules of its
// chain, in one transaction holding the chain's advisory lock; see
// [storage.TreeStore]. On a read-only store it returns [ErrReadOnly].
func (s *Store) GrowTree(ctx context.Context, tenant string, max int) (int64, error) {
	if err := s.ready(ctx); err != nil {
		return 0, fmt.Errorf("postgres: grow the tree of %q: %w", tenant, err)
	}
	if s.readOnly {
		return 0, fmt.Errorf("postgres: grow the tree of %q: %w", tenant, ErrReadOnly)
	}
	s.trees.Drop(tenant)
	var size int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// The chain's lock excludes this package's appenders; without
		// locks, rows an appender stores too are the same and skipped.
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", chainLock(tenant)); err != nil {
			return fmt.Errorf("lock the chain: %w", err)
		}
		var err error
		if size, err = s.treeSizeQ(ctx, tx, tenant); err != nil {
			return fmt.Errorf("read the tree size: %w", err)
		}
		var q query
		q.where("sequence >= %s", size)
		q.tenant(tenant)
		rows, err := tx.Query(ctx, q.sql("sequence, hash", fmt.Sprintf(" ORDER BY sequence LIMIT %d", max)), readArgs(q.args)...)
		if err != nil {
			return fmt.Errorf("read the chain: %w", err)
		}
		var leaves []tlog.Hash
		for rows.Next() {
			var seq int64
			var hash string
			if err := rows.Scan(&seq, &hash); err != nil {
				rows.Close()
				return fmt.Errorf("read the chain: %w", err)
			}
			if want := size + int64(len(leaves)); seq != want {
				rows.Close()
				return fmt.Errorf("read the chain: capsule %d is missing (found %d)", want, seq)
			}
			leaf, err := tree.Leaf(hash)
			if err != nil {
				rows.Close()
				return fmt.Errorf("capsule %d: %w", seq, err)
			}
			leaves = append(leaves, leaf)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read the chain: %w", err)
		}
		if len(leaves) == 0 {
			return nil
		}
		front, err := s.readHashesQ(ctx, tx, tenant, tree.Frontier(size))
		if err != nil {
			return err
		}
		added, err := tree.Extend(size, front, leaves)
		if err != nil {
			return err
		}
		starts, runs := tree.Runs(tlog.StoredHashCount(size), added, maxRun)
		if _, err := tx.Exec(ctx, treeInsertPlain, tenant, starts, runs); err != nil {
			return fmt.Errorf("store the tree: %w", err)
		}
		size += int64(len(leaves))
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("postgres: grow the tree of %q: %w", tenant, err)
	}
	return size, nil
}

// SaveCheckpoint keeps signedNote as tenant's latest checkpoint unless the
// one kept has a larger size; see [storage.TreeStore].
func (s *Store) SaveCheckpoint(ctx context.Context, tenant string, signedNote []byte) error {
	if err := s.ready(ctx); err != nil {
		return fmt.Errorf("postgres: save checkpoint of %q: %w", tenant, err)
	}
	if s.readOnly {
		return fmt.Errorf("postgres: save checkpoint of %q: %w", tenant, ErrReadOnly)
	}
	size, err := tree.CheckpointSize(signedNote)
	if err != nil {
		return fmt.Errorf("postgres: save checkpoint of %q: %w", tenant, err)
	}
	if _, err := s.pool.Exec(ctx, saveCheckpoint, tenant, size, signedNote); err != nil {
		return fmt.Errorf("postgres: save checkpoint of %q: %w", tenant, err)
	}
	return nil
}

// LatestCheckpoint returns tenant's latest kept checkpoint, or an error
// wrapping [storage.ErrNotFound]; see [storage.TreeStore].
func (s *Store) LatestCheckpoint(ctx context.Context, tenant string) ([]byte, error) {
	if err := s.ready(ctx); err != nil {
		return nil, fmt.Errorf("postgres: checkpoint of %q: %w", tenant, err)
	}
	ok, err := s.hasTree(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres: checkpoint of %q: %w", tenant, err)
	}
	var note []byte
	if ok {
		err = s.pool.QueryRow(ctx, readCheckpoint, tenant).Scan(&note)
	}
	if !ok || errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("postgres: checkpoint of %q: %w", tenant, storage.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: checkpoint of %q: %w", tenant, err)
	}
	return note, nil
}
