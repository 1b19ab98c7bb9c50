// Package postgres implements [storage.Store] on PostgreSQL, through
// github.com/jackc/pgx/v5.
//
// Capsules live in the Python reference's table, quantumpipes_capsules,
// created with the reference layout when missing: the reference columns
// plus domain and tenant_id (NULL for the null tenant), UNIQUE(tenant_id,
// sequence) and a unique index on sequence where tenant_id is NULL. Two
// indexes are this package's own: on (tenant_id, type, sequence), for a
// type filter, and, where the id column does not sort in byte order (its
// collation is not C, POSIX or C.UTF-8), on id COLLATE "C", so that an id
// prefix is a range of an index whatever the database's collation; a
// writable store adds them (CREATE INDEX CONCURRENTLY) to a table that
// lacks them, when it is allowed to. A column tree of this package's
// holds each chain's Merkle tree (see tree.go). The table is found
// through the connection's search_path. A table created here compresses data with lz4 when the server has it (else with the server's
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
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/capsule-go/capsule/internal/tree"
	"github.com/capsule-go/capsule/storage"
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

	schemaMu    sync.Mutex   // serializes the creation of the table
	schemaReady atomic.Bool  // the table exists
	rowTree     atomic.Bool  // the table has the column tree (see tree.go)
	idBytes     atomic.Int32 // the id column sorts in byte order (see idOrder)

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
	} else {
		after := pc.AfterConnect
		timeout := pc.ConnConfig.ConnectTimeout
		pc.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
			if after != nil {
				if err := after(ctx, c); err != nil {
					return err
				}
			}
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			return identify(ctx, c)
		}
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
	rowTree, err := s.addTreeColumn(ctx)
	if err != nil {
		return err
	}
	s.rowTree.Store(rowTree)
	s.schemaReady.Store(true)
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
