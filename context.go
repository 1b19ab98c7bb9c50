package capsule

import (
	"context"
	"errors"
	"sync/atomic"
)

// active is what a context carries for an audited call: its capsule, and
// whether the call has ended.
type active struct {
	cap   *Capsule
	ended atomic.Bool
}

type ctxKey struct{}

// NewContext returns a copy of ctx that carries c, so [Current] and
// [FromContext] return it, and a function end to call when the call that
// records c has ended: from then on, Current on these contexts returns a
// detached capsule and FromContext returns [ErrCallEnded]. Generated
// wrappers call it; code that records capsules by hand can do the same.
func NewContext(ctx context.Context, c *Capsule) (context.Context, func()) {
	a := &active{cap: c}
	return context.WithValue(ctx, ctxKey{}, a), func() { a.ended.Store(true) }
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
// to it at the same time as each other. A goroutine that outlives the call
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
