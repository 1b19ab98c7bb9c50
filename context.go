package capsule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
)

// active is what a context carries for an audited call: its capsule,
// whether the call has ended, and what runs when it ends.
type active struct {
	cap   *Capsule
	ended atomic.Bool // set under mu; read without it by FromContext

	mu    sync.Mutex // held by Update, OnEnd and the end of the call
	onEnd []func(*Capsule)
}

type ctxKey struct{}

// NewContext returns a copy of ctx that carries c, so [Current] and
// [FromContext] return it, and a function end to call when the call that
// records c has ended: from then on, Current on these contexts returns a
// detached capsule and FromContext returns [ErrCallEnded]. end runs the
// functions registered with [OnEnd], then returns; call it before sealing
// c. Generated wrappers call it; code that records capsules by hand can do
// the same.
func NewContext(ctx context.Context, c *Capsule) (context.Context, func()) {
	a := &active{cap: c}
	return context.WithValue(ctx, ctxKey{}, a), a.end
}

// end marks the call ended and runs its OnEnd functions, under the lock
// Update takes, so that no Update runs during or after them.
func (a *active) end() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ended.Load() {
		return
	}
	a.ended.Store(true)
	for _, f := range a.onEnd {
		runOnEnd(f, a.cap)
	}
	a.onEnd = nil
}

// runOnEnd runs one OnEnd function; a panic in it is logged, so that the
// capsule is still recorded.
func runOnEnd(f func(*Capsule), c *Capsule) {
	defer func() {
		if v := recover(); v != nil {
			slog.Error("capsule: OnEnd function panicked", "capsule_id", c.ID, "panic", fmt.Sprint(v))
		}
	}()
	f(c)
}

// ErrNoActiveCapsule reports that a context belongs to no audited call.
var ErrNoActiveCapsule = errors.New("capsule: no active capsule: the context does not come from an Audited* call")

// ErrCallEnded reports that the audited call a context belongs to has
// returned: its capsule is sealed, or being sealed, and must not change.
var ErrCallEnded = errors.New("capsule: the audited call has ended: its capsule is sealed and can no longer be enriched")

// FromContext returns the capsule of the audited call ctx belongs to. It
// returns ErrNoActiveCapsule outside an audited call, and ErrCallEnded once
// that call has returned.
//
// The capsule belongs to the audited call: the function may enrich it, and
// so may goroutines it starts, as long as they are done with it (the
// function waits for them) before the function returns, and do not write
// to it at the same time as each other. Goroutines that do run at the same
// time write through [Update] instead. A goroutine that outlives the call
// gets ErrCallEnded here instead of a capsule being sealed.
func FromContext(ctx context.Context) (*Capsule, error) {
	a, ok := ctx.Value(ctxKey{}).(*active)
	if !ok {
		return nil, ErrNoActiveCapsule
	}
	if a.ended.Load() {
		return nil, ErrCallEnded
	}
	return a.cap, nil
}

// Update runs f on the capsule of the audited call ctx belongs to, holding
// a lock that every Update of that call takes, and that the end of the
// call takes too. Goroutines of one audited call that enrich its capsule
// at the same time do it through Update, so that their writes do not race
// (code that writes through [Current] meanwhile must use Update as well);
// an Update still running when the function returns finishes before the
// capsule is sealed, and one that comes after is refused. It returns
// ErrNoActiveCapsule outside an audited call and ErrCallEnded once the
// call has ended, without running f. f must not keep c, nor call Update or
// OnEnd.
func Update(ctx context.Context, f func(c *Capsule)) error {
	return locked(ctx, func(a *active) { f(a.cap) })
}

// OnEnd registers f to run once when the audited call ctx belongs to ends:
// after the function has returned (or panicked) and before its capsule is
// sealed, holding the lock of [Update], on the goroutine that ends the
// call. Work still in flight when the call returns (an LLM response still
// being read, say) records what it has so far through it. Functions run in
// the order they were registered; a panic in one is logged and the capsule
// is recorded all the same. It returns ErrNoActiveCapsule outside an
// audited call and ErrCallEnded once the call has ended, without
// registering f. f must not keep c, nor call Update or OnEnd.
func OnEnd(ctx context.Context, f func(c *Capsule)) error {
	return locked(ctx, func(a *active) { a.onEnd = append(a.onEnd, f) })
}

// locked runs f on the audited call of ctx, holding its lock, unless
// there is none or it has ended.
func locked(ctx context.Context, f func(a *active)) error {
	a, ok := ctx.Value(ctxKey{}).(*active)
	if !ok {
		return ErrNoActiveCapsule
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ended.Load() {
		return ErrCallEnded
	}
	f(a)
	return nil
}

// Current returns the capsule being recorded by the audited call whose
// context ctx is (or derives from), so the function can enrich its
// reasoning, context, execution and outcome. Outside an audited call, or
// after it has returned, it returns a detached capsule that is never
// recorded, so enrichment code also runs when the function is called
// directly; use [FromContext] to find out which case applies and for the
// rules on goroutines.
func Current(ctx context.Context) *Capsule {
	if c, err := FromContext(ctx); err == nil {
		return c
	}
	return New(TypeAgent)
}
