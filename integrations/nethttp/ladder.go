package nethttp

import (
	"context"
	"sort"
	"sync"

	"github.com/capsule-go/capsule/storage"
)

// ladderStep is how many capsules of the type lie from one rung of a
// ladder to the next. A page skips fewer than ladderStep capsules through
// the index (plus those appended since the ladder was built).
var ladderStep int64 = 1024

// maxLadders bounds the ladders a server keeps; past it, one is dropped
// (and built again when asked for).
const maxLadders = 256

// A ladder finds the capsule at an offset among one chain's capsules of
// one type without counting them: each rung is a capsule of the type, with
// its ordinal among them counted from the oldest, one rung every
// ladderStep capsules at most. It is built once, walking the type index
// ladderStep entries at a time from the head down, and then kept up to
// date by counting only the capsules appended above its head, adding rungs
// there once they are ladderStep or more. A page starts at the rung just
// above its first capsule and skips fewer than ladderStep through the
// index, however deep the offset.
type ladder struct {
	// lock is held (a token in it) by the one request reading or
	// updating the ladder; the others wait for it, or for their context.
	lock  chan struct{}
	head  int64  // the chain head the ladder counts up to; -1: none yet
	rungs []rung // newest first, once complete
	// found are the sequences of the rungs found so far while building,
	// at ordinals 0, ladderStep, 2*ladderStep… from the newest: a build
	// whose request ran out of time resumes from the last.
	found    []int64
	complete bool
	total    int64 // capsules of the type at or below head, once complete
}

// rung is a capsule of the ladder's type: its sequence and its ordinal
// among them from the oldest.
type rung struct{ seq, ord int64 }

// ladders are a server's ladders, by chain and type.
type ladders struct {
	mu sync.Mutex
	m  map[ladderKey]*ladder
}

type ladderKey struct{ tenant, typ string }

// get returns the ladder of tenant's capsules of type typ.
func (ls *ladders) get(tenant, typ string) *ladder {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	k := ladderKey{tenant, typ}
	if l, ok := ls.m[k]; ok {
		return l
	}
	if ls.m == nil {
		ls.m = make(map[ladderKey]*ladder)
	}
	if len(ls.m) >= maxLadders {
		for old := range ls.m {
			delete(ls.m, old)
			break
		}
	}
	l := &ladder{lock: make(chan struct{}, 1), head: -1}
	ls.m[k] = l
	return l
}

// typedPage reads the page at f.Offset of tenant's capsules of type
// f.Type through the chain's ladder. ok is false when the chain is not
// paged so (no capsule at sequence >= 0, or one at a negative sequence).
func (ls *ladders) typedPage(ctx context.Context, st storage.Store, tenant string, f storage.Filter) (p listPage, ok bool, err error) {
	head, ok, err := wholeHead(ctx, st, tenant)
	if err != nil || !ok {
		return listPage{}, false, err
	}
	l := ls.get(tenant, f.Type)
	select {
	case l.lock <- struct{}{}:
		defer func() { <-l.lock }()
	case <-ctx.Done():
		return listPage{}, false, ctx.Err()
	}
	if head < l.head {
		// The chain shrank: rows were removed.
		l.head, l.rungs, l.found, l.complete, l.total = -1, nil, nil, false, 0
	}
	if l.head < 0 {
		l.head = head
	}
	if err := l.build(ctx, st, tenant, f.Type); err != nil {
		return listPage{}, false, err
	}
	var above int64 // capsules of the type appended above the ladder's head
	if head > l.head {
		from := l.head + 1
		above, err = st.Count(ctx, storage.Filter{Tenant: &tenant, Type: f.Type, MinSequence: &from, MaxSequence: &head})
		if err != nil {
			return listPage{}, false, err
		}
		if above >= ladderStep {
			if err := l.extend(ctx, st, tenant, f.Type, head, above); err != nil {
				return listPage{}, false, err
			}
			above = 0
		}
	}
	p.total, p.offset, p.end = l.total+above, f.Offset, f.Offset
	if f.Offset >= p.total {
		return p, true, nil
	}
	g := storage.Filter{Tenant: &tenant, Type: f.Type, Limit: f.Limit, MaxBytes: f.MaxBytes}
	if f.Offset < above {
		g.MaxSequence, g.Offset = &head, f.Offset
	} else {
		// The capsule's ordinal from the oldest, and the lowest rung at
		// or above it (rungs[0] is the newest capsule of the ladder).
		ord := l.total - 1 - (f.Offset - above)
		i := sort.Search(len(l.rungs), func(i int) bool { return l.rungs[i].ord < ord }) - 1
		g.MaxSequence, g.Offset = &l.rungs[i].seq, l.rungs[i].ord-ord
	}
	if p.recs, err = st.List(ctx, g); err != nil {
		return listPage{}, false, err
	}
	p.end = f.Offset + int64(len(p.recs))
	return p, true, nil
}

// build finds the rungs not found yet, resuming where an earlier build
// stopped, then counts the capsules at or below the last one (fewer than
// ladderStep) and numbers the rungs from the oldest.
func (l *ladder) build(ctx context.Context, st storage.Store, tenant, typ string) error {
	if l.complete {
		return nil
	}
	found, err := walk(ctx, st, tenant, typ, l.head, l.found, nil)
	l.found = found
	if err != nil {
		return err
	}
	if n := len(found); n > 0 {
		last, err := st.Count(ctx, storage.Filter{Tenant: &tenant, Type: typ, MaxSequence: &found[n-1]})
		if err != nil {
			return err
		}
		l.total = int64(n-1)*ladderStep + last
	}
	l.rungs = make([]rung, len(found))
	for k, seq := range found {
		l.rungs[k] = rung{seq: seq, ord: l.total - 1 - int64(k)*ladderStep}
	}
	l.found, l.complete = nil, true
	return nil
}

// extend adds rungs for the above capsules of the type appended between
// the ladder's head and head, and moves the ladder's head there.
func (l *ladder) extend(ctx context.Context, st storage.Store, tenant, typ string, head, above int64) error {
	floor := l.head + 1
	found, err := walk(ctx, st, tenant, typ, head, nil, &floor)
	if err != nil {
		return err
	}
	total := l.total + above
	rungs := make([]rung, 0, len(found)+len(l.rungs))
	for k, seq := range found {
		rungs = append(rungs, rung{seq: seq, ord: total - 1 - int64(k)*ladderStep})
	}
	l.rungs = append(rungs, l.rungs...)
	l.head, l.total = head, total
	return nil
}

// walk appends to found the sequences of tenant's capsules of type typ at
// ordinals 0, ladderStep, 2*ladderStep… from the newest at or below head,
// down to sequence *floor (nil: to the oldest); found holds those already
// found. Without a floor the query has no lower bound on sequence, which
// would lead SQLite's planner to the (tenant_id, sequence) index and a
// read of every row instead of the type index.
func walk(ctx context.Context, st storage.Store, tenant, typ string, head int64, found []int64, floor *int64) ([]int64, error) {
	for {
		f := storage.Filter{Tenant: &tenant, Type: typ, MaxSequence: &head, MinSequence: floor, Limit: 1}
		if n := len(found); n > 0 {
			f.MaxSequence, f.Offset = &found[n-1], ladderStep
		}
		recs, err := st.List(ctx, f)
		if err != nil || len(recs) == 0 {
			return found, err
		}
		found = append(found, recs[0].Sequence)
	}
}
