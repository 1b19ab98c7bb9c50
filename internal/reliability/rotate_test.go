package reliability

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/capsule-go/capsule"
	"github.com/capsule-go/capsule/keys"
)

// TestKeyRotatedWhileAppending: the key directory's key is rotated (as
// `capsule keys rotate` does from another process: only the files change)
// while 8 goroutines append. Capsules sealed from one second after the
// rotation on carry the new key, the retired key signs nothing after that,
// and the chain across the rotation verifies with signatures, in this
// Capsules and in a new one.
func TestKeyRotatedWhileAppending(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	dbPath := filepath.Join(dir, "capsules.db")
	c, err := capsule.Open(ctx, dbPath, capsule.WithKeyDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	old := c.Signer().Fingerprint()

	type sealed struct {
		at       time.Time // when Append returned
		signedBy string
	}
	var mu sync.Mutex
	var got []sealed
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for !stop.Load() {
				rec, err := c.Append(ctx, "", capsule.New(capsule.TypeAgent))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				got = append(got, sealed{time.Now(), rec.SignedBy})
				mu.Unlock()
			}
		})
	}
	time.Sleep(500 * time.Millisecond)
	next, err := keys.Rotate(dir)
	if err != nil {
		t.Fatal(err)
	}
	rotated := time.Now()
	time.Sleep(2500 * time.Millisecond)
	stop.Store(true)
	wg.Wait()

	if next.Fingerprint() == old {
		t.Fatalf("rotation kept the fingerprint %s", old)
	}
	var before, late, after int
	for _, s := range got {
		switch {
		case s.at.Before(rotated):
			before++
		case s.signedBy == old && s.at.After(rotated.Add(1100*time.Millisecond)):
			late++
		case s.signedBy == next.Fingerprint():
			after++
		}
	}
	t.Logf("%d capsules before the rotation, %d with the new key, %d with the retired key more than 1.1 s after it", before, after, late)
	if late != 0 || after == 0 {
		t.Errorf("the retired key signed %d capsules more than a second after the rotation; the new key %d", late, after)
	}
	if fp := c.Signer().Fingerprint(); fp != next.Fingerprint() {
		t.Errorf("Signer() = %s, want the rotated key %s", fp, next.Fingerprint())
	}
	res, err := c.Verify(ctx, "", capsule.Signatures)
	if err != nil || !res.Valid || res.CapsulesVerified != int64(len(got)) {
		t.Fatalf("verify across the rotation: %+v %v (%d appended)", res, err, len(got))
	}
	c2, err := capsule.Open(ctx, dbPath, capsule.WithKeyDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if res, err := c2.Verify(ctx, "", capsule.Signatures); err != nil || !res.Valid {
		t.Fatalf("verify in a new Capsules: %+v %v", res, err)
	}
}
