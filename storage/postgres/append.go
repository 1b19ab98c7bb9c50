package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/capsule-go/capsule/storage"
	"github.com/capsule-go/capsule/storage/internal/batch"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// The conditional INSERT of Append. The batch arrives as one array per
// column; the rows are inserted only if the chain's head is what recs[0]
// extends: no capsule at all when recs[0] is a genesis (sequence $13 = 0,
// previous hash $14 empty), else the capsule of sequence $13-1 with hash
// $14. In READ COMMITTED each statement sees what committed before it
// began, so after the advisory lock it sees the head every other writer
// left.
//
// The head is read with ORDER BY sequence DESC LIMIT 1, which only the
// (tenant_id, sequence) index (or, for the null tenant, the partial index on
// sequence) answers without a sort: a plan cached while the table was small
// cannot drift to the tenant_id index and filter the whole chain on every
// append, as an EXISTS over "sequence >= $13" did (7 ms per batch at 34,000
// capsules).
const (
	insertHeadNull   = `WITH head AS (SELECT sequence, hash FROM quantumpipes_capsules WHERE tenant_id IS NULL ORDER BY sequence DESC LIMIT 1)`
	insertHeadTenant = `WITH head AS (SELECT sequence, hash FROM quantumpipes_capsules WHERE tenant_id = $15::text ORDER BY sequence DESC LIMIT 1)`
	insertBody       = `
INSERT INTO quantumpipes_capsules
	(id, type, sequence, previous_hash, data, hash, signature, signature_pq, signed_at, signed_by, session_id, domain, tenant_id)
SELECT r.id, r.type, r.sequence, NULLIF(r.previous_hash, ''), r.data, r.hash, r.signature, r.signature_pq,
	r.signed_at, r.signed_by, NULLIF(r.session_id, ''), r.domain, `
	insertFrom = `
FROM unnest($1::text[], $2::text[], $3::int8[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
	$9::text[], $10::text[], $11::text[], $12::text[]) WITH ORDINALITY
	AS r(id, type, sequence, previous_hash, data, hash, signature, signature_pq, signed_at, signed_by, session_id, domain, ord)
WHERE CASE WHEN EXISTS (SELECT 1 FROM head)
	THEN EXISTS (SELECT 1 FROM head WHERE head.sequence = $13::int8 - 1 AND head.hash = $14::text)
	ELSE $13::int8 = 0 AND $14::text = '' END
ORDER BY r.ord`

	insertNull = insertHeadNull + insertBody + "NULL" + insertFrom
	// insertTenant takes the tenant as $15.
	insertTenant = insertHeadTenant + insertBody + "$15::text" + insertFrom
)

// Append stores recs as the next links of tenant's chain in one
// transaction; see [storage.Store.Append]. It returns an error wrapping
// [storage.ErrConflict] when recs[0] does not extend the current head, and
// another error, storing nothing, when the batch is not a chain of tenant's
// records or reuses the id of a stored capsule. On a read-only store it
// returns [ErrReadOnly], even for an empty batch.
func (s *Store) Append(ctx context.Context, tenant string, recs []storage.Record) error {
	return s.AppendBatches(ctx, []storage.Batch{{Tenant: tenant, Records: recs}})[0]
}

// AppendBatches stores batches of several chains in one transaction, one
// round trip; see [storage.MultiAppender]. The pipeline begins a
// transaction, takes the advisory locks of the batches' chains in
// ascending key order (so that writers in any number of processes never
// deadlock; none with [WithoutAdvisoryLocks]), inserts each batch only if
// it extends its chain's head, and commits. A batch whose head moved
// inserts nothing and the others commit. A statement the server refuses
// aborts the transaction: the refused batch gets the error (wrapping
// [storage.ErrRejected] for a data or constraint error, [storage.ErrConflict]
// for a taken sequence) and the others [storage.ErrNotAttempted].
func (s *Store) AppendBatches(ctx context.Context, batches []storage.Batch) []error {
	errs := make([]error, len(batches))
	if err := s.ready(ctx); err != nil {
		return batch.FailRest(errs, fmt.Errorf("postgres: append: %w", err))
	}
	if s.readOnly {
		return batch.FailRest(errs, fmt.Errorf("postgres: append: %w", ErrReadOnly))
	}
	queued := batch.CheckAll("postgres", batches, errs) // index in batches of each queued INSERT
	locks := make([]int64, len(queued))
	for k, i := range queued {
		locks[k] = chainLock(batches[i].Tenant)
	}
	if len(queued) == 0 {
		return errs
	}
	if s.locks {
		slices.Sort(locks)
		locks = slices.Compact(locks)
	} else {
		locks = nil
	}
	// Inserts in tenant order too: without advisory locks, transactions
	// then wait for each other's unique-index entries in one order.
	slices.SortFunc(queued, func(i, j int) int { return strings.Compare(batches[i].Tenant, batches[j].Tenant) })

	if n := len(queued); n > 2 || n == 2 && batches[queued[0]].Tenant != "" {
		// Many chains: one INSERT for all named tenants. A row the server
		// refuses fails that statement as a whole, so the batches are then
		// tried again one statement each, which tells the culprit.
		if done, ok := s.appendCombined(ctx, batches, queued, locks, s.planTree(ctx, batches, queued)); ok {
			for k, i := range queued {
				errs[i] = done[k]
			}
			return errs
		}
	}

	var b pgx.Batch
	b.Queue("BEGIN ISOLATION LEVEL READ COMMITTED")
	for _, k := range locks {
		b.Queue("SELECT pg_advisory_xact_lock($1)", k)
	}
	for _, i := range queued {
		insert, args := insertArgs(batches[i].Tenant, batches[i].Records)
		b.Queue(insert, args...)
	}
	plan := s.planTree(ctx, batches, queued)
	plan.queue(&b)
	b.Queue("COMMIT")
	var inserted []int64
	failed := -1
	err := s.pipeline(ctx, &b, func(br pgx.BatchResults) (bool, error) {
		var err error
		inserted, failed, err = readAppend(br, len(locks), len(queued), plan)
		return err == nil, err
	})
	lagging := plan.done(&s.trees, err == nil)
	if errors.Is(err, errOutcomeUnknown) {
		s.recheck(ctx, batches, queued, errs, err)
		return errs
	}
	if err != nil {
		if failed >= 0 {
			i := queued[failed]
			errs[i] = appendErr(batches[i].Tenant, batches[i].Records, err)
			return batch.FailRest(errs, fmt.Errorf("postgres: append: %w", storage.ErrNotAttempted))
		}
		return batch.FailRest(errs, fmt.Errorf("postgres: append: %w", err))
	}
	for k, i := range queued {
		errs[i] = insertedErr(batches[i].Tenant, batches[i].Records, inserted[k])
	}
	s.catchUp(ctx, batches, errs, lagging)
	return errs
}

// insertedErr is the outcome of a conditional INSERT of recs that stored
// n rows: nil when it stored them all, ErrConflict when none.
func insertedErr(tenant string, recs []storage.Record, n int64) error {
	switch {
	case n == 0:
		return fmt.Errorf("postgres: append to %q at sequence %d: the head is not sequence %d with hash %q: %w",
			tenant, recs[0].Sequence, recs[0].Sequence-1, recs[0].PreviousHash, storage.ErrConflict)
	case n != int64(len(recs)):
		// Unreachable: the INSERT's condition holds for every row of a chain or none.
		return fmt.Errorf("postgres: append to %q: %d of %d records inserted", tenant, n, len(recs))
	}
	return nil
}

// pipeline sends b (a transaction from BEGIN to COMMIT) on one connection
// and reads its results with read, which reports whether it read the
// server's answer to COMMIT. Once it did, the transaction is durable
// whatever happens to the connection after (the ReadyForQuery that follows
// may never arrive), and pipeline returns nil. When the connection fails
// with the COMMIT sent and its answer unread, the server may have
// committed: pipeline waits until that server process has settled the
// transaction (see [Store.settle]) and returns an error wrapping
// errOutcomeUnknown, after which the caller looks for its rows. On any
// other failure it rolls the transaction back so that the connection can
// go back to the pool.
func (s *Store) pipeline(ctx context.Context, b *pgx.Batch, read func(pgx.BatchResults) (committed bool, err error)) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// Release destroys the connection if it is still inside a transaction.
	defer conn.Release()
	br := conn.SendBatch(ctx, b)
	committed, err := read(br)
	if cerr := br.Close(); err == nil && cerr != nil && !committed {
		err = cerr
	}
	if committed {
		return nil
	}
	pc := conn.Conn().PgConn()
	if err == nil && pc.TxStatus() != 'I' {
		err = errors.New("transaction left open")
	}
	s.connLost(err)
	if err != nil && outcomeUnknown(err) {
		// Also when ctx ended the pipeline (a deadline hit while the
		// answer to COMMIT was on its way): the server may have committed,
		// so the outcome is settled on a context of its own.
		conn.Conn().Close(context.Background())
		if serr := s.settle(ctx, pc); serr != nil {
			return fmt.Errorf("%w (%w); the commit may still land: %w (%w)", err, errOutcomeUnknown, serr, errNotSettled)
		}
		return fmt.Errorf("%w (%w)", err, errOutcomeUnknown)
	}
	if err != nil && pc.TxStatus() != 'I' && !conn.Conn().IsClosed() {
		// If this fails too, Release destroys the connection.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
		conn.Exec(rctx, "ROLLBACK")
		cancel()
	}
	return err
}

// recheck settles the outcome of each queued batch after a transaction
// whose outcome was unknown (err): nil for a batch found stored, err for
// one that is not, and an error wrapping [storage.ErrOutcomeUnknown] for
// one that cannot be looked for, or is not found while the server process
// could not be seen to finish. It looks on a context of its
// own (see afterUnknown), since ctx may be what ended the transaction.
func (s *Store) recheck(ctx context.Context, batches []storage.Batch, queued []int, errs []error, err error) {
	ctx, cancel := afterUnknown(ctx)
	defer cancel()
	for _, i := range queued {
		b := batches[i]
		ok, rerr := s.stored(ctx, b.Tenant, b.Records)
		switch {
		case rerr != nil:
			errs[i] = appendErr(b.Tenant, b.Records, fmt.Errorf("%w; %w: %w", err, storage.ErrOutcomeUnknown, rerr))
		case ok:
			errs[i] = nil
		case errors.Is(err, errNotSettled):
			errs[i] = appendErr(b.Tenant, b.Records, fmt.Errorf("%w; not stored yet: %w", err, storage.ErrOutcomeUnknown))
		default:
			errs[i] = appendErr(b.Tenant, b.Records, err) // settled, and not stored
		}
	}
}

// insertMany is the conditional INSERT of the batches of many named
// tenants: each row carries its tenant and the first sequence and previous
// hash of its tenant's batch, and a tenant's rows are inserted only if its
// head (read through the (tenant_id, sequence) index) is what that first
// record extends. It returns the tenant of each row inserted.
const insertMany = `
WITH r AS (
	SELECT * FROM unnest($1::text[], $2::text[], $3::int8[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
		$9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::int8[], $15::text[]) WITH ORDINALITY
	AS r(id, type, sequence, previous_hash, data, hash, signature, signature_pq, signed_at, signed_by, session_id, domain,
		tenant, first_seq, first_prev, ord)
), ok AS (
	SELECT r.tenant FROM r
	LEFT JOIN LATERAL (SELECT q.sequence, q.hash FROM quantumpipes_capsules q
		WHERE q.tenant_id = r.tenant ORDER BY q.sequence DESC LIMIT 1) h ON true
	WHERE r.sequence = r.first_seq AND CASE WHEN h.sequence IS NULL
		THEN r.first_seq = 0 AND r.first_prev = ''
		ELSE h.sequence = r.first_seq - 1 AND h.hash = r.first_prev END
)
INSERT INTO quantumpipes_capsules
	(id, type, sequence, previous_hash, data, hash, signature, signature_pq, signed_at, signed_by, session_id, domain, tenant_id)
SELECT r.id, r.type, r.sequence, NULLIF(r.previous_hash, ''), r.data, r.hash, r.signature, r.signature_pq,
	r.signed_at, r.signed_by, NULLIF(r.session_id, ''), r.domain, r.tenant
FROM r JOIN ok USING (tenant)
ORDER BY r.ord
RETURNING tenant_id`

// appendCombined stores the queued batches (sorted by tenant, the null
// tenant first if present) in one transaction with one INSERT for every
// named tenant, taking the sorted advisory locks in one statement. It
// returns each queued batch's outcome, or ok false when a statement failed
// with an error of the server about the data, which the caller attributes
// by trying again one statement per batch.
func (s *Store) appendCombined(ctx context.Context, batches []storage.Batch, queued []int, locks []int64, plan *treePlan) (errs []error, ok bool) {
	var b pgx.Batch
	b.Queue("BEGIN ISOLATION LEVEL READ COMMITTED")
	if len(locks) > 0 {
		// unnest yields the sorted keys in order: locks are taken in it.
		b.Queue("SELECT pg_advisory_xact_lock(k) FROM unnest($1::int8[]) AS k", locks)
	}
	named := queued
	null := -1
	if batches[queued[0]].Tenant == "" {
		null, named = queued[0], queued[1:]
		insert, args := insertArgs("", batches[null].Records)
		b.Queue(insert, args...)
	}
	var cols [15][]string
	var seqs, firstSeqs []int64
	for _, i := range named {
		recs := batches[i].Records
		for _, r := range recs {
			for c, v := range []string{r.ID, r.Type, "", r.PreviousHash, string(r.Data), r.Hash, r.Signature, r.SignaturePQ,
				r.SignedAt, r.SignedBy, r.SessionID, r.Domain, batches[i].Tenant, "", recs[0].PreviousHash} {
				cols[c] = append(cols[c], v)
			}
			seqs = append(seqs, r.Sequence)
			firstSeqs = append(firstSeqs, recs[0].Sequence)
		}
	}
	b.Queue(insertMany, cols[0], cols[1], seqs, cols[3], cols[4], cols[5], cols[6], cols[7], cols[8], cols[9], cols[10],
		cols[11], cols[12], firstSeqs, cols[14])
	plan.queue(&b)
	b.Queue("COMMIT")

	var nullRows int64
	perTenant := make(map[string]int64, len(named))
	err := s.pipeline(ctx, &b, func(br pgx.BatchResults) (bool, error) {
		if _, err := br.Exec(); err != nil {
			return false, fmt.Errorf("begin: %w", err)
		}
		if len(locks) > 0 {
			if _, err := br.Exec(); err != nil {
				return false, fmt.Errorf("lock the chains: %w", err)
			}
		}
		if null >= 0 {
			tag, err := br.Exec()
			if err != nil {
				return false, fmt.Errorf("insert: %w", err)
			}
			nullRows = tag.RowsAffected()
		}
		rows, err := br.Query()
		if err != nil {
			return false, fmt.Errorf("insert: %w", err)
		}
		for rows.Next() {
			var t string
			if err := rows.Scan(&t); err != nil {
				rows.Close()
				return false, fmt.Errorf("insert: %w", err)
			}
			perTenant[t]++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return false, fmt.Errorf("insert: %w", err)
		}
		if err := plan.read(br); err != nil {
			return false, err
		}
		commit, err := br.Exec()
		if err != nil {
			return false, fmt.Errorf("commit: %w", err)
		}
		if commit.String() != "COMMIT" {
			return false, fmt.Errorf("commit: the server answered %q", commit.String())
		}
		return true, nil
	})
	lagging := plan.done(&s.trees, err == nil)
	errs = make([]error, len(queued))
	if errors.Is(err, errOutcomeUnknown) {
		all := make([]error, len(batches))
		s.recheck(ctx, batches, queued, all, err)
		for k, i := range queued {
			errs[k] = all[i]
		}
		return errs, true
	}
	if err != nil {
		if dataErr(err) {
			return nil, false
		}
		for k := range errs {
			errs[k] = fmt.Errorf("postgres: append: %w", err)
		}
		return errs, true
	}
	for k, i := range queued {
		n := perTenant[batches[i].Tenant]
		if i == null {
			n = nullRows
		}
		errs[k] = insertedErr(batches[i].Tenant, batches[i].Records, n)
	}
	all := make([]error, len(batches))
	for k, i := range queued {
		all[i] = errs[k]
	}
	s.catchUp(ctx, batches, all, lagging)
	return errs, true
}

// insertArgs returns the conditional INSERT of recs into tenant's chain and
// its arguments.
func insertArgs(tenant string, recs []storage.Record) (string, []any) {
	n := len(recs)
	ids, types, prevs, data, hashes := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	sigs, sigsPQ, signedAt, signedBy, sessions, domains := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	seqs := make([]int64, n)
	for i, r := range recs {
		ids[i], types[i], seqs[i], prevs[i], data[i], hashes[i] = r.ID, r.Type, r.Sequence, r.PreviousHash, string(r.Data), r.Hash
		sigs[i], sigsPQ[i], signedAt[i], signedBy[i], sessions[i], domains[i] = r.Signature, r.SignaturePQ, r.SignedAt, r.SignedBy, r.SessionID, r.Domain
	}
	args := []any{ids, types, seqs, prevs, data, hashes, sigs, sigsPQ, signedAt, signedBy, sessions, domains, recs[0].Sequence, recs[0].PreviousHash}
	if tenant == "" {
		return insertNull, args
	}
	return insertTenant, append(args, tenant)
}

// readAppend reads the results of AppendBatches' pipeline (BEGIN, locks
// advisory locks, inserts INSERTs, COMMIT) and returns how many rows each
// INSERT stored. When an INSERT failed, failed is its index; else -1.
func readAppend(br pgx.BatchResults, locks, inserts int, plan *treePlan) (inserted []int64, failed int, err error) {
	if _, err := br.Exec(); err != nil {
		return nil, -1, fmt.Errorf("begin: %w", err)
	}
	for range locks {
		if _, err := br.Exec(); err != nil {
			return nil, -1, fmt.Errorf("lock the chain: %w", err)
		}
	}
	inserted = make([]int64, inserts)
	for i := range inserts {
		tag, err := br.Exec()
		if err != nil {
			var pe *pgconn.PgError
			if errors.As(err, &pe) {
				return nil, i, fmt.Errorf("insert: %w", err)
			}
			return nil, -1, fmt.Errorf("insert: %w", err)
		}
		inserted[i] = tag.RowsAffected()
	}
	if err := plan.read(br); err != nil {
		return nil, -1, err
	}
	commit, err := br.Exec()
	if err != nil {
		return nil, -1, fmt.Errorf("commit: %w", err)
	}
	if commit.String() != "COMMIT" {
		return nil, -1, fmt.Errorf("commit: the server answered %q", commit.String())
	}
	return inserted, -1, nil
}

// appendErr maps an INSERT the server refused: a unique violation on one
// of the chain's sequence constraints means another writer (one that does
// not take the advisory lock, such as the Python reference, or this
// package with [WithoutAdvisoryLocks]) extended the chain first; one on
// the primary key means the id is taken, which retrying cannot fix. Other
// data and constraint errors (SQLSTATE classes 22 and 23, a unique
// violation on a constraint an operator added among them) wrap
// [storage.ErrRejected]: the batch is refused, the store is not down.
func appendErr(tenant string, recs []storage.Record, err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "23505" && pe.ConstraintName == "quantumpipes_capsules_pkey":
			return fmt.Errorf("postgres: append to %q: a capsule id of the batch is already stored: %w (%w)", tenant, storage.ErrRejected, err)
		case pe.Code == "23505" && slices.Contains(sequenceConstraints, pe.ConstraintName):
			return fmt.Errorf("postgres: append to %q at sequence %d: %w (%w)", tenant, recs[0].Sequence, storage.ErrConflict, err)
		case dataErr(err):
			return fmt.Errorf("postgres: append to %q at sequence %d: %w (%w)", tenant, recs[0].Sequence, storage.ErrRejected, err)
		}
	}
	return fmt.Errorf("postgres: append to %q at sequence %d: %w", tenant, recs[0].Sequence, err)
}

// sequenceConstraints are the chain's own unique constraints on sequence,
// as the reference names them: a violation of one is a lost race for the
// chain head.
var sequenceConstraints = []string{"uq_capsule_tenant_sequence", "uq_capsule_global_sequence"}

// dataErr reports whether err is the server refusing the values of a
// statement: a data exception (SQLSTATE class 22, such as 22021 for a NUL
// byte in a text value) or an integrity constraint violation (class 23).
func dataErr(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (strings.HasPrefix(pe.Code, "22") || strings.HasPrefix(pe.Code, "23"))
}
