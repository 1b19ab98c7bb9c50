package reliability

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/capsule-go/capsule"
)

// The load of the failover tests: writers goroutines appending one capsule
// at a time over tenants chains, through one Capsules.
const (
	failoverWriters = 8
	failoverTenants = 4
	// failoverBefore and failoverAfter are how many capsules are
	// acknowledged before the primary is killed, and after appends resume.
	failoverBefore = 1500
	failoverAfter  = 1500
	// failoverBound bounds each wait of the tests (for acknowledgements,
	// for appends to resume): a server that never comes back, or a
	// Capsules that never uses it again, fails the test instead of
	// hanging it.
	failoverBound = time.Minute
	// failoverTimeout is the storage timeout of the Capsules under test,
	// which bounds the search for the outcome of a commit the dead
	// primary did not answer: the servers here answer again within a few
	// seconds of the kill, on a loaded machine sometimes more than the
	// default 5 s.
	failoverTimeout = 20 * time.Second
)

// TestFailoverSynchronous: a primary with a synchronous streaming standby
// (synchronous_standby_names = '*'), and 8 writers over 4 tenants on a
// multi-host URL with target_session_attrs=read-write. The primary's
// postmaster is killed with SIGKILL under load and, once its processes
// have ended, the standby is promoted (pg_ctl promote). Every acknowledged capsule is on the new primary,
// every chain verifies with signatures, appends resume on the promoted
// standby with the same Capsules, and no append reported failed is stored.
func TestFailoverSynchronous(t *testing.T) {
	if r := failover(t, true); r.lost != 0 {
		t.Errorf("%d acknowledged capsules lost with a synchronous standby", r.lost)
	}
}

// TestFailoverAsynchronous is the same with an asynchronous standby
// (synchronous_standby_names unset): acknowledged capsules the standby had
// not received when the primary died are lost, and each chain continues
// from the promoted standby's head. The chains verify, every capsule
// appended once the old primary is gone is stored, and no append reported
// failed is; the loss is logged, not asserted (it is the replication lag
// at the kill, and what the dead primary's backends acknowledged before
// they noticed its death).
func TestFailoverAsynchronous(t *testing.T) {
	if r := failover(t, false); r.lostAfter != 0 {
		t.Errorf("%d capsules appended after the old primary ended, so acknowledged by the promoted standby, are missing", r.lostAfter)
	}
}

// failoverResult holds what a failover run counted.
type failoverResult struct {
	lost       int // acknowledged capsules not on the new primary
	lostOrphan int // of them, acknowledged after the kill, by the dead primary's backends
	lostAfter  int // of them, appended after the old primary's processes ended
}

// failover runs the failover tests: it fails the test when a chain does
// not verify, a capsule is stored twice, appends do not resume, or an
// append reported failed is stored, and returns what was lost.
func failover(t *testing.T, sync bool) failoverResult {
	start := time.Now()
	servers := NewServers(t)
	conf := "wal_level = replica\nmax_wal_senders = 4\nmax_connections = 40\nshared_buffers = 32MB\n"
	primary := servers.Primary("primary", conf)
	createDatabase(t, primary)
	standby := servers.Standby("standby", primary, conf)
	if sync {
		// On the primary only, once its standby runs (until then every
		// commit would wait). The standby's configuration has none: once
		// promoted and alone it would wait forever for a standby of its
		// own.
		primary.Reload(conf + "synchronous_standby_names = '*'\n")
	}
	waitStreaming(t, primary, sync)

	ctx := context.Background()
	url := fmt.Sprintf("postgres://postgres@127.0.0.1:%d,127.0.0.1:%d/capsule?target_session_attrs=read-write&sslmode=disable",
		primary.Port, standby.Port)
	c, err := capsule.Open(ctx, url, capsule.WithKeyDir(t.TempDir()), capsule.WithStorageTimeout(failoverTimeout))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	setup := time.Since(start)

	l := startLoad(c)
	defer l.stop()
	l.waitAcked(t, failoverBefore)
	ackedAtKill := l.count()
	primary.Kill(false)
	killed := time.Now()
	// The postmaster's processes end once they notice it is gone; until
	// then a backend in the middle of a client's work may still commit
	// (and, without a synchronous standby, acknowledge) on the dead
	// primary. A failover promotes once the old primary is gone.
	primary.WaitEnded()
	ended := time.Now()
	standby.Promote()
	promoted := time.Now()
	resumed := l.waitFirstAfter(t, ended)
	l.waitAcked(t, l.count()+failoverAfter)
	l.stop()

	r := failoverResult{}
	v := l.check(t, c)
	for id, a := range l.acked {
		if !v.present[id] {
			r.lost++
			if a.at.After(killed) {
				r.lostOrphan++
			}
			if a.began.After(ended) {
				r.lostAfter++
			}
		}
	}
	if v.failedPresent != 0 {
		t.Errorf("%d appends reported failed are stored", v.failedPresent)
	}
	mode := "asynchronous"
	if sync {
		mode = "synchronous"
	}
	t.Logf("%s standby: %d capsules acknowledged (%d before the kill), %d lost (%d of them acknowledged after the kill by "+
		"the dead primary's backends), %d appends failed (%d of them stored), %d chains of %d capsules verify with signatures; "+
		"the old primary's processes ended %v after the kill; pg_ctl promote took %v; first append %v after the promotion began; "+
		"setup %v, whole test %v",
		mode, len(l.acked), ackedAtKill, r.lost, r.lostOrphan, len(l.failed), v.failedPresent, failoverTenants, v.capsules,
		ended.Sub(killed).Round(time.Millisecond), promoted.Sub(ended).Round(time.Millisecond), resumed.Sub(ended).Round(time.Millisecond),
		setup.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	return r
}

// TestPrimaryRestart: the primary alone, every one of its processes
// killed with SIGKILL under load (as a crash of its machine would) and
// started again on the same data directory. The batches whose commit was
// under way when it died have an unknown outcome, and the store must find
// out which it was: every acknowledged capsule is stored, every capsule
// once, and no append reported failed is stored.
//
// So that such batches are there every time, rather than when the kill
// happens to fall between a commit's WAL flush and its answer, the
// primary first makes commits wait for a standby that does not exist
// (synchronous_standby_names = 'nobody', reloaded): each commit is
// flushed, and stored once the server restarts without that setting, but
// never answered. The kill comes while they wait.
func TestPrimaryRestart(t *testing.T) {
	start := time.Now()
	servers := NewServers(t)
	conf := "max_connections = 40\nshared_buffers = 32MB\n"
	primary := servers.Primary("primary", conf)
	createDatabase(t, primary)
	ctx := context.Background()
	c, err := capsule.Open(ctx, primary.URL("capsule"), capsule.WithKeyDir(t.TempDir()),
		capsule.WithStorageTimeout(failoverTimeout))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	l := startLoad(c)
	defer l.stop()
	l.waitAcked(t, failoverBefore)
	primary.Reload(conf + "synchronous_standby_names = 'nobody'\n")
	waiting := waitSyncRep(t, primary)
	primary.Kill(true)
	killed := time.Now()
	ackedAtKill := l.count()
	primary.Restart(conf)
	restarted := time.Now()
	resumed := l.waitFirstAfter(t, killed)
	l.waitAcked(t, l.count()+failoverAfter)
	l.stop()

	v := l.check(t, c)
	lost := 0
	for id := range l.acked {
		if !v.present[id] {
			lost++
		}
	}
	t.Logf("primary restarted: %d capsules acknowledged (%d before the kill), %d commits unanswered at the kill, %d lost, "+
		"%d appends failed (%d of them stored), %d chains of %d capsules verify with signatures; restart took %v; "+
		"first append %v after the kill; whole test %v",
		len(l.acked), ackedAtKill, waiting, lost, len(l.failed), v.failedPresent, failoverTenants, v.capsules,
		restarted.Sub(killed).Round(time.Millisecond), resumed.Sub(killed).Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	if lost != 0 {
		t.Errorf("%d acknowledged capsules lost", lost)
	}
	if v.failedPresent != 0 {
		t.Errorf("%d appends reported failed are stored", v.failedPresent)
	}
}

// createDatabase creates the database capsule on srv.
func createDatabase(t *testing.T, srv *Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), failoverBound)
	defer cancel()
	conn := srv.Conn(ctx)
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CREATE DATABASE capsule"); err != nil {
		t.Fatal(err)
	}
}

// waitStreaming waits until a standby streams from primary, as a
// synchronous standby when sync.
func waitStreaming(t *testing.T, primary *Server, sync bool) {
	t.Helper()
	want := "async"
	if sync {
		want = "sync"
	}
	waitCount(t, primary, "a "+want+" standby streaming",
		"SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming' AND sync_state = $1", want)
}

// waitSyncRep waits until a transaction of srv waits for a synchronous
// standby, and returns how many do.
func waitSyncRep(t *testing.T, srv *Server) int {
	t.Helper()
	return waitCount(t, srv, "a commit waiting for a standby", "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'")
}

// waitCount waits, at most failoverBound, until the count query returns
// more than 0 on srv, and returns it.
func waitCount(t *testing.T, srv *Server, what, query string, args ...any) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), failoverBound)
	defer cancel()
	conn := srv.Conn(ctx)
	defer conn.Close(context.Background())
	for {
		var n int
		err := conn.QueryRow(ctx, query, args...).Scan(&n)
		if err == nil && n > 0 {
			return n
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waited %v for %s: %v", failoverBound, what, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// load appends capsules from failoverWriters goroutines over
// failoverTenants chains until stopped, and records each outcome.
type load struct {
	c    *capsule.Capsules
	quit chan struct{}
	wg   sync.WaitGroup
	once sync.Once

	mu     sync.Mutex
	acked  map[string]outcome // by capsule id
	failed map[string]outcome
	unsure int            // appends told ErrNotConfirmed: may be stored, so neither acked nor failed
	errs   map[string]int // the first line of each error, counted
	cond   *sync.Cond     // signalled on every acknowledgement
}

type outcome struct {
	tenant string
	began  time.Time // when the append was called
	at     time.Time // when it returned
}

func startLoad(c *capsule.Capsules) *load {
	l := &load{c: c, quit: make(chan struct{}), acked: map[string]outcome{}, failed: map[string]outcome{}, errs: map[string]int{}}
	l.cond = sync.NewCond(&l.mu)
	for w := range failoverWriters {
		l.wg.Go(func() { l.write(w) })
	}
	return l
}

func (l *load) write(w int) {
	ctx := context.Background()
	tenant := fmt.Sprint("t", w%failoverTenants)
	for i := 0; ; i++ {
		select {
		case <-l.quit:
			return
		default:
		}
		cp := capsule.New(capsule.TypeAgent)
		cp.Trigger.Request = fmt.Sprintf("writer %d append %d", w, i)
		began := time.Now()
		_, err := l.c.Append(ctx, tenant, cp)
		o := outcome{tenant: tenant, began: began, at: time.Now()}
		l.mu.Lock()
		switch {
		case err == nil:
			l.acked[cp.ID] = o
			l.cond.Broadcast()
		case errors.Is(err, capsule.ErrNotConfirmed):
			l.unsure++
			l.errs[errorKind(err)]++
		default:
			l.failed[cp.ID] = o
			l.errs[errorKind(err)]++
		}
		l.mu.Unlock()
		if errors.Is(err, capsule.ErrStoreDown) {
			// Refused at once while the store is known down: do not
			// spin on the machine the servers share.
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// errorKind shortens an error to what tells errors apart.
func errorKind(err error) string {
	s := err.Error()
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

func (l *load) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

// waitAcked waits until n capsules are acknowledged in all.
func (l *load) waitAcked(t *testing.T, n int) {
	t.Helper()
	l.waitFor(t, fmt.Sprintf("%d acknowledged capsules", n), func() bool { return len(l.acked) >= n })
}

// waitFirstAfter waits for an append acknowledged after since and returns
// when it returned.
func (l *load) waitFirstAfter(t *testing.T, since time.Time) time.Time {
	t.Helper()
	var first time.Time
	l.waitFor(t, "an append to succeed again", func() bool {
		for _, o := range l.acked {
			if o.at.After(since) && (first.IsZero() || o.at.Before(first)) {
				first = o.at
			}
		}
		return !first.IsZero()
	})
	return first
}

// waitFor waits, at most failoverBound, until ok (called with l.mu held)
// holds after an acknowledgement.
func (l *load) waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	timer := time.AfterFunc(failoverBound, func() {
		l.mu.Lock()
		l.cond.Broadcast()
		l.mu.Unlock()
	})
	defer timer.Stop()
	deadline := time.Now().Add(failoverBound)
	l.mu.Lock()
	defer l.mu.Unlock()
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s: %d acknowledged, %d failed; errors: %v", failoverBound, what, len(l.acked), len(l.failed), l.errs)
		}
		l.cond.Wait()
	}
}

// stop stops the writers and waits for them.
func (l *load) stop() {
	l.once.Do(func() { close(l.quit) })
	l.wg.Wait()
}

// verified is what check found in the store.
type verified struct {
	present       map[string]bool // ids of the capsules in the chains
	capsules      int64
	failedPresent int
}

// check verifies every chain of the load with signatures, checks that
// each capsule is stored once (by id and by content) and counts the
// appends reported failed whose capsule is stored.
func (l *load) check(t *testing.T, c *capsule.Capsules) verified {
	t.Helper()
	ctx := context.Background()
	v := verified{present: map[string]bool{}}
	requests := map[string]bool{}
	for i := range failoverTenants {
		tenant := fmt.Sprint("t", i)
		res, err := c.Verify(ctx, tenant, capsule.Signatures)
		if err != nil || !res.Valid {
			t.Fatalf("chain %s: %+v %v", tenant, res, err)
		}
		v.capsules += res.CapsulesVerified
		for rec, err := range c.Store().Scan(ctx, tenant, 0) {
			if err != nil {
				t.Fatal(err)
			}
			var content struct {
				Trigger struct {
					Request string `json:"request"`
				} `json:"trigger"`
			}
			if err := json.Unmarshal(rec.Data, &content); err != nil {
				t.Fatalf("capsule %s: %v", rec.ID, err)
			}
			if v.present[rec.ID] || requests[content.Trigger.Request] {
				t.Errorf("capsule %s (%s) stored twice", rec.ID, content.Trigger.Request)
			}
			v.present[rec.ID] = true
			requests[content.Trigger.Request] = true
		}
	}
	for id := range l.failed {
		if v.present[id] {
			v.failedPresent++
		}
	}
	t.Logf("errors returned: %v", l.errs)
	return v
}
