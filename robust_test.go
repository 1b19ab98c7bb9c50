package capsule

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/storage"
	"github.com/capsule-go/capsule/storage/memory"
)

// blockingStore holds every Append until release is closed, whatever
// its context says, then stores the batch, or fails it with fail when set.
type blockingStore struct {
	*memory.Store
	entered chan struct{}
	release chan struct{}
	fail    error
	calls   atomic.Int64
}

func (s *blockingStore) Append(ctx context.Context, tenant string, recs []protocol.Sealed) error {
	s.calls.Add(1)
	s.entered <- struct{}{}
	<-s.release
	if s.fail != nil {
		return s.fail
	}
	return s.Store.Append(context.WithoutCancel(ctx), tenant, recs) // as a commit that landed late
}

// appendAsync runs c.Append in a goroutine and returns its outcome's
// channel.
func appendAsync(c *Capsules, tenant string) chan error {
	done := make(chan error, 1)
	go func() {
		_, err := c.Append(context.Background(), tenant, New(TypeAgent))
		done <- err
	}()
	return done
}

// outcome returns what done delivers, failing the test if nothing comes
// for a minute: the bound under test is far shorter, and a broken one
// never returns at all.
func outcome(t *testing.T, what string, done chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(time.Minute):
		t.Fatalf("%s did not return while the store held a commit", what)
		return nil
	}
}

// An Append returns by its own bound (the storage timeout from its call)
// even while the commit it queued behind never returns, with an error
// saying the capsule is not confirmed; the capsule stays queued and is
// stored, in its place, once the store answers. Before, an append queued
// behind a stuck commit waited for it, then for its own.
func TestAppendBoundedBehindStuckCommit(t *testing.T) {
	st := &blockingStore{Store: memory.New(), entered: make(chan struct{}, 4), release: make(chan struct{})}
	c, err := NewCapsules(st, WithSigner(newTestSigner()), WithStorageTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	first := appendAsync(c, "a")
	<-st.entered // its commit is in the store, and stays there
	for _, tenant := range []string{"b", "c", "a"} {
		if err := outcome(t, "an Append behind a stuck commit", appendAsync(c, tenant)); !errors.Is(err, ErrNotConfirmed) {
			t.Fatalf("Append to %q behind a stuck commit: %v, want ErrNotConfirmed", tenant, err)
		}
	}
	if err := outcome(t, "the Append in the stuck commit", first); !errors.Is(err, ErrNotConfirmed) {
		t.Fatalf("Append in a stuck commit: %v, want ErrNotConfirmed", err)
	}
	close(st.release)
	<-c.commit.wait()
	if st := c.Stats(); st.Committed != 4 || st.Failed != 0 {
		t.Fatalf("after the store answered: %+v, want the 4 capsules stored", st)
	}
	rec, err := c.Append(context.Background(), "a", New(TypeAgent))
	if err != nil || rec.Sequence != 2 {
		t.Fatalf("next append to a: sequence %d, %v; want 2", rec.Sequence, err)
	}
	for tenant, n := range map[string]int64{"a": 3, "b": 1, "c": 1} {
		if res, err := c.Verify(context.Background(), tenant, Signatures); err != nil || !res.Valid || res.CapsulesVerified != n {
			t.Fatalf("chain %q: %+v %v, want %d capsules", tenant, res, err, n)
		}
	}
}

// Capsules queued before the store was found down fail at once with
// ErrStoreDown instead of each round waiting out the timeout again.
func TestQueuedFailFastOnceStoreDown(t *testing.T) {
	st := &blockingStore{Store: memory.New(), entered: make(chan struct{}, 4), release: make(chan struct{}), fail: errors.New("disk on fire")}
	c, err := NewCapsules(st, WithSigner(newTestSigner()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	first := appendAsync(c, "a")
	<-st.entered
	var queued []*Queued
	for _, tenant := range []string{"b", "c"} {
		q, err := c.Queue(ctx, tenant, []*Capsule{New(TypeAgent)})
		if err != nil {
			t.Fatal(err)
		}
		queued = append(queued, q)
	}
	close(st.release) // the commit in flight fails: the store is down
	if err := outcome(t, "the failing append", first); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("append in the failed commit: %v", err)
	}
	for _, q := range queued {
		if _, err := q.Wait(ctx); !errors.Is(err, ErrStoreDown) {
			t.Fatalf("capsule queued before the store was found down: %v, want ErrStoreDown", err)
		}
	}
	if n := st.calls.Load(); n != 1 {
		t.Fatalf("the store was tried %d times, want once", n)
	}
}

// Close waits for an append in flight, and gives up after its bound with
// an error saying so instead of hanging.
func TestCloseWaitsBounded(t *testing.T) {
	for _, stuck := range []bool{false, true} {
		st := &blockingStore{Store: memory.New(), entered: make(chan struct{}, 1), release: make(chan struct{})}
		c, err := NewCapsules(st, WithSigner(newTestSigner()), WithRetryDeadline(time.Millisecond), WithStorageTimeout(50*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		appended := make(chan error, 1)
		go func() {
			_, err := c.Append(context.Background(), "t", New(TypeAgent))
			appended <- err
		}()
		<-st.entered
		if !stuck {
			time.AfterFunc(10*time.Millisecond, func() { close(st.release) })
		}
		err = c.Close()
		if stuck {
			if err == nil || !strings.Contains(err.Error(), "in flight") {
				t.Fatalf("Close with a stuck append: %v, want an in-flight error", err)
			}
			close(st.release)
			<-appended
			continue
		}
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := <-appended; err != nil {
			t.Fatalf("append before Close: %v", err)
		}
		if n, _ := st.Count(context.Background(), storage.Filter{}); n != 1 {
			t.Fatalf("%d capsules stored, want 1", n)
		}
	}
}

// VerifyChain does not return while its reader is still inside recs.
func TestVerifyChainWaitsForReader(t *testing.T) {
	var inside atomic.Bool
	recs := iter.Seq2[protocol.Sealed, error](func(yield func(protocol.Sealed, error) bool) {
		inside.Store(true)
		defer inside.Store(false)
		for i := range verifyBatch {
			// Sequence 1 first: the chain is broken at its first capsule.
			if !yield(protocol.Sealed{Sequence: int64(i + 1)}, nil) {
				return
			}
		}
		time.Sleep(50 * time.Millisecond) // still reading when the check ends
	})
	res, err := VerifyChain(context.Background(), recs, Structural, VerifyOptions{})
	if err != nil || res.Valid {
		t.Fatalf("VerifyChain = %+v, %v; want a broken chain", res, err)
	}
	if inside.Load() {
		t.Fatal("VerifyChain returned while its reader was still reading")
	}
}

// A SQLite file whose name starts with "postgres" is a file.
func TestOpenPostgresNamedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "postgres-audit.db")
	c, err := Open(context.Background(), path, WithKeyDir(t.TempDir()))
	if err != nil {
		t.Fatalf("Open(%q): %v", path, err)
	}
	defer c.Close()
	if _, err := c.Append(context.Background(), "", New(TypeAgent)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("no SQLite file at %s: %v", path, err)
	}
}

// unknownStore stores every batch, and reports the first one's outcome as
// unknown, as a commit whose answer was lost and could not be looked up.
type unknownStore struct {
	*memory.Store
	once atomic.Bool
}

func (s *unknownStore) Append(ctx context.Context, tenant string, recs []protocol.Sealed) error {
	if err := s.Store.Append(ctx, tenant, recs); err != nil {
		return err
	}
	if s.once.CompareAndSwap(false, true) {
		return fmt.Errorf("the answer to COMMIT was lost: %w", storage.ErrOutcomeUnknown)
	}
	return nil
}

// A commit whose outcome the store cannot tell is reported as
// ErrNotConfirmed, not as a failure: here it was stored, and the next
// append follows it in the chain.
func TestOutcomeUnknownNotReportedFailed(t *testing.T) {
	st := &unknownStore{Store: memory.New()}
	clk := newTestClock()
	c, err := NewCapsules(st, WithSigner(newTestSigner()), withClock(clk.now))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	_, err = c.Append(ctx, "t", New(TypeAgent))
	if !errors.Is(err, ErrNotConfirmed) || !errors.Is(err, storage.ErrOutcomeUnknown) {
		t.Fatalf("Append whose commit's outcome is unknown: %v, want ErrNotConfirmed", err)
	}
	clk.advance(probeInterval) // the breaker, if the lost answer opened it, lets the next append through
	rec, err := c.Append(ctx, "t", New(TypeAgent))
	if err != nil || rec.Sequence != 1 {
		t.Fatalf("next append: sequence %d, %v; want 1, after the capsule that was stored", rec.Sequence, err)
	}
	if res, err := c.Verify(ctx, "t", Signatures); err != nil || !res.Valid || res.CapsulesVerified != 2 {
		t.Fatalf("chain: %+v %v", res, err)
	}
}

// slowHeadStore answers the head of tenant "slow" only when the read's
// context ends, as a read that waited too long for a connection.
type slowHeadStore struct {
	*memory.Store
	entered chan struct{}
}

func (s *slowHeadStore) Head(ctx context.Context, tenant string) (storage.Head, error) {
	if tenant == "slow" {
		s.entered <- struct{}{}
		<-ctx.Done()
		return storage.Head{}, ctx.Err()
	}
	return s.Store.Head(ctx, tenant)
}

// A head read that times out while the store goes on storing other
// chains' capsules fails alone: it does not turn auditing off for every
// chain, as it did when any timeout opened the breaker (3,000 new chains
// reading their heads at once over a pool of 4 connections on a loaded
// machine then kept the breaker flapping).
func TestSlowHeadReadDoesNotOpenBreaker(t *testing.T) {
	st := &slowHeadStore{Store: memory.New(), entered: make(chan struct{}, 1)}
	c, err := NewCapsules(st, WithSigner(newTestSigner()), WithStorageTimeout(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	slow := appendAsync(c, "slow")
	<-st.entered
	if _, err := c.Append(ctx, "a", New(TypeAgent)); err != nil {
		t.Fatalf("append beside the slow head read: %v", err)
	}
	if err := outcome(t, "the append whose head read hangs", slow); err == nil {
		t.Fatal("the append whose head read timed out succeeded")
	}
	if _, err := c.Append(ctx, "b", New(TypeAgent)); err != nil {
		t.Fatalf("append after the slow head read failed: %v", err)
	}
}
