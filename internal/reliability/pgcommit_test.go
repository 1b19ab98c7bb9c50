package reliability

import (
	"context"
	"testing"

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
		t.Run(c.name, func(t *testing.T) { commitCutRun(t, c.forward) })
	}
}

func commitCutRun(t *testing.T, forward bool) {
	base := PostgresURL(t)
	ctx := context.Background()
	direct, err := postgres.Open(ctx, base) // creates the table
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	p, proxied := ProxyTo(t, base)
	cuts := p.CutAtCommit(3, forward)
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
		err := s.Append(ctx, tn, recs)
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
	t.Logf("%d appends, %d connections cut at COMMIT: %d acknowledged, %d errors for stored batches, %d errors for batches not stored; chain of %d capsules intact",
		batches, cuts(), acked, errStored, errLost, stored)
	if cuts() == 0 {
		t.Fatal("the proxy cut no connection")
	}
	if errStored != 0 {
		t.Errorf("%d errors reported for batches that are stored", errStored)
	}
}
