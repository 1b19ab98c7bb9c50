package nethttp_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/capsule-go/capsule/integrations/nethttp"
	"github.com/capsule-go/capsule/protocol"
)

// headerTenant binds the tenant to the X-Tenant header; a request without
// the header is not authenticated.
func headerTenant(r *http.Request) (string, bool) {
	v, ok := r.Header["X-Tenant"]
	if !ok || len(v) != 1 {
		return "", false
	}
	return v[0], true
}

func TestTenantBinding(t *testing.T) {
	forBackends(t, func(t *testing.T, f *fixture) {
		srv := serve(t, nethttp.Handler(f.store,
			nethttp.WithTenantFunc(headerTenant),
			nethttp.WithResolver(f.caps.Resolver())))
		all := f.all()
		for _, bound := range []string{tenantA, tenantN} {
			t.Run(fmt.Sprintf("bound=%q", bound), func(t *testing.T) {
				testBoundTenant(t, f, srv, bound, all)
			})
		}

		// Not authenticated.
		for _, target := range []string{"/", "/verify", "/" + f.chains[tenantA][0].ID, "/?tenant_id=" + tenantA, "/?limit=banana"} {
			r := do(t, srv, http.MethodGet, prefix+target, nil)
			if want := `{"error":"authentication required"}`; r.status != http.StatusUnauthorized || r.body != want {
				t.Errorf("unauthenticated GET %s = %d %s, want 401 %s", target, r.status, r.body, want)
			}
			checkHeaders(t, "unauthenticated GET "+target, r.header)
		}
	})
}

// testBoundTenant checks that a request bound to tenant sees its chain and
// nothing else, through every route and parameter combination.
func testBoundTenant(t *testing.T, f *fixture, srv *httptest.Server, tenant string, all []protocol.Sealed) {
	header := http.Header{"X-Tenant": {tenant}}
	mine := map[string]bool{}
	var own []protocol.Sealed
	var foreign []string // ids and hashes of other tenants' capsules
	for _, r := range all {
		if r.Tenant == tenant {
			mine[r.ID] = true
			own = append(own, r)
		} else {
			foreign = append(foreign, r.ID, r.Hash)
		}
	}
	forbidden := `{"error":"tenant_id does not match the authenticated tenant","parameter":"tenant_id"}`
	tenantParams := []*string{nil, ptr(tenantA), ptr(tenantB), ptr(""), ptr("nobody")}
	checkBody := func(target string, r response) {
		t.Helper()
		checkHeaders(t, "GET "+target, r.header)
		for _, x := range foreign {
			if strings.Contains(r.body, x) {
				t.Fatalf("bound to %q, GET %s leaks %s of another tenant: %s", tenant, target, x, r.body)
			}
		}
	}
	withTenant := func(q url.Values, p *string) string {
		if p != nil {
			q.Set("tenant_id", *p)
		}
		return q.Encode()
	}
	mismatch := func(p *string) bool { return p != nil && *p != tenant }

	// List.
	for _, p := range tenantParams {
		for _, typ := range []string{"", "agent", "tool", "chat", "vault"} {
			for _, lo := range [][2]string{{"", ""}, {"100", ""}, {"2", "1"}, {"100", "2"}, {"1", "999"}} {
				q := url.Values{}
				if typ != "" {
					q.Set("type", typ)
				}
				if lo[0] != "" {
					q.Set("limit", lo[0])
				}
				if lo[1] != "" {
					q.Set("offset", lo[1])
				}
				target := prefix + "/?" + withTenant(q, p)
				r := do(t, srv, http.MethodGet, target, header)
				checkBody(target, r)
				if mismatch(p) {
					if r.status != http.StatusForbidden || r.body != forbidden {
						t.Errorf("bound to %q, GET %s = %d %s, want 403 %s", tenant, target, r.status, r.body, forbidden)
					}
					continue
				}
				want := filter(own, func(r protocol.Sealed) bool { return typ == "" || r.Type == typ })
				limit, offset := 20, 0
				fmt.Sscan(lo[0], &limit)
				fmt.Sscan(lo[1], &offset)
				if wantBody := listBody(t, page(want, limit, offset), len(want), limit, offset); r.status != http.StatusOK || r.body != wantBody {
					t.Errorf("bound to %q, GET %s = %d\n got %s\nwant %s", tenant, target, r.status, r.body, wantBody)
				}
			}
		}
	}

	// Get: own capsules are found, others are 404 exactly like a missing
	// one, by full id, by prefix, with or without tenant_id.
	notFound := `{"error":"capsule not found"}`
	for _, rec := range all {
		for _, id := range []string{rec.ID, rec.ID[:8], rec.ID[:4], "00000000-0000-4000-8000-000000000000"} {
			for _, p := range tenantParams {
				target := prefix + "/" + id
				if p != nil {
					target += "?" + withTenant(url.Values{}, p)
				}
				r := do(t, srv, http.MethodGet, target, header)
				checkBody(target, r)
				switch {
				case mismatch(p):
					if r.status != http.StatusForbidden || r.body != forbidden {
						t.Errorf("bound to %q, GET %s = %d %s, want 403", tenant, target, r.status, r.body)
					}
				case mine[rec.ID] && id == rec.ID:
					if want := sealed(t, rec); r.status != http.StatusOK || r.body != want {
						t.Errorf("bound to %q, GET %s = %d %s, want its capsule", tenant, target, r.status, r.body)
					}
				case !mine[rec.ID] && id == rec.ID:
					if r.status != http.StatusNotFound || r.body != notFound {
						t.Errorf("bound to %q, GET %s (another tenant's) = %d %s, want 404 %s", tenant, target, r.status, r.body, notFound)
					}
				default:
					// A prefix: 200 with one of our own capsules, 400
					// ambiguous among our own, or 404.
					switch r.status {
					case http.StatusOK:
						var v struct {
							ID string `json:"id"`
						}
						if json.Unmarshal([]byte(r.body), &v); !mine[v.ID] {
							t.Errorf("bound to %q, GET %s answered %s", tenant, target, r.body)
						}
					case http.StatusBadRequest:
						n := 0
						for id2 := range mine {
							if strings.HasPrefix(id2, id) {
								n++
							}
						}
						if n < 2 {
							t.Errorf("bound to %q, GET %s is ambiguous with %d own matches: %s", tenant, target, n, r.body)
						}
					case http.StatusNotFound:
						if r.body != notFound {
							t.Errorf("bound to %q, GET %s = 404 %s", tenant, target, r.body)
						}
					default:
						t.Errorf("bound to %q, GET %s = %d %s", tenant, target, r.status, r.body)
					}
				}
			}
		}
	}

	// Verify: only the bound chain, whatever the parameters.
	for _, p := range tenantParams {
		for _, level := range []string{"", "structural", "full", "signatures"} {
			q := url.Values{}
			if level != "" {
				q.Set("level", level)
			}
			target := prefix + "/verify?" + withTenant(q, p)
			r := do(t, srv, http.MethodGet, target, header)
			checkBody(target, r)
			if mismatch(p) {
				if r.status != http.StatusForbidden || r.body != forbidden {
					t.Errorf("bound to %q, GET %s = %d %s, want 403", tenant, target, r.status, r.body)
				}
				continue
			}
			if level == "" {
				level = "signatures"
			}
			want := verifyBody(true, level, len(own), 1, true, &tenant, nil, "")
			if r.status != http.StatusOK || r.body != want {
				t.Errorf("bound to %q, GET %s = %d\n got %s\nwant %s", tenant, target, r.status, r.body, want)
			}
		}
	}
}
