// Package sqlite implements [storage.Store] on a SQLite file, through
// github.com/mattn/go-sqlite3 when cgo is available and the pure-Go
// modernc.org/sqlite when it is not (CGO_ENABLED=0). Files written through
// either are read and appended to through the other.
//
// The file is shared with the Python reference implementation: the null
// tenant's chain lives in the reference table "capsules", created with the
// reference's exact DDL when missing and never altered, so a file written by
// either side opens and verifies on the other (the reference ignores
// tenants). The chains of other tenants live in a second table,
// "capsule_tenant_chains", which the reference does not read.
//
// The database runs in WAL mode. Writes go through one connection and take
// the write lock at BEGIN (BEGIN IMMEDIATE), so an Append reads the chain
// head and inserts under the same lock; reads use a separate pool and never
// wait for the writer. Several processes may write the same file: each
// waits for the lock up to the busy timeout.
//
// # Read-only stores
//
// [WithReadOnly] opens an existing file for reading only, as an operator's
// verify or export must: the file is opened read-only (mode=ro) with
// PRAGMA query_only, nothing is created (no directory, no file, no table),
// no DDL runs and the journal mode is left as it is, so a file the Python
// reference wrote (which has no "capsule_tenant_chains" table and uses a
// rollback journal) keeps every byte. Queries touch only the tables the
// file holds: a missing table is an empty chain. [Store.Append] returns
// [ErrReadOnly].
//
// A read-only store reads a file that other processes are writing. When
// the file is in WAL mode, SQLite needs the "-wal" and "-shm" files beside
// it, which a reader creates (as the writer would) if the writer has not:
// the main file stays untouched, but those two files may appear and, as a
// reader never checkpoints, remain after Close. A WAL-mode file whose
// directory the reader cannot write, and whose -wal and -shm files do not
// exist, cannot be opened read-only; copy it, or open it once with a
// writable store so that it checkpoints, or have its owner switch it to a
// rollback journal (PRAGMA journal_mode=DELETE). A file in rollback-journal
// mode needs nothing beside it, except after a writer crashed mid-commit:
// its hot journal must be rolled back by a writable store first.
package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/capsule-go/capsule/internal/tree"
	"github.com/capsule-go/capsule/protocol/canonical"
	"github.com/capsule-go/capsule/storage"
	"github.com/capsule-go/capsule/storage/internal/batch"
	"github.com/capsule-go/capsule/storage/sqlite/internal/driver"
)

// Synchronous is SQLite's synchronous setting for commits.
type Synchronous int

const (
	// SynchronousFull syncs the write-ahead log at every commit: a commit
	// survives a power loss. The default.
	SynchronousFull Synchronous = iota
	// SynchronousNormal syncs only at checkpoints: faster, and the file
	// stays consistent, but the last commits before a power loss (not a
	// process crash) may be lost.
	SynchronousNormal
)

// String returns the PRAGMA value: "FULL" or "NORMAL".
func (s Synchronous) String() string {
	switch s {
	case SynchronousFull:
		return "FULL"
	case SynchronousNormal:
		return "NORMAL"
	}
	return "Synchronous(" + strconv.Itoa(int(s)) + ")"
}

// DefaultBusyTimeout is how long a write waits for another process's write
// lock before failing, unless [WithBusyTimeout] says otherwise.
const DefaultBusyTimeout = 10 * time.Second

// scanBatch is how many records Scan reads per query.
const scanBatch = 512

// config holds the settings Options change.
type config struct {
	sync        Synchronous
	busyTimeout time.Duration
	readOnly    bool
}

// Option changes a setting of [Open].
type Option func(*config)

// WithSynchronous sets the durability of commits; the default is
// [SynchronousFull].
func WithSynchronous(s Synchronous) Option {
	return func(c *config) { c.sync = s }
}

// WithBusyTimeout sets how long an operation waits for a lock held by
// another connection or process before failing; the default is
// [DefaultBusyTimeout].
func WithBusyTimeout(d time.Duration) Option {
	return func(c *config) { c.busyTimeout = d }
}

// WithReadOnly opens an existing database for reading only: Open fails
// when the file does not exist and creates nothing, never changes the
// file, and Append returns [ErrReadOnly]. [WithSynchronous] has no effect
// on a read-only store. See the package documentation for files in WAL
// mode.
func WithReadOnly() Option {
	return func(c *config) { c.readOnly = true }
}

// ErrReadOnly is [storage.ErrReadOnly], kept under this name for
// compatibility: an Append on a store opened with [WithReadOnly].
var ErrReadOnly = storage.ErrReadOnly

// noDatabaseError reports that a read-only store's file does not exist; it
// matches [fs.ErrNotExist].
type noDatabaseError struct{}

func (noDatabaseError) Error() string        { return "no such database file" }
func (noDatabaseError) Is(target error) bool { return target == fs.ErrNotExist }

// Store is a [storage.Store] on one SQLite file. It is safe for concurrent
// use, and several processes may open the same file.
type Store struct {
	path     string
	abs      string
	file     os.FileInfo // the database file as opened, to notice it vanish
	wal, shm os.FileInfo // its -wal and -shm files as opened; nil when read-only or absent
	w        *sql.DB     // one connection; transactions begin IMMEDIATE; nil when read-only
	r        *sql.DB     // read pool
	readOnly bool
	// present holds the tableSet of the tables known to exist; it only
	// grows. A writable store creates both at Open.
	present atomic.Uint32
	// treeTables reports that the tree's tables exist (see tree.go).
	treeTables atomic.Bool
	// noTree makes appends write no tree: for the benchmark that
	// measures what keeping it costs, never set otherwise.
	noTree bool
	trees  tree.Cache // the frontier of each chain's tree (see tree.go)
	closed atomic.Bool
	// freeSpace reports the bytes free to this process on the file
	// system holding dir; ok is false when it cannot tell.
	freeSpace func(dir string) (free uint64, ok bool)
}

var _ storage.Store = (*Store)(nil)

// The reference table, exactly as the Python reference creates it; SQLite
// stores the text without "IF NOT EXISTS", so a file created here carries
// the same schema as one created there.
const (
	refTableDDL = "CREATE TABLE IF NOT EXISTS capsules (\n" +
		"\tid VARCHAR(36) NOT NULL,\n" +
		"\ttype VARCHAR(20) NOT NULL,\n" +
		"\tsequence INTEGER NOT NULL,\n" +
		"\tprevious_hash VARCHAR(64),\n" +
		"\tdata TEXT NOT NULL,\n" +
		"\thash VARCHAR(64) NOT NULL,\n" +
		"\tsignature TEXT NOT NULL,\n" +
		"\tsignature_pq TEXT NOT NULL,\n" +
		"\tsigned_at VARCHAR(40),\n" +
		"\tsigned_by VARCHAR(32),\n" +
		"\tsession_id VARCHAR(36),\n" +
		"\tPRIMARY KEY (id),\n" +
		"\tCONSTRAINT uq_capsule_sequence UNIQUE (sequence)\n" +
		")"
	// tenantTableDDL holds the chains of non-null tenants.
	tenantTableDDL = "CREATE TABLE IF NOT EXISTS capsule_tenant_chains (\n" +
		"\tid VARCHAR(36) NOT NULL,\n" +
		"\ttype VARCHAR(20) NOT NULL,\n" +
		"\tsequence INTEGER NOT NULL,\n" +
		"\tprevious_hash VARCHAR(64),\n" +
		"\tdata TEXT NOT NULL,\n" +
		"\thash VARCHAR(64) NOT NULL,\n" +
		"\tsignature TEXT NOT NULL,\n" +
		"\tsignature_pq TEXT NOT NULL,\n" +
		"\tsigned_at VARCHAR(40),\n" +
		"\tsigned_by VARCHAR(32),\n" +
		"\tsession_id VARCHAR(36),\n" +
		"\tdomain TEXT NOT NULL,\n" +
		"\ttenant_id TEXT NOT NULL,\n" +
		"\tPRIMARY KEY (id),\n" +
		"\tCONSTRAINT uq_capsule_tenant_sequence UNIQUE (tenant_id, sequence)\n" +
		")"
)

// schema creates the tables and indexes that are missing.
var schema = []string{
	refTableDDL,
	"CREATE INDEX IF NOT EXISTS ix_capsules_sequence ON capsules (sequence)",
	"CREATE INDEX IF NOT EXISTS ix_capsules_hash ON capsules (hash)",
	"CREATE INDEX IF NOT EXISTS ix_capsules_session_id ON capsules (session_id)",
	tenantTableDDL,
	"CREATE INDEX IF NOT EXISTS ix_capsule_tenant_chains_hash ON capsule_tenant_chains (hash)",
	"CREATE INDEX IF NOT EXISTS ix_capsule_tenant_chains_session_id ON capsule_tenant_chains (session_id)",
	// Newest first across tenants (List without a tenant).
	"CREATE INDEX IF NOT EXISTS ix_capsule_tenant_chains_sequence ON capsule_tenant_chains (sequence DESC, tenant_id)",
	typeIndexes[0],
	typeIndexes[1],
	treeTableDDL,
	checkpointTableDDL,
}

// typeIndexes serve a chain's capsules of one type, newest first (List and
// Count with a type filter), reading index entries only instead of every
// row of the chain. They are this package's own, beside the reference's
// schema: the reference never reads them and SQLite keeps them when it
// writes. Open adds them to a file that lacks them.
var typeIndexes = [2]string{
	"CREATE INDEX IF NOT EXISTS ix_capsules_type_sequence ON capsules (type, sequence)",
	"CREATE INDEX IF NOT EXISTS ix_capsule_tenant_chains_type ON capsule_tenant_chains (tenant_id, type, sequence)",
}

// Open opens the SQLite database at path, creating the file, its parent
// directory (mode 0700) and the tables when missing, or, with
// [WithReadOnly], opens the existing file for reading only. Close releases
// it.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	cfg := config{sync: SynchronousFull, busyTimeout: DefaultBusyTimeout}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.sync != SynchronousFull && cfg.sync != SynchronousNormal {
		return nil, fmt.Errorf("sqlite: open %s: invalid synchronous setting %v", path, cfg.sync)
	}
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("sqlite: open %q: want the path of a database file", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	busy := strconv.FormatInt(max(cfg.busyTimeout.Milliseconds(), 0), 10)
	if cfg.readOnly {
		return openReadOnly(ctx, path, abs, busy)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	writer, params := driver.Writer([][2]string{
		{"wal_autocheckpoint", strconv.Itoa(walCheckpointPages)},
		{"journal_size_limit", strconv.Itoa(journalSizeLimit)},
	})
	params.Set("_journal_mode", "WAL")
	params.Set("_synchronous", cfg.sync.String())
	params.Set("_busy_timeout", busy)
	params.Set("_txlock", "immediate")
	params.Set("_stmt_cache_size", "32")
	w, err := sql.Open(writer, dsn(abs, params))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	s := &Store{path: path, abs: abs, w: w, freeSpace: diskFree}
	if err := retryBusy(ctx, cfg.busyTimeout, func() error { return s.createSchema(ctx) }); err != nil {
		w.Close()
		return nil, err
	}
	s.present.Store(uint32(allTables))
	s.treeTables.Store(true)
	if err := s.recordFiles(); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	readers := max(4, runtime.GOMAXPROCS(0))
	s.r, err = sql.Open(driver.Name, dsn(abs, url.Values{
		"_busy_timeout":    {busy},
		"_query_only":      {"true"},
		"_stmt_cache_size": {"32"},
	}))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	s.r.SetMaxOpenConns(readers)
	s.r.SetMaxIdleConns(readers)
	if err := s.r.PingContext(ctx); err != nil {
		s.r.Close()
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	return s, nil
}

// openReadOnly opens the existing file at abs with one read pool whose
// connections open the file read-only and refuse writes.
func openReadOnly(ctx context.Context, path, abs, busy string) (*Store, error) {
	fi, err := os.Stat(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("sqlite: open %s: %w", path, noDatabaseError{})
	case err != nil:
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("sqlite: open %s: not a regular file", path)
	}
	r, err := sql.Open(driver.Name, dsn(abs, url.Values{
		"mode":             {"ro"}, // never creates the file
		"_busy_timeout":    {busy},
		"_query_only":      {"true"},
		"_stmt_cache_size": {"32"},
	}))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	readers := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(readers)
	r.SetMaxIdleConns(readers)
	s := &Store{path: path, abs: abs, file: fi, r: r, readOnly: true}
	// Reading the schema reads the file: it fails on a file that is not a
	// database, or one in WAL mode whose -shm file cannot be opened.
	if _, err := s.tables(ctx); err != nil {
		r.Close()
		if walMode(abs) {
			err = fmt.Errorf("%w (the file is in WAL mode: a reader needs %s-wal and %s-shm, "+
				"which must exist or be creatable beside it)", err, filepath.Base(abs), filepath.Base(abs))
		}
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	return s, nil
}

// walMode reports whether the header of the database file at path says it
// is in WAL mode (read and write versions 2, bytes 18 and 19).
func walMode(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var h [20]byte
	if _, err := io.ReadFull(f, h[:]); err != nil {
		return false
	}
	return string(h[:16]) == "SQLite format 3\x00" && h[18] == 2 && h[19] == 2
}

// tableSet is a set of the two tables.
type tableSet uint32

const (
	hasRef tableSet = 1 << iota
	hasTenant
	allTables = hasRef | hasTenant
)

// tables returns the tables the file holds. A writable store created both
// at Open; a read-only store looks again while one is missing, since
// another process may create it.
func (s *Store) tables(ctx context.Context) (tableSet, error) {
	have := tableSet(s.present.Load())
	if have == allTables {
		return have, nil
	}
	rows, err := s.r.QueryContext(ctx,
		"SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('capsules', 'capsule_tenant_chains')")
	if err != nil {
		return 0, fmt.Errorf("read the schema: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return 0, fmt.Errorf("read the schema: %w", err)
		}
		switch name {
		case refTable.name:
			have |= hasRef
		case tenantTable.name:
			have |= hasTenant
		}
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("read the schema: %w", err)
	}
	return tableSet(s.present.Or(uint32(have)) | uint32(have)), nil
}

// walCheckpointPages is how many WAL pages (4 KB each by default) the
// writer lets accumulate before it checkpoints them into the database file.
// SQLite's default, 1000, makes the writer copy hot index pages (random
// UUID and hash keys) over and over; 16000 (64 MB) lets a checkpoint write
// each page once for many commits: 19,700 -> 27,000 durable appends/s with
// 64 writers. journalSizeLimit truncates the WAL file back after it.
const (
	walCheckpointPages = 16000
	journalSizeLimit   = 64 << 20
)

// dsn is the data source name for the file at abs: a file: URI,
// so that any byte of the path survives, with the driver's parameters.
func dsn(abs string, params url.Values) string {
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // a Windows drive letter
	}
	u := url.URL{Scheme: "file", Path: p, RawQuery: params.Encode()}
	return u.String()
}

// retryBusy runs f until it does not fail with SQLITE_BUSY, for up to
// timeout. Connecting (which turns on WAL) and creating the schema can be
// answered SQLITE_BUSY at once, without the busy handler, when processes
// open a new file together: SQLite does so where waiting could deadlock
// two connections that both upgrade a read lock. The connection that failed
// is discarded, so the next try connects afresh.
func retryBusy(ctx context.Context, timeout time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	wait := time.Millisecond
	for {
		err := f()
		code, _ := driver.Code(err)
		if err == nil || driver.Primary(code) != driver.Busy || time.Now().Add(wait).After(deadline) {
			return err
		}
		// Jitter keeps the openers that collided from colliding again.
		t := time.NewTimer(wait/2 + rand.N(wait))
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		wait = min(2*wait, 50*time.Millisecond)
	}
}

// createSchema creates the tables and indexes when they are missing, under
// the write lock, so that processes opening a new file together agree. A
// file created before the type indexes existed gets them here, once: their
// build holds the write lock for about 3 s per million capsules (measured
// on a loaded 2-core machine), which writers of other processes wait for
// up to their busy timeout.
func (s *Store) createSchema(ctx context.Context) error {
	var n int
	err := s.w.QueryRowContext(ctx,
		"SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('capsules', 'capsule_tenant_chains', "+
			"'capsule_tree', 'capsule_checkpoints') "+
			"OR type = 'index' AND name IN ('ix_capsules_type_sequence', 'ix_capsule_tenant_chains_type')").Scan(&n)
	if err != nil {
		return fmt.Errorf("sqlite: open %s: %w", s.path, err)
	}
	if n == 6 {
		return nil
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: open %s: create schema: %w", s.path, err)
	}
	defer tx.Rollback()
	for _, stmt := range schema {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("sqlite: open %s: create schema: %w", s.path, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: open %s: create schema: %w", s.path, err)
	}
	return nil
}

// Close closes the database. Closing a closed Store does nothing.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	if s.w == nil {
		return s.r.Close()
	}
	return errors.Join(s.r.Close(), s.w.Close())
}

// table is one of the two tables, with the SQL that reads a Record from it.
type table struct {
	name string
	bit  tableSet // the table in a tableSet
	// cols selects the columns scanRecord reads, in its order.
	cols string
	// domain is the expression of a capsule's domain.
	domain string
	// head reads the last link of a chain; its only parameter, if any, is
	// the tenant.
	head string
	// insert stores a record: id, type, sequence, previous_hash, data, hash,
	// signature, signature_pq, signed_at, signed_by, session_id, domain,
	// tenant_id (the reference table ignores the last two).
	insert string
}

// topLevelString returns the string value of key in the top-level JSON
// object data, or "" when data is not an object, lacks the key, or its
// value is not a string. It reads the Python reference's content (with
// whitespace) as well as canonical JSON.
func topLevelString(data []byte, key string) string {
	var out string
	canonical.Members(data, func(k, v []byte) bool {
		if string(k) != key {
			return true
		}
		if json.Unmarshal(v, &out) != nil {
			out = ""
		}
		return false
	})
	return out
}

// refDomain reads the domain of a capsule in the reference table, which has
// no domain column, from its content, tolerating content that is not JSON.
const refDomain = "CASE WHEN json_valid(data) THEN CASE json_type(data, '$.domain') WHEN 'text' THEN json_extract(data, '$.domain') END END"

var (
	refTable = table{
		name: "capsules",
		bit:  hasRef,
		cols: "id, type, NULL AS domain, '' AS tenant_id, sequence, previous_hash, data, hash, " +
			"signature, signature_pq, signed_at, signed_by, session_id",
		domain: refDomain,
		head:   "SELECT sequence, hash FROM capsules ORDER BY sequence DESC LIMIT 1",
		insert: "INSERT INTO capsules (id, type, sequence, previous_hash, data, hash, signature, signature_pq, " +
			"signed_at, signed_by, session_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
	}
	tenantTable = table{
		name: "capsule_tenant_chains",
		bit:  hasTenant,
		cols: "id, type, domain, tenant_id, sequence, previous_hash, data, hash, " +
			"signature, signature_pq, signed_at, signed_by, session_id",
		domain: "domain",
		head:   "SELECT sequence, hash FROM capsule_tenant_chains WHERE tenant_id = ? ORDER BY sequence DESC LIMIT 1",
		insert: "INSERT INTO capsule_tenant_chains (id, type, sequence, previous_hash, data, hash, signature, signature_pq, " +
			"signed_at, signed_by, session_id, domain, tenant_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
	}
)

// tableOf returns the table holding tenant's chain.
func tableOf(tenant string) table {
	if tenant == "" {
		return refTable
	}
	return tenantTable
}

// part is a SELECT over one table, restricted to a tenant when the table
// holds several.
type part struct {
	t    table
	cond []string
	args []any
}

// tenantCond restricts a SELECT on the tenant table to one tenant.
const tenantCond = "tenant_id = ?"

// parts returns the SELECTs covering the chains a tenant filter selects.
func parts(tenant *string) []part {
	switch {
	case tenant == nil:
		return []part{{t: refTable}, {t: tenantTable}}
	case *tenant == "":
		return []part{{t: refTable}}
	default:
		return []part{{t: tenantTable, cond: []string{tenantCond}, args: []any{*tenant}}}
	}
}

// parts returns the SELECTs covering the chains a tenant filter selects,
// leaving out the tables the file does not hold (their chains are empty).
func (s *Store) parts(ctx context.Context, tenant *string) ([]part, error) {
	have, err := s.tables(ctx)
	if err != nil {
		return nil, err
	}
	ps := parts(tenant)
	return slices.DeleteFunc(ps, func(p part) bool { return have&p.t.bit == 0 }), nil
}

// where adds a condition with its arguments.
func (p *part) where(cond string, args ...any) {
	p.cond = append(p.cond, cond)
	p.args = append(p.args, args...)
}

// sql returns "SELECT <what> FROM <table> [WHERE ...]" and its arguments.
func (p part) sql(what string) (string, []any) {
	q := "SELECT " + what + " FROM " + p.t.name
	if len(p.cond) > 0 {
		q += " WHERE " + strings.Join(p.cond, " AND ")
	}
	return q, p.args
}

// union joins the SELECTs of records of ps with UNION ALL.
func union(ps []part) (string, []any) {
	var qs []string
	var args []any
	for _, p := range ps {
		q, a := p.sql(p.t.cols)
		qs = append(qs, q)
		args = append(args, a...)
	}
	return strings.Join(qs, " UNION ALL "), args
}

// scanRecord reads a row selected with table.cols.
func scanRecord(row interface{ Scan(...any) error }) (storage.Record, error) {
	var r storage.Record
	var domain, prev, signedAt, signedBy, session sql.NullString
	err := row.Scan(&r.ID, &r.Type, &domain, &r.Tenant, &r.Sequence, &prev, &r.Data, &r.Hash,
		&r.Signature, &r.SignaturePQ, &signedAt, &signedBy, &session)
	if err != nil {
		return storage.Record{}, err
	}
	r.Domain, r.PreviousHash, r.SignedAt, r.SignedBy, r.SessionID = domain.String, prev.String, signedAt.String, signedBy.String, session.String
	if !domain.Valid {
		// The reference table has no domain column: read it from the
		// content, in Go, rather than have SQLite parse the JSON per row.
		r.Domain = topLevelString(r.Data, "domain")
	}
	if r.Data == nil {
		r.Data = []byte{}
	}
	return r, nil
}

// queryRecords runs q and reads every row as a Record.
func (s *Store) queryRecords(ctx context.Context, q string, args ...any) ([]storage.Record, error) {
	return s.queryRecordsMax(ctx, 0, q, args...)
}

// queryRecordsMax runs q and reads its rows as Records until they hold
// maxBytes bytes of Data or more (every row when maxBytes <= 0); SQLite
// reads no row after that.
func (s *Store) queryRecordsMax(ctx context.Context, maxBytes int64, q string, args ...any) ([]storage.Record, error) {
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
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
	return recs, rows.Err()
}

func (s *Store) errClosed(op string) error {
	return fmt.Errorf("sqlite: %s %s: %w", op, s.path, storage.ErrClosed)
}

// nullable maps "" to NULL.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// Append stores recs as the next links of tenant's chain in one
// transaction; see [storage.Store.Append]. It returns an error wrapping
// [storage.ErrConflict] when recs[0] does not extend the current head, and
// another error, storing nothing, when the batch is not a chain of tenant's
// records or reuses the id of a stored capsule. On a read-only store it
// returns [ErrReadOnly], even for an empty batch.
func (s *Store) Append(ctx context.Context, tenant string, recs []storage.Record) error {
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
func (s *Store) appendTx(ctx context.Context, w *writeTx, tenant string, recs []storage.Record) (wrote bool, err error) {
	t := tableOf(tenant)
	head := storage.Head{Sequence: -1}
	var headArgs []any
	if tenant != "" {
		headArgs = []any{tenant}
	}
	hs, err := w.stmt(ctx, t.head)
	if err != nil {
		return false, s.appendErr(tenant, recs, fmt.Errorf("prepare head: %w", err))
	}
	err = hs.QueryRowContext(ctx, headArgs...).Scan(&head.Sequence, &head.Hash)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, s.appendErr(tenant, recs, fmt.Errorf("read head: %w", err))
	}
	if recs[0].Sequence != head.Sequence+1 || recs[0].PreviousHash != head.Hash {
		return false, fmt.Errorf("sqlite: append to %q at sequence %d: head is %d %q: %w",
			tenant, recs[0].Sequence, head.Sequence, head.Hash, storage.ErrConflict)
	}
	stmt, err := w.stmt(ctx, t.insert)
	if err != nil {
		return false, s.appendErr(tenant, recs, fmt.Errorf("prepare insert: %w", err))
	}
	for _, r := range recs {
		args := []any{r.ID, r.Type, r.Sequence, nullable(r.PreviousHash), string(r.Data), r.Hash,
			r.Signature, r.SignaturePQ, r.SignedAt, r.SignedBy, nullable(r.SessionID)}
		if tenant != "" {
			args = append(args, r.Domain, tenant)
		}
		if _, err := stmt.ExecContext(ctx, args...); err != nil {
			return true, s.insertErr(tenant, r, err)
		}
	}
	if err := s.extendTree(ctx, w, tenant, head, recs); err != nil {
		return true, s.appendErr(tenant, recs, err)
	}
	return len(recs) > 0, nil
}

// DiskHeadroom is the free space below which a writable store checkpoints
// its write-ahead log into the database file, and truncates it, after
// every commit instead of every 64 MB of WAL: the WAL then holds one batch
// at most, and the space it held is returned to the file system. Above it,
// the WAL may grow to 64 MB (plus the batch that crosses that) before the
// database file grows by the same pages at the checkpoint.
const DiskHeadroom = 256 << 20

// relieveDisk checkpoints and truncates the WAL when the file system
// holding the database has less than DiskHeadroom free. The commit is
// durable already: a checkpoint that cannot complete (a reader still uses
// the WAL, the disk is full) is tried again after the next commit.
func (s *Store) relieveDisk(ctx context.Context) {
	free, ok := s.freeSpace(filepath.Dir(s.abs))
	if !ok || free >= DiskHeadroom {
		return
	}
	var busy, logFrames, done int
	s.w.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logFrames, &done)
}

// ErrFileGone reports that the database file, or its -wal or -shm file,
// was removed, moved or replaced while the store had it open. SQLite would
// go on writing to the open files, which nothing would keep (a crash then
// loses every capsule written since): Append refuses instead. A database
// file put back where it was lets appends resume; a lost -wal or -shm
// file needs every process using the database to reopen it.
var ErrFileGone = errors.New("database file is no longer at its path")

// walSuffixes are the files SQLite keeps beside a database in WAL mode.
var walSuffixes = [2]string{"-wal", "-shm"}

// recordFiles remembers the identity of the database file and of its -wal
// and -shm files, which the writer connection holds open from now on. A
// file that does not exist (a file system where SQLite could not switch to
// WAL mode keeps a rollback journal, deleted at each commit) is not
// watched.
func (s *Store) recordFiles() error {
	var err error
	if s.file, err = os.Stat(s.abs); err != nil {
		return err
	}
	for i, fi := range []*os.FileInfo{&s.wal, &s.shm} {
		*fi, err = os.Stat(s.abs + walSuffixes[i])
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// checkFile reports whether the path still names the file the store
// opened. It runs under the write lock, before anything is written.
func (s *Store) checkFile() error {
	fi, err := os.Stat(s.abs)
	if err != nil {
		return fmt.Errorf("%w (%s: %v); restore it or reopen the store", ErrFileGone, s.abs, err)
	}
	if !os.SameFile(fi, s.file) {
		return fmt.Errorf("%w (%s was replaced by another file); reopen the store", ErrFileGone, s.abs)
	}
	return nil
}

// checkWAL reports whether the -wal and -shm files are still the ones the
// writer holds open: two stat calls. Once one is gone, what the writer
// commits goes to an unlinked file that a crash loses, and another process
// opening the database would not see this one's locks.
func (s *Store) checkWAL() error {
	for i, want := range [2]os.FileInfo{s.wal, s.shm} {
		if want == nil {
			continue // not there at Open: nothing to watch
		}
		p := s.abs + walSuffixes[i]
		fi, err := os.Stat(p)
		if err == nil && os.SameFile(fi, want) {
			continue
		}
		if err == nil {
			err = errors.New("replaced by another file")
		}
		return fmt.Errorf("%w (%s: %v); every process using the database must reopen it", ErrFileGone, p, err)
	}
	return nil
}

// rescue copies what the writer's write-ahead log holds (it still has the
// unlinked -wal file open) into the database file, which is still in
// place, and syncs it, so that the capsules acknowledged before the -wal
// file vanished survive a crash. It runs outside any transaction and
// reports whether every frame reached the database file.
func (s *Store) rescue(ctx context.Context) error {
	var busy, logFrames, done int
	err := s.w.QueryRowContext(context.WithoutCancel(ctx), "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logFrames, &done)
	switch {
	case err != nil:
		return fmt.Errorf("checkpoint the write-ahead log into the database file: %w", err)
	case busy != 0 || done != logFrames:
		return fmt.Errorf("checkpoint the write-ahead log into the database file: %d of %d frames copied "+
			"(readers hold the rest; close the store cleanly to copy them)", done, logFrames)
	}
	return nil
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

func (s *Store) appendErr(tenant string, recs []storage.Record, err error) error {
	return fmt.Errorf("sqlite: append to %q at sequence %d: %w", tenant, recs[0].Sequence, err)
}

// insertErr maps a failed INSERT of r: a taken sequence means another
// writer extended the chain (ErrConflict), a taken id does not.
func (s *Store) insertErr(tenant string, r storage.Record, err error) error {
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

// Head returns the last link of tenant's chain.
func (s *Store) Head(ctx context.Context, tenant string) (storage.Head, error) {
	if s.closed.Load() {
		return storage.Head{}, s.errClosed("head")
	}
	h := storage.Head{Sequence: -1}
	have, err := s.tables(ctx)
	if err != nil {
		return storage.Head{}, fmt.Errorf("sqlite: head of %q: %w", tenant, err)
	}
	t := tableOf(tenant)
	if have&t.bit == 0 {
		return h, nil
	}
	var args []any
	if tenant != "" {
		args = []any{tenant}
	}
	err = s.r.QueryRowContext(ctx, t.head, args...).Scan(&h.Sequence, &h.Hash)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return storage.Head{}, fmt.Errorf("sqlite: head of %q: %w", tenant, err)
	}
	return h, nil
}

// idLen is the length of a full capsule id (a hyphenated UUID).
const idLen = 36

// Get returns the capsule with id id or, when id is shorter than a full
// id, the one capsule whose id starts with it.
func (s *Store) Get(ctx context.Context, id string, tenant *string) (storage.Record, error) {
	if s.closed.Load() {
		return storage.Record{}, s.errClosed("get")
	}
	if id == "" {
		return storage.Record{}, fmt.Errorf("sqlite: get: empty id: %w", storage.ErrNotFound)
	}
	ps, err := s.parts(ctx, tenant)
	if err != nil {
		return storage.Record{}, fmt.Errorf("sqlite: get %q: %w", id, err)
	}
	if len(ps) == 0 {
		return storage.Record{}, fmt.Errorf("sqlite: get %q: %w", id, storage.ErrNotFound)
	}
	q, args := getQuery(ps, id)
	recs, err := s.queryRecords(ctx, q, args...)
	if err != nil {
		return storage.Record{}, fmt.Errorf("sqlite: get %q: %w", id, err)
	}
	switch len(recs) {
	case 0:
		return storage.Record{}, fmt.Errorf("sqlite: get %q: %w", id, storage.ErrNotFound)
	case 1:
		return recs[0], nil
	}
	return storage.Record{}, fmt.Errorf("sqlite: get %q: %w", id, storage.ErrAmbiguous)
}

// getQuery returns Get's SELECT over ps of the capsule whose id is id or,
// for a shorter id, starts with it: at most two rows, found through the
// primary key of each table.
func getQuery(ps []part, id string) (string, []any) {
	for i := range ps {
		// The id alone picks the rows: a unary + keeps SQLite from
		// walking the whole tenant chain through the (tenant_id,
		// sequence) index instead of the primary key.
		if j := slices.Index(ps[i].cond, tenantCond); j >= 0 {
			ps[i].cond[j] = "+" + tenantCond
		}
		if len(id) >= idLen {
			ps[i].where("id = ?", id)
		} else {
			// Every id starting with the prefix sorts between the prefix
			// and the prefix followed by 0xFF, a byte UTF-8 text never
			// holds; the primary key index answers the range.
			ps[i].where("id >= ? AND id < ?", id, id+"\xff")
		}
	}
	q, args := union(ps)
	return q + " LIMIT 2", args
}

// GetByHash returns the capsule with the given hash.
func (s *Store) GetByHash(ctx context.Context, hash string, tenant *string) (storage.Record, error) {
	if s.closed.Load() {
		return storage.Record{}, s.errClosed("get by hash")
	}
	ps, err := s.parts(ctx, tenant)
	if err != nil {
		return storage.Record{}, fmt.Errorf("sqlite: get by hash %q: %w", hash, err)
	}
	if len(ps) == 0 {
		return storage.Record{}, fmt.Errorf("sqlite: get by hash %q: %w", hash, storage.ErrNotFound)
	}
	for i := range ps {
		ps[i].where("hash = ?", hash)
	}
	q, args := union(ps)
	recs, err := s.queryRecords(ctx, q+" LIMIT 1", args...)
	if err != nil {
		return storage.Record{}, fmt.Errorf("sqlite: get by hash %q: %w", hash, err)
	}
	if len(recs) == 0 {
		return storage.Record{}, fmt.Errorf("sqlite: get by hash %q: %w", hash, storage.ErrNotFound)
	}
	return recs[0], nil
}

// Scan streams tenant's chain from sequence from, reading batches of 512
// records by key (sequence), so memory stays bounded whatever the length
// of the chain and no read transaction stays open between batches.
func (s *Store) Scan(ctx context.Context, tenant string, from int64) iter.Seq2[storage.Record, error] {
	return func(yield func(storage.Record, error) bool) {
		if s.closed.Load() {
			yield(storage.Record{}, s.errClosed(fmt.Sprintf("scan %q", tenant)))
			return
		}
		ps, err := s.parts(ctx, &tenant)
		if err != nil {
			yield(storage.Record{}, fmt.Errorf("sqlite: scan %q from %d: %w", tenant, from, err))
			return
		}
		if len(ps) == 0 {
			return // no table, no chain
		}
		p := ps[0]
		p.where("sequence >= ?", nil)
		q, args := p.sql(p.t.cols)
		q += " ORDER BY sequence LIMIT " + strconv.Itoa(scanBatch)
		next := from
		for {
			if s.closed.Load() {
				yield(storage.Record{}, s.errClosed(fmt.Sprintf("scan %q", tenant)))
				return
			}
			args[len(args)-1] = next
			recs, err := s.queryRecords(ctx, q, args...)
			if err != nil {
				yield(storage.Record{}, fmt.Errorf("sqlite: scan %q from %d: %w", tenant, next, err))
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
			next = recs[len(recs)-1].Sequence + 1
		}
	}
}

// filtered returns the SELECTs for f's conditions other than Limit and
// Offset.
func (s *Store) filtered(ctx context.Context, f storage.Filter) ([]part, error) {
	ps, err := s.parts(ctx, f.Tenant)
	if err != nil {
		return nil, err
	}
	for i := range ps {
		if f.Type != "" {
			ps[i].where("type = ?", f.Type)
		}
		if f.Domain != "" {
			ps[i].where(ps[i].t.domain+" = ?", f.Domain)
		}
		if f.SessionID != "" {
			ps[i].where("session_id = ?", f.SessionID)
		}
		if f.MaxSequence != nil {
			ps[i].where("sequence <= ?", *f.MaxSequence)
		}
		if f.MinSequence != nil {
			ps[i].where("sequence >= ?", *f.MinSequence)
		}
	}
	return ps, nil
}

// List returns the capsules matching f, newest first, then by tenant.
func (s *Store) List(ctx context.Context, f storage.Filter) ([]storage.Record, error) {
	if s.closed.Load() {
		return nil, s.errClosed("list")
	}
	ps, err := s.filtered(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list: %w", err)
	}
	if len(ps) == 0 {
		return nil, nil
	}
	q, args := listQuery(ps, f)
	recs, err := s.queryRecordsMax(ctx, f.MaxBytes, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list: %w", err)
	}
	return recs, nil
}

// listQuery returns List's SELECT over ps (f's conditions), ordered and
// paged by f.
func listQuery(ps []part, f storage.Filter) (string, []any) {
	q, args := union(ps)
	limit := int64(-1) // no limit
	if f.Limit > 0 {
		limit = int64(f.Limit)
	}
	if f.Tenant != nil {
		// One chain, whose sequences are unique: the order its indexes
		// give, without a sort for a constant tenant_id.
		q += " ORDER BY sequence DESC LIMIT ? OFFSET ?"
	} else {
		q += " ORDER BY sequence DESC, tenant_id LIMIT ? OFFSET ?"
	}
	return q, append(args, limit, max(f.Offset, 0))
}

// Count returns how many capsules match f, ignoring Limit and Offset.
func (s *Store) Count(ctx context.Context, f storage.Filter) (int64, error) {
	if s.closed.Load() {
		return 0, s.errClosed("count")
	}
	ps, err := s.filtered(ctx, f)
	if err != nil {
		return 0, fmt.Errorf("sqlite: count: %w", err)
	}
	if len(ps) == 0 {
		return 0, nil
	}
	var qs []string
	var args []any
	for _, p := range ps {
		q, a := p.sql("count(*)")
		qs = append(qs, "("+q+")")
		args = append(args, a...)
	}
	var n int64
	if err := s.r.QueryRowContext(ctx, "SELECT "+strings.Join(qs, " + "), args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: count: %w", err)
	}
	return n, nil
}

// The query of Tenants in two parts, one per table: the null tenant when
// its chain has a capsule, then every other tenant, jumping from one to the
// next through the unique (tenant_id, sequence) index instead of reading
// every row.
const (
	tenantsNull  = `SELECT '' WHERE EXISTS (SELECT 1 FROM capsules)`
	tenantsOther = `SELECT tenant_id FROM (
	WITH RECURSIVE t(tenant_id) AS (
		SELECT min(tenant_id) FROM capsule_tenant_chains
		UNION ALL
		SELECT (SELECT min(tenant_id) FROM capsule_tenant_chains WHERE tenant_id > t.tenant_id)
		FROM t WHERE t.tenant_id IS NOT NULL
	)
	SELECT tenant_id FROM t WHERE tenant_id IS NOT NULL
)`
)

// Tenants returns every tenant with a chain, in ascending byte order, ""
// first when the null tenant has one.
func (s *Store) Tenants(ctx context.Context) ([]string, error) {
	if s.closed.Load() {
		return nil, s.errClosed("tenants")
	}
	have, err := s.tables(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqlite: tenants: %w", err)
	}
	var qs []string
	if have&hasRef != 0 {
		qs = append(qs, tenantsNull)
	}
	if have&hasTenant != 0 {
		qs = append(qs, tenantsOther)
	}
	if len(qs) == 0 {
		return nil, nil
	}
	rows, err := s.r.QueryContext(ctx, strings.Join(qs, "\nUNION ALL\n"))
	if err != nil {
		return nil, fmt.Errorf("sqlite: tenants: %w", err)
	}
	defer rows.Close()
	var tenants []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, fmt.Errorf("sqlite: tenants: %w", err)
		}
		tenants = append(tenants, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: tenants: %w", err)
	}
	slices.Sort(tenants)
	return tenants, nil
}
