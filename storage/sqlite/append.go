package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/capsule-go/capsule/internal/tree"
	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/storage"
	"github.com/capsule-go/capsule/storage/internal/batch"
	"github.com/capsule-go/capsule/storage/sqlite/internal/driver"
)

// Append stores recs as the next links of tenant's chain in one
// transaction; see [storage.Store.Append]. It returns an error wrapping
// [storage.ErrConflict] when recs[0] does not extend the current head, and
// another error, storing nothing, when the batch is not a chain of tenant's
// records or reuses the id of a stored capsule. On a read-only store it
// returns [ErrReadOnly], even for an empty batch.
func (s *Store) Append(ctx context.Context, tenant string, recs []protocol.Sealed) error {
	if s.closed.Load() {
		return s.errClosed("append")
	}
	if s.readOnly {
		return fmt.Errorf("sqlite: append to %q in %s: %w", tenant, s.path, ErrReadOnly)
	}
	if len(recs) == 0 {
		return nil
	}
	if err := batch.Check(tenant, recs); err != nil {
		return fmt.Errorf("sqlite: append to %q: %w (%w)", tenant, storage.ErrRejected, err)
	}
	tx, err := s.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE: the write lock
	if err != nil {
		return s.appendErr(tenant, recs, fmt.Errorf("begin: %w", err))
	}
	defer tx.Rollback()
	if err := s.checkFile(); err != nil {
		return s.appendErr(tenant, recs, err)
	}
	if err := s.checkWAL(); err != nil {
		return s.appendErr(tenant, recs, s.refuse(ctx, tx, err))
	}
	w := newWriteTx(tx)
	defer w.close()
	errs := []error{nil}
	if err := s.checkIDs(ctx, w, []storage.Batch{{Tenant: tenant, Records: recs}}, errs); err != nil {
		return err
	}
	if errs[0] != nil {
		return errs[0]
	}
	if _, err := s.appendTx(ctx, w, tenant, recs); err != nil {
		return err
	}
	if err := s.commit(ctx, tx); err != nil {
		return s.appendErr(tenant, recs, err)
	}
	s.trees.Update(w.tree)
	return nil
}

// AppendBatches stores batches of several chains in one transaction; see
// [storage.MultiAppender]. Each batch runs inside a savepoint, so a batch
// that conflicts or that the database rejects is rolled back alone and the
// others commit. On a read-only store every batch gets [ErrReadOnly].
func (s *Store) AppendBatches(ctx context.Context, batches []storage.Batch) []error {
	errs := make([]error, len(batches))
	switch {
	case s.closed.Load():
		return batch.FailRest(errs, s.errClosed("append"))
	case s.readOnly:
		return batch.FailRest(errs, fmt.Errorf("sqlite: append in %s: %w", s.path, ErrReadOnly))
	case len(batches) == 1:
		errs[0] = s.Append(ctx, batches[0].Tenant, batches[0].Records)
		return errs
	}
	if len(batch.CheckAll("sqlite", batches, errs)) == 0 {
		return errs
	}
	pre := slices.Clone(errs)
	errs, redo := s.appendBatchesTx(ctx, batches, errs, false)
	if redo {
		// A batch failed part-way through its inserts: start again with
		// each batch in a savepoint, so that it is rolled back alone.
		errs, _ = s.appendBatchesTx(ctx, batches, pre, true)
	}
	return errs
}

// appendBatchesTx stores, in one transaction, the batches whose errs entry
// is nil, and sets the entries of those that conflict or are rejected.
// Without savepoints, a batch that fails once some of its rows are written
// cannot be rolled back alone: appendBatchesTx then rolls the whole
// transaction back and reports redo. Savepoints cost a statement journal
// per batch, so the common case goes without.
func (s *Store) appendBatchesTx(ctx context.Context, batches []storage.Batch, errs []error, savepoints bool) (_ []error, redo bool) {
	tx, err := s.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE: the write lock
	if err != nil {
		return batch.FailRest(errs, fmt.Errorf("sqlite: append in %s: begin: %w", s.path, err)), false
	}
	defer tx.Rollback()
	if err := s.checkFile(); err != nil {
		return batch.FailRest(errs, fmt.Errorf("sqlite: append in %s: %w", s.path, err)), false
	}
	if err := s.checkWAL(); err != nil {
		return batch.FailRest(errs, fmt.Errorf("sqlite: append in %s: %w", s.path, s.refuse(ctx, tx, err))), false
	}
	w := newWriteTx(tx)
	defer w.close()
	if err := s.checkIDs(ctx, w, batches, errs); err != nil {
		return batch.FailRest(errs, err), false
	}
	exec := func(stmt, what string) error {
		if !savepoints {
			return nil
		}
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("sqlite: append in %s: %s: %w", s.path, what, err)
		}
		return nil
	}
	for i, b := range batches {
		if errs[i] != nil || len(b.Records) == 0 {
			continue
		}
		if err := exec("SAVEPOINT chain", "savepoint"); err != nil {
			return batch.FailRest(errs, err), false
		}
		wrote, err := s.appendTx(ctx, w, b.Tenant, b.Records)
		if err != nil {
			if !errors.Is(err, storage.ErrConflict) && !errors.Is(err, storage.ErrRejected) {
				return batch.FailRest(errs, err), false // not this batch's own fault: the transaction is lost
			}
			if wrote && !savepoints {
				return errs, true
			}
			errs[i] = err
			delete(w.tree, b.Tenant)
			if err := exec("ROLLBACK TO chain", "roll back to savepoint"); err != nil {
				return batch.FailRest(errs, err), false
			}
		}
		if err := exec("RELEASE chain", "release savepoint"); err != nil {
			return batch.FailRest(errs, err), false
		}
	}
	if err := s.commit(ctx, tx); err != nil {
		return batch.FailRest(errs, fmt.Errorf("sqlite: append in %s: %w", s.path, err)), false
	}
	s.trees.Update(w.tree)
	return errs, false
}

// commit commits tx, the write transaction of an append. When the -wal
// file went between the check before the writes and the commit, the batch
// is durable only once copied into the database file: commit does that
// before it reports success. On a nearly full disk it then checkpoints.
func (s *Store) commit(ctx context.Context, tx *sql.Tx) error {
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if err := s.checkWAL(); err != nil {
		if rerr := s.rescue(ctx); rerr != nil {
			return fmt.Errorf("%w; %w", err, rerr)
		}
	}
	s.relieveDisk(ctx)
	return nil
}

// writeTx is one write transaction of appends with the statements it has
// prepared, so that a transaction extending many chains parses each
// statement once.
type writeTx struct {
	tx    *sql.Tx
	stmts map[string]*sql.Stmt
	// tree holds the frontier of each tree the transaction grew, for
	// the store's cache once it commits (see tree.go).
	tree map[string]tree.Front
}

func newWriteTx(tx *sql.Tx) *writeTx { return &writeTx{tx: tx} }

// stmt returns query prepared in the transaction.
func (w *writeTx) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := w.stmts[query]; ok {
		return st, nil
	}
	st, err := w.tx.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if w.stmts == nil {
		w.stmts = make(map[string]*sql.Stmt, 4)
	}
	w.stmts[query] = st
	return st, nil
}

// close closes the prepared statements.
func (w *writeTx) close() {
	for _, st := range w.stmts {
		st.Close()
	}
}

// storedIDsQuery selects those of a JSON array of ids that either table
// holds: ids are unique across both tables, as in the PostgreSQL layout.
const storedIDsQuery = "SELECT id FROM capsules WHERE id IN (SELECT value FROM json_each(?1)) " +
	"UNION ALL SELECT id FROM capsule_tenant_chains WHERE id IN (SELECT value FROM json_each(?1))"

// checkIDs looks up the ids of every batch whose errs entry is nil in one
// query, and sets the entry of each batch that reuses a stored id, or an id
// of an earlier batch, to an error wrapping [storage.ErrRejected]. The
// returned error is the query's own: the transaction is lost.
func (s *Store) checkIDs(ctx context.Context, w *writeTx, batches []storage.Batch, errs []error) error {
	var ids []string
	for i, b := range batches {
		if errs[i] == nil {
			for _, r := range b.Records {
				ids = append(ids, r.ID)
			}
		}
	}
	if len(ids) == 0 {
		return nil
	}
	idsJSON, err := json.Marshal(ids)
	if err != nil {
		return fmt.Errorf("sqlite: append in %s: check ids: %w", s.path, err)
	}
	rows, err := w.tx.QueryContext(ctx, storedIDsQuery, string(idsJSON))
	if err != nil {
		return fmt.Errorf("sqlite: append in %s: check ids: %w", s.path, err)
	}
	stored := make(map[string]bool)
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return fmt.Errorf("sqlite: append in %s: check ids: %w", s.path, err)
		}
		stored[id] = true
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("sqlite: append in %s: check ids: %w", s.path, err)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: append in %s: check ids: %w", s.path, err)
	}
	if len(stored) == 0 && len(batches) == 1 {
		return nil
	}
	// An id of an earlier batch counts as stored for the later ones, as
	// it would be once the earlier batch commits; a batch that then fails
	// for another reason still makes the later one fail, as when the
	// batches ran one after the other.
	for i, b := range batches {
		if errs[i] != nil {
			continue
		}
		for _, r := range b.Records {
			if stored[r.ID] {
				errs[i] = fmt.Errorf("sqlite: append to %q: capsule id %s is already stored: %w", b.Tenant, r.ID, storage.ErrRejected)
				break
			}
		}
		if errs[i] == nil {
			for _, r := range b.Records {
				stored[r.ID] = true
			}
		}
	}
	return nil
}

// appendTx checks that recs extend tenant's chain head and inserts them,
// inside w, which holds the write lock and whose ids [Store.checkIDs] has
// checked. wrote reports whether it ran an insert, so that the transaction
// may hold part of recs.
func (s *Store) appendTx(ctx context.Context, w *writeTx, tenant string, recs []protocol.Sealed) (wrote bool, err error) {
	t := tableOf(tenant)
	head := storage.Head{Sequence: -1}
	var headArgs []any
	if tenant != "" {
		headArgs = []any{tenant}
	}
	hs, err := w.stmt(ctx, t.appendHead)
	if err != nil {
		return false, s.appendErr(tenant, recs, fmt.Errorf("prepare head: %w", err))
	}
	var headTree bool // head's row holds its tree hashes
	err = hs.QueryRowContext(ctx, headArgs...).Scan(&head.Sequence, &head.Hash, &headTree)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, s.appendErr(tenant, recs, fmt.Errorf("read head: %w", err))
	}
	if recs[0].Sequence != head.Sequence+1 || recs[0].PreviousHash != head.Hash {
		return false, fmt.Errorf("sqlite: append to %q at sequence %d: head is %d %q: %w",
			tenant, recs[0].Sequence, head.Sequence, head.Hash, storage.ErrConflict)
	}
	x, err := s.planTree(ctx, w, tenant, head, headTree, recs)
	if err != nil {
		return false, s.appendErr(tenant, recs, err)
	}
	stmt, err := w.stmt(ctx, t.insert)
	if err != nil {
		return false, s.appendErr(tenant, recs, fmt.Errorf("prepare insert: %w", err))
	}
	for _, r := range recs {
		args := []any{r.ID, r.Type, r.Sequence, nullable(r.PreviousHash), string(r.Data), r.Hash,
			r.Signature, r.SignaturePQ, r.SignedAt, r.SignedBy, nullable(r.SessionID), x.rowTree(r.Sequence)}
		if tenant != "" {
			args = append(args, r.Domain, tenant)
		}
		if _, err := stmt.ExecContext(ctx, args...); err != nil {
			return true, s.insertErr(tenant, r, err)
		}
	}
	if x != nil {
		// The hashes of recs are in their rows; those of a catch-up go to
		// capsule_tree.
		if err := s.storeRuns(ctx, w, tenant, *x, head.Sequence+1); err != nil {
			return true, s.appendErr(tenant, recs, err)
		}
		w.grown(tenant, x.front)
	}
	return len(recs) > 0, nil
}

// refuse rolls tx back and returns err (wrapping ErrFileGone) after
// rescuing what the lost write-ahead log holds.
func (s *Store) refuse(ctx context.Context, tx *sql.Tx, err error) error {
	tx.Rollback()
	if rerr := s.rescue(ctx); rerr != nil {
		err = fmt.Errorf("%w; %w", err, rerr)
	}
	return err
}

func (s *Store) appendErr(tenant string, recs []protocol.Sealed, err error) error {
	return fmt.Errorf("sqlite: append to %q at sequence %d: %w", tenant, recs[0].Sequence, err)
}

// insertErr maps a failed INSERT of r: a taken sequence means another
// writer extended the chain (ErrConflict), a taken id does not.
func (s *Store) insertErr(tenant string, r protocol.Sealed, err error) error {
	// Both tables have one UNIQUE constraint besides the id primary key:
	// the (tenant's) sequence.
	code, _ := driver.Code(err)
	switch code {
	case driver.ConstraintPrimaryKey:
		return fmt.Errorf("sqlite: append to %q: capsule id %s is already stored: %w (%w)", tenant, r.ID, storage.ErrRejected, err)
	case driver.ConstraintUnique:
		return fmt.Errorf("sqlite: append to %q: sequence %d is taken: %w (%w)", tenant, r.Sequence, storage.ErrConflict, err)
	}
	switch driver.Primary(code) {
	case driver.Constraint, driver.TooBig, driver.Mismatch:
		return fmt.Errorf("sqlite: append to %q: capsule %s at sequence %d: %w (%w)", tenant, r.ID, r.Sequence, storage.ErrRejected, err)
	}
	return fmt.Errorf("sqlite: append to %q at sequence %d: %w", tenant, r.Sequence, err)
}
