package reliability

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/capsule-go/capsule"
	"github.com/capsule-go/capsule/storage/storagetest"
)

// TestHostileTenantBesideHonest: 8 writers append to their own chains
// while one appends with tenant ids no store can hold (a NUL, invalid
// UTF-8, too long). PostgreSQL refuses such a tenant in any statement
// (SQLSTATE 22021), which once read as the store being down and turned
// auditing off for every tenant; SQLite stored them. Each hostile append
// is refused alone with an error naming the tenant, before the store;
// every honest append lands; the chains verify.
func TestHostileTenantBesideHonest(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			var url string
			hostile := storagetest.HostileTenants
			if backend == "postgres" {
				url = PostgresURL(t)
				hostile = slices.Concat(hostile, []string{strings.Repeat("é", 37)}) // past VARCHAR(36)
			} else {
				url = filepath.Join(t.TempDir(), "capsules.db")
			}
			ctx := context.Background()
			c, err := capsule.Open(ctx, url, capsule.WithKeyDir(t.TempDir()))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			const writers, each = 8, 150
			var wg, honestWG sync.WaitGroup
			var honestFailed atomic.Int64
			var refused atomic.Int64
			done := make(chan struct{})
			for g := range writers {
				honestWG.Go(func() {
					for i := range each {
						cp := capsule.New(capsule.TypeAgent)
						cp.Trigger.Request = fmt.Sprint(i)
						if _, err := c.Append(ctx, fmt.Sprintf("honest-%d", g), cp); err != nil {
							if honestFailed.Add(1) <= 3 {
								t.Errorf("honest writer %d: %v", g, err)
							}
						}
						time.Sleep(time.Millisecond) // requests arrive apart
					}
				})
			}
			// The hostile writer goes on until the honest ones are done.
			wg.Go(func() {
				bad := 0
				for i := 0; ; i++ {
					select {
					case <-done:
						return
					default:
					}
					tenant := hostile[i%len(hostile)]
					_, err := c.Append(ctx, tenant, capsule.New(capsule.TypeAgent))
					var fe *capsule.FieldError
					if (!errors.As(err, &fe) || fe.Field != "tenant") && bad < 3 {
						bad++
						t.Errorf("hostile tenant %.12q: err = %v, want a FieldError on tenant", tenant, err)
					}
					refused.Add(1)
					time.Sleep(200 * time.Microsecond) // a pace, not a wait
				}
			})
			honestWG.Wait()
			close(done)
			wg.Wait()
			st := c.Stats()
			if honestFailed.Load() > 0 || st.Committed != writers*each {
				t.Errorf("%d honest appends failed, %d stored of %d", honestFailed.Load(), st.Committed, writers*each)
			}
			for g := range writers {
				res, err := c.Verify(ctx, fmt.Sprintf("honest-%d", g), capsule.Signatures)
				if err != nil || !res.Valid || res.CapsulesVerified != each {
					t.Errorf("chain honest-%d: %+v %v", g, res, err)
				}
			}
			tenants, err := c.Store().Tenants(ctx)
			if err != nil || len(tenants) != writers {
				t.Errorf("tenants in the store: %q %v, want the %d honest ones", tenants, err, writers)
			}
			t.Logf("%s: %d honest capsules stored in %d commits beside %d hostile appends refused", backend, st.Committed, st.Commits, refused.Load())
		})
	}
}
