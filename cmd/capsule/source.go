package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"strings"

	"github.com/capsule-go/capsule"
	"github.com/capsule-go/capsule/internal/cli"
	"github.com/capsule-go/capsule/keys"
	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/protocol/canonical"
	"github.com/capsule-go/capsule/storage"
	"github.com/capsule-go/capsule/storage/postgres"
)

// sourceFlags are the flags that choose where capsules are read from.
type sourceFlags struct {
	cmd    string // "capsule CMD", for the note naming the default source
	db, pg string
	tenant string
	// tenantSet reports whether --tenant was given (inspect --id searches
	// every chain unless it was).
	tenantSet bool
	// quiet keeps the note naming the default source off stderr.
	quiet bool
}

func (s *sourceFlags) register(fs *flag.FlagSet) {
	s.cmd = fs.Name()
	fs.StringVar(&s.db, "db", "", "read the SQLite database at `PATH`")
	fs.StringVar(&s.pg, "pg", "", "read the PostgreSQL database at `URL` (postgres://…)")
	fs.Func("tenant", "the `TENANT` whose chain to use (default: the null tenant; verify of a database: every chain)", func(v string) error {
		s.tenant, s.tenantSet = v, true
		return nil
	})
}

// storeURL returns the database URL of --db or --pg, "" when neither was
// given, and a usage error when both were, or when one has the wrong kind.
func (s *sourceFlags) storeURL() (string, error) {
	switch {
	case s.db != "" && s.pg != "":
		return "", usageError("give either --db or --pg, not both")
	case s.pg != "":
		if !postgres.IsURL(s.pg) {
			return "", usageError("--pg wants a postgres:// or postgresql:// URL")
		}
		return s.pg, nil
	case s.db != "":
		if postgres.IsURL(s.db) {
			return "", usageError("--db wants a SQLite file path; use --pg for a PostgreSQL URL")
		}
		return s.db, nil
	}
	return "", nil
}

// usageError is an error in the command line itself (exit code 2 with the
// command's usage).
type usageError string

func (e usageError) Error() string { return string(e) }

// source is where a read-only command takes its sealed capsules: a JSON
// file, or a chain of a database.
type source struct {
	name   string        // for messages: the file or database
	tenant string        // the chain
	store  storage.Store // nil for a file
	path   string        // the file; "-" is standard input
	stdin  io.Reader
	file   *fileChain // set by Records for a file source

	// countAll makes a file source count the elements its consumer did
	// not read, for Total (verify reports the length of the file even
	// when it stops at a broken capsule).
	countAll bool
}

// openSource opens the source the flags and positional arguments name:
// at most one of a FILE argument, --db or --pg; with none, the library's
// default database (see defaultSource), named on note (standard error)
// unless sf.quiet. A SQLite file must exist: read-only commands never
// create a database.
func openSource(ctx context.Context, sf *sourceFlags, args []string, stdin io.Reader, note io.Writer) (*source, error) {
	return openSourceMode(ctx, sf, args, stdin, note, true)
}

// openSourceMode is openSource, opening a database for writing too when
// readOnly is false (for commands that keep the chain's Merkle tree).
func openSourceMode(ctx context.Context, sf *sourceFlags, args []string, stdin io.Reader, note io.Writer, readOnly bool) (*source, error) {
	url, err := sf.storeURL()
	if err != nil {
		return nil, err
	}
	switch {
	case len(args) > 1:
		return nil, usageError(fmt.Sprintf("too many arguments: %q", args))
	case len(args) == 1 && url != "":
		return nil, usageError("give either a FILE or --db/--pg, not both")
	}
	src := &source{tenant: sf.tenant, stdin: stdin}
	if len(args) == 1 {
		src.name, src.path = args[0], args[0]
		if src.path != "-" {
			if err := checkJSONFile(src.path); err != nil {
				return nil, err
			}
		}
		return src, nil
	}
	dbPath := sf.db
	if url == "" {
		var from string
		if url, from, err = defaultSource(); err != nil {
			return nil, err
		}
		if !postgres.IsURL(url) {
			dbPath = strings.TrimPrefix(strings.TrimPrefix(url, "sqlite://"), "sqlite:")
			if _, err := os.Stat(dbPath); err != nil {
				return nil, usageError(fmt.Sprintf("no source: give a FILE, --db PATH or --pg URL, or set CAPSULE_URL; the default database %s (%s) %s",
					from, dbPath, missingReason(err)))
			}
		}
		if !sf.quiet {
			fmt.Fprintf(note, "%s: reading %s (%s)\n", sf.cmd, redactURL(url), from)
		}
	}
	src.name = redactURL(url)
	if dbPath != "" {
		if _, err := os.Stat(dbPath); err != nil {
			return nil, fmt.Errorf("open database %s: %w", dbPath, unwrapPathError(err))
		}
	}
	var opts []capsule.StoreOption
	if readOnly {
		opts = append(opts, capsule.ReadOnly())
	}
	st, err := capsule.OpenStore(ctx, url, opts...)
	if err != nil {
		return nil, err
	}
	src.store = st
	return src, nil
}

// defaultSourceHelp ends the usage of the commands that read a source.
const defaultSourceHelp = `Without FILE, --db or --pg the command reads the database the library
uses by default: $CAPSULE_URL, else capsules.db in the data directory
($QUANTUMPIPES_DATA_DIR, else ~/.quantumpipes), and says which on
standard error. A SQLite database is given with --db, never as FILE.`

// defaultSource returns the database the library opens by default
// ([capsule.DefaultURL]) and where that choice came from, for the note
// naming it: $CAPSULE_URL, else capsules.db in the data directory.
func defaultSource() (url, from string, err error) {
	url, err = capsule.DefaultURL()
	switch {
	case err != nil:
		return "", "", fmt.Errorf("no source given, and no default: %w", err)
	case os.Getenv("CAPSULE_URL") != "":
		from = "$CAPSULE_URL"
	case os.Getenv(keys.DataDirEnv) != "":
		from = "$" + keys.DataDirEnv + "/capsules.db"
	default:
		from = "~/.quantumpipes/capsules.db"
	}
	return url, from, nil
}

// missingReason says why a default database cannot be read.
func missingReason(err error) string {
	if errors.Is(err, fs.ErrNotExist) {
		return "does not exist"
	}
	return "cannot be read: " + unwrapPathError(err).Error()
}

// sqliteHeader starts every SQLite database file.
const sqliteHeader = "SQLite format 3\x00"

// checkJSONFile checks that the FILE argument exists and is not a SQLite
// database, which the database flags read.
func checkJSONFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, unwrapPathError(err))
	}
	defer f.Close()
	head := make([]byte, len(sqliteHeader))
	if n, _ := io.ReadFull(f, head); n == len(head) && string(head) == sqliteHeader {
		return usageError(fmt.Sprintf("%s is a SQLite database, not a JSON file: give it as --db %s", path, shellQuote(path)))
	}
	return nil
}

// unwrapPathError drops the *fs.PathError wrapper whose path the message
// already names.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// redactURL hides the password of a database URL in messages.
func redactURL(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return u
	}
	userinfo, host, ok := strings.Cut(rest, "@")
	if !ok {
		return u
	}
	if user, _, hasPass := strings.Cut(userinfo, ":"); hasPass {
		return scheme + "://" + user + ":***@" + host
	}
	return u
}

// Close releases the database or file.
func (s *source) Close() error {
	if s.file != nil {
		s.file.close()
	}
	if s.store != nil {
		return s.store.Close()
	}
	return nil
}

// Records streams the chain in order. For a file, the records are the
// elements of the array as written; elements that are not sealed capsules
// the runtime can read are reported as a *badElementError.
func (s *source) Records(ctx context.Context) iter.Seq2[protocol.Sealed, error] {
	if s.store != nil {
		return s.store.Scan(ctx, s.tenant, storage.ScanAll)
	}
	var r io.Reader = s.stdin
	var closer io.Closer
	if s.path != "-" {
		f, err := os.Open(s.path)
		if err != nil {
			return func(yield func(protocol.Sealed, error) bool) {
				yield(protocol.Sealed{}, fmt.Errorf("open %s: %w", s.path, unwrapPathError(err)))
			}
		}
		r, closer = f, f
	}
	s.file = &fileChain{vr: cli.NewValueReader(r, protocol.MaxCapsuleBytes), closer: closer, tenant: s.tenant,
		countRest: s.countAll, exited: make(chan struct{})}
	return s.file.all
}

// Total returns how many capsules the chain has. For a file it is known
// once Records has been consumed, and only with countAll set when the
// consumer stopped early; ok is false when it could not be counted.
func (s *source) Total(ctx context.Context) (n int64, ok bool) {
	if s.store != nil {
		n, err := s.store.Count(ctx, storage.Filter{Tenant: &s.tenant})
		return n, err == nil
	}
	if s.file == nil {
		return 0, false
	}
	select {
	case <-s.file.exited:
	case <-ctx.Done():
		return 0, false
	}
	return s.file.total, s.file.counted
}

// badElementError reports an element of a JSON file that is well-formed
// JSON but not a sealed capsule the runtime can read (duplicate keys, a
// lone surrogate, not an object …): the chain is invalid there.
type badElementError struct {
	index    int
	id       string // best effort, from a lenient decoding
	sequence int64  // best effort; the index when unknown
	err      error
}

func (e *badElementError) Error() string {
	return fmt.Sprintf("element %d: %v", e.index, e.err)
}

func (e *badElementError) Unwrap() error { return e.err }

// sourceCode is the exit code of a failure reading a source: 1 when an
// element of a JSON file is JSON but not a sealed capsule (the input is
// invalid), 2 otherwise (it cannot be read).
func sourceCode(err error) int {
	var bad *badElementError
	if errors.As(err, &bad) {
		return exitInvalid
	}
	return exitError
}

// fileChain streams the sealed capsules of a JSON file.
type fileChain struct {
	vr        *cli.ValueReader
	closer    io.Closer
	tenant    string
	countRest bool // count the elements left when the consumer stops

	// exited is closed when all stops reading: then total holds the
	// number of elements and counted whether that is all of them.
	exited  chan struct{}
	total   int64
	counted bool
}

// all is the iterator of the file's records. When its consumer stops
// early it counts the remaining elements (without parsing them) before
// returning, so that Total can report the length of the whole file.
func (f *fileChain) all(yield func(protocol.Sealed, error) bool) {
	exited := false
	exit := func(counted bool) {
		if !exited {
			exited = true
			f.counted = counted
			close(f.exited)
		}
	}
	defer exit(false)
	for {
		raw, err := f.vr.Next()
		if err == io.EOF {
			exit(true)
			return
		}
		if err != nil {
			// The consumer may stop reading after an error and never
			// return from yield, so publish the count first.
			exit(false)
			yield(protocol.Sealed{}, err)
			return
		}
		f.total++
		rec, err := f.parse(raw)
		if err != nil {
			var bad *badElementError
			if errors.As(err, &bad) && f.countRest {
				// The chain is broken here, not unreadable: its length
				// is still worth reporting.
				exit(f.countRemaining())
			} else {
				exit(false)
			}
			yield(protocol.Sealed{}, err)
			return
		}
		if !yield(rec, nil) {
			if f.countRest {
				exit(f.countRemaining())
			}
			return
		}
	}
}

// countRemaining adds the elements not read yet to total, without parsing
// them. It reports whether it reached the end of the input.
func (f *fileChain) countRemaining() bool {
	for {
		if _, err := f.vr.Next(); err != nil {
			return err == io.EOF
		}
		f.total++
	}
}

// parse reads one element of the file as a sealed capsule.
func (f *fileChain) parse(raw []byte) (protocol.Sealed, error) {
	i := f.vr.Index()
	bad := func(err error) error {
		e := &badElementError{index: i, sequence: int64(i), err: err}
		var hint struct {
			ID       string `json:"id"`
			Sequence *int64 `json:"sequence"`
		}
		if json.Unmarshal(raw, &hint) == nil {
			e.id = hint.ID
			if hint.Sequence != nil {
				e.sequence = *hint.Sequence
			}
		}
		return e
	}
	v, err := canonical.Parse(raw)
	if err != nil {
		if !json.Valid(raw) {
			// Not JSON at all: the file is unreadable, not a broken chain.
			return protocol.Sealed{}, fmt.Errorf("element %d: invalid JSON: %v", i, err)
		}
		return protocol.Sealed{}, bad(err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return protocol.Sealed{}, bad(errors.New("not a JSON object"))
	}
	if err := protocol.CheckSealedShape(m); err != nil {
		return protocol.Sealed{}, bad(err)
	}
	rec, err := protocol.ParseSealed(m, f.tenant)
	if err != nil {
		return protocol.Sealed{}, bad(err)
	}
	return rec, nil
}

func (f *fileChain) close() {
	if f.closer != nil {
		f.closer.Close()
	}
}
