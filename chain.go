package capsule

import (
	"context"
	"crypto/sha3"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/protocol/canonical"
	"github.com/capsule-go/capsule/storage"
)

// maxBatch bounds how many capsules of one chain a storage transaction
// carries; maxTransaction bounds the capsules of all chains in one.
const (
	maxBatch       = 512
	maxTransaction = 1024
)

// signChunk is how many capsules of one AppendAll are signed before the
// committer may store them.
const signChunk = 64

// chain sequences the appends to one tenant's chain.
//
// An append passes three stages. Under seqMu the caller takes the next
// sequence number, fills in previous_hash and hashes its content: the only
// step that must run in chain order, and a cheap one. Outside any lock it
// signs its hash, so signatures are spread over all the callers' cores.
// Then it waits while the store's one [committer] stores the longest run
// of signed capsules at the front of every chain's queue, all chains in
// one transaction, and wakes each caller once its capsule is durable.
//
// If another process appended first (storage.ErrConflict), the committer
// re-reads the head of that chain, re-sequences, re-hashes and re-signs
// its queued capsules, and retries until the retry deadline; the other
// chains are not touched. A batch the database rejects
// (storage.ErrRejected) is split in halves until the capsule at fault is
// alone: it fails, and the capsules queued behind it are re-chained onto
// the head it would have extended. Any other storage error fails every
// queued capsule of the chains it concerns and forgets their heads, so the
// next append re-reads them from the database.
type chain struct {
	c      *Capsules
	tenant string

	seqMu     chanMutex // held while assigning sequence numbers; before cmu
	head      storage.Head
	headKnown bool

	cmu   sync.Mutex // guards queue
	cond  *sync.Cond // signalled when a queued capsule is signed
	queue []*pending

	listed bool // in the committer's ready list; guarded by committer.mu

	// Only the committer goroutine touches these.
	conflictSince time.Time // start of the current run of conflicts
	split         int       // when > 0, at most this many capsules per batch: bisecting a rejected batch
	suspect       int       // capsules at the front still under suspicion of the rejection
}

// pending is one capsule on its way into the chain.
type pending struct {
	parts  *parts
	rec    protocol.Sealed
	signed bool
	err    error
	done   chan struct{}
	outage int64     // the breaker's outage count when the capsule was admitted
	start  time.Time // when it was appended; set only for a commit observer
}

// chanMutex is a mutex whose Lock can give up when a context ends.
type chanMutex chan struct{}

func (m chanMutex) Lock()   { m <- struct{}{} }
func (m chanMutex) Unlock() { <-m }

// LockCtx locks m, or returns ctx's error if ctx ends first.
func (m chanMutex) LockCtx(ctx context.Context) error {
	select {
	case m <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func newChain(c *Capsules, tenant string) *chain {
	ch := &chain{c: c, tenant: tenant, seqMu: make(chanMutex, 1)}
	ch.cond = sync.NewCond(&ch.cmu)
	return ch
}

// enqueue chains capsules, whose content (all but sequence and
// previous_hash) is encoded in ps, and signs them, handing each signed
// chunk to the committer; it returns once all are signed and queued,
// before they are durable. Waiting for the chain and reading its head end
// with ctx, or at deadline when it is not zero (an Append's own bound,
// the storage timeout from its call); the head read is bounded by the
// storage timeout besides.
func (ch *chain) enqueue(ctx context.Context, deadline time.Time, caps []*Capsule, ps []*parts) (*Queued, error) {
	pds := make([]*pending, len(caps))
	outage := ch.c.breaker.outages.Load()
	var start time.Time
	if ch.c.observe != nil {
		start = time.Now()
	}
	for i, c := range caps {
		pds[i] = &pending{parts: ps[i], done: make(chan struct{}), outage: outage, start: start}
		pds[i].rec = c.record(ch.tenant, nil, "")
	}
	lctx, cancel := ctx, context.CancelFunc(func() {})
	if !deadline.IsZero() {
		lctx, cancel = context.WithDeadline(ctx, deadline)
	}
	defer cancel()
	if err := ch.seqMu.LockCtx(lctx); err != nil {
		// Another append holds the chain while it reads the head from a
		// store that is slow to answer.
		ch.c.metrics.bad.Add(int64(len(pds)))
		return nil, fmt.Errorf("capsule: waiting for chain %q (nothing stored): %w", ch.tenant, err)
	}
	if !ch.headKnown {
		begun := time.Now()
		hctx, cancel := context.WithTimeout(lctx, ch.c.timeout)
		h, err := ch.c.store.Head(hctx, ch.tenant)
		cancel()
		if err != nil {
			ch.seqMu.Unlock()
			if ctx.Err() == nil { // not the caller's own context
				ch.c.breaker.failure(err, begun)
			}
			ch.c.metrics.bad.Add(int64(len(pds)))
			return nil, fmt.Errorf("capsule: read chain head: %w", err)
		}
		ch.head, ch.headKnown = h, true
	}
	for _, pd := range pds {
		ch.assign(pd)
	}
	ch.cmu.Lock()
	ch.queue = append(ch.queue, pds...)
	ch.cmu.Unlock()
	ch.c.metrics.queued.Add(int64(len(pds)))
	ch.seqMu.Unlock()

	// Sign in chunks, handing each to the committer as it is done, so that
	// a long AppendAll commits its first capsules while it signs the next.
	for start := 0; start < len(pds); start += signChunk {
		part := pds[start:min(start+signChunk, len(pds))]
		ch.c.signAll(part)
		ch.cmu.Lock()
		for _, pd := range part {
			pd.signed = true
		}
		ch.cond.Broadcast()
		ch.cmu.Unlock()
		ch.c.commit.notify(ch)
	}
	return &Queued{caps: caps, pds: pds}, nil
}

// Queued is a group of capsules [Capsules.Queue] has chained, sealed and
// queued for storage.
type Queued struct {
	caps []*Capsule
	pds  []*pending
}

// Wait returns the sealed capsules once all are durable, or the reason
// one is not (see [Capsules.AppendAll]); on success it sets each
// capsule's Sequence and PreviousHash. When ctx ends first, it returns an
// error wrapping [ErrNotConfirmed] and ctx's error: the capsules stay
// queued and may still be stored.
func (q *Queued) Wait(ctx context.Context) ([]protocol.Sealed, error) {
	if q == nil {
		return nil, nil
	}
	pds, caps := q.pds, q.caps
	out := make([]protocol.Sealed, len(pds))
	for i, pd := range pds {
		// Each commit is bounded by the storage timeout, and a failed one
		// fails every capsule queued behind it in its chains.
		select {
		case <-pd.done:
		case <-ctx.Done():
			// The capsules may still land; the caller stops waiting.
			return nil, notConfirmed(pd, len(pds)-i, ctx.Err())
		}
		if pd.err != nil {
			return nil, pd.err
		}
		out[i] = pd.rec
	}
	for i, c := range caps {
		c.Sequence, c.PreviousHash = out[i].Sequence, out[i].PreviousHash
	}
	return out, nil
}

// notConfirmed is the error for n capsules from pd on whose wait ended
// with err before their outcome was known.
func notConfirmed(pd *pending, n int, err error) error {
	what := "capsule " + pd.rec.ID
	if n > 1 {
		what = fmt.Sprintf("%d capsules from %s on", n, pd.rec.ID)
	}
	return fmt.Errorf("%w: %s of chain %q still queued, and may yet be stored: %w", ErrNotConfirmed, what, pd.rec.Tenant, err)
}

// assign gives pd the next link of the chain and hashes it. seqMu is held.
func (ch *chain) assign(pd *pending) {
	seq := ch.head.Sequence + 1
	prev := ch.head.Hash
	data := pd.parts.assemble(make([]byte, 0, len(pd.parts.buf)+80), prev, seq)
	h := sha3.New256()
	h.Write(data)
	var sum [32]byte
	pd.rec.Sequence, pd.rec.PreviousHash = seq, prev
	pd.rec.Data = data
	pd.rec.Hash = hex.EncodeToString(h.Sum(sum[:0]))
	ch.head = storage.Head{Sequence: seq, Hash: pd.rec.Hash}
}

// take returns the signed capsules at the front of the queue, at most
// limit (and fewer while a rejected batch is being split).
func (ch *chain) take(limit int) []*pending {
	limit = min(limit, maxBatch)
	if ch.split > 0 {
		limit = min(limit, ch.split, ch.suspect)
	}
	ch.cmu.Lock()
	defer ch.cmu.Unlock()
	n := 0
	for n < len(ch.queue) && n < limit && ch.queue[n].signed {
		n++
	}
	return ch.queue[:n:n]
}

// admittedBefore reports whether the front capsule of the queue was
// admitted before outage began.
func (ch *chain) admittedBefore(outage int64) bool {
	ch.cmu.Lock()
	defer ch.cmu.Unlock()
	return len(ch.queue) > 0 && ch.queue[0].outage < outage
}

// ready reports whether the front capsule of the queue is signed.
func (ch *chain) ready() bool {
	ch.cmu.Lock()
	defer ch.cmu.Unlock()
	return len(ch.queue) > 0 && ch.queue[0].signed
}

// settle acts on the outcome err of storing group, the front of the queue.
// It runs in the committer goroutine.
func (ch *chain) settle(group []*pending, err error) {
	switch {
	case err == nil:
		ch.conflictSince = time.Time{}
		if ch.split > 0 {
			if ch.suspect -= len(group); ch.suspect <= 0 {
				ch.split, ch.suspect = 0, 0
			}
		}
		ch.cmu.Lock()
		ch.queue = ch.queue[len(group):]
		ch.cmu.Unlock()
		ch.c.metrics.ok.Add(int64(len(group))) // before the callers wake
		ch.c.metrics.queued.Add(-int64(len(group)))
		for _, pd := range group {
			close(pd.done)
		}
	case errors.Is(err, storage.ErrNotAttempted):
		// Nothing of it was stored: the next round retries it as it is.
	case errors.Is(err, storage.ErrConflict):
		if ch.conflictSince.IsZero() {
			ch.conflictSince = time.Now()
		}
		if time.Since(ch.conflictSince) > ch.c.retryDeadline {
			ch.failAll(fmt.Errorf("capsule: chain head kept moving for %v: %w", ch.c.retryDeadline, err), 0)
			ch.conflictSince = time.Time{}
		} else if rerr := ch.resequence(nil); rerr != nil {
			ch.failAll(rerr, 0)
		}
	case errors.Is(err, storage.ErrRejected) && len(group) > 1:
		// Store the halves apart until the capsule at fault is alone.
		ch.split, ch.suspect = (len(group)+1)/2, len(group)
	case errors.Is(err, storage.ErrRejected):
		ch.split, ch.suspect = 0, 0
		ch.failFront(fmt.Errorf("capsule: store: %w", err))
	case errors.Is(err, storage.ErrOutcomeUnknown):
		// The group may be stored, whole: its callers are told so, the
		// capsules behind it (never sent) fail, and the head is read again.
		ch.failAll(fmt.Errorf("capsule: store: %w", err), len(group))
	default:
		ch.failAll(fmt.Errorf("capsule: store: %w", err), 0)
	}
}

// resequence rebuilds the queue on a chain head: head when non-nil, else
// the head re-read from the database after another process moved it. It
// re-assigns, re-hashes and re-signs every queued capsule.
func (ch *chain) resequence(head *storage.Head) error {
	ch.seqMu.Lock()
	defer ch.seqMu.Unlock()
	ch.cmu.Lock()
	for !ch.allSignedLocked() {
		ch.cond.Wait()
	}
	queue := ch.queue
	ch.cmu.Unlock()

	if head == nil {
		ctx, cancel := context.WithTimeout(context.Background(), min(ch.c.retryDeadline, ch.c.timeout))
		defer cancel()
		h, err := ch.c.store.Head(ctx, ch.tenant)
		if err != nil {
			ch.headKnown = false
			return fmt.Errorf("capsule: re-read chain head after conflict: %w", err)
		}
		head = &h
		ch.c.metrics.conflicts.Add(1)
	}
	ch.head, ch.headKnown = *head, true
	for _, pd := range queue {
		ch.assign(pd)
	}
	ch.c.signAll(queue)
	return nil
}

func (ch *chain) allSignedLocked() bool {
	for _, pd := range ch.queue {
		if !pd.signed {
			return false
		}
	}
	return true
}

// failFront fails the capsule at the front of the queue alone and
// re-chains the ones behind it onto the head it would have extended.
func (ch *chain) failFront(err error) {
	ch.cmu.Lock()
	pd := ch.queue[0]
	ch.queue = ch.queue[1:]
	ch.cmu.Unlock()
	pd.err = err
	ch.c.metrics.failed(1)
	close(pd.done)
	head := storage.Head{Sequence: pd.rec.Sequence - 1, Hash: pd.rec.PreviousHash}
	ch.resequence(&head) // cannot fail with a head given
}

// failAll fails every queued capsule with err and forgets the head; when
// the first unsure ones are in a commit whose outcome is unknown, they get
// an error wrapping ErrNotConfirmed as well, and the ones behind them an
// error saying they are not stored.
func (ch *chain) failAll(err error, unsure int) {
	ch.seqMu.Lock()
	ch.cmu.Lock()
	for !ch.allSignedLocked() {
		ch.cond.Wait()
	}
	queue := ch.queue
	ch.queue = nil
	ch.headKnown = false
	ch.cmu.Unlock()
	ch.seqMu.Unlock()
	ch.split, ch.suspect = 0, 0
	ch.c.metrics.failed(len(queue))
	for i, pd := range queue {
		switch {
		case i < unsure:
			pd.err = fmt.Errorf("%w: capsule %s of chain %q may be stored: %w", ErrNotConfirmed, pd.rec.ID, ch.tenant, err)
		case unsure > 0:
			// Never sent: it is not stored, whatever became of the
			// capsules in front of it.
			pd.err = fmt.Errorf("capsule: not stored: queued behind a commit whose outcome is unknown (%v)", err)
		default:
			pd.err = err
		}
		close(pd.done)
	}
}

// committer stores the signed capsules of every chain of one Capsules: one
// goroutine, running while there is work, that takes the signed front of
// each ready chain and stores them all in one storage transaction (with
// [storage.AppendBatches]), so that writers spread over many tenants share
// commits as writers on one chain do.
type committer struct {
	c *Capsules

	mu      sync.Mutex
	ready   []*chain // chains whose front capsule may be signed
	spare   []*chain // the previous round's list, reused
	running bool
	idle    chan struct{} // closed when the goroutine stops; nil while none ran

	// Only the running goroutine touches these.
	groups  [][]*pending
	chains  []*chain
	batches []storage.Batch
	recs    []protocol.Sealed
	lat     []time.Duration // the commit observer's latencies
}

// notify tells the committer that ch may have signed capsules to store.
func (m *committer) notify(ch *chain) {
	m.mu.Lock()
	if !ch.listed {
		ch.listed = true
		m.ready = append(m.ready, ch)
	}
	if !m.running {
		m.running = true
		m.idle = make(chan struct{})
		go m.loop(m.idle)
	}
	m.mu.Unlock()
}

// wait returns a channel closed once the committer has no work left.
func (m *committer) wait() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.running {
		done := make(chan struct{})
		close(done)
		return done
	}
	return m.idle
}

// loop stores rounds of capsules until no chain is ready.
func (m *committer) loop(idle chan struct{}) {
	for {
		m.mu.Lock()
		chains := m.ready
		if len(chains) == 0 {
			m.running = false
			close(idle)
			m.mu.Unlock()
			return
		}
		m.ready, m.spare = m.spare[:0], chains
		for _, ch := range chains {
			ch.listed = false
		}
		m.mu.Unlock()
		m.round(chains)
	}
}

// round stores the signed fronts of chains in one transaction and settles
// each chain's outcome.
func (m *committer) round(chains []*chain) {
	groups, taken := m.groups[:0], m.chains[:0]
	budget, total := maxTransaction, 0
	outage, downErr := m.c.breaker.outage()
	for _, ch := range chains {
		if downErr != nil && ch.admittedBefore(outage) {
			// Queued before the store was found down: fail them now
			// rather than wait out the timeout again for each round.
			ch.failAll(fmt.Errorf("%w (%w)", ErrStoreDown, downErr), 0)
			continue
		}
		if budget == 0 {
			m.notify(ch) // the next round
			continue
		}
		g := ch.take(budget)
		if len(g) == 0 {
			continue // its signer notifies again
		}
		budget -= len(g)
		total += len(g)
		groups, taken = append(groups, g), append(taken, ch)
	}
	m.groups, m.chains = groups, taken
	if len(groups) == 0 {
		return
	}
	recs, batches := m.recs[:0], m.batches[:0]
	for _, g := range groups {
		for _, pd := range g {
			recs = append(recs, pd.rec)
		}
	}
	off := 0
	for i, g := range groups {
		batches = append(batches, storage.Batch{Tenant: taken[i].tenant, Records: recs[off : off+len(g) : off+len(g)]})
		off += len(g)
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), m.c.timeout)
	errs := storage.AppendBatches(ctx, m.c.store, batches)
	cancel()
	clear(recs) // drop references to the stored capsules' data
	clear(batches)
	m.recs, m.batches = recs[:0], batches[:0]

	// The store's state first, so that a caller woken below sees it.
	stored := false
	var down error
	for _, err := range errs {
		if err == nil {
			stored = true
		} else if down == nil && storeDown(err) {
			down = err
		}
	}
	if stored {
		m.c.metrics.commits.Add(1)
		m.c.breaker.success()
		if m.c.observe != nil {
			m.observe(groups, errs)
		}
	} else if down != nil {
		m.c.breaker.failure(down, start)
	}
	for i, g := range groups {
		taken[i].settle(g, errs[i])
	}
	for _, ch := range taken {
		if ch.ready() {
			m.notify(ch)
		}
	}
	clear(groups)
	clear(taken)
}

// observe calls the commit observer with the capsules of groups that
// were stored (errs[i] == nil), before their callers wake.
func (m *committer) observe(groups [][]*pending, errs []error) {
	now := time.Now()
	lat := m.lat[:0]
	for i, g := range groups {
		if errs[i] != nil {
			continue
		}
		for _, pd := range g {
			lat = append(lat, now.Sub(pd.start))
		}
	}
	m.c.observe(CommitInfo{Capsules: len(lat), Latencies: lat})
	m.lat = lat[:0]
}

// sign fills in the seal of rec, whose hash is set.
func (c *Capsules) sign(rec *protocol.Sealed) {
	s := c.signer
	if c.keys != nil {
		s = c.keys.current().signer
	}
	rec.Signature = s.Sign(rec.Hash)
	if c.pq != nil {
		rec.SignaturePQ = c.pq.SignPQ(rec.Hash)
	}
	rec.SignedBy = s.Fingerprint()
	rec.SignedAt = signedAt(time.Now())
}

// signAll signs the queued capsules on all cores (in the calling
// goroutine when there is one).
func (c *Capsules) signAll(queue []*pending) {
	if len(queue) == 1 {
		c.sign(&queue[0].rec)
		return
	}
	workers := min(runtime.GOMAXPROCS(0), len(queue))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(queue); i += workers {
				c.sign(&queue[i].rec)
			}
		})
	}
	wg.Wait()
}

func signedAt(t time.Time) string {
	var b [40]byte
	return string(canonical.AppendTimestamp(b[:0], t))
}

// retryDeadlineDefault bounds how long a chain keeps re-sequencing after
// conflicts with other processes before it reports failure.
const retryDeadlineDefault = 60 * time.Second
