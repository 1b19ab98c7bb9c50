package nethttp_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/capsule-go/capsule/integrations/nethttp"
	"github.com/capsule-go/capsule/storage/memory"
)

// GET {prefix}/healthz is 200 while the store answers and every check
// passes, and 503 with the reason otherwise.
func TestHealth(t *testing.T) {
	forBackends(t, func(t *testing.T, f *fixture) {
		srv := serve(t, nethttp.Handler(f.store, nethttp.WithHealth(f.caps.Health)))
		if got, want := get(t, srv, prefix+"/healthz", http.StatusOK), `{"status":"ok"}`; got != want {
			t.Fatalf("healthz = %s, want %s", got, want)
		}
	})

	st := memory.New()
	failing := errors.New("audit breaker open")
	srv := serve(t, nethttp.Handler(st, nethttp.WithHealth(func(context.Context) error { return failing })))
	r := do(t, srv, http.MethodGet, prefix+"/healthz", nil)
	if want := `{"status":"unavailable","error":"audit breaker open"}`; r.status != http.StatusServiceUnavailable || r.body != want {
		t.Fatalf("healthz with a failing check = %d %s, want 503 %s", r.status, r.body, want)
	}
	if r.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	checkHeaders(t, "healthz", r.header)

	// A check that does not answer within the second is a failure.
	hung := serve(t, nethttp.Handler(st, nethttp.WithHealth(func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	})))
	r = do(t, hung, http.MethodGet, prefix+"/healthz", nil)
	if want := `{"status":"unavailable","error":"health check did not answer within 1s"}`; r.status != http.StatusServiceUnavailable || r.body != want {
		t.Fatalf("healthz with a hung check = %d %s, want 503 %s", r.status, r.body, want)
	}

	// The store itself is probed, with or without checks.
	var logs logBuffer
	closed := memory.New()
	closed.Close()
	srv = serve(t, nethttp.Handler(closed, nethttp.WithLogger(logs.logger())))
	r = do(t, srv, http.MethodGet, prefix+"/healthz", nil)
	if want := `{"status":"unavailable","error":"storage unavailable"}`; r.status != http.StatusServiceUnavailable || r.body != want {
		t.Fatalf("healthz on a closed store = %d %s, want 503 %s", r.status, r.body, want)
	}
	if !strings.Contains(logs.String(), "health") {
		t.Errorf("the store's failure is not logged:\n%s", logs.String())
	}
}

// A browser opening the root of capsule serve's handler is sent to the
// explorer; a JSON client gets a 404 naming where the routes are.
func TestRoot(t *testing.T) {
	st := memory.New()
	srv := serve(t, nethttp.Handler(st))
	srv.Client().CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	r := do(t, srv, http.MethodGet, "/", http.Header{"Accept": {"text/html,application/xhtml+xml,*/*;q=0.8"}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != prefix+"/explore/" {
		t.Fatalf("browser at / = %d Location %q, want 303 to %s/explore/", r.status, r.header.Get("Location"), prefix)
	}
	want := `{"error":"not found","routes":"/api/v1/capsules/","explorer":"/api/v1/capsules/explore/"}`
	for _, h := range []http.Header{nil, {"Accept": {"application/json"}}} {
		r := do(t, srv, http.MethodGet, "/", h)
		if r.status != http.StatusNotFound || r.body != want {
			t.Fatalf("GET / (Accept %q) = %d %s, want 404 %s", h.Get("Accept"), r.status, r.body, want)
		}
		checkHeaders(t, "GET /", r.header)
	}
	// With the routes at the root, / is the list route as before.
	root := serve(t, nethttp.Handler(st, nethttp.WithPrefix("/")))
	if got := get(t, root, "/", http.StatusOK); !strings.HasPrefix(got, `{"capsules":`) {
		t.Fatalf("GET / with prefix / = %s", got)
	}
}
