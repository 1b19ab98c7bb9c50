package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capsule-go/capsule"
	"github.com/capsule-go/capsule/internal/reliability"
)

// call sends one request as site and returns the status and body.
func call(t *testing.T, srv *httptest.Server, method, target, site, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if site != "" {
		req.Header.Set("X-Site-ID", site)
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(b)
}

// serve opens the capsules at db, with the key in keyDir, as the process
// default, and starts the service on them until t ends.
func serve(t *testing.T, db, keyDir string) (*capsule.Capsules, *httptest.Server) {
	t.Helper()
	caps, err := capsule.Open(t.Context(), db, capsule.WithKeyDir(keyDir))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { caps.Close() })
	capsule.SetDefault(caps)
	t.Cleanup(func() { capsule.SetDefault(nil) })
	srv := httptest.NewServer(newHandler(caps, slog.New(slog.DiscardHandler)))
	t.Cleanup(srv.Close)
	return caps, srv
}

func TestService(t *testing.T) {
	dir := t.TempDir()
	_, srv := serve(t, filepath.Join(dir, "capsules.db"), dir)

	status, body := call(t, srv, http.MethodPost, "/summarize", "acme", `{"text":"Ship it. Then rest."}`)
	if want := `{"sentence":"Ship it.","words":4}` + "\n"; status != http.StatusOK || body != want {
		t.Fatalf("summarize = %d %q, want 200 %q", status, body, want)
	}
	status, body = call(t, srv, http.MethodGet, "/convert?value=100&unit=c-to-f", "acme", "")
	if want := `{"value":212}` + "\n"; status != http.StatusOK || body != want {
		t.Fatalf("convert = %d %q, want 200 %q", status, body, want)
	}
	status, _ = call(t, srv, http.MethodGet, "/convert?value=1&unit=kelvin", "globex", "")
	if status != http.StatusBadRequest {
		t.Fatalf("convert with a bad unit = %d", status)
	}
	if status, _ = call(t, srv, http.MethodPost, "/summarize", "", `{"text":"x"}`); status != http.StatusUnauthorized {
		t.Fatalf("summarize without a site = %d", status)
	}

	// The health route needs no site: it tells nothing of the chains.
	if status, body = call(t, srv, http.MethodGet, "/api/v1/capsules/healthz", "", ""); status != http.StatusOK || body != `{"status":"ok"}` {
		t.Fatalf("healthz = %d %s, want 200", status, body)
	}

	// acme's chain holds its two calls, newest first; globex's the failure.
	status, body = call(t, srv, http.MethodGet, "/api/v1/capsules/", "acme", "")
	var list struct {
		Capsules []struct {
			ID       string `json:"id"`
			Type     string `json:"type"`
			Sequence int    `json:"sequence"`
			Trigger  struct {
				Request string `json:"request"`
				Source  string `json:"source"`
			} `json:"trigger"`
			Reasoning struct {
				Model string `json:"model"`
			} `json:"reasoning"`
			Outcome struct {
				Status string          `json:"status"`
				Result json.RawMessage `json:"result"`
			} `json:"outcome"`
		} `json:"capsules"`
		Total int `json:"total"`
	}
	if err := json.Unmarshal([]byte(body), &list); status != http.StatusOK || err != nil {
		t.Fatalf("list = %d %s (%v)", status, body, err)
	}
	if list.Total != 2 || len(list.Capsules) != 2 {
		t.Fatalf("acme's list = %s", body)
	}
	conv, sum := list.Capsules[0], list.Capsules[1]
	if conv.Type != "tool" || conv.Sequence != 1 || conv.Trigger.Request != "c-to-f" || string(conv.Outcome.Result) != "212.0" {
		t.Errorf("convert capsule = %+v", conv)
	}
	if sum.Type != "agent" || sum.Sequence != 0 || sum.Trigger.Request != "Ship it. Then rest." ||
		sum.Trigger.Source != "httpservice summarize" || sum.Reasoning.Model != "first-sentence-v1" ||
		string(sum.Outcome.Result) != `{"sentence":"Ship it.","words":4}` {
		t.Errorf("summarize capsule = %+v %s", sum, sum.Outcome.Result)
	}
	status, body = call(t, srv, http.MethodGet, "/api/v1/capsules/"+sum.ID, "globex", "")
	if status != http.StatusNotFound {
		t.Errorf("globex reading acme's capsule = %d %s", status, body)
	}
	status, body = call(t, srv, http.MethodGet, "/api/v1/capsules/?tenant_id=acme", "globex", "")
	if status != http.StatusForbidden {
		t.Errorf("globex listing acme's chain = %d %s", status, body)
	}
	status, body = call(t, srv, http.MethodGet, "/api/v1/capsules/verify", "acme", "")
	want := `{"valid":true,"level":"signatures","capsules_verified":2,"chains_verified":1,"complete":true,"tenant_id":"acme","error":null,"broken_at":null,"broken_sequence":null,"broken_tenant_id":null}`
	if status != http.StatusOK || body != want {
		t.Errorf("verify = %d %s, want %s", status, body, want)
	}
	status, body = call(t, srv, http.MethodGet, "/api/v1/capsules/", "globex", "")
	if status != http.StatusOK || !strings.Contains(body, `"status":"failure"`) || !strings.Contains(body, `"total":1`) {
		t.Errorf("globex's list = %d %s", status, body)
	}
}

func TestChooseDB(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("QUANTUMPIPES_DATA_DIR", dir)
	if db, keyDir, err := chooseDB(""); err != nil || db != filepath.Join(dir, "capsules.db") || keyDir != dir {
		t.Errorf("with QUANTUMPIPES_DATA_DIR: %q %q %v", db, keyDir, err)
	}
	if db, keyDir, err := chooseDB("/srv/audit/c.db"); err != nil || db != "/srv/audit/c.db" || keyDir != "/srv/audit" {
		t.Errorf("with -db: %q %q %v", db, keyDir, err)
	}
	if db, keyDir, err := chooseDB("postgres://db/audit"); err != nil || db != "postgres://db/audit" || keyDir != "" {
		t.Errorf("with a postgres URL: %q %q %v", db, keyDir, err)
	}
	t.Setenv("QUANTUMPIPES_DATA_DIR", "")
	db, keyDir, err := chooseDB("")
	if err != nil || filepath.Dir(db) != keyDir || !strings.Contains(keyDir, "httpservice-") {
		t.Errorf("without either: %q %q %v", db, keyDir, err)
	}
	os.RemoveAll(keyDir)
}

// A site ID the store cannot hold as a tenant (65 characters and more are
// malformed; up to 64 pass the header check, but PostgreSQL's tenant
// column holds 36) gets 400 with a JSON body before the call runs,
// instead of the call running unaudited. SQLite holds it.
func TestSiteIDTheStoreCannotHold(t *testing.T) {
	long, fits := strings.Repeat("s", 64), strings.Repeat("f", 36)
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			dir := t.TempDir()
			db := filepath.Join(dir, "capsules.db")
			if backend == "postgres" {
				db = reliability.PostgresURL(t)
			}
			caps, srv := serve(t, db, dir)

			for _, target := range []string{"/summarize", "/convert?value=1&unit=c-to-f"} {
				method := http.MethodGet
				if target == "/summarize" {
					method = http.MethodPost
				}
				status, body := call(t, srv, method, target, long, `{"text":"Ship it."}`)
				var e struct{ Error string }
				jerr := json.Unmarshal([]byte(body), &e)
				switch {
				case backend == "sqlite" && status != http.StatusOK:
					t.Errorf("%s with a 64-character site on SQLite = %d %s, want 200", target, status, body)
				case backend == "postgres" && (status != http.StatusBadRequest || jerr != nil || !strings.Contains(e.Error, "more than the 36")):
					t.Errorf("%s with a 64-character site on PostgreSQL = %d %s, want 400 with a JSON error", target, status, body)
				}
				if status, body := call(t, srv, method, target, fits, `{"text":"Ship it."}`); status != http.StatusOK {
					t.Errorf("%s with a 36-character site = %d %s", target, status, body)
				}
			}
			want := []string{fits}
			if backend == "sqlite" {
				want = []string{fits, long}
			}
			tenants, err := caps.Store().Tenants(t.Context())
			if err != nil || strings.Join(tenants, ",") != strings.Join(want, ",") {
				t.Errorf("chains %q %v, want %q", tenants, err, want)
			}
			if st := caps.Stats(); st.Failed != 0 {
				t.Errorf("%d audits failed", st.Failed)
			}
		})
	}
}
