package nethttp_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/capsule-go/capsule/integrations/nethttp"
)

// htmlPage fetches an explorer page without following redirects and checks
// the status and the headers every explorer page carries.
func htmlPage(t *testing.T, srv *httptest.Server, target string, header http.Header, wantStatus int) string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+target, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	client := *srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != wantStatus {
		t.Fatalf("GET %s: status %d, want %d\n%s", target, res.StatusCode, wantStatus, body)
	}
	if res.StatusCode == http.StatusSeeOther {
		return res.Header.Get("Location")
	}
	for k, want := range map[string]string{
		"Content-Type":            "text/html; charset=utf-8",
		"Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
		"X-Content-Type-Options":  "nosniff",
		"Cache-Control":           "no-store",
		"Referrer-Policy":         "no-referrer",
	} {
		if got := res.Header.Get(k); got != want {
			t.Errorf("GET %s: %s = %q, want %q", target, k, got, want)
		}
	}
	return string(body)
}

func mustContain(t *testing.T, what, body string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, body)
		}
	}
}

var browserAccept = http.Header{"Accept": {"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}}

// A browser opening the mount point is sent to the explorer; JSON clients,
// and any request with a query, get the list route exactly as before.
func TestExplorerNegotiation(t *testing.T) {
	f := newFixture(t, backends()[0])
	srv := serve(t, nethttp.Handler(f.store))
	for _, target := range []string{prefix + "/", prefix, prefix + "/explore"} {
		if loc := htmlPage(t, srv, target, browserAccept, http.StatusSeeOther); loc != prefix+"/explore/" {
			t.Errorf("GET %s from a browser redirects to %q", target, loc)
		}
	}
	want := listBody(t, page(f.all(), 20, 0), 15, 20, 0)
	for _, accept := range []string{"", "*/*", "application/json"} {
		h := http.Header{}
		if accept != "" {
			h.Set("Accept", accept)
		}
		r := do(t, srv, http.MethodGet, prefix+"/", h)
		if r.status != http.StatusOK || r.body != want {
			t.Errorf("GET %s/ with Accept %q = %d %s", prefix, accept, r.status, r.body)
		}
		checkHeaders(t, "list with Accept "+accept, r.header)
	}
	r := do(t, srv, http.MethodGet, prefix+"/?limit=20", browserAccept)
	if r.status != http.StatusOK || r.body != want {
		t.Errorf("GET with a query from a browser = %d %s", r.status, r.body)
	}
	// The stylesheet is the only asset, served from the binary.
	css := do(t, srv, http.MethodGet, prefix+"/explore/style.css", nil)
	if css.status != http.StatusOK || css.header.Get("Content-Type") != "text/css; charset=utf-8" || !strings.Contains(css.body, ".verdict.broken") {
		t.Errorf("style.css: %d %v", css.status, css.header)
	}
	// No page refers to anything outside the explorer.
	for _, target := range []string{"/explore/", "/explore/chain?tenant_id=" + tenantA, "/explore/capsule/" + f.chains[tenantA][2].ID, "/explore/verify?tenant_id="} {
		body := htmlPage(t, srv, prefix+target, nil, http.StatusOK)
		for _, bad := range []string{"http:", "https:", "//", "<script", "style="} {
			if strings.Contains(strings.ReplaceAll(body, "<!doctype html>", ""), bad) {
				t.Errorf("%s contains %q", target, bad)
			}
		}
	}
}

func TestExplorerPages(t *testing.T) {
	forBackends(t, func(t *testing.T, f *fixture) {
		srv := serve(t, nethttp.Handler(f.store, nethttp.WithResolver(f.caps.Resolver())))
		body := htmlPage(t, srv, prefix+"/explore/", nil, http.StatusOK)
		mustContain(t, "chains page", body, "Chains 1–3 of 3", `href="chain?tenant_id="`, `href="chain?tenant_id=tenant-a"`,
			`href="verify?tenant_id=tenant-b"`, ">7<", f.chains[tenantA][6].Hash[:16]+"…")
		body = htmlPage(t, srv, prefix+"/explore/?limit=1&offset=1", nil, http.StatusOK)
		mustContain(t, "second page of chains", body, "Chains 2–2 of 3", "tenant-a", `href="./?limit=1"`, `href="./?limit=1&amp;offset=2"`)
		if strings.Contains(body, "tenant-b") {
			t.Errorf("second page of one chain shows tenant-b")
		}

		// One chain, paged, filtered by type; the type from the form may
		// be empty (all types).
		body = htmlPage(t, srv, prefix+"/explore/chain?tenant_id=tenant-a&limit=3&offset=3&type=", nil, http.StatusOK)
		mustContain(t, "chain page", body, "capsules 4–6 of 7", "← Newer", "Older →",
			`href="./chain?limit=3&amp;tenant_id=tenant-a"`, `href="./chain?limit=3&amp;offset=6&amp;tenant_id=tenant-a"`,
			`href="capsule/`+f.chains[tenantA][3].ID+`?tenant_id=tenant-a"`)
		body = htmlPage(t, srv, prefix+"/explore/chain?tenant_id=tenant-a&type=chat", nil, http.StatusOK)
		mustContain(t, "chat capsules", body, "capsules 1–2 of 2 of type <strong>chat</strong>", `<option value="chat" selected>`)
		body = htmlPage(t, srv, prefix+"/explore/chain?tenant_id=nobody", nil, http.StatusOK)
		mustContain(t, "empty chain", body, "No capsules in this chain.")

		// One capsule: escaped, every section, the seal.
		c := f.chains[tenantA][2]
		// A prefix long enough to be unambiguous: the ids are time-ordered
		// (v7), so ids taken in one millisecond share their first 13
		// characters.
		body = htmlPage(t, srv, prefix+"/explore/capsule/"+c.ID[:30]+"?tenant_id=tenant-a", nil, http.StatusOK)
		mustContain(t, "capsule page", body, c.ID, c.Hash, c.Signature, "&lt;b&gt;&amp;&lt;/b&gt;", `&#34;html&#34;: &#34;&lt;script&gt;&#34;`,
			"<h2>trigger</h2>", "<h2>context</h2>", "<h2>reasoning</h2>", "<h2>authority</h2>", "<h2>execution</h2>", "<h2>outcome</h2>",
			`href="../chain?tenant_id=tenant-a"`, `href="../style.css"`)
		if strings.Contains(body, "<b>&</b>") || strings.Contains(body, "<script>") {
			t.Errorf("capsule page does not escape the capsule's text")
		}

		// Bad parameters are the JSON routes' 400s, as pages.
		for target, msg := range map[string]string{
			"/explore/chain?tenant_id=a&limit=0":     "limit must be an integer from 1 to 100",
			"/explore/chain?tenant_id=a&type=bogus":  "type must be one of",
			"/explore/chain":                         "tenant_id is required",
			"/explore/?limit=101":                    "limit must be an integer from 1 to 100",
			"/explore/?type=tool":                    "the chains page takes limit and offset only",
			"/explore/capsule/zz":                    "id must be a capsule UUID",
			"/explore/capsule/ab12":                  "matches more than one capsule",
			"/explore/verify?level=bogus&tenant_id=": "level must be structural, full or signatures",
			"/explore/verify?x=1":                    "unknown parameter",
		} {
			body := htmlPage(t, srv, prefix+target, nil, http.StatusBadRequest)
			mustContain(t, target, body, "400 · ", msg)
		}
		htmlPage(t, srv, prefix+"/explore/capsule/ffffffff", nil, http.StatusNotFound)
		htmlPage(t, srv, prefix+"/explore/nothing/here", nil, http.StatusNotFound)
	})
}

// The verification page marks the broken link, and shows a bounded
// verification as partial, with the JSON route's bounds.
func TestExplorerVerify(t *testing.T) {
	forBackends(t, func(t *testing.T, f *fixture) {
		srv := serve(t, nethttp.Handler(f.store, nethttp.WithResolver(f.caps.Resolver())))
		body := htmlPage(t, srv, prefix+"/explore/verify?tenant_id=tenant-b", nil, http.StatusOK)
		mustContain(t, "valid chain", body, "✓ Chain valid", "5 of 5 capsules verified at level signatures")

		victim := f.chains[tenantB][1]
		f.tamper(t, tenantB, victim.ID, "signature", strings.Repeat("0", 128))
		body = htmlPage(t, srv, prefix+"/explore/verify?tenant_id=tenant-b", nil, http.StatusOK)
		mustContain(t, "broken chain", body, "✗ Chain broken at sequence 1", "1 capsules before it verified",
			`<tr class="broken">`, "✗ broken link", `href="capsule/`+victim.ID+`?tenant_id=tenant-b">Open the broken capsule`)
		if n := strings.Count(body, `<tr class="broken">`); n != 1 {
			t.Errorf("%d rows marked broken, want 1", n)
		}
		// At level full the forged signature is not seen.
		body = htmlPage(t, srv, prefix+"/explore/verify?tenant_id=tenant-b&level=full", nil, http.StatusOK)
		mustContain(t, "level full", body, "✓ Chain valid")

		bounded := serve(t, nethttp.Handler(f.store, nethttp.WithVerifyLimit(4)))
		body = htmlPage(t, bounded, prefix+"/explore/verify?tenant_id=tenant-a", nil, http.StatusOK)
		mustContain(t, "bounded verification", body, "Verification stopped early", "after 4 of 7 capsules")
		if strings.Contains(body, "Chain valid") {
			t.Errorf("a bounded verification reads as valid")
		}
	})
}

// Under WithTenantFunc the pages show the bound tenant's chain only, and
// refuse what the JSON routes refuse.
func TestExplorerTenantBinding(t *testing.T) {
	f := newFixture(t, backends()[0])
	srv := serve(t, nethttp.Handler(f.store, nethttp.WithTenantFunc(headerTenant)))
	asA := http.Header{"X-Tenant": {tenantA}}
	body := htmlPage(t, srv, prefix+"/explore/", asA, http.StatusOK)
	mustContain(t, "bound chains", body, "The chain of your tenant.", "tenant-a")
	if strings.Contains(body, "tenant-b") || strings.Contains(body, "(null tenant)") {
		t.Errorf("bound chains page shows other chains:\n%s", body)
	}
	body = htmlPage(t, srv, prefix+"/explore/chain", asA, http.StatusOK)
	mustContain(t, "bound chain without tenant_id", body, "capsules 1–7 of 7")
	htmlPage(t, srv, prefix+"/explore/verify", asA, http.StatusOK)
	mustContain(t, "other tenant's chain", htmlPage(t, srv, prefix+"/explore/chain?tenant_id=tenant-b", asA, http.StatusForbidden),
		"tenant_id does not match the authenticated tenant")
	htmlPage(t, srv, prefix+"/explore/verify?tenant_id=tenant-b", asA, http.StatusForbidden)
	htmlPage(t, srv, prefix+"/explore/capsule/"+f.chains[tenantB][0].ID, asA, http.StatusNotFound)
	htmlPage(t, srv, prefix+"/explore/capsule/"+f.chains[tenantA][0].ID, asA, http.StatusOK)
	for _, target := range []string{"/explore/", "/explore/chain", "/explore/verify", "/explore/capsule/" + f.chains[tenantA][0].ID} {
		mustContain(t, "unauthenticated "+target, htmlPage(t, srv, prefix+target, nil, http.StatusUnauthorized), "authentication required")
	}
}

// Mount puts the explorer on an application's mux beside its own routes.
func TestExplorerMount(t *testing.T) {
	f := newFixture(t, backends()[0])
	mux := http.NewServeMux()
	nethttp.Mount(mux, f.store, nethttp.WithPrefix("/audit"))
	srv := serve(t, mux)
	mustContain(t, "mounted chains page", htmlPage(t, srv, "/audit/explore/", nil, http.StatusOK), "Chains 1–3 of 3")
	if loc := htmlPage(t, srv, "/audit/", browserAccept, http.StatusSeeOther); loc != "/audit/explore/" {
		t.Errorf("mounted mount point redirects to %q", loc)
	}
	root := serve(t, nethttp.Handler(f.store, nethttp.WithPrefix("/")))
	mustContain(t, "root chains page", htmlPage(t, root, "/explore/", nil, http.StatusOK), "Chains 1–3 of 3")
}
