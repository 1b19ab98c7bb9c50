package nethttp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/capsule-go/capsule"
	"github.com/capsule-go/capsule/integrations/nethttp"
	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/storage"
)

const prefix = nethttp.DefaultPrefix

// forBackends runs fn once per backend, each with a fresh fixture.
func forBackends(t *testing.T, fn func(t *testing.T, f *fixture)) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) { fn(t, newFixture(t, b)) })
	}
}

func filter(recs []protocol.Sealed, keep func(protocol.Sealed) bool) []protocol.Sealed {
	var out []protocol.Sealed
	for _, r := range recs {
		if keep(r) {
			out = append(out, r)
		}
	}
	return out
}

func page(recs []protocol.Sealed, limit, offset int) []protocol.Sealed {
	if offset >= len(recs) {
		return nil
	}
	return recs[offset:min(len(recs), offset+limit)]
}

func TestList(t *testing.T) {
	forBackends(t, func(t *testing.T, f *fixture) {
		srv := serve(t, nethttp.Handler(f.store))
		all := f.all()
		if len(all) != 15 {
			t.Fatalf("fixture has %d capsules, want 15", len(all))
		}
		byTenant := func(tenant string) func(protocol.Sealed) bool {
			return func(r protocol.Sealed) bool { return r.Tenant == tenant }
		}
		byType := func(typ string) func(protocol.Sealed) bool {
			return func(r protocol.Sealed) bool { return r.Type == typ }
		}
		tests := []struct {
			query         string
			want          []protocol.Sealed // before paging
			limit, offset int
		}{
			{"", all, 20, 0},
			{"limit=5", all, 5, 0},
			{"limit=5&offset=3", all, 5, 3},
			{"limit=100&offset=14", all, 100, 14},
			{"offset=15", all, 20, 15},
			{"offset=999999999999999999", all, 20, 999999999999999999},
			{"limit=1&offset=0", all, 1, 0},
			{"type=tool", filter(all, byType("tool")), 20, 0},
			{"type=vault", nil, 20, 0},
			{"tenant_id=" + tenantA, filter(all, byTenant(tenantA)), 20, 0},
			{"tenant_id=" + tenantB + "&limit=2&offset=1", filter(all, byTenant(tenantB)), 2, 1},
			{"tenant_id=", filter(all, byTenant(tenantN)), 20, 0},
			{"tenant_id=nobody", nil, 20, 0},
			{"tenant_id=" + tenantA + "&type=agent", filter(filter(all, byTenant(tenantA)), byType("agent")), 20, 0},
			{"type=chat&limit=2&offset=2", filter(all, byType("chat")), 2, 2},
			{"&&limit=3&", all, 3, 0},
		}
		for _, tc := range tests {
			want := listBody(t, page(tc.want, tc.limit, int(min(tc.offset, 1<<30))), len(tc.want), tc.limit, tc.offset)
			for _, path := range []string{prefix + "/", prefix} {
				got := get(t, srv, path+"?"+tc.query, http.StatusOK)
				if got != want {
					t.Errorf("GET %s?%s:\n got %s\nwant %s", path, tc.query, got, want)
				}
			}
		}
	})
}

func TestListRawBytes(t *testing.T) {
	forBackends(t, func(t *testing.T, f *fixture) {
		srv := serve(t, nethttp.Handler(f.store))
		body := get(t, srv, prefix+"/?tenant_id="+tenantA+"&limit=1", http.StatusOK)
		// The sealed dict goes out as AppendSealed writes it: no HTML
		// escaping, floats as the canonical form writes them.
		for _, want := range []string{`"html":"<script>"`, `a<b && c>d`, `"signed_by":"`, `"signature_pq":""`} {
			if !strings.Contains(body, want) {
				t.Errorf("list body lacks %s: %s", want, body)
			}
		}
		if strings.Contains(body, `\u003c`) {
			t.Errorf("list body escapes '<': %s", body)
		}
		var v struct {
			Capsules []map[string]any `json:"capsules"`
		}
		if err := json.Unmarshal([]byte(body), &v); err != nil || len(v.Capsules) != 1 {
			t.Fatalf("list body does not parse as one capsule (%v): %s", err, body)
		}
		for _, k := range []string{"hash", "signature", "signature_pq", "signed_at", "signed_by", "trigger", "outcome"} {
			if _, ok := v.Capsules[0][k]; !ok {
				t.Errorf("listed capsule lacks %q", k)
			}
		}
	})
}

func TestGet(t *testing.T) {
	forBackends(t, func(t *testing.T, f *fixture) {
		srv := serve(t, nethttp.Handler(f.store))
		for _, rec := range f.all() {
			want := sealed(t, rec)
			if got := get(t, srv, prefix+"/"+rec.ID, http.StatusOK); got != want {
				t.Errorf("GET %s:\n got %s\nwant %s", rec.ID, got, want)
			}
			if got := get(t, srv, prefix+"/"+rec.ID+"?tenant_id="+url.QueryEscape(rec.Tenant), http.StatusOK); got != want {
				t.Errorf("GET %s?tenant_id=%s:\n got %s\nwant %s", rec.ID, rec.Tenant, got, want)
			}
		}
		// Prefixes: A's and B's first capsules share "ab12cd34-0000-4000-8000-00000000000",
		// all three first capsules share "ab12".
		a0, b0, n0 := f.chains[tenantA][0], f.chains[tenantB][0], f.chains[tenantN][0]
		a3 := f.chains[tenantA][3]
		for _, tc := range []struct {
			target string
			want   protocol.Sealed
		}{
			{"ab12ef", n0},
			{"ab12ef56-0000-4000-8000-00000000000", n0},
			{"ab12ef56?tenant_id=", n0},
			{"ab12cd34-0000-4000-8000-00000000000?tenant_id=" + tenantA, a0},
			{"ab12cd34?tenant_id=" + tenantB, b0},
			{"ab12?tenant_id=" + tenantB, b0},
			{a3.ID[:30], a3},
			{a3.ID[:24], a3},
		} {
			if got, want := get(t, srv, prefix+"/"+tc.target, http.StatusOK), sealed(t, tc.want); got != want {
				t.Errorf("GET %s:\n got %s\nwant %s", tc.target, got, want)
			}
		}
		for _, p := range []string{"ab12", "ab12cd34", "ab12cd34-0000-4000-8000-", "ab12cd34-0000-4000-8000-00000000000"} {
			want := `{"error":"id prefix ` + p + ` matches more than one capsule; give more characters","parameter":"id"}`
			if got := get(t, srv, prefix+"/"+p, http.StatusBadRequest); got != want {
				t.Errorf("GET %s = %s, want %s", p, got, want)
			}
		}
		notFound := `{"error":"capsule not found"}`
		for _, target := range []string{
			"/00000000-0000-4000-8000-000000000000",
			"/ffff",
			"/" + a0.ID + "?tenant_id=" + tenantB,
			"/" + a0.ID + "?tenant_id=",
			"/" + f.chains[tenantN][0].ID + "?tenant_id=" + tenantA,
		} {
			if got := get(t, srv, prefix+target, http.StatusNotFound); got != notFound {
				t.Errorf("GET %s = %s, want %s", target, got, notFound)
			}
		}
	})
}

func TestBadParameters(t *testing.T) {
	forBackends(t, func(t *testing.T, f *fixture) {
		srv := serve(t, nethttp.Handler(f.store))
		limitMsg := "limit must be an integer from 1 to 100"
		offsetMsg := "offset must be an integer from 0 to 999999999999999999"
		typeMsg := "type must be one of agent, tool, system, kill, workflow, chat, vault, auth"
		idMsg := "id must be a capsule UUID or a prefix of one, 4 to 36 characters"
		tests := []struct {
			target, param, msg string
		}{
			{"/?limit=0", "limit", limitMsg},
			{"/?limit=101", "limit", limitMsg},
			{"/?limit=-1", "limit", limitMsg},
			{"/?limit=abc", "limit", limitMsg},
			{"/?limit=", "limit", limitMsg},
			{"/?limit", "limit", limitMsg},
			{"/?limit=%2B5", "limit", limitMsg},
			{"/?limit=+5", "limit", limitMsg},
			{"/?limit=1e2", "limit", limitMsg},
			{"/?limit=5.0", "limit", limitMsg},
			{"/?limit=%205", "limit", limitMsg},
			{"/?limit=99999999999999999999999", "limit", limitMsg},
			{"/?limit=1&limit=2", "limit", "limit is given more than once"},
			{"/?offset=-1", "offset", offsetMsg},
			{"/?offset=x", "offset", offsetMsg},
			{"/?offset=1.5", "offset", offsetMsg},
			{"/?offset=", "offset", offsetMsg},
			{"/?offset=1000000000000000000", "offset", offsetMsg},
			{"/?offset=0x10", "offset", offsetMsg},
			{"/?type=banana", "type", typeMsg},
			{"/?type=AGENT", "type", typeMsg},
			{"/?type=", "type", typeMsg},
			{"/?tenant_id=%00", "tenant_id", "tenant_id contains a NUL character"},
			{"/?tenant_id=%ff", "tenant_id", "tenant_id is not valid UTF-8"},
			{"/?tenant_id=" + strings.Repeat("t", 1025), "tenant_id", "tenant_id is longer than 1024 bytes"},
			{"/?tenant_id=a&tenant_id=a", "tenant_id", "tenant_id is given more than once"},
			{"/?tenantid=a", "tenantid", `unknown parameter "tenantid" (want limit, offset, type, tenant_id)`},
			{"/?level=full", "level", `unknown parameter "level" (want limit, offset, type, tenant_id)`},
			{"/?limit=%zz", "limit", "malformed escape in limit"},
			{"/?%zz=1", "%zz", "malformed parameter name"},
			{"/?limit=5;offset=2", "limit", "semicolons are not allowed in the query string"},
			{"/?=1", "", `unknown parameter "" (want limit, offset, type, tenant_id)`},
			{"/?a;b=1", "a;b", "semicolons are not allowed in the query string"},
			{"/verify?level=banana", "level", "level must be structural, full or signatures"},
			{"/verify?level=FULL", "level", "level must be structural, full or signatures"},
			{"/verify?level=signatures", "level", "level signatures is not available: this server has no key resolver"},
			{"/verify?level=full&level=full", "level", "level is given more than once"},
			{"/verify?limit=5", "limit", `unknown parameter "limit" (want tenant_id, level)`},
			{"/verify?tenant_id=%00", "tenant_id", "tenant_id contains a NUL character"},
			{"/ZZZ", "id", idMsg},
			{"/ZZZZ", "id", "id must be a lowercase hyphenated UUID or a prefix of one (a hex digit at position 1)"},
			{"/abc", "id", idMsg},
			{"/" + f.chains[tenantA][0].ID + "0", "id", idMsg},
			{"/" + strings.Repeat("a", 200), "id", idMsg},
			{"/AB12CD34", "id", "id must be lowercase"},
			{"/ab12cd34x", "id", "id must be a lowercase hyphenated UUID or a prefix of one (a hyphen at position 9)"},
			{"/ab12-cd34", "id", "id must be a lowercase hyphenated UUID or a prefix of one (a hex digit at position 5)"},
			{"/ab12%20cd", "id", "id must be a lowercase hyphenated UUID or a prefix of one (a hex digit at position 5)"},
			{"/ab12cd34?limit=1", "limit", `unknown parameter "limit" (want tenant_id)`},
			{"/ab12cd34?tenant_id=%ff", "tenant_id", "tenant_id is not valid UTF-8"},
		}
		for _, tc := range tests {
			want := fmt.Sprintf(`{"error":%s,"parameter":%s}`, jsonString(tc.msg), jsonString(tc.param))
			if got := get(t, srv, prefix+tc.target, http.StatusBadRequest); got != want {
				t.Errorf("GET %s:\n got %s\nwant %s", tc.target, got, want)
			}
		}
	})
}

func jsonString(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// verifyBody is the expected body of the verify route.
func verifyBody(valid bool, level string, verified, chains int, complete bool, tenant *string, broken *capsule.Result, brokenTenant string) string {
	nullable := func(s string, null bool) string {
		if null {
			return "null"
		}
		return jsonString(s)
	}
	tenantJSON := "null"
	if tenant != nil {
		tenantJSON = jsonString(*tenant)
	}
	errJSON, atJSON, seqJSON, btJSON := "null", "null", "null", "null"
	if broken != nil {
		errJSON = nullable(broken.Error, false)
		atJSON = nullable(broken.BrokenAt, false)
		seqJSON = fmt.Sprint(broken.BrokenSequence)
		btJSON = jsonString(brokenTenant)
	}
	return fmt.Sprintf(`{"valid":%t,"level":%q,"capsules_verified":%d,"chains_verified":%d,"complete":%t,"tenant_id":%s,"error":%s,"broken_at":%s,"broken_sequence":%s,"broken_tenant_id":%s}`,
		valid, level, verified, chains, complete, tenantJSON, errJSON, atJSON, seqJSON, btJSON)
}

func ptr(s string) *string { return &s }

func TestVerify(t *testing.T) {
	forBackends(t, func(t *testing.T, f *fixture) {
		plain := serve(t, nethttp.Handler(f.store))
		keyed := serve(t, nethttp.Handler(f.store, nethttp.WithResolver(f.caps.Resolver())))
		tests := []struct {
			srv   string
			query string
			want  string
		}{
			{"plain", "", verifyBody(true, "full", 15, 3, true, nil, nil, "")},
			{"plain", "level=structural", verifyBody(true, "structural", 15, 3, true, nil, nil, "")},
			{"plain", "tenant_id=" + tenantA, verifyBody(true, "full", 7, 1, true, ptr(tenantA), nil, "")},
			{"plain", "tenant_id=", verifyBody(true, "full", 3, 1, true, ptr(""), nil, "")},
			{"plain", "tenant_id=nobody", verifyBody(true, "full", 0, 1, true, ptr("nobody"), nil, "")},
			{"keyed", "", verifyBody(true, "signatures", 15, 3, true, nil, nil, "")},
			{"keyed", "level=full&tenant_id=" + tenantB, verifyBody(true, "full", 5, 1, true, ptr(tenantB), nil, "")},
			{"keyed", "level=signatures&tenant_id=" + tenantB, verifyBody(true, "signatures", 5, 1, true, ptr(tenantB), nil, "")},
		}
		for _, tc := range tests {
			srv := plain
			if tc.srv == "keyed" {
				srv = keyed
			}
			if got := get(t, srv, prefix+"/verify?"+tc.query, http.StatusOK); got != tc.want {
				t.Errorf("%s GET verify?%s:\n got %s\nwant %s", tc.srv, tc.query, got, tc.want)
			}
		}
	})
}

func TestVerifyBroken(t *testing.T) {
	forBackends(t, func(t *testing.T, f *fixture) {
		keyed := serve(t, nethttp.Handler(f.store, nethttp.WithResolver(f.caps.Resolver())))

		// A forged signature: only level signatures sees it.
		victim := f.chains[tenantA][4]
		f.tamper(t, tenantA, victim.ID, "signature", strings.Repeat("0", 128))
		wantSig, err := f.caps.Verify(t.Context(), tenantA, capsule.Signatures)
		if err != nil || wantSig.Valid || wantSig.BrokenAt != victim.ID || wantSig.BrokenSequence != 4 {
			t.Fatalf("Capsules.Verify after forging a signature = %+v, %v", wantSig, err)
		}
		if got, want := get(t, keyed, prefix+"/verify?tenant_id="+tenantA, http.StatusOK),
			verifyBody(false, "signatures", 4, 0, true, ptr(tenantA), &wantSig, tenantA); got != want {
			t.Errorf("verify after forging a signature:\n got %s\nwant %s", got, want)
		}
		if got, want := get(t, keyed, prefix+"/verify?level=full&tenant_id="+tenantA, http.StatusOK),
			verifyBody(true, "full", 7, 1, true, ptr(tenantA), nil, ""); got != want {
			t.Errorf("verify full after forging a signature:\n got %s\nwant %s", got, want)
		}

		// Edited content: level full sees it, level structural does not.
		victim = f.chains[tenantB][2]
		data := strings.Replace(string(victim.Data), "request 2", "request 9", 1)
		if data == string(victim.Data) {
			t.Fatalf("tampering left the content unchanged: %s", victim.Data)
		}
		f.tamper(t, tenantB, victim.ID, "data", data)
		wantFull, err := f.caps.Verify(t.Context(), tenantB, capsule.Full)
		if err != nil || wantFull.Valid || wantFull.BrokenAt != victim.ID || !strings.Contains(wantFull.Error, "hash mismatch") {
			t.Fatalf("Capsules.Verify after editing content = %+v, %v", wantFull, err)
		}
		if got, want := get(t, keyed, prefix+"/verify?level=full&tenant_id="+tenantB, http.StatusOK),
			verifyBody(false, "full", 2, 0, true, ptr(tenantB), &wantFull, tenantB); got != want {
			t.Errorf("verify after editing content:\n got %s\nwant %s", got, want)
		}
		if got, want := get(t, keyed, prefix+"/verify?level=structural&tenant_id="+tenantB, http.StatusOK),
			verifyBody(true, "structural", 5, 1, true, ptr(tenantB), nil, ""); got != want {
			t.Errorf("verify structural after editing content:\n got %s\nwant %s", got, want)
		}
		// Every chain at level full: the null tenant (3) and A (7) pass,
		// B breaks at sequence 2.
		if got, want := get(t, keyed, prefix+"/verify?level=full", http.StatusOK),
			verifyBody(false, "full", 3+7+2, 2, true, nil, &wantFull, tenantB); got != want {
			t.Errorf("verify every chain:\n got %s\nwant %s", got, want)
		}
		// Every chain at level signatures: A breaks first.
		if got, want := get(t, keyed, prefix+"/verify", http.StatusOK),
			verifyBody(false, "signatures", 3+4, 1, true, nil, &wantSig, tenantA); got != want {
			t.Errorf("verify every chain at level signatures:\n got %s\nwant %s", got, want)
		}
	})
}

func TestVerifyBounds(t *testing.T) {
	forBackends(t, func(t *testing.T, f *fixture) {
		check := func(srv string, h http.Handler, query, want string) {
			t.Helper()
			if got := get(t, serve(t, h), prefix+"/verify?"+query, http.StatusOK); got != want {
				t.Errorf("%s verify?%s:\n got %s\nwant %s", srv, query, got, want)
			}
		}
		check("limit 4", nethttp.Handler(f.store, nethttp.WithVerifyLimit(4)), "tenant_id="+tenantA,
			verifyBody(true, "full", 4, 0, false, ptr(tenantA), nil, ""))
		check("limit 7", nethttp.Handler(f.store, nethttp.WithVerifyLimit(7)), "tenant_id="+tenantA,
			verifyBody(true, "full", 7, 1, true, ptr(tenantA), nil, ""))
		// Every chain in tenant order: "" (3), A (7), B (5).
		check("limit 10", nethttp.Handler(f.store, nethttp.WithVerifyLimit(10)), "",
			verifyBody(true, "full", 10, 2, false, nil, nil, ""))
		check("limit 11", nethttp.Handler(f.store, nethttp.WithVerifyLimit(11)), "",
			verifyBody(true, "full", 11, 2, false, nil, nil, ""))
		check("no limit", nethttp.Handler(f.store, nethttp.WithVerifyLimit(0)), "",
			verifyBody(true, "full", 15, 3, true, nil, nil, ""))
		check("timeout 1ns", nethttp.Handler(f.store, nethttp.WithVerifyTimeout(time.Nanosecond)), "tenant_id="+tenantA,
			verifyBody(true, "full", 0, 0, false, ptr(tenantA), nil, ""))
		check("timeout 1ns, every chain", nethttp.Handler(f.store, nethttp.WithVerifyTimeout(time.Nanosecond)), "",
			verifyBody(true, "full", 0, 0, false, nil, nil, ""))
		check("no timeout", nethttp.Handler(f.store, nethttp.WithVerifyTimeout(0)), "",
			verifyBody(true, "full", 15, 3, true, nil, nil, ""))

		// A slow store: the timeout stops the stream part way.
		slow := slowStore{Store: f.store, delay: 40 * time.Millisecond}
		srv := serve(t, nethttp.Handler(slow, nethttp.WithVerifyTimeout(100*time.Millisecond)))
		var res struct {
			Valid    bool  `json:"valid"`
			Verified int64 `json:"capsules_verified"`
			Complete bool  `json:"complete"`
		}
		start := time.Now()
		body := get(t, srv, prefix+"/verify?tenant_id="+tenantA, http.StatusOK)
		if err := json.Unmarshal([]byte(body), &res); err != nil {
			t.Fatalf("verify body: %v: %s", err, body)
		}
		if !res.Valid || res.Complete || res.Verified >= 7 {
			t.Errorf("verify on a slow store with a 100ms timeout = %s; want valid, incomplete, fewer than 7 verified", body)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("verify with a 100ms timeout took %v", d)
		}
	})
}

// slowStore delays every capsule Scan yields.
type slowStore struct {
	storage.Store
	delay time.Duration
}

func (s slowStore) Scan(ctx context.Context, tenant string, from int64) iter.Seq2[protocol.Sealed, error] {
	return func(yield func(protocol.Sealed, error) bool) {
		for rec, err := range s.Store.Scan(ctx, tenant, from) {
			if err == nil {
				select {
				case <-time.After(s.delay):
				case <-ctx.Done():
				}
			}
			if !yield(rec, err) {
				return
			}
		}
	}
}
