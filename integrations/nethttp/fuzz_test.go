package nethttp_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/capsule-go/capsule"
	"github.com/capsule-go/capsule/integrations/nethttp"
	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/storage"
	"github.com/capsule-go/capsule/storage/memory"
)

// memoryStore returns an in-memory store with a few capsules in two
// tenants and the null tenant.
func memoryStore(t testing.TB) storage.Store {
	t.Helper()
	store := memory.New()
	caps, err := capsule.NewCapsules(store, capsule.WithKeyDir(t.TempDir()))
	if err != nil {
		t.Fatalf("NewCapsules: %v", err)
	}
	t.Cleanup(func() { caps.Close() })
	for i, tenant := range []string{tenantA, tenantB, tenantN, tenantA, tenantA, "x y"} {
		cp := capsule.New(seededTypes[i%len(seededTypes)])
		if _, err := caps.Append(t.Context(), tenant, cp); err != nil {
			t.Fatalf("Append: %v", err)
		}
	}
	return store
}

var digits = regexp.MustCompile(`^[0-9]{1,18}$`)

// referenceList decides, with net/url and strconv instead of the package's
// own parser, whether a list query is acceptable, and the limit and offset
// it asks for.
func referenceList(raw string) (limit, offset int64, ok bool) {
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return 0, 0, false
	}
	limit = 20
	for k, v := range vals {
		if len(v) != 1 {
			return 0, 0, false
		}
		s := v[0]
		switch k {
		case "limit":
			n, err := strconv.ParseInt(s, 10, 64)
			if !digits.MatchString(s) || err != nil || n < 1 || n > 100 {
				return 0, 0, false
			}
			limit = n
		case "offset":
			n, err := strconv.ParseInt(s, 10, 64)
			if !digits.MatchString(s) || err != nil {
				return 0, 0, false
			}
			offset = n
		case "type":
			if !capsule.Type(s).Valid() {
				return 0, 0, false
			}
		case "tenant_id":
			if len(s) > 1024 || !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
				return 0, 0, false
			}
		default:
			return 0, 0, false
		}
	}
	return limit, offset, true
}

func FuzzListQuery(f *testing.F) {
	for _, s := range []string{
		"", "limit=5", "limit=0", "limit=101", "limit=-1", "limit=abc", "offset=-1", "offset=x",
		"type=banana", "type=agent&tenant_id=tenant-a", "tenant_id=", "limit=1&limit=2",
		"limit=%zz", "a;b", "offset=999999999999999999", "offset=9999999999999999999",
		"tenant_id=%00", "tenant_id=%ff", "limit=+5", "limit=%2B5", "&&&", "=", "%", "limit=1e2",
		"tenant_id=x+y", "tenant_id=x%20y&limit=100&offset=0&type=tool",
	} {
		f.Add(s)
	}
	h := nethttp.Handler(memoryStore(f))
	f.Fuzz(func(t *testing.T, raw string) {
		req := httptest.NewRequest(http.MethodGet, prefix+"/", nil)
		req.URL.RawQuery = raw
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		body := rec.Body.Bytes()
		if ct := rec.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
			t.Fatalf("query %q: Content-Type %q", raw, ct)
		}
		if !json.Valid(body) {
			t.Fatalf("query %q: invalid JSON body %q", raw, body)
		}
		limit, offset, ok := referenceList(raw)
		switch rec.Code {
		case http.StatusOK:
			if !ok {
				t.Fatalf("query %q: 200, but the reference parser refuses it: %s", raw, body)
			}
			var v struct {
				Capsules []json.RawMessage `json:"capsules"`
				Total    int64             `json:"total"`
				Limit    int64             `json:"limit"`
				Offset   int64             `json:"offset"`
			}
			if err := json.Unmarshal(body, &v); err != nil {
				t.Fatalf("query %q: %v", raw, err)
			}
			if v.Limit != limit || v.Offset != offset || int64(len(v.Capsules)) > limit || v.Total > 6 {
				t.Fatalf("query %q: limit %d offset %d, %d capsules of %d; want limit %d offset %d",
					raw, v.Limit, v.Offset, len(v.Capsules), v.Total, limit, offset)
			}
		case http.StatusBadRequest:
			if ok {
				t.Fatalf("query %q: 400, but the reference parser accepts it: %s", raw, body)
			}
			var v struct {
				Error     string  `json:"error"`
				Parameter *string `json:"parameter"`
			}
			if err := json.Unmarshal(body, &v); err != nil || v.Error == "" || v.Parameter == nil {
				t.Fatalf("query %q: 400 body %s does not name the parameter", raw, body)
			}
		default:
			t.Fatalf("query %q: status %d: %s", raw, rec.Code, body)
		}
	})
}

// FuzzGetPath sends arbitrary id segments to the get route: never a 5xx,
// never a panic, always JSON.
func FuzzGetPath(f *testing.F) {
	for _, s := range []string{"ab12", "ZZZ", "00000000-0000-4000-8000-000000000000", "verify", "%zz", "a/b", "ab12cd34-", strings.Repeat("a", 40)} {
		f.Add(s, "")
		f.Add(s, "tenant_id=tenant-a")
	}
	h := nethttp.Handler(memoryStore(f))
	f.Fuzz(func(t *testing.T, id, raw string) {
		req := httptest.NewRequest(http.MethodGet, prefix+"/", nil)
		req.URL.Path = prefix + "/" + id
		req.URL.RawPath = ""
		req.URL.RawQuery = raw
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 || !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("GET %q ? %q: %d %q", id, raw, rec.Code, rec.Body.Bytes())
		}
		if rec.Code == http.StatusOK && id != "verify" && id != "" && !protocol.IsUUID(id) && (len(id) < 4 || len(id) > 36) {
			t.Fatalf("GET %q: 200 for an invalid id", id)
		}
	})
}
