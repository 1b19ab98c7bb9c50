package nethttp

import (
	"context"

	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/storage"
)

// listPage is one page of the list route.
type listPage struct {
	recs  []protocol.Sealed
	total int64
	// end is the offset just past the page: the next page's offset.
	end int64
	// seek is true when the page was found by sequence from head: then
	// the offset of a capsule is head minus its sequence.
	seek bool
	head int64
	// offset is the page's offset.
	offset int64
	// missing are the runs of sequences that the page spans but the
	// chain does not hold (a chain whose rows were deleted), newest first.
	missing []missingRun
}

// missingRun is a run of sequences missing from a chain: from first down
// to last (first >= last), the first of them at offset in the listing.
type missingRun struct {
	first, last, offset int64
}

// readPage reads the page of the listing that f selects (Limit, Offset
// and MaxBytes included).
//
// A page of one chain without a type filter is found by its sequence, in
// O(log n) at any depth: offset N from the newest is sequence head-N, so
// the page is the capsules at that sequence and below, and total is the
// head's sequence + 1. That is the chain's position and length exactly
// when the chain is whole. A chain missing rows (deleted: a tampered
// chain) still counts them in total, and each page names the sequences it
// spans that the chain lacks (missing), so the listing never hides a gap;
// offsets keep counting sequences from the head.
//
// A page of one chain's capsules of one type is found through the chain's
// ladder for the type (see ladder), which ls keeps.
//
// Any other listing (several chains, a domain or session filter, a chain
// with a row at a negative sequence or none at sequence >= 0) is paged by
// counting rows.
func readPage(ctx context.Context, st storage.Store, ls *ladders, f storage.Filter) (listPage, error) {
	if f.Domain == "" && f.SessionID == "" && f.MaxSequence == nil && f.MinSequence == nil {
		tenant, one, err := oneChain(ctx, st, f.Tenant)
		if err != nil {
			return listPage{}, err
		}
		if one {
			var p listPage
			var ok bool
			if f.Type == "" {
				p, ok, err = seekPage(ctx, st, tenant, f)
			} else {
				p, ok, err = ls.typedPage(ctx, st, tenant, f)
			}
			if err != nil || ok {
				return p, err
			}
		}
	}
	return countPage(ctx, st, f)
}

// oneChain reports whether a listing of tenant (nil: every tenant) is the
// listing of one chain, and names it.
func oneChain(ctx context.Context, st storage.Store, tenant *string) (string, bool, error) {
	if tenant != nil {
		return *tenant, true, nil
	}
	tenants, err := st.Tenants(ctx)
	if err != nil || len(tenants) != 1 {
		return "", false, err
	}
	return tenants[0], true, nil
}

// seekPage reads the page of tenant's chain at f.Offset by sequence. ok is
// false when the chain cannot be paged by sequence (see readPage).
func seekPage(ctx context.Context, st storage.Store, tenant string, f storage.Filter) (p listPage, ok bool, err error) {
	head, ok, err := wholeHead(ctx, st, tenant)
	if err != nil || !ok {
		return listPage{}, false, err
	}
	p.total = head + 1
	p.seek, p.head, p.offset = true, head, f.Offset
	if f.Offset >= p.total {
		p.end = f.Offset
		return p, true, nil
	}
	top := head - f.Offset
	p.recs, err = st.List(ctx, storage.Filter{Tenant: &tenant, MaxSequence: &top, Limit: f.Limit, MaxBytes: f.MaxBytes})
	if err != nil {
		return listPage{}, false, err
	}
	// The page spans the sequences from top down to its last capsule, or
	// down to 0 when it holds fewer than asked and the byte bound did not
	// end it: then nothing is left below.
	bottom := int64(0)
	if n := len(p.recs); n > 0 && (n == f.Limit || f.MaxBytes > 0 && dataBytes(p.recs) >= f.MaxBytes) {
		bottom = p.recs[n-1].Sequence
	}
	p.end = head - bottom + 1
	next := top // the sequence the next capsule should have
	for _, r := range p.recs {
		if r.Sequence < next {
			p.missing = append(p.missing, missingRun{first: next, last: r.Sequence + 1, offset: head - next})
		}
		next = r.Sequence - 1
	}
	if next >= bottom {
		p.missing = append(p.missing, missingRun{first: next, last: bottom, offset: head - next})
	}
	return p, true, nil
}

// wholeHead returns the sequence of tenant's chain head. ok is false when
// the chain cannot be paged by sequence: it has no capsule at sequence
// >= 0, or one at a negative sequence (a tampered row; none is an index
// probe).
func wholeHead(ctx context.Context, st storage.Store, tenant string) (head int64, ok bool, err error) {
	h, err := st.Head(ctx, tenant)
	if err != nil || h.Sequence < 0 {
		return 0, false, err
	}
	below := int64(-1)
	neg, err := st.Count(ctx, storage.Filter{Tenant: &tenant, MaxSequence: &below})
	if err != nil || neg > 0 {
		return 0, false, err
	}
	return h.Sequence, true, nil
}

// dataBytes is the content bytes of recs.
func dataBytes(recs []protocol.Sealed) int64 {
	var n int64
	for _, r := range recs {
		n += int64(len(r.Data))
	}
	return n
}

// countPage reads the page by counting: total is a count of the matching
// capsules and the page skips f.Offset of them.
func countPage(ctx context.Context, st storage.Store, f storage.Filter) (p listPage, err error) {
	if p.total, err = st.Count(ctx, f); err != nil {
		return listPage{}, err
	}
	if f.Offset < p.total {
		if p.recs, err = st.List(ctx, f); err != nil {
			return listPage{}, err
		}
	}
	p.end = f.Offset + int64(len(p.recs))
	p.offset = f.Offset
	return p, nil
}

// offsetOf returns the offset in the listing of the page's i-th capsule.
func (p *listPage) offsetOf(i int) int64 {
	if p.seek {
		return p.head - p.recs[i].Sequence
	}
	return p.offset + int64(i)
}
