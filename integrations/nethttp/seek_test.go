package nethttp_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/capsule-go/capsule/integrations/nethttp"
	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/storage"
	"github.com/capsule-go/capsule/storage/memory"
	"github.com/capsule-go/capsule/storage/storagetest"
)

// readLog is a store that records the filters of List and Count.
type readLog struct {
	storage.Store
	mu      sync.Mutex
	filters []string
}

func (s *readLog) log(op string, f storage.Filter) {
	maxSeq := "nil"
	if f.MaxSequence != nil {
		maxSeq = fmt.Sprint(*f.MaxSequence)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.filters = append(s.filters, fmt.Sprintf("%s type=%q max_sequence=%s offset=%d", op, f.Type, maxSeq, f.Offset))
}

func (s *readLog) List(ctx context.Context, f storage.Filter) ([]protocol.Sealed, error) {
	s.log("list", f)
	return s.Store.List(ctx, f)
}

func (s *readLog) Count(ctx context.Context, f storage.Filter) (int64, error) {
	s.log("count", f)
	return s.Store.Count(ctx, f)
}

func (s *readLog) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.filters
	s.filters = nil
	return out
}

// A page of one chain without a type filter is read by sequence: the
// store is asked for the capsules at sequence head-offset and below, and
// counts only the rows at a negative sequence (none: an index probe),
// never the chain, nor does it skip rows. The page is the same as by
// counting. The same holds for the listing of every tenant when the store
// holds one chain, and for the explorer's chain page.
func TestListSeeksBySequence(t *testing.T) {
	forBackends(t, func(t *testing.T, f *fixture) {
		st := &readLog{Store: f.store}
		srv := serve(t, nethttp.Handler(st))
		a := f.chains[tenantA] // sequences 0..6
		want := listBody(t, []protocol.Sealed{a[3], a[2]}, 7, 2, 3)
		if got := get(t, srv, prefix+"/?tenant_id="+tenantA+"&limit=2&offset=3", http.StatusOK); got != want {
			t.Errorf("page at offset 3:\n got %s\nwant %s", got, want)
		}
		wantReads := []string{
			`count type="" max_sequence=-1 offset=0`,
			`list type="" max_sequence=3 offset=0`,
		}
		if got := st.take(); fmt.Sprint(got) != fmt.Sprint(wantReads) {
			t.Errorf("store reads = %q, want %q", got, wantReads)
		}
		if r := do(t, srv, http.MethodGet, prefix+"/explore/chain?tenant_id="+tenantA+"&offset=5", nil); r.status != http.StatusOK {
			t.Fatalf("explorer chain page: status %d", r.status)
		}
		wantReads = []string{
			`count type="" max_sequence=-1 offset=0`,
			`list type="" max_sequence=1 offset=0`,
		}
		if got := st.take(); fmt.Sprint(got) != fmt.Sprint(wantReads) {
			t.Errorf("explorer chain page: store reads = %q, want %q", got, wantReads)
		}
		// With a type filter, through the ladder: built on the first
		// request (two rungs: "tool" is at sequences 1 and 4), then read
		// from the rung above the page's first capsule.
		get(t, srv, prefix+"/?tenant_id="+tenantA+"&type=tool&offset=1", http.StatusOK)
		wantReads = []string{
			`count type="" max_sequence=-1 offset=0`,
			`list type="tool" max_sequence=6 offset=0`,
			`list type="tool" max_sequence=4 offset=1024`,
			`count type="tool" max_sequence=4 offset=0`,
			`list type="tool" max_sequence=4 offset=1`,
		}
		if got := st.take(); fmt.Sprint(got) != fmt.Sprint(wantReads) {
			t.Errorf("type filter: store reads = %q, want %q", got, wantReads)
		}
	})
}

// A chain missing rows (one moved to sequence 9, so 2, 7 and 8 hold
// nothing) is still paged by sequence: total is the head's sequence + 1,
// offsets count sequences from the head, and each page names the runs of
// sequences it spans that the chain lacks, so the gap is never hidden.
func TestListGappedChain(t *testing.T) {
	forBackends(t, func(t *testing.T, f *fixture) {
		srv := serve(t, nethttp.Handler(f.store))
		a := f.chains[tenantA] // sequences 0..6
		f.tamper(t, tenantA, a[2].ID, "sequence", "9")
		moved := a[2]
		moved.Sequence = 9
		pages := []struct {
			offset, next int
			recs         []protocol.Sealed
			missing      string
		}{
			{0, 5, []protocol.Sealed{moved, a[6], a[5]}, `{"first_sequence":8,"last_sequence":7,"offset":1}`},
			{5, 9, []protocol.Sealed{a[4], a[3], a[1]}, `{"first_sequence":2,"last_sequence":2,"offset":7}`},
			{9, -1, []protocol.Sealed{a[0]}, ``},
		}
		for _, p := range pages {
			target := fmt.Sprintf("%s/?tenant_id=%s&limit=3&offset=%d", prefix, tenantA, p.offset)
			want := listPage(t, p.recs, 10, 3, p.offset, p.next, false)
			want = want[:len(want)-len(`[]}`)] + "[" + p.missing + "]}"
			if got := get(t, srv, target, http.StatusOK); got != want {
				t.Errorf("GET %s:\n got %s\nwant %s", target, got, want)
			}
		}
		// The explorer shows the gap in its place and pages on from
		// next_offset.
		r := do(t, srv, http.MethodGet, prefix+"/explore/chain?tenant_id="+tenantA+"&limit=3", nil)
		for _, want := range []string{`<td class="num">8–7</td>`, "✗ missing", "capsules 1–5 of 10", `offset=5`} {
			if r.status != http.StatusOK || !strings.Contains(r.body, want) {
				t.Errorf("explorer chain page (status %d) lacks %q:\n%s", r.status, want, r.body)
			}
		}
		if strings.Index(r.body, ">8–7<") > strings.Index(r.body, ">6<") {
			t.Errorf("explorer chain page: the missing run is not above sequence 6:\n%s", r.body)
		}
		// A page that starts in the gap.
		target := prefix + "/?tenant_id=" + tenantA + "&limit=2&offset=7"
		want := listPage(t, []protocol.Sealed{a[1], a[0]}, 10, 2, 7, -1, false)
		want = want[:len(want)-len(`[]}`)] + `[{"first_sequence":2,"last_sequence":2,"offset":7}]}`
		if got := get(t, srv, target, http.StatusOK); got != want {
			t.Errorf("GET %s:\n got %s\nwant %s", target, got, want)
		}
	})
}

// A chain's capsules of one type are paged through its ladder: every page,
// at every offset, with a ladder of every step, is the page counting rows
// gives, with the same total and next offset; so after appends below a
// step (counted above the ladder) and past one (rungs added), and the
// rows the store was asked for never skip a step or more.
func TestListTypeLadder(t *testing.T) {
	for _, step := range []int64{1, 3, 8} {
		t.Run(fmt.Sprint("step ", step), func(t *testing.T) {
			defer nethttp.SetLadderStep(step)()
			st := &readLog{Store: memory.New()}
			srv := serve(t, nethttp.Handler(st))
			head := storage.Head{Sequence: -1}
			grow := func(n int) {
				recs := storagetest.Chain(tenantA, head, n)
				if err := st.Append(t.Context(), tenantA, recs); err != nil {
					t.Fatal(err)
				}
				head = storage.Head{Sequence: recs[n-1].Sequence, Hash: recs[n-1].Hash}
			}
			check := func() {
				t.Helper()
				for _, typ := range []string{"tool", "agent"} {
					f := storage.Filter{Tenant: ptr(tenantA), Type: typ}
					total, err := st.Count(t.Context(), f)
					if err != nil {
						t.Fatal(err)
					}
					for offset := range total + 2 {
						for _, limit := range []int{1, 4} {
							f.Offset, f.Limit = offset, limit
							recs, err := st.List(t.Context(), f)
							if err != nil {
								t.Fatal(err)
							}
							next := int(offset) + len(recs)
							if int64(next) >= total {
								next = -1
							}
							want := listPage(t, recs, int(total), limit, int(offset), next, false)
							st.take()
							target := fmt.Sprintf("%s/?tenant_id=%s&type=%s&limit=%d&offset=%d", prefix, tenantA, typ, limit, offset)
							if got := get(t, srv, target, http.StatusOK); got != want {
								t.Fatalf("GET %s:\n got %s\nwant %s", target, got, want)
							}
							for _, read := range st.take() {
								var skip int64
								if _, err := fmt.Sscanf(read[strings.Index(read, "offset="):], "offset=%d", &skip); err != nil || skip >= 2*step+1 {
									t.Fatalf("GET %s: the store skipped %d rows (%s)", target, skip, read)
								}
							}
						}
					}
				}
			}
			grow(50)
			check()
			grow(int(2 * step)) // below a step of each type: counted above the ladder
			check()
			grow(int(20*step) + 3) // rungs added
			check()
		})
	}
}

// shrunk is a store whose chains end at sequence max: rows removed from
// the top behind the store's back.
type shrunk struct {
	storage.Store
	max int64
}

func (s *shrunk) bound(f storage.Filter) storage.Filter {
	if f.MaxSequence == nil || *f.MaxSequence > s.max {
		f.MaxSequence = &s.max
	}
	return f
}

func (s *shrunk) Head(ctx context.Context, tenant string) (storage.Head, error) {
	recs, err := s.Store.List(ctx, storage.Filter{Tenant: &tenant, MaxSequence: &s.max, Limit: 1})
	if err != nil || len(recs) == 0 {
		return storage.Head{Sequence: -1}, err
	}
	return storage.Head{Sequence: recs[0].Sequence, Hash: recs[0].Hash}, nil
}

func (s *shrunk) List(ctx context.Context, f storage.Filter) ([]protocol.Sealed, error) {
	return s.Store.List(ctx, s.bound(f))
}

func (s *shrunk) Count(ctx context.Context, f storage.Filter) (int64, error) {
	return s.Store.Count(ctx, s.bound(f))
}

// A chain whose head moves down (rows removed from the top) gets its
// ladder built again; concurrent requests of one type share the ladder
// (run with -race) and each gets the page counting gives.
func TestListTypeLadderShrinkAndConcurrent(t *testing.T) {
	defer nethttp.SetLadderStep(4)()
	mem := memory.New()
	recs := storagetest.Chain(tenantA, storage.Head{Sequence: -1}, 200)
	if err := mem.Append(t.Context(), tenantA, recs); err != nil {
		t.Fatal(err)
	}
	st := &shrunk{Store: mem, max: 199}
	srv := serve(t, nethttp.Handler(st, nethttp.WithMaxList(64)))
	want := func(offset int64) string {
		f := storage.Filter{Tenant: ptr(tenantA), Type: "tool", Limit: 3, Offset: offset}
		total, err := st.Count(t.Context(), f)
		if err != nil {
			t.Fatal(err)
		}
		page, err := st.List(t.Context(), f)
		if err != nil {
			t.Fatal(err)
		}
		next := int(offset) + len(page)
		if int64(next) >= total {
			next = -1
		}
		return listPage(t, page, int(total), 3, int(offset), next, false)
	}
	target := func(offset int64) string {
		return fmt.Sprintf("%s/?tenant_id=%s&type=tool&limit=3&offset=%d", prefix, tenantA, offset)
	}
	for _, max := range []int64{199, 120, 57} {
		st.max = max
		var wg sync.WaitGroup
		for offset := range int64(20) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := do(t, srv, http.MethodGet, target(offset), nil)
				if w := want(offset); r.status != http.StatusOK || r.body != w {
					t.Errorf("head %d, GET %s: %d\n got %s\nwant %s", max, target(offset), r.status, r.body, w)
				}
			}()
		}
		wg.Wait()
	}
}
