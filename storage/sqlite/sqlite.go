// Package sqlite implements [storage.Store] on a SQLite file, through
// github.com/mattn/go-sqlite3 when cgo is available and the pure-Go
// modernc.org/sqlite when it is not (CGO_ENABLED=0). Files written through
// either are read and appended to through the other.
//
// The file is shared with the Python reference implementation: the null
// tenant's chain lives in the reference table "capsules", created with the
// reference's exact DDL when missing and altered only by one column of
// ours, "tree" (see tree.go), which the reference, naming its columns in
// its statements, never reads and leaves NULL; so a file written by either
// side opens and verifies on the other (the reference ignores tenants).
// The chains of other tenants live in a second table,
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
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/capsule-go/capsule/internal/tree"
	"github.com/capsule-go/capsule/storage"
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
	// treeTables reports that the tree's tables exist, and rowTrees holds
	// the tableSet of the tables known to have the tree column (see
	// tree.go); it only grows.
	treeTables atomic.Bool
	rowTrees   atomic.Uint32
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
		{"page_size", strconv.Itoa(pageSize)},
		{"wal_autocheckpoint", strconv.Itoa(walCheckpointPages)},
		{"journal_size_limit", strconv.Itoa(journalSizeLimit)},
	})
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
	s.rowTrees.Store(uint32(allTables))
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

// pageSize is the page size of the files Open creates. A commit writes
// every page it dirties to the WAL, and a checkpoint writes it again to
// the file; each capsule lands on a random leaf of the hash index (and, on
// a tenant's chain among many, of the indexes keyed by tenant), so the
// bytes a capsule costs grow with the page. SQLite's default, 4096, cost
// 16,100-16,600 bytes a capsule with 64 writers on one chain and
// 23,000-23,400 over 64 chains; 2048 costs 9,700-10,400 and 14,300-15,400
// at the same appends per second and CPU time. 1024 writes less again
// (8,500-8,700 and 11,300-11,500) but makes SQLite issue twice the system
// calls: 30 % slower in `capsule seal`. A file that exists keeps its page
// size: SQLite changes it only by a VACUUM outside WAL mode, which Open
// never runs.
//
// walCheckpointPages is how many WAL pages the writer lets accumulate
// before it checkpoints them into the database file: 64 MB at pageSize,
// 128 MB in a file of 4,096-byte pages.
// SQLite's default, 1000, makes the writer copy hot index pages (random
// hash keys) over and over; 64 MB lets a checkpoint write each page once
// for many commits: 19,700 -> 27,000 durable appends/s with 64 writers
// when it was measured. journalSizeLimit truncates the WAL file back after
// it.
const (
	pageSize           = 2048
	walCheckpointPages = 64 << 20 / pageSize
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
