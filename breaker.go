package capsule

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/capsule-go/capsule/storage"
)

// DefaultStorageTimeout bounds every storage operation on the audit path
// (opening the store, reading a chain head, a commit) on PostgreSQL, unless
// [WithStorageTimeout] says otherwise; see there for SQLite.
const DefaultStorageTimeout = 5 * time.Second

// probeInterval is how often, while the store is known to be down, one
// append is let through to find out whether it answers again.
const probeInterval = time.Second

// ErrNotConfirmed reports capsules sealed and queued for storage whose
// outcome was not known when their caller stopped waiting: at the storage
// timeout for [Capsules.Append] (and so for audited calls), at the end of
// the context for [Queued.Wait]. They stay queued and may still be
// stored, or fail, after the call returned; the chain stays whole either
// way. The error names the capsule's id: look it up to know.
var ErrNotConfirmed = errors.New("capsule: not confirmed stored in time")

// ErrStoreDown reports an append refused at once because the store failed
// (or did not answer within the storage timeout) and has not answered
// since. One append a second is let through to try it; the first that
// succeeds ends the outage.
var ErrStoreDown = errors.New("capsule: store unavailable")

// breaker fails appends fast while the store is known to be down.
type breaker struct {
	down      atomic.Bool
	outages   atomic.Int64 // times the store was found down
	lastOK    atomic.Int64 // UnixNano of the last success
	mu        sync.Mutex
	err       error
	nextProbe time.Time
}

// allow returns nil when an append may go to the store: while it is up,
// and once a probeInterval while it is down.
func (b *breaker) allow() error {
	if !b.down.Load() {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.down.Load() {
		return nil
	}
	if now := time.Now(); !now.Before(b.nextProbe) {
		b.nextProbe = now.Add(probeInterval)
		return nil
	}
	return fmt.Errorf("%w (%w)", ErrStoreDown, b.err)
}

// failure records a storage error of an operation begun at start; one
// that says the store is down (see storeDown) opens the breaker, unless
// the store stored something since start: then the operation failed on
// its own (a head read that waited too long for a connection while the
// process's own load kept them busy, say), and the store is up.
func (b *breaker) failure(err error, start time.Time) {
	if !storeDown(err) || b.lastOK.Load() > start.UnixNano() {
		return
	}
	b.mu.Lock()
	b.err = err
	b.nextProbe = time.Now().Add(probeInterval)
	if !b.down.Load() {
		b.outages.Add(1)
	}
	b.down.Store(true)
	b.mu.Unlock()
}

// outage returns the number of the current outage and its error, or a
// nil error while the store is up.
func (b *breaker) outage() (int64, error) {
	if !b.down.Load() {
		return 0, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.down.Load() {
		return 0, nil
	}
	return b.outages.Load(), b.err
}

// success records that the store stored something.
func (b *breaker) success() {
	b.lastOK.Store(time.Now().UnixNano())
	if b.down.Load() {
		b.mu.Lock()
		b.down.Store(false)
		b.err = nil
		b.mu.Unlock()
	}
}

// storeDown reports whether a storage error says the store cannot be used
// now, rather than that one batch was refused or raced another writer.
func storeDown(err error) bool {
	return err != nil &&
		!errors.Is(err, storage.ErrRejected) &&
		!errors.Is(err, storage.ErrConflict) &&
		!errors.Is(err, storage.ErrNotAttempted) &&
		!errors.Is(err, storage.ErrClosed) &&
		!errors.Is(err, context.Canceled)
}
