package nethttp_test

import (
	"bufio"
	"context"
	"errors"
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

	"github.com/capsule-go/capsule/integrations/nethttp"
	"github.com/capsule-go/capsule/storage"
)

// heldStore holds every Scan until release is closed, counting the scans
// begun.
type heldStore struct {
	storage.Store
	scans   atomic.Int64
	release chan struct{}
}

func (s *heldStore) Scan(ctx context.Context, tenant string, from int64) iter.Seq2[storage.Record, error] {
	return func(yield func(storage.Record, error) bool) {
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
		var wg sync.WaitGroup
		statuses := make(chan int, 6)
		for range 2 {
			wg.Go(func() {
				statuses <- do(t, srv, http.MethodGet, prefix+"/verify?tenant_id="+tenantA, nil).status
			})
		}
		for deadline := time.Now().Add(10 * time.Second); held.scans.Load() < 2; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the two verify requests did not start")
			}
		}
		refused := 0
		for range 4 {
			r := do(t, srv, http.MethodGet, prefix+"/verify?tenant_id="+tenantA, nil)
			checkHeaders(t, "refused verify", r.header)
			if r.status == http.StatusServiceUnavailable && r.header.Get("Retry-After") != "" &&
				r.body == `{"error":"too many verifications in progress; retry later"}` {
				refused++
			} else {
				t.Errorf("verify over the cap: %d %q %s", r.status, r.header.Get("Retry-After"), r.body)
			}
		}
		close(held.release)
		wg.Wait()
		close(statuses)
		for s := range statuses {
			if s != http.StatusOK {
				t.Errorf("admitted verify: status %d", s)
			}
		}
		t.Logf("6 verify requests, cap 2: %d refused with 503, %d scans ran", refused, held.scans.Load())
		if held.scans.Load() != 2 {
			t.Errorf("%d verifications ran, want 2", held.scans.Load())
		}
		// The slots are free again.
		get(t, srv, prefix+"/verify?tenant_id="+tenantA, http.StatusOK)
	})
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

func (stalledStore) Get(ctx context.Context, id string, tenant *string) (storage.Record, error) {
	return storage.Record{}, stall(ctx)
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
