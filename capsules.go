package capsule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/capsule-go/capsule/checkpoint"
	"github.com/capsule-go/capsule/keys"
	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/storage"
	"github.com/capsule-go/capsule/storage/postgres"
	"github.com/capsule-go/capsule/storage/sqlite"
)

// Capsules owns a store, the chains in it and the key that seals them. It
// is safe for concurrent use; one per database is enough for a process.
type Capsules struct {
	store         storage.Store
	ownsStore     bool
	signer        Signer
	pq            PQSigner
	resolve       protocol.KeyResolver
	pqPublicKey   []byte    // ML-DSA-65 public key checking signature_pq; nil when unknown
	keys          *keyWatch // follows rotations of the key directory; nil with WithSigner
	log           *slog.Logger
	retryDeadline time.Duration
	timeout       time.Duration

	mu     sync.Mutex
	chains map[string]*chain
	closed bool

	commit  committer
	breaker breaker
	metrics metrics

	checkpointDir string
	hooks         []CallHook       // run by audited calls before sealing
	observe       func(CommitInfo) // called once per commit; nil when none
	stopTimer     chan struct{}
	timerDone     chan struct{}

	witnessing *witnessing // nil without WithWitness
}

// OpenOption configures [Open] and [NewCapsules].
type OpenOption func(*config)

type config struct {
	keyDir        string
	signer        Signer
	pq            bool
	log           *slog.Logger
	retryDeadline time.Duration
	timeout       time.Duration
	sqliteOpts    []sqlite.Option

	checkpointDir   string
	checkpointEvery time.Duration

	hooks   []CallHook
	observe func(CommitInfo)

	witness witnessConfig

	clock clock // nil: time.Now; tests drive their own
}

// WithKeyDir reads (or creates) the signing key and keyring in dir instead
// of the data directory.
func WithKeyDir(dir string) OpenOption { return func(c *config) { c.keyDir = dir } }

// WithSigner seals with s instead of the key in the data directory.
func WithSigner(s Signer) OpenOption { return func(c *config) { c.signer = s } }

// WithPostQuantum adds an ML-DSA-65 signature (signature_pq) to every
// capsule, with the key pair key.ml / key.ml.pub in the key directory.
func WithPostQuantum() OpenOption { return func(c *config) { c.pq = true } }

// WithLogger sets the logger for audit failures; the default is
// slog.Default().
func WithLogger(l *slog.Logger) OpenOption { return func(c *config) { c.log = l } }

// WithRetryDeadline bounds how long an append keeps retrying while writers
// in other processes move the chain head (default 60s).
func WithRetryDeadline(d time.Duration) OpenOption { return func(c *config) { c.retryDeadline = d } }

// WithStorageTimeout bounds every storage operation on the audit path:
// opening the store, each new PostgreSQL connection (unless the URL sets
// connect_timeout), reading a chain head, each commit (default
// [DefaultStorageTimeout]; for SQLite, whose writers may wait up to
// [sqlite.DefaultBusyTimeout] for another process's write lock, that
// plus [DefaultStorageTimeout]). It bounds [Capsules.Append], and so an
// audited call, as a whole: from its call, however many appends are queued
// before it (an unanswered commit gives [ErrNotConfirmed]). When the
// store fails or does not answer within it, appends fail at once with
// [ErrStoreDown] until it answers again (one append a second tries it),
// and Close gives up waiting after it.
func WithStorageTimeout(d time.Duration) OpenOption { return func(c *config) { c.timeout = d } }

// WithCheckpoints writes a signed checkpoint of every chain this Capsules
// appends to into dir (one file per chain, see package checkpoint) every
// interval, and a last one on Close. Keep dir outside the database's reach:
// checkpoints exist to detect a chain cut short.
func WithCheckpoints(dir string, every time.Duration) OpenOption {
	return func(c *config) { c.checkpointDir, c.checkpointEvery = dir, every }
}

// WithSQLiteOptions passes options to the SQLite backend when Open picks it.
func WithSQLiteOptions(opts ...sqlite.Option) OpenOption {
	return func(c *config) { c.sqliteOpts = append(c.sqliteOpts, opts...) }
}

// DefaultURL returns the database the process default uses: $CAPSULE_URL
// if set, else capsules.db in the data directory.
func DefaultURL() (string, error) {
	if u := os.Getenv("CAPSULE_URL"); u != "" {
		return u, nil
	}
	dir, err := keys.DataDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "capsules.db"), nil
}

// Open opens the capsules at url: a postgres:// or postgresql:// URL opens
// PostgreSQL; any other string is a SQLite file path (an optional
// "sqlite://" or "sqlite:" prefix is removed); "" means [DefaultURL].
func Open(ctx context.Context, url string, opts ...OpenOption) (*Capsules, error) {
	cfg := newConfig(opts)
	if url == "" {
		u, err := DefaultURL()
		if err != nil {
			return nil, err
		}
		url = u
	}
	if cfg.timeout == 0 {
		cfg.timeout = DefaultStorageTimeout
		if !strings.HasPrefix(url, "postgres") {
			// SQLite writers wait up to the busy timeout for another
			// process's write lock: that is not a stall.
			cfg.timeout += sqlite.DefaultBusyTimeout
		}
	}
	octx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	// A connect that does not answer is bounded like any storage
	// operation, so that the pool recovers once the server answers.
	store, err := OpenStore(octx, url, SQLiteOptions(cfg.sqliteOpts...),
		PostgresOptions(postgres.WithConnectTimeout(cfg.timeout)))
	if err != nil {
		return nil, err
	}
	c, err := newCapsules(store, cfg)
	if err != nil {
		store.Close()
		return nil, err
	}
	c.ownsStore = true
	return c, nil
}

// StoreOption configures [OpenStore].
type StoreOption func(*storeConfig)

type storeConfig struct {
	readOnly bool
	sqlite   []sqlite.Option
	postgres []postgres.Option
}

// ReadOnly opens the store for reading only: nothing is created or
// changed in the database (no tables, no journal mode), and appends fail.
// Operators' read-only tools use it.
func ReadOnly() StoreOption { return func(c *storeConfig) { c.readOnly = true } }

// SQLiteOptions passes options to the SQLite backend when the URL picks it.
func SQLiteOptions(opts ...sqlite.Option) StoreOption {
	return func(c *storeConfig) { c.sqlite = append(c.sqlite, opts...) }
}

// PostgresOptions passes options to the PostgreSQL backend when the URL
// picks it.
func PostgresOptions(opts ...postgres.Option) StoreOption {
	return func(c *storeConfig) { c.postgres = append(c.postgres, opts...) }
}

// OpenStore opens the storage backend url names, as [Open] does: a
// postgres:// or postgresql:// URL is PostgreSQL, any other string a SQLite path
// (an optional "sqlite://" or "sqlite:" prefix is removed).
func OpenStore(ctx context.Context, url string, opts ...StoreOption) (storage.Store, error) {
	var cfg storeConfig
	for _, o := range opts {
		o(&cfg)
	}
	if postgres.IsURL(url) {
		po := cfg.postgres
		if cfg.readOnly {
			po = append(po, postgres.WithReadOnly())
		}
		s, err := postgres.Open(ctx, url, po...)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	path := strings.TrimPrefix(strings.TrimPrefix(url, "sqlite://"), "sqlite:")
	so := cfg.sqlite
	if cfg.readOnly {
		so = append(so, sqlite.WithReadOnly())
	}
	s, err := sqlite.Open(ctx, path, so...)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// NewCapsules returns Capsules over a store the caller opened (a custom
// backend, say). Close does not close the store.
func NewCapsules(store storage.Store, opts ...OpenOption) (*Capsules, error) {
	return newCapsules(store, newConfig(opts))
}

func newConfig(opts []OpenOption) *config {
	cfg := &config{retryDeadline: retryDeadlineDefault}
	for _, o := range opts {
		o(cfg)
	}
	if cfg.log == nil {
		cfg.log = slog.Default()
	}
	return cfg
}

func newCapsules(store storage.Store, cfg *config) (*Capsules, error) {
	if cfg.timeout <= 0 {
		cfg.timeout = DefaultStorageTimeout
	}
	c := &Capsules{
		store:         store,
		signer:        cfg.signer,
		log:           cfg.log,
		retryDeadline: cfg.retryDeadline,
		timeout:       cfg.timeout,
		chains:        make(map[string]*chain),
		hooks:         cfg.hooks,
		observe:       cfg.observe,
		breaker:       breaker{clock: cfg.clock},
	}
	c.commit.c = c
	dir := cfg.keyDir
	if dir == "" && (c.signer == nil || cfg.pq) {
		d, err := keys.DataDir()
		if err != nil {
			return nil, err
		}
		dir = d
	}
	if c.signer == nil {
		c.keys = &keyWatch{dir: dir, log: c.log, clock: cfg.clock}
		if err := c.keys.start(); err != nil {
			return nil, fmt.Errorf("capsule: signing key: %w", err)
		}
		c.signer = c.keys.cur.Load().signer
	}
	if cfg.pq {
		pq, err := keys.LoadOrCreatePQ(dir)
		if err != nil {
			return nil, fmt.Errorf("capsule: ML-DSA-65 key: %w", err)
		}
		c.pq = pq
	}
	// Signers resolve strictly by signed_by: the keyring's epochs, and the
	// signer's own key under its fingerprint.
	if c.keys != nil {
		c.resolve = c.keys.cur.Load().resolve
	} else {
		var kr *keys.Keyring
		if dir != "" {
			kr, _ = keys.LoadKeyring(dir) // none: the signer's key alone
		}
		c.resolve = signerOrKeyring(c.signer, protocol.KeyResolver(kr.Resolver(c.signer.PublicKey())))
	}
	if pq, ok := c.pq.(interface{ PublicKey() []byte }); ok {
		c.pqPublicKey = pq.PublicKey()
	} else if dir != "" {
		c.pqPublicKey, _ = os.ReadFile(filepath.Join(dir, keys.PQPublicKeyFile)) // absent: nil
	}
	if cfg.checkpointDir != "" {
		if _, ok := c.signer.(checkpoint.MessageSigner); !ok {
			return nil, fmt.Errorf("capsule: checkpoints need a signer that signs messages (%T does not)", c.signer)
		}
		if err := os.MkdirAll(cfg.checkpointDir, 0o755); err != nil {
			return nil, fmt.Errorf("capsule: checkpoint directory: %w", err)
		}
		c.checkpointDir = cfg.checkpointDir
		if cfg.checkpointEvery > 0 {
			c.stopTimer, c.timerDone = make(chan struct{}), make(chan struct{})
			go c.checkpointLoop(cfg.checkpointEvery)
		}
	}
	if err := c.startWitnessing(cfg.witness); err != nil {
		if c.stopTimer != nil {
			close(c.stopTimer)
			<-c.timerDone
		}
		return nil, err
	}
	return c, nil
}

// Checkpoint returns a signed checkpoint (a C2SP tlog-checkpoint of the
// chain's Merkle tree, under the default origin) of tenant's chain as it is in
// the store now (see package checkpoint).
func (c *Capsules) Checkpoint(ctx context.Context, tenant string) ([]byte, error) {
	ms, ok := c.Signer().(checkpoint.MessageSigner)
	if !ok {
		return nil, fmt.Errorf("capsule: checkpoints need a signer that signs messages (%T does not)", c.Signer())
	}
	_, signed, err := checkpoint.Take(ctx, c.store, tenant, checkpoint.Origin(tenant), ms)
	return signed, err
}

// checkpointLoop writes checkpoints of the chains whose head moved, every
// interval, until Close.
func (c *Capsules) checkpointLoop(every time.Duration) {
	defer close(c.timerDone)
	t := time.NewTicker(every)
	defer t.Stop()
	written := map[string]int64{}
	for {
		select {
		case <-t.C:
			c.writeCheckpoints(written)
		case <-c.stopTimer:
			c.writeCheckpoints(written)
			return
		}
	}
}

// writeCheckpoints writes a checkpoint for each chain appended to since the
// last one; written maps tenant to the capsule count last checkpointed.
func (c *Capsules) writeCheckpoints(written map[string]int64) {
	c.mu.Lock()
	tenants := make([]string, 0, len(c.chains))
	for t := range c.chains {
		tenants = append(tenants, t)
	}
	c.mu.Unlock()
	ms := c.Signer().(checkpoint.MessageSigner)
	for _, t := range tenants {
		ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
		cp, signed, err := checkpoint.Take(ctx, c.store, t, checkpoint.Origin(t), ms)
		cancel()
		if err != nil {
			c.log.Warn("capsule: checkpoint not taken", "tenant", t, "err", err)
			continue
		}
		if n, ok := written[t]; ok && n == cp.Size {
			continue
		}
		if err := checkpoint.WriteFile(filepath.Join(c.checkpointDir, checkpoint.FileName(t)), signed); err != nil {
			c.log.Warn("capsule: checkpoint not written", "tenant", t, "err", err)
			continue
		}
		written[t] = cp.Size
	}
}

// Store returns the storage backend.
func (c *Capsules) Store() storage.Store { return c.store }

// Signer returns the key that seals new capsules: with a key directory,
// its active key, which a rotation by another process replaces within
// about a second.
func (c *Capsules) Signer() Signer {
	if c.keys != nil {
		return c.keys.current().signer
	}
	return c.signer
}

// Logger returns the logger for audit failures (see [WithLogger]).
func (c *Capsules) Logger() *slog.Logger { return c.log }

// Resolver returns the key lookup verification uses, strict by signed_by:
// the signing key under its fingerprint, and the keyring of the key
// directory (followed across rotations); an unknown or missing signed_by
// is an error.
func (c *Capsules) Resolver() protocol.KeyResolver {
	if c.keys != nil {
		return c.keys.current().resolve
	}
	return c.resolve
}

// PQPublicKey returns the ML-DSA-65 public key that checks signature_pq
// (the data directory's key.ml.pub), or nil when none is known.
func (c *Capsules) PQPublicKey() []byte { return c.pqPublicKey }

// ErrClosed reports use of closed Capsules.
var ErrClosed = errors.New("capsule: closed")

// Append chains capsule cp into tenant's chain ("" is the null tenant):
// it sets cp.Sequence and cp.PreviousHash, seals it and stores it. It
// returns once the capsule is durable. Concurrent appends to one chain
// share storage transactions (group commit). A capsule that could not be
// sealed within protocol.MaxCapsuleBytes (16 MiB, the limit readers of
// exported JSON apply) is refused with an error wrapping
// protocol.ErrTooLarge.
//
// Append returns within the storage timeout of its call (see
// [WithStorageTimeout]), or sooner when ctx ends, however many appends
// are queued before it: when the capsule's commit has not answered by
// then, the error wraps [ErrNotConfirmed] and the capsule stays queued; it
// may still be stored, in its place in the chain.
func (c *Capsules) Append(ctx context.Context, tenant string, cp *Capsule) (protocol.Sealed, error) {
	deadline := time.Now().Add(c.timeout)
	if err := c.CheckTenant(tenant); err != nil {
		return protocol.Sealed{}, err
	}
	if err := cp.Check(); err != nil {
		return protocol.Sealed{}, err
	}
	if err := c.breaker.allow(); err != nil {
		c.metrics.bad.Add(1)
		return protocol.Sealed{}, err
	}
	var p parts
	if err := p.encode(cp); err != nil {
		return protocol.Sealed{}, err
	}
	if err := p.checkSize(); err != nil {
		return protocol.Sealed{}, err
	}
	ch, err := c.chain(tenant)
	if err != nil {
		return protocol.Sealed{}, err
	}
	q, err := ch.enqueue(ctx, deadline, []*Capsule{cp}, []*parts{&p})
	if err != nil {
		return protocol.Sealed{}, err
	}
	wctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	recs, err := q.Wait(wctx)
	if err != nil {
		return protocol.Sealed{}, err
	}
	return recs[0], nil
}

// AppendAll chains, seals and stores caps, in order and next to each other,
// into tenant's chain, signing on all cores and storing them in as few
// transactions as possible. It returns once all are durable. If one cannot
// be encoded, nothing is appended; if storing fails, a prefix of caps may
// have been stored (the returned error says so; the chain stays valid).
func (c *Capsules) AppendAll(ctx context.Context, tenant string, caps []*Capsule) ([]protocol.Sealed, error) {
	q, err := c.Queue(ctx, tenant, caps)
	if err != nil {
		return nil, err
	}
	return q.Wait(ctx)
}

// Queue chains and seals caps as [Capsules.AppendAll] does, but returns
// once they are signed and queued for storage, before they are durable:
// the caller may prepare and queue the next capsules while these commit.
// Capsules queued by one goroutine are chained in the order of its calls.
// Wait on the result for them to be durable. If one cannot be encoded,
// nothing is queued. With no capsules, Queue returns nil, whose Wait
// returns nothing.
func (c *Capsules) Queue(ctx context.Context, tenant string, caps []*Capsule) (*Queued, error) {
	if err := c.CheckTenant(tenant); err != nil {
		return nil, err
	}
	ps := make([]*parts, len(caps))
	for i, cp := range caps {
		if err := cp.Check(); err != nil {
			return nil, fmt.Errorf("capsule %d: %w", i, err)
		}
		ps[i] = new(parts)
		if err := ps[i].encode(cp); err != nil {
			return nil, fmt.Errorf("capsule %d: %w", i, err)
		}
		if err := ps[i].checkSize(); err != nil {
			return nil, fmt.Errorf("capsule %d: %w", i, err)
		}
	}
	if len(caps) == 0 {
		return nil, nil
	}
	if err := c.breaker.allow(); err != nil {
		c.metrics.bad.Add(int64(len(caps)))
		return nil, err
	}
	ch, err := c.chain(tenant)
	if err != nil {
		return nil, err
	}
	return ch.enqueue(ctx, time.Time{}, caps, ps)
}

// CheckTenant returns the error [Capsules.Append] returns for a tenant
// the store cannot hold (a *[FieldError] on "tenant"), or nil: one no
// backend takes (see [protocol.CheckTenant]: PostgreSQL fails even the
// head read of a tenant with a NUL), or longer than PostgreSQL's
// VARCHAR(36) column, as in the reference's table. Appends refuse such a
// tenant before it reaches the store, so that it fails alone; a service
// that takes the tenant from a request can refuse the request up front.
func (c *Capsules) CheckTenant(tenant string) error {
	if err := protocol.CheckTenant(tenant); err != nil {
		return &FieldError{Field: "tenant", Msg: err.Error()}
	}
	if _, pg := c.store.(*postgres.Store); pg && utf8.RuneCountInString(tenant) > protocol.MaxTenantLen {
		return &FieldError{Field: "tenant", Msg: fmt.Sprintf("is %d characters long, more than the %d of PostgreSQL's tenant_id column", utf8.RuneCountInString(tenant), protocol.MaxTenantLen)}
	}
	return nil
}

func (c *Capsules) chain(tenant string) (*chain, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	ch := c.chains[tenant]
	if ch == nil {
		ch = newChain(c, tenant)
		c.chains[tenant] = ch
	}
	return ch, nil
}

// Close waits for queued appends to land, at most the storage timeout (see
// [WithStorageTimeout]), and closes the store if Open opened it, waiting
// for that at most as long again. Appends that had not landed by then are
// reported in the error.
func (c *Capsules) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	var err error
	select {
	case <-c.commit.wait():
	case <-ctx.Done():
		err = fmt.Errorf("capsule: close: appends still in flight after %v; their capsules may not be stored", c.timeout)
	}
	if c.stopTimer != nil {
		close(c.stopTimer)
		<-c.timerDone
	}
	c.witnessing.stop()
	if !c.ownsStore {
		return err
	}
	// A store that does not answer may hold its connections for long
	// after the deadline: stop waiting for it then.
	closed := make(chan error, 1)
	go func() { closed <- c.store.Close() }()
	cctx, ccancel := context.WithTimeout(context.Background(), c.timeout)
	defer ccancel()
	select {
	case cerr := <-closed:
		return errors.Join(err, cerr)
	case <-cctx.Done():
		return errors.Join(err, fmt.Errorf("capsule: close: the store did not close within %v", c.timeout))
	}
}

// Stats are the counters and gauges of a Capsules since it was opened:
// what an operator watches and alerts on (see package otelcapsule, which
// exports them as OpenTelemetry metrics).
type Stats struct {
	Committed int64 // capsules appended: stored and acknowledged
	Commits   int64 // storage transactions that stored them (group commit)
	// Failed counts capsules whose append failed on the way to the
	// store: refused while the breaker is open, the chain head unreadable,
	// or the commit failed or its outcome is unknown (not those refused
	// for their content first).
	Failed int64
	// Swallowed counts audited calls whose capsule was lost and whose
	// error was only logged (the default of a //capsule:audit function,
	// see [Capsules.CountSwallowed]): the figure to alert on, since
	// nothing else reports those losses to anyone.
	Swallowed int64
	Conflicts int64 // times another process moved a chain head first
	// Queued is how many capsules are waiting to commit now: signed or
	// being signed, not yet stored or failed.
	Queued int64
	// BreakerOpen reports whether appends fail fast now because the store
	// failed and has not answered since (see [ErrStoreDown]).
	BreakerOpen bool
}

// Stats returns the counters and gauges.
func (c *Capsules) Stats() Stats {
	return Stats{Committed: c.metrics.ok.Load(), Commits: c.metrics.commits.Load(),
		Failed: c.metrics.bad.Load(), Swallowed: c.metrics.swallowed.Load(),
		Conflicts: c.metrics.conflicts.Load(), Queued: c.metrics.queued.Load(),
		BreakerOpen: c.breaker.down.Load()}
}

// CountSwallowed counts an audited call whose capsule was lost and whose
// audit error was logged instead of returned ([Stats].Swallowed). It is
// for package runtime, which calls it where it swallows the error; code
// that appends capsules by hand sees its errors and has no reason to
// call it.
func (c *Capsules) CountSwallowed() { c.metrics.swallowed.Add(1) }

type metrics struct {
	ok, commits, bad, conflicts, swallowed atomic.Int64
	queued                                 atomic.Int64 // capsules in the chains' queues
}

func (m *metrics) failed(n int) {
	m.bad.Add(int64(n))
	m.queued.Add(-int64(n))
}

// CommitInfo describes one storage transaction that stored capsules, for
// the observer of [WithCommitObserver].
type CommitInfo struct {
	// Capsules is how many capsules the transaction stored, over all
	// chains: the batch size of group commit.
	Capsules int
	// Latencies holds, for each of them, the time from its Append (or
	// Queue) call to its commit: queueing, signing, waiting for earlier
	// commits and any retries. The slice is reused once the observer
	// returns; copy it to keep it.
	Latencies []time.Duration
}

// WithCommitObserver calls f once per storage transaction that stored
// capsules, with its batch size and each capsule's append latency: feed
// histograms with it (package otelcapsule does). f runs on the goroutine
// that commits, before the appending callers wake, so it must be quick
// and must not append.
func WithCommitObserver(f func(CommitInfo)) OpenOption {
	return func(c *config) { c.observe = f }
}

// healthProbeTenant is the chain whose head [Capsules.Health] reads.
const healthProbeTenant = ""

// Health reports whether the audit pipeline can append now: nil when the
// breaker is closed and the store answers a chain head read within ctx;
// otherwise an error saying which, without the store's own message
// (logged through the Capsules' logger instead), so that it can be shown
// to whoever polls a health route. While the breaker is open the error
// wraps [ErrStoreDown].
func (c *Capsules) Health(ctx context.Context) error {
	if c.breaker.down.Load() {
		return fmt.Errorf("%w: the breaker is open (the store failed and has not answered since)", ErrStoreDown)
	}
	if _, err := c.store.Head(ctx, healthProbeTenant); err != nil {
		c.log.Warn("capsule: health check: the store did not answer", "err", err)
		if ctx.Err() != nil {
			return errors.New("capsule: the store did not answer in time")
		}
		return errors.New("capsule: the store failed a read")
	}
	return nil
}

// The process default: read without locking on every audited call,
// opened under defaultMu on first use. After a failed open, defaultErr
// holds the error and defaultRetry when the next open may be tried.
var (
	defaultMu    sync.Mutex
	defaultC     atomic.Pointer[Capsules]
	defaultErr   atomic.Pointer[error]
	defaultRetry time.Time // guarded by defaultMu
)

// Default returns the process default Capsules, opening it on first use at
// [DefaultURL] ($CAPSULE_URL, else capsules.db in the data directory, with
// the key beside it), within [DefaultStorageTimeout]. A failed open is
// tried again at most once a second: until then, and while another call
// is trying it, Default returns the last error at once.
func Default() (*Capsules, error) {
	if c := defaultC.Load(); c != nil {
		return c, nil
	}
	if last := defaultErr.Load(); last != nil && !defaultMu.TryLock() {
		return nil, *last
	} else if last == nil {
		defaultMu.Lock()
	}
	defer defaultMu.Unlock()
	if c := defaultC.Load(); c != nil {
		return c, nil
	}
	if last := defaultErr.Load(); last != nil && time.Now().Before(defaultRetry) {
		return nil, *last
	}
	c, err := Open(context.Background(), "")
	if err != nil {
		err = fmt.Errorf("%w (%w)", ErrStoreDown, err)
		defaultErr.Store(&err)
		defaultRetry = time.Now().Add(probeInterval)
		return nil, err
	}
	defaultErr.Store(nil)
	defaultC.Store(c)
	return c, nil
}

// SetDefault replaces the process default (nil forgets it, so the next
// [Default] opens a new one). It does not close the previous one.
func SetDefault(c *Capsules) {
	defaultMu.Lock()
	defaultC.Store(c)
	defaultErr.Store(nil)
	defaultMu.Unlock()
}
