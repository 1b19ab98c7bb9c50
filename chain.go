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

	"github.com/capsule-go/capsule/protocol/canonical"
	"github.com/capsule-go/capsule/storage"
)

// maxBatch bounds how many capsules one storage transaction carries.
const maxBatch = 512

// chain sequences the appends to one tenant's chain and commits them in
// groups.
//
// An append passes three stages. Under seqMu the caller takes the next
// sequence number, fills in previous_hash and hashes its content: the only
// step that must run in chain order, and a cheap one. Outside any lock it
// signs its hash, so signatures are spread over all the callers' cores.
// Then it waits while one committer goroutine per chain stores the longest
// run of signed capsules at the front of the queue in one transaction, and
// wakes each caller once its capsule is durable.
//
// If another process appended first (storage.ErrConflict), the committer
// re-reads the head, re-sequences, re-hashes and re-signs every queued
// capsule, and retries until the retry deadline. Any other storage error
// fails every queued capsule (their hashes chain from the failed ones) and
// forgets the head, so the next append re-reads it from the database.
type chain struct {
	c      *Capsules
	tenant string

	seqMu     sync.Mutex // held while assigning sequence numbers; before cmu
	head      storage.Head
	headKnown bool

	cmu     sync.Mutex // guards queue and running
	cond    *sync.Cond // signalled when a queued capsule is signed, and when the committer stops
	queue   []*pending
	running bool

	batch []Sealed // the committer's reused batch; only the running committer touches it
}

// pending is one capsule on its way into the chain.
type pending struct {
	parts  *parts
	rec    Sealed
	signed bool
	err    error
	done   chan struct{}
}

func newChain(c *Capsules, tenant string) *chain {
	ch := &chain{c: c, tenant: tenant}
	ch.cond = sync.NewCond(&ch.cmu)
	return ch
}

// append chains, seals and stores capsules, in order, whose content (all
// but sequence and previous_hash) is encoded in ps. It returns once every
// capsule is durable, or with the reason one is not; on success it sets
// each capsule's Sequence and PreviousHash.
func (ch *chain) append(ctx context.Context, caps []*Capsule, ps []*parts) ([]Sealed, error) {
	pds := make([]*pending, len(caps))
	for i, c := range caps {
		pds[i] = &pending{parts: ps[i], done: make(chan struct{})}
		pds[i].rec = c.record(ch.tenant, nil, "")
	}

	ch.seqMu.Lock()
	if !ch.headKnown {
		h, err := ch.c.store.Head(ctx, ch.tenant)
		if err != nil {
			ch.seqMu.Unlock()
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
	ch.seqMu.Unlock()

	ch.c.signAll(pds)

	ch.cmu.Lock()
	for _, pd := range pds {
		pd.signed = true
	}
	ch.cond.Broadcast()
	if !ch.running {
		ch.running = true
		go ch.commitLoop()
	}
	ch.cmu.Unlock()

	out := make([]Sealed, len(pds))
	for i, pd := range pds {
		select {
		case <-pd.done:
		case <-ctx.Done():
			// The capsules may still land; the caller stops waiting.
			return nil, fmt.Errorf("capsule: waiting for commit: %w", ctx.Err())
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

// waitIdle returns once the chain has no committer running.
func (ch *chain) waitIdle() {
	ch.cmu.Lock()
	for ch.running {
		ch.cond.Wait()
	}
	ch.cmu.Unlock()
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

// commitLoop stores signed capsules from the front of the queue until the
// queue stays empty.
func (ch *chain) commitLoop() {
	var conflictSince time.Time // start of the current run of conflicts
	for {
		ch.cmu.Lock()
		n := ch.readyLocked()
		if n == 0 {
			if len(ch.queue) == 0 {
				ch.running = false
				ch.cond.Broadcast() // wakes waitIdle
				ch.cmu.Unlock()
				return
			}
			ch.cond.Wait() // the front capsule is still being signed
			ch.cmu.Unlock()
			continue
		}
		group := ch.queue[:n:n]
		ch.cmu.Unlock()

		batch := ch.batch[:0]
		for _, pd := range group {
			batch = append(batch, pd.rec)
		}
		err := ch.c.store.Append(context.Background(), ch.tenant, batch)
		clear(batch) // drop references to the stored capsules' data
		ch.batch = batch
		switch {
		case err == nil:
			conflictSince = time.Time{}
			ch.cmu.Lock()
			ch.queue = ch.queue[n:]
			ch.cmu.Unlock()
			for _, pd := range group {
				close(pd.done)
			}
			ch.c.metrics.committed(len(group))
		case errors.Is(err, storage.ErrConflict):
			if conflictSince.IsZero() {
				conflictSince = time.Now()
			}
			if time.Since(conflictSince) > ch.c.retryDeadline {
				ch.failAll(fmt.Errorf("capsule: chain head kept moving for %v: %w", ch.c.retryDeadline, err))
				conflictSince = time.Time{}
			} else if rerr := ch.resequence(); rerr != nil {
				ch.failAll(rerr)
			}
		default:
			ch.failAll(fmt.Errorf("capsule: store: %w", err))
		}
	}
}

// readyLocked returns how many capsules at the front of the queue are
// signed, at most maxBatch. cmu is held.
func (ch *chain) readyLocked() int {
	n := 0
	for n < len(ch.queue) && n < maxBatch && ch.queue[n].signed {
		n++
	}
	return n
}

// resequence rebuilds the queue on the chain head another process moved:
// re-read the head, then re-assign, re-hash and re-sign every queued
// capsule. It keeps trying while the database says the head moved, until
// the retry deadline.
func (ch *chain) resequence() error {
	ch.seqMu.Lock()
	defer ch.seqMu.Unlock()
	ch.cmu.Lock()
	for !ch.allSignedLocked() {
		ch.cond.Wait()
	}
	queue := ch.queue
	ch.cmu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), ch.c.retryDeadline)
	defer cancel()
	h, err := ch.c.store.Head(ctx, ch.tenant)
	if err != nil {
		ch.headKnown = false
		return fmt.Errorf("capsule: re-read chain head after conflict: %w", err)
	}
	ch.head, ch.headKnown = h, true
	for _, pd := range queue {
		ch.assign(pd)
	}
	ch.c.signAll(queue)
	ch.c.metrics.conflicts.Add(1)
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

// failAll fails every queued capsule with err and forgets the head.
func (ch *chain) failAll(err error) {
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
	for _, pd := range queue {
		pd.err = err
		close(pd.done)
	}
	ch.c.metrics.failed(len(queue))
}

// sign fills in the seal of rec, whose hash is set.
func (c *Capsules) sign(rec *Sealed) {
	rec.Signature = c.signer.Sign(rec.Hash)
	if c.pq != nil {
		rec.SignaturePQ = c.pq.SignPQ(rec.Hash)
	}
	rec.SignedBy = c.signer.Fingerprint()
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
