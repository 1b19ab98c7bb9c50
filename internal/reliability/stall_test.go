package reliability

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/capsule-go/capsule"
	"github.com/capsule-go/capsule/keys"
	"github.com/capsule-go/capsule/runtime"
)

// stallTimeout is the storage timeout of the stall tests: short, so that
// the tests are quick, and far above a healthy commit.
const stallTimeout = 2 * time.Second

// slack is what a bounded call may take beyond its bound on a busy machine.
const slack = 3 * time.Second

// TestStalledPostgres: the path to PostgreSQL becomes a black hole while
// audited calls run (a hung server, a dropped route). Every call returns
// within the storage timeout with its own result; the outage is logged
// once; while the store is known down, calls fail at once instead of each
// waiting the timeout; swallow_errors=false gets the error within the
// bound; auditing resumes by itself when the server answers; Close is
// bounded.
func TestStalledPostgres(t *testing.T) {
	base := PostgresURL(t)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewProxy(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	u.Host = p.Addr()
	logs := &lockedBuffer{}
	c, err := capsule.Open(context.Background(), u.String(), capsule.WithKeyDir(t.TempDir()),
		capsule.WithStorageTimeout(stallTimeout), capsule.WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	swallow := &runtime.Site{Type: capsule.TypeAgent, AgentID: "stall.Swallow",
		Capsules: func() *capsule.Capsules { return c }}
	strict := &runtime.Site{Type: capsule.TypeAgent, AgentID: "stall.Strict", ReturnAuditErrors: true,
		Capsules: func() *capsule.Capsules { return c }}
	call := func(site *runtime.Site, i int) (time.Duration, error) {
		start := time.Now()
		_, call := runtime.Start(ctx, site, "t", fmt.Sprint(i))
		err := call.Finish("result", nil)
		return time.Since(start), err
	}
	for i := range 10 {
		if _, err := call(strict, i); err != nil {
			t.Fatalf("before the stall: %v", err)
		}
	}

	p.Stall()
	// 8 goroutines x 20 swallowed calls: each returns within the bound;
	// without the breaker each would wait the full timeout (160 x 2 s).
	start := time.Now()
	var wg sync.WaitGroup
	var longestMu sync.Mutex
	var longest time.Duration
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				d, err := call(swallow, g*100+i)
				longestMu.Lock()
				longest = max(longest, d)
				longestMu.Unlock()
				if err != nil {
					t.Errorf("swallow_errors=true returned %v", err)
				}
				if d > stallTimeout+slack {
					t.Errorf("a swallowed call took %v with a storage timeout of %v", d, stallTimeout)
				}
			}
		})
	}
	wg.Wait()
	total := time.Since(start)
	if total > 4*stallTimeout+slack {
		t.Errorf("160 calls took %v while the store was down: they did not fail fast", total)
	}
	if n := logs.count("audit failed"); n != 1 {
		t.Errorf("outage logged %d times, want once per burst:\n%s", n, logs.b.String())
	}
	d, err := call(strict, 999)
	if err == nil || d > stallTimeout+slack {
		t.Errorf("swallow_errors=false: err = %v after %v, want an error within %v", err, d, stallTimeout)
	}

	p.Resume()
	resumed := time.Now()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := call(strict, 1000)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("auditing did not resume after the server answered again: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	recovery := time.Since(resumed)
	res, err := c.Verify(ctx, "t", capsule.Signatures)
	if err != nil || !res.Valid || res.CapsulesVerified < 11 {
		t.Fatalf("chain after the stall: %+v %v", res, err)
	}

	// Close is bounded even with appends stuck on a stalled server.
	p.Stall()
	go call(swallow, 3000)
	time.Sleep(100 * time.Millisecond)
	closeStart := time.Now()
	c.Close()
	closeTook := time.Since(closeStart)
	if closeTook > stallTimeout+slack {
		t.Errorf("Close took %v with a stalled server", closeTook)
	}
	t.Logf("storage timeout %v; stalled server: 160 swallowed calls in %v (longest %v), outage logged %d time(s), "+
		"swallow_errors=false failed after %v; audited again %v after the server answered; Close took %v",
		stallTimeout, total.Round(time.Millisecond), longest.Round(time.Millisecond), logs.count("audit failed"),
		d.Round(time.Millisecond), recovery.Round(time.Millisecond), closeTook.Round(time.Millisecond))
}

// blackHole listens on a loopback port and accepts connections that are
// never answered (or, with cut, closed at once).
func blackHole(t *testing.T, cut bool) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if cut {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	return ln.Addr().String()
}

// TestBlackHoledDefault: CAPSULE_URL points at a port that accepts
// connections and never answers, or cuts them at once. The first audited
// call of the process default returns its result within
// DefaultStorageTimeout; the calls that follow return at once.
func TestBlackHoledDefault(t *testing.T) {
	for _, cut := range []bool{false, true} {
		t.Run(fmt.Sprintf("cut=%v", cut), func(t *testing.T) {
			t.Setenv(keys.DataDirEnv, t.TempDir())
			t.Setenv("CAPSULE_URL", "postgres://postgres@"+blackHole(t, cut)+"/test?sslmode=disable")
			capsule.SetDefault(nil)
			defer capsule.SetDefault(nil)
			site := &runtime.Site{Type: capsule.TypeAgent, AgentID: "stall.Default"}
			strict := &runtime.Site{Type: capsule.TypeAgent, AgentID: "stall.DefaultStrict", ReturnAuditErrors: true}
			ctx := context.Background()
			start := time.Now()
			_, call := runtime.Start(ctx, site, "", "first")
			if err := call.Finish("result", nil); err != nil {
				t.Fatalf("swallow_errors=true returned %v", err)
			}
			if d := time.Since(start); d > capsule.DefaultStorageTimeout+slack {
				t.Fatalf("the first call took %v, want at most the storage timeout %v", d, capsule.DefaultStorageTimeout)
			}
			start = time.Now()
			for i := range 50 {
				_, call := runtime.Start(ctx, site, "", fmt.Sprint(i))
				if err := call.Finish("result", nil); err != nil {
					t.Fatalf("swallow_errors=true returned %v", err)
				}
			}
			_, call = runtime.Start(ctx, strict, "", "strict")
			err := call.Finish("result", nil)
			if !errors.Is(err, capsule.ErrStoreDown) {
				t.Errorf("swallow_errors=false: err = %v, want ErrStoreDown", err)
			}
			if d := time.Since(start); d > capsule.DefaultStorageTimeout {
				t.Errorf("51 calls took %v after the store was found down: they did not fail fast", d)
			}
		})
	}
}
