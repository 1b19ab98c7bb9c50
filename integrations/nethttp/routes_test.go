package nethttp_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/capsule-go/capsule/integrations/nethttp"
	"github.com/capsule-go/capsule/protocol"
)

func TestMethods(t *testing.T) {
	forBackends(t, func(t *testing.T, f *fixture) {
		srv := serve(t, nethttp.Handler(f.store))
		id := f.chains[tenantA][0].ID
		targets := []string{"/", "", "/verify", "/" + id, "/?limit=banana"}
		for _, target := range targets {
			for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions, "BREW"} {
				r := do(t, srv, method, prefix+target, nil)
				if want := `{"error":"method not allowed"}`; r.status != http.StatusMethodNotAllowed || r.body != want {
					t.Errorf("%s %s = %d %s, want 405 %s", method, target, r.status, r.body, want)
				}
				if got := r.header.Get("Allow"); got != "GET, HEAD" {
					t.Errorf("%s %s: Allow = %q", method, target, got)
				}
				checkHeaders(t, method+" "+target, r.header)
			}
			// HEAD answers like GET, without a body.
			g := do(t, srv, http.MethodGet, prefix+target, nil)
			h := do(t, srv, http.MethodHead, prefix+target, nil)
			if h.status != g.status || h.body != "" || h.header.Get("Content-Length") != g.header.Get("Content-Length") {
				t.Errorf("HEAD %s = %d, %d bytes, Content-Length %q; GET = %d, Content-Length %q",
					target, h.status, len(h.body), h.header.Get("Content-Length"), g.status, g.header.Get("Content-Length"))
			}
			checkHeaders(t, "HEAD "+target, h.header)
		}
		// Paths outside the routes (for / see TestRoot).
		for _, target := range []string{"/api/v1/capsule", "/api/v1/capsules/" + id + "/x", "/api/v1/capsules/verify/x", "/other",
			"/api/v1/capsules//verify", "/api/v1/capsules/x/../verify", "/api/v1/./capsules/", "/api/v1/capsules/verify/"} {
			for _, method := range []string{http.MethodGet, http.MethodPost} {
				r := do(t, srv, method, target, nil)
				if want := `{"error":"not found"}`; r.status != http.StatusNotFound || r.body != want {
					t.Errorf("%s %s = %d %s, want 404 %s", method, target, r.status, r.body, want)
				}
				checkHeaders(t, method+" "+target, r.header)
			}
		}
	})
}

func TestMount(t *testing.T) {
	forBackends(t, func(t *testing.T, f *fixture) {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
		mux.HandleFunc("GET /api/v1/capsules/stats", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("stats")) })
		nethttp.Mount(mux, f.store)
		nethttp.Mount(mux, f.store, nethttp.WithPrefix("/audit/"), nethttp.WithTenantFunc(headerTenant))
		srv := serve(t, mux)

		a0 := f.chains[tenantA][0]
		wantList := listBody(t, page(f.all(), 2, 0), 15, 2, 0)
		for _, target := range []string{prefix + "/?limit=2", prefix + "?limit=2"} {
			if got := get(t, srv, target, http.StatusOK); got != wantList {
				t.Errorf("GET %s:\n got %s\nwant %s", target, got, wantList)
			}
		}
		if got, want := get(t, srv, prefix+"/"+a0.ID, http.StatusOK), sealed(t, a0); got != want {
			t.Errorf("GET %s:\n got %s\nwant %s", a0.ID, got, want)
		}
		if r := do(t, srv, http.MethodGet, "/health", nil); r.body != "ok" {
			t.Errorf("GET /health = %d %s", r.status, r.body)
		}
		if r := do(t, srv, http.MethodGet, prefix+"/stats", nil); r.body != "stats" {
			t.Errorf("GET %s/stats = %d %s: the application's route must win", prefix, r.status, r.body)
		}
		// The second mount is bound to the X-Tenant header.
		hdr := http.Header{"X-Tenant": {tenantB}}
		b := filter(f.all(), func(r protocol.Sealed) bool { return r.Tenant == tenantB })
		for _, target := range []string{"/audit/", "/audit"} {
			r := do(t, srv, http.MethodGet, target, hdr)
			if want := listBody(t, b, len(b), 20, 0); r.status != http.StatusOK || r.body != want {
				t.Errorf("GET %s = %d\n got %s\nwant %s", target, r.status, r.body, want)
			}
		}
		if r := do(t, srv, http.MethodGet, "/audit/"+a0.ID, hdr); r.status != http.StatusNotFound {
			t.Errorf("GET /audit/%s bound to B = %d %s", a0.ID, r.status, r.body)
		}
		if r := do(t, srv, http.MethodGet, "/audit/verify", nil); r.status != http.StatusUnauthorized {
			t.Errorf("GET /audit/verify unauthenticated = %d %s", r.status, r.body)
		}
		// Another method: the application's mux answers 405 itself.
		r := do(t, srv, http.MethodPost, prefix+"/verify", nil)
		if r.status != http.StatusMethodNotAllowed || !strings.Contains(r.header.Get("Allow"), "GET") {
			t.Errorf("POST %s/verify on a mounted mux = %d, Allow %q", prefix, r.status, r.header.Get("Allow"))
		}
	})
}

func TestPrefix(t *testing.T) {
	forBackends(t, func(t *testing.T, f *fixture) {
		a0 := f.chains[tenantA][0]
		for _, tc := range []struct{ opt, base string }{
			{"", prefix},
			{"/", ""},
			{"/x/y", "/x/y"},
			{"/x/y//", "/x/y"},
		} {
			srv := serve(t, nethttp.Handler(f.store, nethttp.WithPrefix(tc.opt)))
			if got, want := get(t, srv, tc.base+"/"+a0.ID, http.StatusOK), sealed(t, a0); got != want {
				t.Errorf("prefix %q: GET %s/%s = %s", tc.opt, tc.base, a0.ID, got)
			}
			if got := get(t, srv, tc.base+"/?limit=1", http.StatusOK); !strings.HasPrefix(got, `{"capsules":[{`) {
				t.Errorf("prefix %q: GET %s/ = %s", tc.opt, tc.base, got)
			}
			if got := get(t, srv, tc.base+"/verify?tenant_id="+tenantB, http.StatusOK); got != verifyBody(true, "full", 5, 1, true, ptr(tenantB), nil, "") {
				t.Errorf("prefix %q: GET %s/verify = %s", tc.opt, tc.base, got)
			}
		}
		for _, bad := range []string{"api", "/api/{x}", "/api v1", "/api?x", "/api#x", "/api//v1", "/api/./v1", "/api/../v1", "/a%2Fb"} {
			func() {
				defer func() {
					if recover() == nil {
						t.Errorf("WithPrefix(%q) did not panic", bad)
					}
				}()
				nethttp.Handler(f.store, nethttp.WithPrefix(bad))
			}()
		}
	})
}

func TestStorageFailure(t *testing.T) {
	forBackends(t, func(t *testing.T, f *fixture) {
		var logs logBuffer
		srv := serve(t, nethttp.Handler(f.store, nethttp.WithLogger(logs.logger())))
		a0 := f.chains[tenantA][0]
		if err := f.caps.Close(); err != nil {
			t.Fatalf("Capsules.Close: %v", err)
		}
		if err := f.store.Close(); err != nil {
			t.Fatalf("Store.Close: %v", err)
		}
		want := `{"error":"storage unavailable"}`
		for _, target := range []string{"/", "/?tenant_id=" + tenantA, "/verify", "/verify?tenant_id=" + tenantA, "/" + a0.ID, "/ab12"} {
			if got := get(t, srv, prefix+target, http.StatusServiceUnavailable); got != want {
				t.Errorf("GET %s on a closed store = %s, want %s", target, got, want)
			}
		}
		// Bad parameters are still 400: they are checked before storage.
		get(t, srv, prefix+"/?limit=0", http.StatusBadRequest)
		if l := logs.String(); !strings.Contains(l, "storage failure") || strings.Count(l, "level=ERROR") != 6 {
			t.Errorf("logs of six storage failures:\n%s", l)
		}
	})
}

func TestUnreadableCapsule(t *testing.T) {
	forBackends(t, func(t *testing.T, f *fixture) {
		var logs logBuffer
		srv := serve(t, nethttp.Handler(f.store, nethttp.WithLogger(logs.logger())))
		victim := f.chains[tenantB][1]
		f.tamper(t, tenantB, victim.ID, "data", `["not an object"]`)
		want := `{"error":"stored capsule is unreadable","capsule_id":"` + victim.ID + `"}`
		if got := get(t, srv, prefix+"/"+victim.ID, http.StatusInternalServerError); got != want {
			t.Errorf("GET %s = %s, want %s", victim.ID, got, want)
		}
		// The list names it among the others (TestListTamperedRow).
		b := f.chains[tenantB]
		want = listPage(t, []protocol.Sealed{b[4], b[3], b[2], b[0]}, 5, 20, 0, -1, false,
			unreadableEntry(t, victim, `["not an object"]`, 3))
		if got := get(t, srv, prefix+"/?tenant_id="+tenantB, http.StatusOK); got != want {
			t.Errorf("list of a chain with an unreadable capsule:\n got %s\nwant %s", got, want)
		}
		if !strings.Contains(logs.String(), "stored capsule is unreadable") {
			t.Errorf("no log of the unreadable capsule:\n%s", logs.String())
		}
		// The verify route reports it as a broken chain.
		body := get(t, srv, prefix+"/verify?tenant_id="+tenantB, http.StatusOK)
		if !strings.HasPrefix(body, `{"valid":false,"level":"full","capsules_verified":1,`) || !strings.Contains(body, `"broken_at":"`+victim.ID+`"`) {
			t.Errorf("verify of a chain with an unreadable capsule = %s", body)
		}
	})
}
