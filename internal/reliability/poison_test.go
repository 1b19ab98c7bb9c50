package reliability

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/capsule-go/capsule"
	"github.com/capsule-go/capsule/storage"
)

// TestPoisonedBatchPostgres: 32 writers append ordinary capsules while one
// appends, every 20 ms, a capsule that PostgreSQL itself refuses (a CHECK
// constraint of the test's schema rejects its domain, standing for any
// value the database refuses after the runtime's own checks). The group
// commit puts both in the same transactions; the refused batch is split
// until the capsule at fault fails alone. No ordinary capsule fails, every
// poisoned one does, and the chains verify.
func TestPoisonedBatchPostgres(t *testing.T) {
	dbURL := PostgresURL(t)
	ctx := context.Background()
	c, err := capsule.Open(ctx, dbURL, capsule.WithKeyDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	_, err = conn.Exec(ctx, "ALTER TABLE quantumpipes_capsules ADD CONSTRAINT test_no_poison CHECK (domain <> 'poison')")
	conn.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}

	const writers, tenants = 32, 4
	run := 3 * time.Second
	if testing.Short() {
		run = time.Second
	}
	stop := time.Now().Add(run)
	var ok, bad, poisonFailed, poisonStored atomic.Int64
	var firstBad atomic.Pointer[error]
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for time.Now().Before(stop) {
				cp := capsule.New(capsule.TypeAgent)
				cp.Domain = "ordinary"
				if _, err := c.Append(ctx, fmt.Sprint("t", w%tenants), cp); err != nil {
					bad.Add(1)
					firstBad.CompareAndSwap(nil, &err)
					continue
				}
				ok.Add(1)
			}
		})
	}
	wg.Go(func() {
		for i := 0; time.Now().Before(stop); i++ {
			cp := capsule.New(capsule.TypeAgent)
			cp.Domain = "poison"
			_, err := c.Append(ctx, fmt.Sprint("t", i%tenants), cp)
			switch {
			case err == nil:
				poisonStored.Add(1)
			case errors.Is(err, storage.ErrRejected):
				poisonFailed.Add(1)
			default:
				t.Errorf("poisoned capsule: %v, want an error wrapping storage.ErrRejected", err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	wg.Wait()
	t.Logf("%d ordinary capsules stored, %d failed; %d poisoned capsules refused", ok.Load(), bad.Load(), poisonFailed.Load())
	if bad.Load() != 0 {
		t.Errorf("%d ordinary capsules failed beside poisoned ones; first: %v", bad.Load(), *firstBad.Load())
	}
	if poisonStored.Load() != 0 || poisonFailed.Load() == 0 {
		t.Errorf("poisoned capsules: %d stored, %d refused", poisonStored.Load(), poisonFailed.Load())
	}
	var total int64
	for i := range tenants {
		res, err := c.Verify(ctx, fmt.Sprint("t", i), capsule.Signatures)
		if err != nil || !res.Valid {
			t.Fatalf("chain t%d: %+v %v", i, res, err)
		}
		total += res.CapsulesVerified
	}
	if total != ok.Load() {
		t.Errorf("%d capsules stored, %d acknowledged", total, ok.Load())
	}
}
