package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/capsule-go/capsule"
	"github.com/capsule-go/capsule/protocol"
)

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestServe(t *testing.T) {
	dir := pythonDataDir(t)
	db := filepath.Join(dir, "capsules.db")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	base, done, stderr := startServe(ctx, t, db)
	get := func(path string, wantStatus int) map[string]any { t.Helper(); return getJSON(t, base+path, wantStatus) }
	// The data directory's keyring is the resolver: signatures by default.
	v := get("/verify?tenant_id=", 200)
	if v["valid"] != true || v["level"] != "signatures" || v["capsules_verified"] != 12.0 {
		t.Errorf("verify: %v", v)
	}
	list := get("/?limit=2", 200)
	if list["total"] != 12.0 || len(list["capsules"].([]any)) != 2 {
		t.Errorf("list: %v", list)
	}
	one := get("/00001234-0000-4000-8000-000000000005", 200)
	if one["hash"] != "e32f5bb53dda8316bdef9a36b39fbc77e2898d1b1da34bc6dc9215a7f7d8ab5e" {
		t.Errorf("get: %v", one)
	}
	get("/ffffffff-0000-4000-8000-000000000005", 404)
	// OPTIONS * gets JSON like every other answer.
	conn, err := net.Dial("tcp", strings.TrimSuffix(strings.TrimPrefix(base, "http://"), "/audit"))
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(conn, "OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	conn.Close()
	if resp.StatusCode != 405 || resp.Header.Get("Content-Type") != "application/json; charset=utf-8" ||
		resp.Header.Get("Allow") != "GET, HEAD" || string(body) != `{"error":"method not allowed"}` {
		t.Errorf("OPTIONS *: %d %v %s", resp.StatusCode, resp.Header, body)
	}

	// The health route, for a load balancer.
	if h := get("/healthz", 200); h["status"] != "ok" {
		t.Errorf("healthz: %v", h)
	}
	// A browser opening the server's root is sent to the explorer.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/audit")+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
	resp, err = http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/audit/explore/" {
		t.Errorf("a browser at / = %d Location %q, want 303 to /audit/explore/", resp.StatusCode, resp.Header.Get("Location"))
	}

	// The explorer, logged and served beside the routes.
	if !strings.Contains(stderr.String(), "explorer="+base+"/explore/") {
		t.Errorf("the log does not give the explorer's address: %s", stderr.String())
	}
	resp, err = http.Get(base + "/explore/verify?tenant_id=")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "12 of 12 capsules verified at level signatures") {
		t.Errorf("explorer verify page: %d\n%s", resp.StatusCode, page)
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit code %d: %s", code, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop")
	}
	if !strings.Contains(stderr.String(), `msg="capsule serve stopped"`) {
		t.Errorf("log: %s", stderr.String())
	}
}

// startServe runs capsule serve on db at a free loopback port under
// /audit, and returns the routes' base URL, the channel its exit code
// arrives on and its standard error.
func startServe(ctx context.Context, t *testing.T, db string) (string, chan int, *syncBuffer) {
	t.Helper()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--db", db, "--addr", "127.0.0.1:0", "--prefix", "/audit"}, strings.NewReader(""), &stdout, &stderr)
	}()
	addrRE := regexp.MustCompile(`msg="capsule serve listening" addr=(127\.0\.0\.1:\d+) prefix=/audit`)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if m := addrRE.FindStringSubmatch(stderr.String()); m != nil {
			return "http://" + m[1] + "/audit", done, &stderr
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited with %d: %s", code, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no listening address logged: %s", stderr.String())
		}
	}
}

// getJSON gets url, expects wantStatus and returns the JSON object answered.
func getJSON(t *testing.T, url string, wantStatus int) map[string]any {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		t.Fatalf("GET %s: %d %s, want %d", url, resp.StatusCode, body, wantStatus)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("GET %s: %v: %s", url, err, body)
	}
	return m
}

// TestServeChecksSignaturePQ: where the data directory has an ML-DSA-65
// key, serve's verify checks signature_pq too.
func TestServeChecksSignaturePQ(t *testing.T) {
	dir := emptyDataDir(t)
	db := filepath.Join(dir, "capsules.db")
	c, err := capsule.Open(t.Context(), db, capsule.WithKeyDir(dir), capsule.WithPostQuantum())
	if err != nil {
		t.Fatal(err)
	}
	var sealed []protocol.Sealed
	for range 3 {
		s, err := c.Append(t.Context(), "", capsule.New(capsule.TypeAgent))
		if err != nil {
			t.Fatal(err)
		}
		sealed = append(sealed, s)
	}
	c.Close()
	// The SQLite driver this build links: mattn's with cgo, modernc's without.
	name := "sqlite"
	if slices.Contains(sql.Drivers(), "sqlite3") {
		name = "sqlite3"
	}
	raw, err := sql.Open(name, db)
	if err != nil {
		t.Fatal(err)
	}
	// Another valid-looking ML-DSA-65 signature: capsule 2's, over its own hash.
	_, err = raw.Exec("UPDATE capsules SET signature_pq = ? WHERE id = ?", sealed[2].SignaturePQ, sealed[1].ID)
	raw.Close()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	base, done, stderr := startServe(ctx, t, db)
	v := getJSON(t, base+"/verify?tenant_id=", 200)
	if v["valid"] != false || v["broken_sequence"] != 1.0 || !strings.Contains(fmt.Sprint(v["error"]), "signature_pq") {
		t.Errorf("verify of a swapped signature_pq: %v", v)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit code %d: %s", code, stderr.String())
	}
}

func TestServeErrors(t *testing.T) {
	dir := pythonDataDir(t)
	db := filepath.Join(dir, "capsules.db")
	r := capsuleCmd(t, "", "serve", "--db", db, "--prefix", "no-slash").want(t, 2)
	if !strings.Contains(r.stderr, `prefix "no-slash" does not start with /`) {
		t.Errorf("bad prefix: %q", r.stderr)
	}
	r = capsuleCmd(t, "", "serve", "--db", db, "--addr", "256.0.0.1:http").want(t, 2)
	if !strings.Contains(r.stderr, "capsule serve: listen tcp") {
		t.Errorf("bad address: %q", r.stderr)
	}
}
