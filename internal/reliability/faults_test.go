package reliability

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/capsule-go/capsule"
	"github.com/capsule-go/capsule/runtime"
)

// lockedBuffer collects log output from many goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

// faultRun drives audited calls through an outage: calls before it, calls
// during it with swallow_errors true and false, and calls after the
// database came back. down and up cause and end the outage.
func faultRun(t *testing.T, c *capsule.Capsules, logs *lockedBuffer, down, up func()) {
	ctx := context.Background()
	swallow := &runtime.Site{Type: capsule.TypeAgent, AgentID: "faults.Swallow",
		Capsules: func() *capsule.Capsules { return c }}
	strict := &runtime.Site{Type: capsule.TypeAgent, AgentID: "faults.Strict", ReturnAuditErrors: true,
		Capsules: func() *capsule.Capsules { return c }}
	call := func(site *runtime.Site, i int) error {
		_, call := runtime.Start(ctx, site, "t", fmt.Sprint(i))
		return call.Finish("result", nil)
	}
	for i := range 10 {
		if err := call(strict, i); err != nil {
			t.Fatalf("before the outage: %v", err)
		}
	}
	before := c.Stats().Committed

	down()
	// Concurrent swallowed calls: none sees an error, the burst is logged once.
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 10 {
				if err := call(swallow, g*100+i); err != nil {
					t.Errorf("swallow_errors=true returned %v", err)
				}
			}
		})
	}
	wg.Wait()
	if n := logs.count("audit failed"); n != 1 {
		t.Errorf("outage logged %d times, want once per burst:\n%s", n, logs.b.String())
	}
	if err := call(strict, 999); err == nil {
		t.Error("swallow_errors=false: the caller did not get the audit failure")
	}

	up()
	// Appending resumes (the pool may need a moment to reconnect).
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := call(strict, 1000)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("appending did not resume after the database came back: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for i := range 10 {
		if err := call(strict, 2000+i); err != nil {
			t.Fatalf("after the outage: %v", err)
		}
	}
	if logs.count("auditing recovered") != 1 {
		t.Errorf("recovery not logged:\n%s", logs.b.String())
	}
	res, err := c.Verify(ctx, "t", capsule.Signatures)
	if err != nil || !res.Valid {
		t.Fatalf("chain after the outage: %+v %v", res, err)
	}
	if res.CapsulesVerified < before+11 {
		t.Fatalf("chain has %d capsules, want at least %d", res.CapsulesVerified, before+11)
	}
}

func TestPostgresOutage(t *testing.T) {
	p, proxied := ProxyTo(t, PostgresURL(t))
	logs := &lockedBuffer{}
	c, err := capsule.Open(context.Background(), proxied, capsule.WithKeyDir(t.TempDir()),
		capsule.WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	faultRun(t, c, logs, p.Stop, func() {
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestSQLiteDirectoryRemoved: the database's directory is removed while the
// program runs (writes would otherwise go to unlinked files and be lost),
// then restored.
func TestSQLiteDirectoryRemoved(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "data")
	moved := filepath.Join(root, "moved")
	logs := &lockedBuffer{}
	c, err := capsule.Open(context.Background(), filepath.Join(dir, "capsules.db"), capsule.WithKeyDir(t.TempDir()),
		capsule.WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	faultRun(t, c, logs, func() {
		if err := os.Rename(dir, moved); err != nil {
			t.Fatal(err)
		}
	}, func() {
		if err := os.Rename(moved, dir); err != nil {
			t.Fatal(err)
		}
	})
}
