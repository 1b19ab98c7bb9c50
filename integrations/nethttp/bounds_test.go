package nethttp_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/capsule-go/capsule"
	"github.com/capsule-go/capsule/integrations/nethttp"
	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/storage"
)

// heldStore holds every Scan until release is closed, counting the scans
// begun.
type heldStore struct {
	storage.Store
	scans   atomic.Int64
	release chan struct{}
}

func (s *heldStore) Scan(ctx context.Context, tenant string, from int64) iter.Seq2[protocol.Sealed, error] {
	return func(yield func(protocol.Sealed, error) bool) {
		s.scans.Add(1)
		select {
		case <-s.release:
		case <-ctx.Done():
		}
		for rec, err := range s.Store.Scan(ctx, tenant, from) {
			if !yield(rec, err) {
				return
			}
		}
	}
}

// Verify requests beyond the cap are refused at once with 503 JSON and
// Retry-After, while the ones admitted run to completion: six requests,
// two admitted, four refused.
func TestVerifyConcurrencyCap(t *testing.T) {
	forBackends(t, func(t *testing.T, f *fixture) {
		held := &heldStore{Store: f.store, release: make(chan struct{})}
		srv := serve(t, nethttp.Handler(held, nethttp.WithMaxVerify(2)))
		checkCap(t, srv, prefix+"/verify?tenant_id="+tenantA, 2, 4, held.scans.Load, held.release,
			`{"error":"too many verifications in progress; retry later"}`)
	})
}

// checkCap sends admitted requests for target, which the store holds
// until release is closed (started counts those it began), then refused
// more, which must get 503 JSON with Retry-After and the body want at
// once. It then lets the held ones finish with 200, checks that the store
// began only the admitted ones, and that the slots are free again.
func checkCap(t *testing.T, srv *httptest.Server, target string, admitted, refused int, started func() int64,
	release chan struct{}, want string) {
	t.Helper()
	var wg sync.WaitGroup
	statuses := make(chan int, admitted)
	for range admitted {
		wg.Go(func() { statuses <- do(t, srv, http.MethodGet, target, nil).status })
	}
	waitFor(t, int64(admitted), started, "held requests")
	n := 0
	for range refused {
		r := do(t, srv, http.MethodGet, target, nil)
		checkHeaders(t, "refused request", r.header)
		if r.status == http.StatusServiceUnavailable && r.header.Get("Retry-After") != "" && r.body == want {
			n++
		} else {
			t.Errorf("GET %s over the cap: %d %q %.200s", target, r.status, r.header.Get("Retry-After"), r.body)
		}
	}
	close(release)
	wg.Wait()
	close(statuses)
	for s := range statuses {
		if s != http.StatusOK {
			t.Errorf("admitted GET %s: status %d", target, s)
		}
	}
	t.Logf("%d requests, cap %d: %d refused with 503, %d ran", admitted+refused, admitted, n, started())
	if started() != int64(admitted) {
		t.Errorf("%d requests ran, want %d", started(), admitted)
	}
	get(t, srv, target, http.StatusOK)
}

// waitFor waits until count() reaches n, at most 10 s.
func waitFor(t *testing.T, n int64, count func() int64, what string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); count() < n; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d %s started", count(), n, what)
		}
	}
}

// stalledStore does not answer a read until its context ends (or, so that
// a handler without a bound fails the test instead of hanging it, 10 s
// pass).
type stalledStore struct{ storage.Store }

func stall(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(10 * time.Second):
		return errors.New("stalled for 10 s: the request has no deadline")
	}
}

func (stalledStore) Get(ctx context.Context, id string, tenant *string) (protocol.Sealed, error) {
	return protocol.Sealed{}, stall(ctx)
}

func (stalledStore) Count(ctx context.Context, f storage.Filter) (int64, error) {
	return 0, stall(ctx)
}

// The list and capsule routes give up on a storage read after the query
// timeout: 503 JSON with Retry-After, not a request that never ends.
func TestQueryTimeout(t *testing.T) {
	forBackends(t, func(t *testing.T, f *fixture) {
		logs := &logBuffer{}
		srv := serve(t, nethttp.Handler(stalledStore{f.store}, nethttp.WithQueryTimeout(50*time.Millisecond),
			nethttp.WithLogger(logs.logger())))
		for _, target := range []string{prefix + "/ab12", prefix + "/" + fixedIDs[tenantA], prefix + "/?limit=5"} {
			start := time.Now()
			r := do(t, srv, http.MethodGet, target, nil)
			if r.status != http.StatusServiceUnavailable || r.body != `{"error":"storage did not answer in time"}` ||
				r.header.Get("Retry-After") == "" {
				t.Errorf("GET %s on a stalled store: %d %q %s", target, r.status, r.header.Get("Retry-After"), r.body)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("GET %s took %v with a 50ms query timeout", target, d)
			}
		}
		if !strings.Contains(logs.String(), "storage did not answer in time") {
			t.Errorf("timeout not logged: %s", logs.String())
		}
	})
}

// OPTIONS * is answered in JSON, like every other request, when the
// server passes it to the handler.
func TestOptionsStar(t *testing.T) {
	srv := httptest.NewUnstartedServer(nethttp.Handler(stalledStore{}))
	srv.Config.DisableGeneralOptionsHandler = true
	srv.Start()
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	checkHeaders(t, "OPTIONS *", resp.Header)
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" || string(body) != `{"error":"method not allowed"}` {
		t.Errorf("OPTIONS *: %d Allow %q %s", resp.StatusCode, resp.Header.Get("Allow"), body)
	}
}

// bigFixture adds a chain "big" of n capsules of about size bytes of
// content each to f, and returns it.
func bigFixture(t *testing.T, f *fixture, n, size int) []protocol.Sealed {
	t.Helper()
	var chain []protocol.Sealed
	for i := range n {
		cp := capsule.New(capsule.TypeTool)
		cp.Reasoning.Analysis = fmt.Sprintf("%d:%s", i, strings.Repeat("x", size))
		sealed, err := f.caps.Append(t.Context(), "big", cp)
		if err != nil {
			t.Fatalf("Append big #%d: %v", i, err)
		}
		chain = append(chain, sealed)
	}
	return chain
}

// newestUpTo returns chain newest first from offset, up to and including
// the capsule that brings the content to budget bytes, at most limit.
func newestUpTo(chain []protocol.Sealed, offset, limit int, budget int64) []protocol.Sealed {
	var out []protocol.Sealed
	var n int64
	for i := len(chain) - 1 - offset; i >= 0 && len(out) < limit; i-- {
		out = append(out, chain[i])
		if n += int64(len(chain[i].Data)); n >= budget {
			break
		}
	}
	return out
}

// A page of the list route holds at most about the byte bound of content
// (default 4 MiB; at least one capsule, whatever its size): it says
// truncated and where the next page starts, and paging on next_offset
// reads the whole chain.
func TestListByteBound(t *testing.T) {
	const defaultListBytes = nethttp.DefaultListBytes
	forBackends(t, func(t *testing.T, f *fixture) {
		big := bigFixture(t, f, 6, 1<<20)
		srv := serve(t, nethttp.Handler(f.store))
		first := newestUpTo(big, 0, 20, defaultListBytes)
		if len(first) != 4 {
			t.Fatalf("a page of 1 MiB capsules under 4 MiB: %d capsules, want 4", len(first))
		}
		want := listPage(t, first, 6, 20, 0, 4, true)
		if got := get(t, srv, prefix+"/?tenant_id=big", http.StatusOK); got != want {
			t.Errorf("first page of big capsules: %d bytes, want %d:\n got %.300s…\nwant %.300s…", len(got), len(want), got, want)
		}
		want = listPage(t, newestUpTo(big, 4, 20, defaultListBytes), 6, 20, 4, -1, false)
		if got := get(t, srv, prefix+"/?tenant_id=big&offset=4", http.StatusOK); got != want {
			t.Errorf("second page of big capsules: %d bytes, want %d", len(got), len(want))
		}
		// The page fits the limit before the bound: not truncated.
		want = listPage(t, newestUpTo(big, 0, 2, defaultListBytes), 6, 2, 0, 2, false)
		if got := get(t, srv, prefix+"/?tenant_id=big&limit=2", http.StatusOK); got != want {
			t.Errorf("page of 2 big capsules: %d bytes, want %d", len(got), len(want))
		}
		// The explorer pages on: capsules 1-4, then from offset 4.
		body := htmlPage(t, srv, prefix+"/explore/chain?tenant_id=big", nil, http.StatusOK)
		mustContain(t, "chain page of big capsules", body, "capsules 1–4 of 6", `href="./chain?offset=4&amp;tenant_id=big"`)
	})
}

// Paging on next_offset under a small byte bound reads every capsule once.
func TestListByteBoundPaging(t *testing.T) {
	forBackends(t, func(t *testing.T, f *fixture) {
		srv := serve(t, nethttp.Handler(f.store, nethttp.WithListBytes(2000)))
		all := f.all()
		var seen []protocol.Sealed
		for offset, pages := 0, 0; ; pages++ {
			if pages > len(all) {
				t.Fatalf("paging did not end after %d pages", pages)
			}
			want := newestUpTo(reversed(all), offset, 100, 2000)
			next := offset + len(want)
			if next >= len(all) {
				next = -1
			}
			got := get(t, srv, fmt.Sprintf("%s/?limit=100&offset=%d", prefix, offset), http.StatusOK)
			if w := listPage(t, want, len(all), 100, offset, next, next >= 0); got != w {
				t.Fatalf("page at offset %d:\n got %.300s\nwant %.300s", offset, got, w)
			}
			seen = append(seen, want...)
			if next < 0 {
				break
			}
			offset = next
		}
		if len(seen) != len(all) {
			t.Errorf("paging read %d capsules, want %d", len(seen), len(all))
		}
	})
}

// reversed returns recs in reverse order (so that newestUpTo, which reads
// a chain from its end, reads recs from the start).
func reversed(recs []protocol.Sealed) []protocol.Sealed {
	out := make([]protocol.Sealed, len(recs))
	for i, r := range recs {
		out[len(recs)-1-i] = r
	}
	return out
}

// heldLister holds every List until release is closed, counting the
// lists begun (or, so that a handler without a cap fails the test
// instead of hanging it, until 10 s pass).
type heldLister struct {
	storage.Store
	lists   atomic.Int64
	release chan struct{}
}

func (s *heldLister) List(ctx context.Context, f storage.Filter) ([]protocol.Sealed, error) {
	s.lists.Add(1)
	select {
	case <-s.release:
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
	}
	return s.Store.List(ctx, f)
}

// List requests beyond the cap (default 4) are refused at once with 503
// JSON and Retry-After, while the ones admitted run to completion: six
// requests, four admitted, two refused.
func TestListConcurrencyCap(t *testing.T) {
	forBackends(t, func(t *testing.T, f *fixture) {
		held := &heldLister{Store: f.store, release: make(chan struct{})}
		srv := serve(t, nethttp.Handler(held))
		checkCap(t, srv, prefix+"/?limit=100", nethttp.DefaultMaxList, 2, held.lists.Load, held.release,
			`{"error":"too many list requests in progress; retry later"}`)
	})
}

// WithMaxList sets the cap, the explorer's reads included; n <= 0 removes
// it.
func TestListCapOption(t *testing.T) {
	f := newFixture(t, backends()[0])
	held := &heldLister{Store: f.store, release: make(chan struct{})}
	srv := serve(t, nethttp.Handler(held, nethttp.WithMaxList(1)))
	done := make(chan int, 1)
	go func() { done <- do(t, srv, http.MethodGet, prefix+"/", nil).status }()
	waitFor(t, 1, held.lists.Load, "list requests")
	get(t, srv, prefix+"/?limit=1", http.StatusServiceUnavailable)
	mustContain(t, "chain page over the cap", htmlPage(t, srv, prefix+"/explore/chain?tenant_id=", nil, http.StatusServiceUnavailable),
		"too many list requests in progress")
	close(held.release)
	if s := <-done; s != http.StatusOK {
		t.Errorf("admitted list: status %d", s)
	}

	unbounded := &heldLister{Store: f.store, release: make(chan struct{})}
	srv = serve(t, nethttp.Handler(unbounded, nethttp.WithMaxList(0)))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { get(t, srv, prefix+"/?limit=1", http.StatusOK) })
	}
	waitFor(t, 8, unbounded.lists.Load, "unbounded list requests")
	close(unbounded.release)
	wg.Wait()
}
