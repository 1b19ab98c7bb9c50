package reliability

import (
	"context"
	"testing"
	"time"

	"github.com/capsule-go/capsule/storage"
	"github.com/capsule-go/capsule/storage/postgres"
	"github.com/capsule-go/capsule/storage/storagetest"
)

// TestPostgresCommitCut cuts the connection of every third Append at its
// COMMIT, through a proxy that reads the PostgreSQL protocol: once just
// after the server's CommandComplete "COMMIT" reached the client (the
// ReadyForQuery after it never comes), once instead of it (the server
// committed; the client never learns). After each Append the test looks
// for the batch directly: an error for a batch that is stored must never
// happen, nor success for one that is not.
func TestPostgresCommitCut(t *testing.T) {
	for _, c := range []struct {
		name    string
		forward bool
	}{{"after-commit-read", true}, {"commit-answer-lost", false}} {
		t.Run(c.name, func(t *testing.T) {
			commitCutRun(t, func(p *Proxy) func() int64 { return p.CutAtCommit(3, c.forward) }, 0)
		})
	}
}

// TestPostgresCommitHeld withholds the answer to every third COMMIT
// without cutting the connection, as a path that turns into a black hole
// just after the server committed: the Append's own deadline ends the
// wait. The batch must then be looked for by id all the same (on a
// context of its own, bounded), so that a stored batch is never reported
// failed; before, the look was skipped once the Append's context had
// expired.
func TestPostgresCommitHeld(t *testing.T) {
	commitCutRun(t, func(p *Proxy) func() int64 { return p.HoldAtCommit(3) }, 300*time.Millisecond)
}

// commitCutRun appends batches through a proxy set up by fault, each
// within timeout (none when 0), and checks each outcome against the
// database.
func commitCutRun(t *testing.T, fault func(*Proxy) func() int64, timeout time.Duration) {
	base := PostgresURL(t)
	ctx := context.Background()
	direct, err := postgres.Open(ctx, base) // creates the table
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	p, proxied := ProxyTo(t, base)
	cuts := fault(p)
	s, err := postgres.Open(ctx, proxied)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	const batches = 90
	tn := "cut"
	head := storage.Head{Sequence: -1}
	var acked, errStored, errLost, stored int
	for i := range batches {
		recs := storagetest.Chain(tn, head, 1+i%4)
		actx, cancel := ctx, context.CancelFunc(func() {})
		if timeout > 0 {
			actx, cancel = context.WithTimeout(ctx, timeout)
		}
		err := s.Append(actx, tn, recs)
		cancel()
		_, gerr := direct.Get(ctx, recs[len(recs)-1].ID, &tn)
		there := gerr == nil
		switch {
		case err == nil && there:
			acked++
		case err == nil:
			t.Errorf("batch %d acknowledged but not stored", i)
		case there:
			errStored++
			t.Logf("batch %d: error for a stored batch: %v", i, err)
		default:
			errLost++
		}
		if there {
			stored += len(recs)
			last := recs[len(recs)-1]
			head = storage.Head{Sequence: last.Sequence, Hash: last.Hash}
		}
	}
	storagetest.CheckChain(ctx, t, direct, tn, stored)
	t.Logf("%d appends, %d COMMIT answers cut or withheld: %d acknowledged, %d errors for stored batches, %d errors for batches not stored; chain of %d capsules intact",
		batches, cuts(), acked, errStored, errLost, stored)
	if cuts() == 0 {
		t.Fatal("the proxy cut or withheld no COMMIT answer")
	}
	if errStored != 0 {
		t.Errorf("%d errors reported for batches that are stored", errStored)
	}
}
