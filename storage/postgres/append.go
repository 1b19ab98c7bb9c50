package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/capsule-go/capsule/protocol"
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
// sequence) answers without a sort, where an EXISTS over "sequence >= $13"
// made a plan cached while the table was small filter the whole chain on
// every append (7 ms per batch at 34,000 capsules). Every append
// transaction also plans without sorts (see appendSettings).
var (
	insertNull = insertHead("tenant_id IS NULL", false) + insertRows("NULL", "", 0)
	// insertTenant takes the tenant as $15.
	insertTenant = insertHead("tenant_id = $15::text", false) + insertRows("$15::text", "", 0)
)

// appendSettings begins every append transaction, after BEGIN: it keeps
// its statements from reading a chain's head through the index on
// tenant_id and sorting the chain. Without statistics (a table that was
// never analyzed: a new one, or autovacuum off) that plan and the one
// through the unique index cost the planner the same while the table is
// small, and the generic plan a connection caches for a statement at its
// sixth execution then sorted the whole chain on every append (auto_explain:
// 3.7 ms of a 5.7 ms 64-capsule INSERT at 6,400 capsules); appends of
// 64-record batches ran three to four times slower, with or without the
// tree. No append statement needs a sort where an index gives the order;
// the one sort no plan avoids (a batch of many chains, inserted in record
// order) still runs, but a disabled sort costs the planner 1e10, over the
// thresholds at which PostgreSQL compiles a statement (JIT): half a second
// per append, hence jit off too (see TestPlansReadChainsByIndex).
const appendSettings = "SELECT set_config('enable_sort', 'off', true), set_config('jit', 'off', true)"

// insertHead is the WITH clause of a conditional INSERT that reads the
// head of the chain whose rows where selects; has adds whether the head's
// row holds tree hashes (see tree.go).
func insertHead(where string, has bool) string {
	cols := "sequence, hash"
	if has {
		cols += ", tree IS NOT NULL AS has"
	}
	return "WITH head AS (SELECT " + cols + " FROM quantumpipes_capsules WHERE " + where + " ORDER BY sequence DESC LIMIT 1)"
}

// insertRows is the conditional INSERT of a batch's rows after
// insertHead: tenant is the value of tenant_id and, with treeParam > 0,
// tree that of the column tree (SQL expressions), r.tree being each
// record's hashes, the bytea[] $treeParam.
func insertRows(tenant, tree string, treeParam int) string {
	var col, val, array, name string
	if treeParam > 0 {
		col, val, array, name = ", tree", ",\n\t"+tree, fmt.Sprintf(", $%d::bytea[]", treeParam), ", tree"
	}
	return `
INSERT INTO quantumpipes_capsules
	(id, type, sequence, previous_hash, data, hash, signature, signature_pq, signed_at, signed_by, session_id, domain, tenant_id` + col + `)
SELECT r.id, r.type, r.sequence, NULLIF(r.previous_hash, ''), r.data, r.hash, r.signature, r.signature_pq,
	r.signed_at, r.signed_by, NULLIF(r.session_id, ''), r.domain, ` + tenant + val + `
FROM unnest($1::text[], $2::text[], $3::int8[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
	$9::text[], $10::text[], $11::text[], $12::text[]` + array + `) WITH ORDINALITY
	AS r(id, type, sequence, previous_hash, data, hash, signature, signature_pq, signed_at, signed_by, session_id, domain` + name + `, ord)
WHERE CASE WHEN EXISTS (SELECT 1 FROM head)
	THEN EXISTS (SELECT 1 FROM head WHERE head.sequence = $13::int8 - 1 AND head.hash = $14::text)
	ELSE $13::int8 = 0 AND $14::text = '' END
ORDER BY r.ord`
}

// runsEnd is the stored-hash count that the runs of the tree of tenant
// (an SQL expression) in capsule_tree cover: the end of the last.
func runsEnd(tenant string) string {
	return "coalesce((SELECT c.idx + length(c.hashes) / 32 FROM capsule_tree c WHERE c.tenant_id = " + tenant +
		" ORDER BY c.idx DESC LIMIT 1), 0)"
}

// insertNullTree and insertTenantTree are insertNull and insertTenant
// storing the batch's tree rows too, in the same statement: one statement
// less per transaction than a tree INSERT of its own, and no lookup of the
// batch's capsules, since the capsule INSERT's RETURNING says whether it
// stored them. They answer the capsules and the tree rows stored.
var (
	insertNullTree   = insertHead("tenant_id IS NULL", false) + ", ins AS (" + insertRows("NULL", "", 0) + "\nRETURNING 1)" + treePart("''", 15)
	insertTenantTree = insertHead("tenant_id = $15::text", false) + ", ins AS (" + insertRows("$15::text", "", 0) + "\nRETURNING 1)" + treePart("$15::text", 16)
)

// insertNullRowTree and insertTenantRowTree are insertNull and
// insertTenant storing in each row the stored hashes its record adds to
// the tree (see tree.go, $15 or $16), when the tree covers the chain up to
// the batch: the head's row holds its hashes, or the runs in capsule_tree
// end where the batch's extend ($16 or $17, the stored-hash count). They
// answer a row per capsule stored: whether it holds hashes.
var (
	insertNullRowTree = insertHead("tenant_id IS NULL", true) +
		insertRows("NULL", "CASE WHEN (SELECT has FROM head) OR "+runsEnd("''")+" = $16::int8 THEN r.tree END", 15) + rowTreeReturning
	insertTenantRowTree = insertHead("tenant_id = $15::text", true) +
		insertRows("$15::text", "CASE WHEN (SELECT has FROM head) OR "+runsEnd("$15::text")+" = $17::int8 THEN r.tree END", 16) + rowTreeReturning
)

// rowTreeReturning ends insertNullRowTree and insertTenantRowTree.
const rowTreeReturning = "\nRETURNING tree IS NOT NULL"

// treePart is the tree part of insertNullTree and insertTenantTree for the
// tree of tenant (an SQL expression): the runs of stored hashes ($p, the
// index of each run's first hash, and $p+1, its hashes) are stored only if
// the capsule INSERT (ins) stored the batch and the tree has the
// stored-hash count they extend ($p+2), read with the statement's
// snapshot: under the chain's advisory lock no other writer of this
// package grows the tree meanwhile, and without it a writer that appended
// to the chain meanwhile makes ins fail. Rows another writer stored first
// (a catch-up: the same hashes) are skipped.
func treePart(tenant string, p int) string {
	return fmt.Sprintf(`, tr AS (
	INSERT INTO capsule_tree (tenant_id, idx, hashes)
	SELECT %[1]s, t.idx, t.hashes FROM unnest($%[2]d::int8[], $%[3]d::bytea[]) AS t(idx, hashes)
	WHERE EXISTS (SELECT 1 FROM ins) AND %[5]s = $%[4]d::int8
	ON CONFLICT DO NOTHING
	RETURNING 1)
SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM tr)`, tenant, p, p+1, p+2, runsEnd(tenant))
}

// Append stores recs as the next links of tenant's chain in one
// transaction; see [storage.Store.Append]. It returns an error wrapping
// [storage.ErrConflict] when recs[0] does not extend the current head, and
// another error, storing nothing, when the batch is not a chain of tenant's
// records or reuses the id of a stored capsule. On a read-only store it
// returns [ErrReadOnly], even for an empty batch.
func (s *Store) Append(ctx context.Context, tenant string, recs []protocol.Sealed) error {
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

	plan := s.planTree(ctx, batches, queued)
	var b pgx.Batch
	b.Queue("BEGIN ISOLATION LEVEL READ COMMITTED")
	b.Queue(appendSettings)
	for _, k := range locks {
		b.Queue("SELECT pg_advisory_xact_lock($1)", k)
	}
	inserts := make([]treeInsert, len(queued))
	for k, i := range queued {
		t := batches[i].Tenant
		rows, ok := plan.rows[t]
		insert, args := insertArgs(t, batches[i].Records, rows, ok)
		b.Queue(insert, args...)
		inserts[k] = treeInsert{tenant: t, tree: ok, inRows: ok && rows.rec != nil}
	}
	b.Queue("COMMIT")
	var inserted []int64
	failed := -1
	err := s.pipeline(ctx, &b, func(br pgx.BatchResults) (bool, error) {
		var err error
		inserted, failed, err = readAppend(br, len(locks), inserts, plan)
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
func insertedErr(tenant string, recs []protocol.Sealed, n int64) error {
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
var insertMany = insertManyHead(false) + insertManyBody(false)

// insertManyTree is insertMany storing the tree rows of the batches too,
// as insertTenantTree does: $16-$18 are one element per tree row (tenant,
// index of the run's first hash, its hashes), $19-$20 one per tenant with
// tree rows (tenant, the stored-hash count of the tree they extend). It
// answers, per tenant with capsules stored, how many it stored and how
// many tree rows.
var insertManyTree = insertManyHead(false) + ", ins AS (" + insertManyBody(false) + `
), good AS (
	SELECT g.tenant FROM unnest($19::text[], $20::int8[]) AS g(tenant, want)
	WHERE g.tenant IN (SELECT tenant_id FROM ins) AND ` + runsEnd("g.tenant") + ` = g.want
), tr AS (
	INSERT INTO capsule_tree (tenant_id, idx, hashes)
	SELECT t.tenant, t.idx, t.hashes FROM unnest($16::text[], $17::int8[], $18::bytea[]) AS t(tenant, idx, hashes)
	JOIN good USING (tenant)
	ON CONFLICT DO NOTHING
	RETURNING tenant_id
)
SELECT i.tenant_id, i.n, coalesce(t.n, 0)
FROM (SELECT tenant_id, count(*) AS n FROM ins GROUP BY tenant_id) i
LEFT JOIN (SELECT tenant_id, count(*) AS n FROM tr GROUP BY tenant_id) t ON t.tenant_id = i.tenant_id`

// insertManyRowTree is insertMany storing in each row the stored hashes
// its record adds to its chain's tree, as insertTenantRowTree does: $16
// holds each row's hashes (NULL for a tenant without), $17 the stored-hash
// count its tenant's hashes extend (-1 for none). It answers, per tenant
// with capsules stored, how many it stored and how many hold hashes.
var insertManyRowTree = insertManyHead(true) + ", ins AS (" + insertManyBody(true) + `
)
SELECT tenant_id, count(*), count(*) FILTER (WHERE t) FROM ins GROUP BY tenant_id`

// insertManyHead is the WITH clause of insertMany's statements: r, the
// rows, and ok, the tenants whose head their batch extends. With rowTree,
// r also has each row's tree hashes and its tenant's stored-hash count
// ($16, $17), and ok says whether each tenant's tree covers its chain up
// to the batch (tree_ok): the head's row holds its hashes, or the runs in
// capsule_tree end where the batch's extend.
func insertManyHead(rowTree bool) string {
	var arrays, names, treeOK, has string
	if rowTree {
		arrays, names = ", $16::bytea[], $17::int8[]", ", tree, want"
		treeOK = ", r.want >= 0 AND (h.has OR " + runsEnd("r.tenant") + " = r.want) AS tree_ok"
		has = ", q.tree IS NOT NULL AS has"
	}
	return `
WITH r AS (
	SELECT * FROM unnest($1::text[], $2::text[], $3::int8[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
		$9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::int8[], $15::text[]` + arrays + `) WITH ORDINALITY
	AS r(id, type, sequence, previous_hash, data, hash, signature, signature_pq, signed_at, signed_by, session_id, domain,
		tenant, first_seq, first_prev` + names + `, ord)
), ok AS (
	SELECT r.tenant` + treeOK + ` FROM r
	LEFT JOIN LATERAL (SELECT q.sequence, q.hash` + has + ` FROM quantumpipes_capsules q
		WHERE q.tenant_id = r.tenant ORDER BY q.sequence DESC LIMIT 1) h ON true
	WHERE r.sequence = r.first_seq AND CASE WHEN h.sequence IS NULL
		THEN r.first_seq = 0 AND r.first_prev = ''
		ELSE h.sequence = r.first_seq - 1 AND h.hash = r.first_prev END
)`
}

// insertManyBody is the INSERT of insertMany's statements, after
// insertManyHead; with rowTree, it sets the column tree of the rows whose
// tenant's tree covers its chain, and returns whether it did (t).
func insertManyBody(rowTree bool) string {
	var col, val, ret string
	if rowTree {
		col, val, ret = ", tree", ", CASE WHEN ok.tree_ok THEN r.tree END", ", tree IS NOT NULL AS t"
	}
	return `
INSERT INTO quantumpipes_capsules
	(id, type, sequence, previous_hash, data, hash, signature, signature_pq, signed_at, signed_by, session_id, domain, tenant_id` + col + `)
SELECT r.id, r.type, r.sequence, NULLIF(r.previous_hash, ''), r.data, r.hash, r.signature, r.signature_pq,
	r.signed_at, r.signed_by, NULLIF(r.session_id, ''), r.domain, r.tenant` + val + `
FROM r JOIN ok USING (tenant)
ORDER BY r.ord
RETURNING tenant_id` + ret
}

// appendCombined stores the queued batches (sorted by tenant, the null
// tenant first if present) in one transaction with one INSERT for every
// named tenant, taking the sorted advisory locks in one statement. It
// returns each queued batch's outcome, or ok false when a statement failed
// with an error of the server about the data, which the caller attributes
// by trying again one statement per batch.
func (s *Store) appendCombined(ctx context.Context, batches []storage.Batch, queued []int, locks []int64, plan *treePlan) (errs []error, ok bool) {
	var b pgx.Batch
	b.Queue("BEGIN ISOLATION LEVEL READ COMMITTED")
	b.Queue(appendSettings)
	if len(locks) > 0 {
		// unnest yields the sorted keys in order: locks are taken in it.
		b.Queue("SELECT pg_advisory_xact_lock(k) FROM unnest($1::int8[]) AS k", locks)
	}
	named := queued
	null := -1
	var nullInsert treeInsert
	if batches[queued[0]].Tenant == "" {
		null, named = queued[0], queued[1:]
		rows, ok := plan.rows[""]
		insert, args := insertArgs("", batches[null].Records, rows, ok)
		b.Queue(insert, args...)
		nullInsert = treeInsert{tenant: "", tree: ok, inRows: ok && rows.rec != nil}
	}
	var cols [15][]string
	var seqs, firstSeqs []int64
	tenants := make([]string, len(named))
	for k, i := range named {
		tenants[k] = batches[i].Tenant
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
	args := []any{cols[0], cols[1], seqs, cols[3], cols[4], cols[5], cols[6], cols[7], cols[8], cols[9], cols[10],
		cols[11], cols[12], firstSeqs, cols[14]}
	treeArgs := plan.manyArgs(tenants)
	switch {
	case plan.inRows && treeArgs != nil:
		b.Queue(insertManyRowTree, append(args, plan.rowArgs(batches, named)...)...)
	case treeArgs != nil:
		b.Queue(insertManyTree, append(args, treeArgs...)...)
	default:
		b.Queue(insertMany, args...)
	}
	b.Queue("COMMIT")

	var nullRows int64
	perTenant := make(map[string]int64, len(named))
	err := s.pipeline(ctx, &b, func(br pgx.BatchResults) (bool, error) {
		if _, err := br.Exec(); err != nil {
			return false, fmt.Errorf("begin: %w", err)
		}
		if _, err := br.Exec(); err != nil {
			return false, fmt.Errorf("settings: %w", err)
		}
		if len(locks) > 0 {
			if _, err := br.Exec(); err != nil {
				return false, fmt.Errorf("lock the chains: %w", err)
			}
		}
		if null >= 0 {
			var err error
			if nullRows, err = readInsert(br, nullInsert, plan); err != nil {
				return false, fmt.Errorf("insert: %w", err)
			}
		}
		rows, err := br.Query()
		if err != nil {
			return false, fmt.Errorf("insert: %w", err)
		}
		for rows.Next() {
			var t string
			var n, stored int64
			if treeArgs != nil {
				err = rows.Scan(&t, &n, &stored)
				plan.got[t] = stored
			} else {
				err, n = rows.Scan(&t), 1 // a row per capsule
			}
			if err != nil {
				rows.Close()
				return false, fmt.Errorf("insert: %w", err)
			}
			perTenant[t] += n
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return false, fmt.Errorf("insert: %w", err)
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
// its arguments; with tree true, the INSERT that stores the batch's tree
// rows too: in the capsules' rows when rows has them (insertNullRowTree or
// insertTenantRowTree), else in capsule_tree (insertNullTree or
// insertTenantTree).
func insertArgs(tenant string, recs []protocol.Sealed, rows treeRows, tree bool) (string, []any) {
	n := len(recs)
	ids, types, prevs, data, hashes := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	sigs, sigsPQ, signedAt, signedBy, sessions, domains := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	seqs := make([]int64, n)
	for i, r := range recs {
		ids[i], types[i], seqs[i], prevs[i], data[i], hashes[i] = r.ID, r.Type, r.Sequence, r.PreviousHash, string(r.Data), r.Hash
		sigs[i], sigsPQ[i], signedAt[i], signedBy[i], sessions[i], domains[i] = r.Signature, r.SignaturePQ, r.SignedAt, r.SignedBy, r.SessionID, r.Domain
	}
	args := []any{ids, types, seqs, prevs, data, hashes, sigs, sigsPQ, signedAt, signedBy, sessions, domains, recs[0].Sequence, recs[0].PreviousHash}
	switch {
	case tenant == "" && tree && rows.rec != nil:
		return insertNullRowTree, append(args, rows.rec, rows.want)
	case tenant == "" && tree:
		return insertNullTree, append(args, rows.idx, rows.hashes, rows.want)
	case tenant == "":
		return insertNull, args
	case tree && rows.rec != nil:
		return insertTenantRowTree, append(args, tenant, rows.rec, rows.want)
	case tree:
		return insertTenantTree, append(args, tenant, rows.idx, rows.hashes, rows.want)
	}
	return insertTenant, append(args, tenant)
}

// treeInsert says of a conditional INSERT of a batch whether it stores
// the tree rows of tenant's batch too.
type treeInsert struct {
	tenant string
	tree   bool
	inRows bool // in the capsules' rows (insertNullRowTree, insertTenantRowTree)
}

// readAppend reads the results of AppendBatches' pipeline (BEGIN,
// appendSettings, locks advisory locks, the INSERTs, COMMIT) and returns
// how many capsules each INSERT stored; the tree rows those with tree rows
// stored go to plan.
// When an INSERT failed, failed is its index; else -1.
func readAppend(br pgx.BatchResults, locks int, inserts []treeInsert, plan *treePlan) (inserted []int64, failed int, err error) {
	if _, err := br.Exec(); err != nil {
		return nil, -1, fmt.Errorf("begin: %w", err)
	}
	if _, err := br.Exec(); err != nil {
		return nil, -1, fmt.Errorf("settings: %w", err)
	}
	for range locks {
		if _, err := br.Exec(); err != nil {
			return nil, -1, fmt.Errorf("lock the chain: %w", err)
		}
	}
	inserted = make([]int64, len(inserts))
	for i, in := range inserts {
		if inserted[i], err = readInsert(br, in, plan); err != nil {
			var pe *pgconn.PgError
			if errors.As(err, &pe) {
				return nil, i, fmt.Errorf("insert: %w", err)
			}
			return nil, -1, fmt.Errorf("insert: %w", err)
		}
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

// readInsert reads the result of a conditional INSERT of a batch (in says
// which) and returns how many capsules it stored; the count of tree rows
// one with tree rows stored goes to plan.
func readInsert(br pgx.BatchResults, in treeInsert, plan *treePlan) (int64, error) {
	var n, stored int64
	switch {
	case !in.tree:
		tag, err := br.Exec()
		return tag.RowsAffected(), err
	case !in.inRows:
		if err := br.QueryRow().Scan(&n, &stored); err != nil {
			return 0, err
		}
		plan.got[in.tenant] = stored
		return n, nil
	}
	rows, err := br.Query()
	if err != nil {
		return 0, err
	}
	var has bool
	_, err = pgx.ForEachRow(rows, []any{&has}, func() error {
		n++
		if has {
			stored++
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	plan.got[in.tenant] = stored
	return n, nil
}

// appendErr maps an INSERT the server refused: a unique violation on one
// of the chain's sequence constraints means another writer (one that does
// not take the advisory lock, such as the Python reference, or this
// package with [WithoutAdvisoryLocks]) extended the chain first; one on
// the primary key means the id is taken, which retrying cannot fix. Other
// data and constraint errors (SQLSTATE classes 22 and 23, a unique
// violation on a constraint an operator added among them) wrap
// [storage.ErrRejected]: the batch is refused, the store is not down.
func appendErr(tenant string, recs []protocol.Sealed, err error) error {
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
