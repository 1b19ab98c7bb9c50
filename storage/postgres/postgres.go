// Package postgres implements [storage.Store] on PostgreSQL, through
// github.com/jackc/pgx/v5.
//
// Capsules live in the Python reference's table, quantumpipes_capsules,
// created with the reference layout when missing: the reference columns
// plus domain and tenant_id (NULL for the null tenant), UNIQUE(tenant_id,
// sequence) and a unique index on sequence where tenant_id is NULL. One
// index is this package's own, on id COLLATE "C", so that an id prefix is
// a range of an index whatever the database's collation; a writable store
// adds it (CREATE INDEX CONCURRENTLY) to a table that lacks it, when it is
// allowed to. The
// table is found through the connection's search_path. A table created here
// compresses data with lz4 when the server has it (else with the server's
// default, pglz, as the reference's table does): a row over 2 KB (a
// typical capsule) is then compressed in place, 3,054 -> 2,610 bytes of
// WAL per typical capsule with 64 writers, no slower; the columns are the
// reference's.
//
// An Append is one round trip: a pipeline that begins a transaction, takes
// a transaction-scoped advisory lock on the tenant's chain (so writers in
// any number of processes serialize in the database), inserts the batch
// only if it extends the chain head, and commits. [Store.AppendBatches]
// carries the batches of many chains in one such transaction, taking
// their locks in ascending order. With [WithoutAdvisoryLocks] (or
// capsule_locks=off in the URL) no lock is taken and the unique
// constraints on sequence keep chains from forking.
// Once the server answered COMMIT the batches are reported stored,
// whatever happens to the connection after; when the connection fails
// with the COMMIT sent and unanswered (or the append's context ends while
// it waits for the answer), the store waits for that server process to
// finish (ending it if it still sits in the transaction) and looks for
// each batch by id before reporting a failure, asking again while no
// server answers (a crashed server restarting, a standby being promoted
// under a multi-host URL) until the append's deadline, and at least a few
// seconds past it, since that deadline may be what ended the wait. That look
// assumes a direct connection to the server, whose process id the
// connection knows.
//
// [WithReadOnly] makes a store that only reads, for an operator's verify
// or export: it never creates the table, its pool's sessions run with
// default_transaction_read_only=on (when Open creates the pool), and
// [Store.Append] returns [ErrReadOnly]. A missing table reads as a
// database without capsules.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"iter"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/capsule-go/capsule/internal/tree"
	"github.com/capsule-go/capsule/storage"
	"github.com/capsule-go/capsule/storage/internal/batch"
)

// scanBatch is how many records Scan reads per query.
const scanBatch = 512

// rollbackTimeout bounds the ROLLBACK of a failed Append, which runs even
// when the caller's context is done.
const rollbackTimeout = 5 * time.Second

// Store is a [storage.Store] on a PostgreSQL database. It is safe for
// concurrent use.
type Store struct {
	pool   *pgxpool.Pool
	owned  bool // Close closes the pool
	closed atomic.Bool

	readOnly bool
	locks    bool // take advisory locks on chains (the default)

	schemaMu    sync.Mutex  // serializes the creation of the table
	schemaReady atomic.Bool // the table exists

	trees tree.Cache // the frontier of each chain's tree (see tree.go)
	// noTree makes appends write no tree: for the benchmark that
	// measures what keeping it costs, never set otherwise.
	noTree bool

	resetEvery time.Duration // the least time between two resets of the pool (connLost)
	lastReset  atomic.Int64  // UnixNano of the last reset
}

var _ storage.Store = (*Store)(nil)

// config holds the settings Options change.
type config struct {
	pool           []func(*pgxpool.Config)
	readOnly       bool
	noLocks        bool
	connectTimeout time.Duration
}

// DefaultConnectTimeout bounds each new connection's connect and startup
// when neither the URL's connect_timeout (or PGCONNECT_TIMEOUT) nor
// [WithConnectTimeout] sets a bound. Without one, the pool's background
// connects to a server that does not answer hang for minutes, holding
// every slot of the pool long after the server answers again.
const DefaultConnectTimeout = 5 * time.Second

// WithConnectTimeout bounds each new connection's connect and startup by
// d (default [DefaultConnectTimeout]) unless the URL's connect_timeout,
// or PGCONNECT_TIMEOUT, sets a bound (connect_timeout=0 counts as unset).
func WithConnectTimeout(d time.Duration) Option {
	return func(c *config) { c.connectTimeout = d }
}

// Option changes a setting of [Open].
type Option func(*config)

// WithPoolConfig lets f adjust the pool configuration parsed from the URL
// (pool size, connection parameters, AfterConnect …) before Open creates
// the pool.
func WithPoolConfig(f func(*pgxpool.Config)) Option {
	return func(c *config) { c.pool = append(c.pool, f) }
}

// WithReadOnly makes a store that never writes: it does not create the
// table (a missing table reads as an empty database: empty chains, no
// tenants, ErrNotFound), Append returns [ErrReadOnly], and when Open
// creates the pool its sessions run with default_transaction_read_only=on,
// so that the server refuses any write too. A pool given to [New] is the
// caller's: set that parameter in its configuration to have the server
// enforce it.
func WithReadOnly() Option {
	return func(c *config) { c.readOnly = true }
}

// WithoutAdvisoryLocks makes appends take no advisory lock: the table's
// UNIQUE(tenant_id, sequence) (and the unique index on sequence for the
// null tenant) is then what keeps two writers from forking a chain, one of
// them getting [storage.ErrConflict]. PostgreSQL-compatible databases that
// have no advisory locks need it. The URL parameter capsule_locks=off asks
// for it too.
func WithoutAdvisoryLocks() Option {
	return func(c *config) { c.noLocks = true }
}

// LocksParam is the connection-string parameter that turns advisory locks
// off ("off") or on ("on", the default); [Open] removes it before
// connecting.
const LocksParam = "capsule_locks"

// ErrReadOnly is [storage.ErrReadOnly], kept under this name for
// compatibility: an Append on a store made with [WithReadOnly].
var ErrReadOnly = storage.ErrReadOnly

// Open connects to the database at url (a PostgreSQL URL or key=value
// connection string, as pgx reads it), creates the table when missing
// (unless [WithReadOnly]) and returns a Store that owns its connection
// pool.
func Open(ctx context.Context, url string, opts ...Option) (*Store, error) {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	pc, err := pgxpool.ParseConfig(url)
	if err != nil {
		// The error may quote the URL, password included: keep it out.
		return nil, errors.New("postgres: open: cannot parse the connection string")
	}
	switch v, ok := pc.ConnConfig.RuntimeParams[LocksParam]; {
	case !ok, v == "on":
	case v == "off":
		cfg.noLocks = true
	default:
		return nil, fmt.Errorf("postgres: open: %s=%q: want on or off", LocksParam, v)
	}
	delete(pc.ConnConfig.RuntimeParams, LocksParam)
	if pc.ConnConfig.ConnectTimeout == 0 {
		pc.ConnConfig.ConnectTimeout = DefaultConnectTimeout
		if cfg.connectTimeout > 0 {
			pc.ConnConfig.ConnectTimeout = cfg.connectTimeout
		}
	}
	for _, f := range cfg.pool {
		f(pc)
	}
	if cfg.readOnly {
		// After the caller's changes, which cannot lift it.
		pc.ConnConfig.RuntimeParams["default_transaction_read_only"] = "on"
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	s := &Store{pool: pool, owned: true, readOnly: cfg.readOnly, locks: !cfg.noLocks, resetEvery: pc.ConnConfig.ConnectTimeout}
	if cfg.readOnly {
		// Fail now, as a writable Open does, when the server cannot be
		// reached.
		if err := pool.Ping(ctx); err != nil {
			pool.Close()
			return nil, fmt.Errorf("postgres: open: %w", err)
		}
		return s, nil
	}
	if err := s.ready(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	return s, nil
}

// New returns a Store on an existing pool. The table is created, when
// missing, on first use, unless [WithReadOnly]. Close does not close the
// pool. [WithPoolConfig] applies only to Open: New rejects it.
func New(pool *pgxpool.Pool, opts ...Option) (*Store, error) {
	if pool == nil {
		return nil, errors.New("postgres: new: nil pool")
	}
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	if len(cfg.pool) > 0 {
		return nil, errors.New("postgres: new: WithPoolConfig needs Open, which creates the pool")
	}
	return &Store{pool: pool, readOnly: cfg.readOnly, locks: !cfg.noLocks}, nil
}

// schema is the reference layout, as SQLAlchemy creates it for the Python
// reference.
var schema = []string{
	`CREATE TABLE IF NOT EXISTS quantumpipes_capsules (
	id VARCHAR(36) NOT NULL,
	type VARCHAR(20) NOT NULL,
	sequence INTEGER NOT NULL,
	previous_hash VARCHAR(64),
	data TEXT NOT NULL,
	hash VARCHAR(64) NOT NULL,
	signature TEXT NOT NULL,
	signature_pq TEXT NOT NULL,
	signed_at VARCHAR(40),
	signed_by VARCHAR(32),
	session_id VARCHAR(36),
	domain VARCHAR(50) NOT NULL,
	tenant_id VARCHAR(36),
	PRIMARY KEY (id),
	CONSTRAINT uq_capsule_tenant_sequence UNIQUE (tenant_id, sequence)
)`,
	"CREATE INDEX IF NOT EXISTS ix_quantumpipes_capsules_sequence ON quantumpipes_capsules (sequence)",
	"CREATE INDEX IF NOT EXISTS ix_quantumpipes_capsules_hash ON quantumpipes_capsules (hash)",
	"CREATE INDEX IF NOT EXISTS ix_quantumpipes_capsules_session_id ON quantumpipes_capsules (session_id)",
	"CREATE INDEX IF NOT EXISTS ix_quantumpipes_capsules_domain ON quantumpipes_capsules (domain)",
	"CREATE INDEX IF NOT EXISTS ix_quantumpipes_capsules_tenant_id ON quantumpipes_capsules (tenant_id)",
	"CREATE UNIQUE INDEX IF NOT EXISTS uq_capsule_global_sequence ON quantumpipes_capsules (sequence) WHERE tenant_id IS NULL",
	ownIndexes[0].ddl,
	ownIndexes[1].ddl,
}

// compressData makes PostgreSQL compress data with lz4: several times
// faster than its default, pglz, for nearly the same size. A typical
// capsule's row (2.2 KB) is over the 2 KB at which PostgreSQL compresses
// a row's values: 2,239 -> 1,795 bytes of heap WAL per capsule.
const compressData = "ALTER TABLE quantumpipes_capsules ALTER COLUMN data SET COMPRESSION lz4"

// ownIndexes are this package's indexes beside the reference's, which the
// reference never reads and PostgreSQL keeps when it writes.
// lock names the advisory lock that one process at a time builds it under.
var ownIndexes = [2]struct{ name, lock, ddl string }{
	// Serves id prefixes: the primary key sorts in the database's
	// collation, in which a prefix is not a range (nor can LIKE use it
	// unless the collation is "C"); in byte order it is.
	{"ix_quantumpipes_capsules_id_c", "capsule:id-index", `CREATE INDEX IF NOT EXISTS ix_quantumpipes_capsules_id_c ON quantumpipes_capsules (id COLLATE "C")`},
	// Serves a chain's capsules of one type, newest first (List and Count
	// with a type filter), from index entries instead of every row of the
	// chain; tenant_id IS NULL (the null tenant) is a range of it too.
	{"ix_quantumpipes_capsules_tenant_type", "capsule:type-index", "CREATE INDEX IF NOT EXISTS ix_quantumpipes_capsules_tenant_type ON quantumpipes_capsules (tenant_id, type, sequence)"},
}

// lockKey is the advisory lock key for name: a stable 64-bit hash (FNV-1a)
// shared by every process using this package.
func lockKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return int64(h.Sum64())
}

// chainLock is the advisory lock key of tenant's chain.
func chainLock(tenant string) int64 { return lockKey("capsule:" + tenant) }

// ready reports whether the store is open, creating the table on first
// use unless the store is read-only.
func (s *Store) ready(ctx context.Context) error {
	if s.closed.Load() {
		return storage.ErrClosed
	}
	if s.readOnly || s.schemaReady.Load() {
		return nil
	}
	s.schemaMu.Lock()
	defer s.schemaMu.Unlock()
	if s.schemaReady.Load() {
		return nil
	}
	if err := s.createSchema(ctx); err != nil {
		return err
	}
	if err := s.createTreeSchema(ctx); err != nil {
		return err
	}
	s.schemaReady.Store(true)
	return nil
}

// createSchema creates the table and its indexes when the table is
// missing, under an advisory lock so that concurrent creators wait for each
// other. An existing table is left as it is.
func (s *Store) createSchema(ctx context.Context) error {
	var exists bool
	if err := s.pool.QueryRow(ctx, "SELECT to_regclass('quantumpipes_capsules') IS NOT NULL").Scan(&exists); err != nil {
		return fmt.Errorf("look for table quantumpipes_capsules: %w", err)
	}
	if exists {
		for _, ix := range ownIndexes {
			if err := s.createIndex(ctx, ix.name, ix.lock, ix.ddl); err != nil {
				return err
			}
		}
		return nil
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey("capsule:schema")); err != nil {
			return err
		}
		var already bool
		if err := tx.QueryRow(ctx, "SELECT to_regclass('quantumpipes_capsules') IS NOT NULL").Scan(&already); err != nil || already {
			return err // another process created it meanwhile
		}
		for _, stmt := range schema {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return err
			}
		}
		var lz4 bool
		err := tx.QueryRow(ctx, "SELECT coalesce('lz4' = ANY(enumvals), false) FROM pg_settings WHERE name = 'default_toast_compression'").Scan(&lz4)
		if err != nil || !lz4 {
			return err
		}
		_, err = tx.Exec(ctx, compressData)
		return err
	})
	if err != nil {
		return fmt.Errorf("create table quantumpipes_capsules: %w", err)
	}
	return nil
}

// createIndex adds one of ownIndexes to a table created before it
// existed, without blocking writers (CREATE INDEX CONCURRENTLY), in one
// process at a time: a process that finds another building it goes on
// without waiting. Until it exists, the reads it serves scan instead.
func (s *Store) createIndex(ctx context.Context, name, lock, ddl string) error {
	var exists bool
	if err := s.pool.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", name).Scan(&exists); err != nil {
		return fmt.Errorf("look for index %s: %w", name, err)
	}
	if exists {
		return nil
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("create index %s: %w", name, err)
	}
	defer conn.Release()
	key := lockKey(lock)
	var locked bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&locked); err != nil || !locked {
		return err // another process is building it
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", key)
	_, err = conn.Exec(ctx, strings.Replace(ddl, "CREATE INDEX", "CREATE INDEX CONCURRENTLY", 1))
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42501" {
		// insufficient_privilege: only the table's owner can index it;
		// the store works without, reading by a scan.
		return nil
	}
	if err != nil {
		return fmt.Errorf("create index %s: %w", name, err)
	}
	return nil
}

// Close marks the store closed and closes the pool if Open created it.
// Closing a closed Store does nothing.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	if s.owned {
		s.pool.Close()
	}
	return nil
}

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
		pid := pc.PID()
		conn.Conn().Close(context.Background())
		if serr := s.settle(ctx, pid); serr != nil {
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

// connLost reports whether err says that an open connection failed
// without an answer from the server (no answer in time, a reset, an
// unexpected end), rather than that the server refused something or that
// no connection was free. It then closes every connection of a pool Open
// created, at most once per connect timeout: a network fault or a black
// hole rarely spares the idle connections, and each would otherwise cost
// an operation its whole timeout to be found dead, long after the server
// answers again.
func (s *Store) connLost(err error) bool {
	var pe *pgconn.PgError
	var oe *net.OpError
	if err == nil || errors.As(err, &pe) || pgconn.SafeToRetry(err) || // nothing sent: a context already done
		!pgconn.Timeout(err) && !errors.As(err, &oe) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return false
	}
	now := time.Now().UnixNano()
	if last := s.lastReset.Load(); s.owned && now-last >= int64(s.resetEvery) && s.lastReset.CompareAndSwap(last, now) {
		s.pool.Reset()
	}
	return true
}

// errOutcomeUnknown marks a transaction whose connection failed after its
// COMMIT was sent and before the answer came: the server settled it one way
// or the other, and only its rows tell which.
var errOutcomeUnknown = errors.New("the connection failed after COMMIT was sent")

// errNotSettled marks an unknown outcome whose server process could not be
// seen to finish: a batch not found may still be committed after.
var errNotSettled = errors.New("not settled")

// outcomeUnknown reports whether a failed transaction may nonetheless have
// committed: the connection failed (the server did not answer with an
// error, which would have aborted the transaction) after the pipeline,
// COMMIT included, was sent.
func outcomeUnknown(err error) bool {
	var pe *pgconn.PgError
	return !errors.As(err, &pe) && !pgconn.SafeToRetry(err)
}

// settleTimeout bounds how long the store looks for the outcome of a
// transaction whose connection failed after COMMIT was sent: until the
// append's own deadline, at most settleTimeout and at least settleMin
// from when the transaction failed, even when the append's deadline (or
// cancellation) is what cut the connection: without it a stored batch
// would be reported failed.
const (
	settleTimeout = 30 * time.Second
	settleMin     = 5 * time.Second
)

// askAgain is the pause between two questions about such an outcome while
// the server cannot answer.
const askAgain = 50 * time.Millisecond

// unreachable reports whether err says that the server cannot be asked
// now (the connection failed or was refused; the server is starting up,
// shutting down, or not the read-write server the URL asks for), rather
// than that it answered.
func unreachable(err error) bool {
	var pe *pgconn.PgError
	switch {
	case errors.Is(err, pgx.ErrNoRows), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	case errors.As(err, &pe):
		return strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "57P")
	}
	return true
}

// ask runs q, and runs it again while the server cannot answer (see
// unreachable), until ctx ends. A server that crashed may be restarting,
// or a standby being promoted in its place.
func ask(ctx context.Context, q func(context.Context) error) error {
	for {
		err := q(ctx)
		if err == nil || !unreachable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(askAgain):
		}
	}
}

// afterUnknown returns the context that settles an unknown outcome: ctx's
// values, not its cancellation, with ctx's deadline held between
// settleMin and settleTimeout from now (settleTimeout without one).
func afterUnknown(ctx context.Context) (context.Context, context.CancelFunc) {
	now := time.Now()
	d, ok := ctx.Deadline()
	if !ok {
		d = now.Add(settleTimeout)
	}
	if lo := now.Add(settleMin); d.Before(lo) {
		d = lo
	} else if hi := now.Add(settleTimeout); d.After(hi) {
		d = hi
	}
	return context.WithDeadline(context.WithoutCancel(ctx), d)
}

// settle waits until server process pid, whose connection failed with a
// COMMIT sent and unanswered, no longer runs a statement (it may still be
// committing), and ends it if it sits in the transaction, so that a COMMIT
// still in the network cannot land later. While no server answers it asks
// again (see ask): a server that answers without that process has settled
// the transaction, one way or the other.
func (s *Store) settle(ctx context.Context, pid uint32) error {
	ctx, cancel := afterUnknown(ctx)
	defer cancel()
	for {
		var state string
		err := ask(ctx, func(ctx context.Context) error {
			return s.pool.QueryRow(ctx, "SELECT coalesce(state, '') FROM pg_stat_activity WHERE pid = $1", int32(pid)).Scan(&state)
		})
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return nil // the server process is gone: the outcome is settled
		case err != nil:
			return fmt.Errorf("look for server process %d: %w", pid, err)
		case state == "idle":
			return nil // the transaction ended, committed or not
		case strings.HasPrefix(state, "idle in transaction"):
			// The COMMIT has not arrived (it may still be in the network):
			// end the session, so that it never lands.
			if _, err := s.pool.Exec(ctx, "SELECT pg_terminate_backend($1)", int32(pid)); err != nil {
				return fmt.Errorf("end server process %d: %w", pid, err)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("server process %d still runs the commit: %w", pid, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// stored reports whether recs, a batch of tenant's chain whose transaction
// had an unknown outcome, are stored: a batch is all there or not at all.
// While no server answers it asks again (see ask).
func (s *Store) stored(ctx context.Context, tenant string, recs []storage.Record) (bool, error) {
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	var q query
	q.where("id = ANY(%s)", ids)
	q.tenant(tenant)
	var n int
	err := ask(ctx, func(ctx context.Context) error {
		return s.pool.QueryRow(ctx, q.sql("count(*)", ""), q.args...).Scan(&n)
	})
	if err != nil {
		return false, fmt.Errorf("look for the batch: %w", err)
	}
	return n == len(recs), nil
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

// query builds a SELECT with numbered parameters.
type query struct {
	conds []string
	args  []any
}

// arg adds a parameter and returns its placeholder.
func (q *query) arg(v any) string {
	q.args = append(q.args, v)
	return "$" + strconv.Itoa(len(q.args))
}

// where adds a condition; cond contains %s where the placeholders of args
// go.
func (q *query) where(cond string, args ...any) {
	ph := make([]any, len(args))
	for i, a := range args {
		ph[i] = q.arg(a)
	}
	q.conds = append(q.conds, fmt.Sprintf(cond, ph...))
}

// tenant restricts the query to tenant's chain.
func (q *query) tenant(tenant string) {
	if tenant == "" {
		q.conds = append(q.conds, "tenant_id IS NULL")
	} else {
		q.where("tenant_id = %s", tenant)
	}
}

func (q *query) tenantFilter(tenant *string) {
	if tenant != nil {
		q.tenant(*tenant)
	}
}

// sql returns "SELECT what FROM quantumpipes_capsules [WHERE …] tail".
func (q *query) sql(what, tail string) string {
	s := "SELECT " + what + " FROM quantumpipes_capsules"
	if len(q.conds) > 0 {
		s += " WHERE " + strings.Join(q.conds, " AND ")
	}
	if tail != "" {
		s += " " + tail
	}
	return s
}

// recordCols selects the columns scanRecord reads, in its order.
const recordCols = "id, type, domain, COALESCE(tenant_id, ''), sequence, COALESCE(previous_hash, ''), data, hash, " +
	"signature, signature_pq, COALESCE(signed_at, ''), COALESCE(signed_by, ''), COALESCE(session_id, '')"

func scanRecord(row pgx.Row) (storage.Record, error) {
	var r storage.Record
	var seq int32
	err := row.Scan(&r.ID, &r.Type, &r.Domain, &r.Tenant, &seq, &r.PreviousHash, &r.Data, &r.Hash,
		&r.Signature, &r.SignaturePQ, &r.SignedAt, &r.SignedBy, &r.SessionID)
	r.Sequence = int64(seq)
	if r.Data == nil {
		r.Data = []byte{}
	}
	return r, err
}

// noTable reports whether err says the table does not exist, which a
// read-only store, that never creates it, reads as "no capsules".
func (s *Store) noTable(err error) bool {
	var pe *pgconn.PgError
	return s.readOnly && errors.As(err, &pe) && pe.Code == "42P01" // undefined_table
}

// queryRecords runs sql and reads every row as a Record; a read-only store
// reads no row from a missing table.
func (s *Store) queryRecords(ctx context.Context, sql string, args ...any) ([]storage.Record, error) {
	return s.queryRecordsMax(ctx, 0, sql, args...)
}

// queryRecordsMax is queryRecords reading rows until they hold maxBytes
// bytes of Data or more (every row when maxBytes <= 0).
func (s *Store) queryRecordsMax(ctx context.Context, maxBytes int64, sql string, args ...any) ([]storage.Record, error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		if s.noTable(err) {
			return nil, nil
		}
		return nil, err
	}
	defer rows.Close()
	var recs []storage.Record
	var read int64
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, err
		}
		recs = append(recs, r)
		if read += int64(len(r.Data)); maxBytes > 0 && read >= maxBytes {
			break
		}
	}
	if err := rows.Err(); err != nil && !s.noTable(err) {
		return nil, err
	}
	return recs, nil
}

// Head returns the last link of tenant's chain.
func (s *Store) Head(ctx context.Context, tenant string) (storage.Head, error) {
	if err := s.ready(ctx); err != nil {
		return storage.Head{}, fmt.Errorf("postgres: head: %w", err)
	}
	var q query
	q.tenant(tenant)
	h := storage.Head{Sequence: -1}
	var seq int32
	err := s.pool.QueryRow(ctx, q.sql("sequence, hash", "ORDER BY sequence DESC LIMIT 1"), q.args...).Scan(&seq, &h.Hash)
	switch {
	case errors.Is(err, pgx.ErrNoRows) || s.noTable(err):
		return h, nil
	case err != nil && s.connLost(err):
		return storage.Head{}, fmt.Errorf("postgres: head of %q: %w", tenant, err)
	case dataErr(err):
		// The tenant itself is refused (a NUL or invalid UTF-8, SQLSTATE
		// 22021): the store is not down.
		return storage.Head{}, fmt.Errorf("postgres: head of %q: %w (%w)", tenant, storage.ErrRejected, err)
	case err != nil:
		return storage.Head{}, fmt.Errorf("postgres: head of %q: %w", tenant, err)
	}
	h.Sequence = int64(seq)
	return h, nil
}

// idLen is the length of a full capsule id (a hyphenated UUID).
const idLen = 36

// likePrefix returns the LIKE pattern matching the strings that start with
// prefix, escaping the pattern characters.
func likePrefix(prefix string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(prefix) + "%"
}

// prefixEnd returns the least string above every string starting with
// prefix, in byte order: prefix with its last byte incremented. ok is
// false when that is not text (the last byte is not ASCII below DEL).
func prefixEnd(prefix string) (end string, ok bool) {
	last := prefix[len(prefix)-1]
	if last >= 0x7f {
		return "", false
	}
	return prefix[:len(prefix)-1] + string(last+1), true
}

// wherePrefix restricts q to the ids starting with prefix, as a range in
// byte order that the index ix_quantumpipes_capsules_id_c answers.
func (q *query) wherePrefix(prefix string) {
	if end, ok := prefixEnd(prefix); ok {
		q.where(`id COLLATE "C" >= %s AND id COLLATE "C" < %s`, prefix, end)
		return
	}
	q.where(`id LIKE %s ESCAPE '\'`, likePrefix(prefix))
}

// getQuery selects the capsules of Get: the one whose id is id or, for a
// shorter id, those starting with it.
func getQuery(id string, tenant *string) *query {
	var q query
	if len(id) >= idLen {
		q.where("id = %s", id)
	} else {
		q.wherePrefix(id)
	}
	q.tenantFilter(tenant)
	return &q
}

// Get returns the capsule with id id or, when id is shorter than a full
// id, the one capsule whose id starts with it.
func (s *Store) Get(ctx context.Context, id string, tenant *string) (storage.Record, error) {
	if err := s.ready(ctx); err != nil {
		return storage.Record{}, fmt.Errorf("postgres: get: %w", err)
	}
	if id == "" {
		return storage.Record{}, fmt.Errorf("postgres: get: empty id: %w", storage.ErrNotFound)
	}
	q := getQuery(id, tenant)
	recs, err := s.queryRecords(ctx, q.sql(recordCols, "LIMIT 2"), q.args...)
	if err != nil {
		return storage.Record{}, fmt.Errorf("postgres: get %q: %w", id, err)
	}
	switch len(recs) {
	case 0:
		return storage.Record{}, fmt.Errorf("postgres: get %q: %w", id, storage.ErrNotFound)
	case 1:
		return recs[0], nil
	}
	return storage.Record{}, fmt.Errorf("postgres: get %q: %w", id, storage.ErrAmbiguous)
}

// GetByHash returns the capsule with the given hash.
func (s *Store) GetByHash(ctx context.Context, hash string, tenant *string) (storage.Record, error) {
	if err := s.ready(ctx); err != nil {
		return storage.Record{}, fmt.Errorf("postgres: get by hash: %w", err)
	}
	var q query
	q.where("hash = %s", hash)
	q.tenantFilter(tenant)
	recs, err := s.queryRecords(ctx, q.sql(recordCols, "LIMIT 1"), q.args...)
	if err != nil {
		return storage.Record{}, fmt.Errorf("postgres: get by hash %q: %w", hash, err)
	}
	if len(recs) == 0 {
		return storage.Record{}, fmt.Errorf("postgres: get by hash %q: %w", hash, storage.ErrNotFound)
	}
	return recs[0], nil
}

// Scan streams tenant's chain from sequence from, reading batches of 512
// records by key (sequence), so memory stays bounded whatever the length
// of the chain and no connection is held between batches.
func (s *Store) Scan(ctx context.Context, tenant string, from int64) iter.Seq2[storage.Record, error] {
	return func(yield func(storage.Record, error) bool) {
		var q query
		q.tenant(tenant)
		q.where("sequence >= %s::int8", from)
		sql := q.sql(recordCols, "ORDER BY sequence LIMIT "+strconv.Itoa(scanBatch))
		for {
			if err := s.ready(ctx); err != nil {
				yield(storage.Record{}, fmt.Errorf("postgres: scan %q: %w", tenant, err))
				return
			}
			recs, err := s.queryRecords(ctx, sql, q.args...)
			if err != nil {
				yield(storage.Record{}, fmt.Errorf("postgres: scan %q from %d: %w", tenant, q.args[len(q.args)-1], err))
				return
			}
			for _, r := range recs {
				if !yield(r, nil) {
					return
				}
			}
			if len(recs) < scanBatch {
				return
			}
			q.args[len(q.args)-1] = recs[len(recs)-1].Sequence + 1
		}
	}
}

// filter returns the conditions of f other than Limit and Offset.
func filter(f storage.Filter) *query {
	q := new(query)
	q.tenantFilter(f.Tenant)
	if f.Type != "" {
		q.where("type = %s", f.Type)
	}
	if f.Domain != "" {
		q.where("domain = %s", f.Domain)
	}
	if f.SessionID != "" {
		q.where("session_id = %s", f.SessionID)
	}
	if f.MaxSequence != nil {
		q.where("sequence <= %s::int8", *f.MaxSequence)
	}
	if f.MinSequence != nil {
		q.where("sequence >= %s::int8", *f.MinSequence)
	}
	return q
}

// listOrder is List's order: newest first, then by tenant (the null
// tenant first, then in byte order).
const listOrder = `ORDER BY sequence DESC, tenant_id COLLATE "C" ASC NULLS FIRST`

// chainOrder is List's order within one chain.
const chainOrder = `ORDER BY sequence DESC`

// List returns the capsules matching f, newest first, then by tenant (the
// null tenant first, then in byte order).
func (s *Store) List(ctx context.Context, f storage.Filter) ([]storage.Record, error) {
	if err := s.ready(ctx); err != nil {
		return nil, fmt.Errorf("postgres: list: %w", err)
	}
	q := filter(f)
	var limit any // NULL: no limit
	if f.Limit > 0 {
		limit = int64(f.Limit)
	}
	order := listOrder
	if f.Tenant != nil {
		// One chain: its sequences are unique, and an order the chain's
		// indexes give (a tenant_id COLLATE "C" key, which the planner
		// cannot see is constant, makes it sort every matching row).
		order = chainOrder
	}
	tail := order + " LIMIT " + q.arg(limit) + "::int8 OFFSET " + q.arg(max(f.Offset, 0)) + "::int8"
	sql := q.sql(recordCols, tail)
	if f.MaxBytes > 0 {
		// The server sends only the rows read before the page's content
		// reached MaxBytes: octet_length reads a stored value's size
		// without decompressing or fetching it.
		sql = "SELECT " + recordCols + " FROM (SELECT page.*, sum(octet_length(data)) OVER (" + order +
			" ROWS UNBOUNDED PRECEDING) - octet_length(data) AS bytes_before FROM (" + q.sql("*", tail) +
			") page) bounded WHERE bytes_before < " + q.arg(f.MaxBytes) + "::int8 " + order
	}
	recs, err := s.queryRecordsMax(ctx, f.MaxBytes, sql, q.args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: list: %w", err)
	}
	return recs, nil
}

// Count returns how many capsules match f, ignoring Limit and Offset.
func (s *Store) Count(ctx context.Context, f storage.Filter) (int64, error) {
	if err := s.ready(ctx); err != nil {
		return 0, fmt.Errorf("postgres: count: %w", err)
	}
	q := filter(f)
	var n int64
	err := s.pool.QueryRow(ctx, q.sql("count(*)", ""), q.args...).Scan(&n)
	switch {
	case s.noTable(err):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("postgres: count: %w", err)
	}
	return n, nil
}

// tenantsQuery lists the null tenant when its chain has a capsule, then
// every other tenant, jumping from one to the next through the tenant_id
// index instead of reading every row.
const tenantsQuery = `SELECT '' WHERE EXISTS (SELECT 1 FROM quantumpipes_capsules WHERE tenant_id IS NULL)
UNION ALL
(WITH RECURSIVE t(tenant_id) AS (
	(SELECT tenant_id FROM quantumpipes_capsules WHERE tenant_id IS NOT NULL ORDER BY tenant_id LIMIT 1)
	UNION ALL
	SELECT (SELECT c.tenant_id FROM quantumpipes_capsules c WHERE c.tenant_id > t.tenant_id ORDER BY c.tenant_id LIMIT 1)
	FROM t WHERE t.tenant_id IS NOT NULL
)
SELECT tenant_id FROM t WHERE tenant_id IS NOT NULL)`

// Tenants returns every tenant with a chain, in ascending byte order, ""
// first when the null tenant has one.
func (s *Store) Tenants(ctx context.Context) ([]string, error) {
	if err := s.ready(ctx); err != nil {
		return nil, fmt.Errorf("postgres: tenants: %w", err)
	}
	rows, err := s.pool.Query(ctx, tenantsQuery)
	switch {
	case s.noTable(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("postgres: tenants: %w", err)
	}
	tenants, err := pgx.CollectRows(rows, pgx.RowTo[string])
	switch {
	case s.noTable(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("postgres: tenants: %w", err)
	}
	slices.Sort(tenants)
	return tenants, nil
}
