package capsule

import (
	"context"
	"iter"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/capsule-go/capsule/storage"
	"github.com/capsule-go/capsule/storage/memory"
)

// blockingStore holds every Append until release is closed.
type blockingStore struct {
	*memory.Store
	entered chan struct{}
	release chan struct{}
}

func (s *blockingStore) Append(ctx context.Context, tenant string, recs []storage.Record) error {
	s.entered <- struct{}{}
	<-s.release
	return s.Store.Append(ctx, tenant, recs)
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
	recs := iter.Seq2[Sealed, error](func(yield func(Sealed, error) bool) {
		inside.Store(true)
		defer inside.Store(false)
		for i := range verifyBatch {
			// Sequence 1 first: the chain is broken at its first capsule.
			if !yield(Sealed{Sequence: int64(i + 1)}, nil) {
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
