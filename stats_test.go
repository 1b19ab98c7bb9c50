package capsule

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/storage/memory"
)

// gatedStore holds every append until gate is closed.
type gatedStore struct {
	*failingStore
	gate chan struct{}
}

func (s *gatedStore) Append(ctx context.Context, tenant string, recs []protocol.Sealed) error {
	<-s.gate
	return s.failingStore.Append(ctx, tenant, recs)
}

// Stats carries what an operator alerts on: appended, failed, the queue
// depth and the breaker's state; the commit observer sees every stored
// capsule once, with its latency; Health follows the breaker.
func TestStatsQueueBreakerAndObserver(t *testing.T) {
	st := &gatedStore{failingStore: &failingStore{Store: memory.New()}, gate: make(chan struct{})}
	var mu sync.Mutex
	var commits, observed int
	obs := func(ci CommitInfo) {
		mu.Lock()
		defer mu.Unlock()
		commits++
		observed += ci.Capsules
		if len(ci.Latencies) != ci.Capsules {
			t.Errorf("%d latencies for a batch of %d", len(ci.Latencies), ci.Capsules)
		}
		for _, d := range ci.Latencies {
			if d < 0 {
				t.Errorf("negative latency %v", d)
			}
		}
	}
	c, err := NewCapsules(st, WithSigner(newTestSigner()), WithCommitObserver(obs))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	q, err := c.Queue(ctx, "t", []*Capsule{New(TypeAgent), New(TypeAgent), New(TypeAgent)})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Stats().Queued; got != 3 {
		t.Fatalf("Queued = %d while 3 capsules wait to commit, want 3", got)
	}
	close(st.gate)
	if _, err := q.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	s := c.Stats()
	if s.Committed != 3 || s.Queued != 0 || s.Failed != 0 || s.BreakerOpen {
		t.Fatalf("after 3 appends: %+v", s)
	}
	mu.Lock()
	if observed != 3 || commits != int(s.Commits) {
		t.Fatalf("observer saw %d capsules in %d commits; stats %+v", observed, commits, s)
	}
	mu.Unlock()
	if err := c.Health(ctx); err != nil {
		t.Fatalf("Health = %v with the store up", err)
	}

	st.mu.Lock()
	st.down = true
	st.mu.Unlock()
	if _, err := c.Append(ctx, "t", New(TypeAgent)); err == nil {
		t.Fatal("append succeeded with the store down")
	}
	s = c.Stats()
	if s.Failed != 1 || s.Queued != 0 || !s.BreakerOpen {
		t.Fatalf("after a failed append: %+v, want Failed 1, Queued 0, BreakerOpen", s)
	}
	if err := c.Health(ctx); !errors.Is(err, ErrStoreDown) {
		t.Fatalf("Health = %v with the breaker open, want ErrStoreDown", err)
	}
	// Refused at once by the open breaker (or, on a machine slow enough
	// for the probe interval to pass, failed by the store): failed too.
	if _, err := c.Append(ctx, "t", New(TypeAgent)); err == nil {
		t.Fatal("append succeeded with the store down")
	}
	if s := c.Stats(); s.Failed != 2 {
		t.Fatalf("Failed = %d after a refused append, want 2", s.Failed)
	}
	mu.Lock()
	defer mu.Unlock()
	if observed != 3 {
		t.Fatalf("observer saw %d capsules, want the 3 stored", observed)
	}
}
