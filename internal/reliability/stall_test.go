package reliability

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
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

// TestStalledPostgresManyChains: 64, then 3,000, writers each on its own
// chain make audited calls (swallow_errors=false) when the path to
// PostgreSQL becomes a black hole; it comes back for new connections
// only, the ones open during the stall staying black holes. Every call
// returns within the storage timeout of its start, however many chains
// are queued (before, a capsule queued behind a round in flight waited for
// it and then for its own: 10 s for 64 writers, 15-20 s for 3,000, with a
// 5 s timeout). Auditing resumes for every writer once the server answers
// (before, connects to the black hole had no timeout and held every slot
// of the pool). No acknowledged capsule is missing and every chain
// verifies.
func TestStalledPostgresManyChains(t *testing.T) {
	for _, writers := range []int{64, 3000} {
		t.Run(fmt.Sprint(writers), func(t *testing.T) {
			if writers > 64 && testing.Short() {
				t.Skip("3,000 writers")
			}
			stallManyChains(t, writers)
		})
	}
}

// stallWriter is what one writer of stallManyChains saw.
type stallWriter struct {
	acked       int64     // calls that returned nil
	failedSince bool      // a call failed since the stall began
	backAt      time.Time // first success after the server answered again
}

func stallManyChains(t *testing.T, writers int) {
	p, dbURL := ProxyTo(t, PostgresURL(t))
	logs := &lockedBuffer{}
	c, err := capsule.Open(context.Background(), dbURL, capsule.WithKeyDir(t.TempDir()),
		capsule.WithStorageTimeout(stallTimeout), capsule.WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	site := &runtime.Site{Type: capsule.TypeAgent, AgentID: "stall.Many", ReturnAuditErrors: true,
		Capsules: func() *capsule.Capsules { return c }}

	var (
		phase    atomic.Int32 // 0 before the stall, 1 stalled, 2 answering again, 3 stop
		resumed  atomic.Int64 // UnixNano of the resume
		slowest  atomic.Int64 // nanoseconds
		calls    atomic.Int64
		unsure   atomic.Int64 // ErrNotConfirmed
		refused  atomic.Int64 // ErrStoreDown
		other    atomic.Int64
		mu       sync.Mutex
		progress = sync.NewCond(&mu) // signalled when a writer's state changes
		warm     int                 // writers with a success before the stall
		hit      int                 // writers with a failure since the stall
		back     int                 // writers with a success since the resume
	)
	ws := make([]stallWriter, writers)
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			w := &ws[g]
			tenant := fmt.Sprintf("w%d", g)
			for i := 0; phase.Load() != 3; i++ {
				ph := phase.Load()
				start := time.Now()
				_, call := runtime.Start(context.Background(), site, tenant, fmt.Sprint(i))
				err := call.Finish("result", nil)
				d := time.Since(start)
				calls.Add(1)
				for {
					s := slowest.Load()
					if int64(d) <= s || slowest.CompareAndSwap(s, int64(d)) {
						break
					}
				}
				switch {
				case err == nil:
					w.acked++
				case errors.Is(err, capsule.ErrNotConfirmed):
					unsure.Add(1)
				case errors.Is(err, capsule.ErrStoreDown):
					refused.Add(1)
				default:
					if other.Add(1) <= 2 {
						t.Logf("an error besides not confirmed and store down: %v", err)
					}
				}
				mu.Lock()
				switch {
				case ph == 0 && err == nil && w.acked == 1:
					warm++
					progress.Broadcast()
				case ph == 1 && err != nil && !w.failedSince:
					w.failedSince = true
					hit++
					progress.Broadcast()
				case ph == 2 && err == nil && w.backAt.IsZero() && start.UnixNano() >= resumed.Load():
					w.backAt = time.Now()
					back++
					progress.Broadcast()
				}
				mu.Unlock()
				time.Sleep(10 * time.Millisecond) // a pace, not a wait: requests arrive apart
			}
		})
	}
	// waitFor waits until cond holds, at most limit (a guard: a broken
	// build never gets there).
	waitFor := func(what string, limit time.Duration, cond func() bool) {
		timer := time.AfterFunc(limit, func() {
			mu.Lock()
			progress.Broadcast()
			mu.Unlock()
		})
		defer timer.Stop()
		start := time.Now()
		mu.Lock()
		defer mu.Unlock()
		for !cond() {
			if time.Since(start) > limit {
				phase.Store(3)
				mu.Unlock()
				wg.Wait()
				mu.Lock()
				t.Fatalf("%s: not within %v (%d warm, %d hit, %d back of %d writers)", what, limit, warm, hit, back, writers)
			}
			progress.Wait()
		}
	}
	waitFor("every writer audited once", 2*time.Minute, func() bool { return warm == writers })

	p.Stall()
	stalled := time.Now()
	phase.Store(1)
	waitFor("every writer saw the stall", time.Minute, func() bool { return hit == writers })
	// Then until the pool has tried more new connections than it has
	// slots (4 here): without a connect timeout the first ones never
	// end, and hold every slot.
	for p.BlackHoled() <= 4 && time.Since(stalled) < 30*time.Second {
		time.Sleep(50 * time.Millisecond)
	}
	holes := p.BlackHoled()
	stallCalls := calls.Load()

	resumed.Store(time.Now().UnixNano())
	phase.Store(2)
	p.ResumeNew()
	waitFor("every writer audited again after the server answered", time.Minute, func() bool { return back == writers })
	phase.Store(3)
	wg.Wait()

	at := time.Unix(0, resumed.Load())
	first, last := time.Duration(1<<62), time.Duration(0)
	var acked int64
	for i := range ws {
		d := ws[i].backAt.Sub(at)
		first, last = min(first, d), max(last, d)
		acked += ws[i].acked
	}
	slow := time.Duration(slowest.Load())
	if slow > stallTimeout+slack {
		t.Errorf("the slowest audited call took %v with a storage timeout of %v", slow, stallTimeout)
	}
	// The round in flight when the server answered again ends within
	// the storage timeout; the next probe of the store comes within a
	// second after.
	if first > 2*stallTimeout+time.Second+slack {
		t.Errorf("auditing resumed %v after the server answered, with a storage timeout of %v", first, stallTimeout)
	}
	if n := other.Load(); n > 0 {
		t.Logf("%d calls failed with other errors", n)
	}
	// Every acknowledged capsule is there, on chains that verify.
	ctx := context.Background()
	var stored int64
	for g := range writers {
		res, err := c.Verify(ctx, fmt.Sprintf("w%d", g), capsule.Signatures)
		if err != nil || !res.Valid || res.CapsulesVerified < ws[g].acked {
			t.Fatalf("chain w%d: %+v %v, want at least the %d acknowledged capsules", g, res, err, ws[g].acked)
		}
		stored += res.CapsulesVerified
	}
	t.Logf("%d writers on %d chains, storage timeout %v: slowest audited call %v; the stall lasted %v (%d calls, %d connects into the black hole); "+
		"after the server answered, the first writer was audited again in %v, the last in %v; "+
		"%d calls: %d acknowledged, %d not confirmed, %d refused (store down), %d other errors; %d capsules stored and verified",
		writers, writers, stallTimeout, slow.Round(time.Millisecond), at.Sub(stalled).Round(time.Millisecond), stallCalls, holes,
		first.Round(time.Millisecond), last.Round(time.Millisecond),
		calls.Load(), acked, unsure.Load(), refused.Load(), other.Load(), stored)
}
