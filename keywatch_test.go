package capsule

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/capsule-go/capsule/keys"
)

// TestKeyRotatedWhileAppending: the key directory's key is rotated (as
// `capsule keys rotate` does from another process: only the files change)
// while 8 goroutines append, on a clock the test drives. Until the
// watcher's next check is due the old key signs; once it is, the first
// capsules sealed carry the new key, no append made after one of them
// returned carries the retired key, and the chain across the rotation
// verifies with signatures, in this Capsules and in a new one.
func TestKeyRotatedWhileAppending(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	dbPath := filepath.Join(dir, "capsules.db")
	clk := newTestClock()
	c, err := Open(ctx, dbPath, WithKeyDir(dir), withClock(clk.now))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	old := c.Signer().Fingerprint()

	const (
		beforeRotation = iota // the append began before keys.Rotate
		beforeCheck           // after it, before the clock reached the next check
		afterCheck            // as the clock reaches it
		afterNewKey           // after an append returned with the new key
	)
	type sealed struct {
		start, end int32 // the phase when Append was called and when it returned
		signedBy   string
	}
	var (
		mu     sync.Mutex
		got    []sealed
		phase  atomic.Int32
		stop   atomic.Bool
		newKey atomic.Pointer[string]
		wg     sync.WaitGroup
	)
	rotated := make(chan struct{}) // closed when an append returns the new key
	var rotatedOnce sync.Once
	appended := make(chan struct{}, 1)
	defer func() { // before Close, also when the test fails
		stop.Store(true)
		wg.Wait()
	}()
	for range 8 {
		wg.Go(func() {
			for !stop.Load() {
				start := phase.Load()
				rec, err := c.Append(ctx, "", New(TypeAgent))
				if err != nil {
					t.Error(err)
					return
				}
				if fp := newKey.Load(); fp != nil && rec.SignedBy == *fp {
					phase.CompareAndSwap(afterCheck, afterNewKey)
					rotatedOnce.Do(func() { close(rotated) })
				}
				mu.Lock()
				got = append(got, sealed{start, phase.Load(), rec.SignedBy})
				mu.Unlock()
				select {
				case appended <- struct{}{}:
				default:
				}
			}
		})
	}
	// waitAppends returns once n more appends have returned.
	waitAppends := func(n int) {
		t.Helper()
		for range n {
			select {
			case <-appended:
			case <-time.After(10 * time.Second):
				t.Fatal("no append returned within 10 s")
			}
		}
	}
	waitAppends(50)
	next, err := keys.Rotate(dir)
	if err != nil {
		t.Fatal(err)
	}
	fp := next.Fingerprint()
	newKey.Store(&fp)
	phase.Store(beforeCheck)
	waitAppends(50)
	phase.Store(afterCheck)
	clk.advance(keyCheckInterval)
	select {
	case <-rotated:
	case <-time.After(10 * time.Second):
		t.Fatal("no capsule signed with the new key within 10 s of the check")
	}
	waitAppends(50)
	stop.Store(true)
	wg.Wait()

	if fp == old {
		t.Fatalf("rotation kept the fingerprint %s", old)
	}
	var count [4]int
	var early, late int
	for _, s := range got {
		count[s.start]++
		switch {
		case s.end < afterCheck && s.signedBy != old:
			early++
		case s.start == afterNewKey && s.signedBy != fp:
			late++
		}
	}
	t.Logf("capsules appended: %d before the rotation, %d before the next check, %d after it, %d after the first with the new key", count[0], count[1], count[2], count[3])
	if early != 0 {
		t.Errorf("%d capsules returned before the watcher's next check was due are not signed by the old key", early)
	}
	if late != 0 || count[afterNewKey] == 0 {
		t.Errorf("the retired key signed %d of the %d capsules appended after one was signed with the new key", late, count[afterNewKey])
	}
	if got := c.Signer().Fingerprint(); got != fp {
		t.Errorf("Signer() = %s, want the rotated key %s", got, fp)
	}
	res, err := c.Verify(ctx, "", Signatures)
	if err != nil || !res.Valid || res.CapsulesVerified != int64(len(got)) {
		t.Fatalf("verify across the rotation: %+v %v (%d appended)", res, err, len(got))
	}
	c2, err := Open(ctx, dbPath, WithKeyDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if res, err := c2.Verify(ctx, "", Signatures); err != nil || !res.Valid {
		t.Fatalf("verify in a new Capsules: %+v %v", res, err)
	}
}
