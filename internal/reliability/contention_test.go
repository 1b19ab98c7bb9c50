package reliability

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/capsule-go/capsule"
	"github.com/capsule-go/capsule/keys"
)

const (
	envChildChains = "CAPSULE_REL_CHILD_CHAINS"
	envChildURL    = "CAPSULE_REL_CHILD_URL"
	envChildKeys   = "CAPSULE_REL_CHILD_KEYS"
	envChildN      = "CAPSULE_REL_CHILD_N"
)

const (
	procs      = 8
	goroutines = 64
	perRoutine = 10
	tenant     = "shared"
)

// TestContentionSQLite: 8 OS processes x 64 goroutines append to one chain
// in one SQLite file. Every acknowledged capsule must be there, with no gap,
// no duplicate sequence, and the chain must verify with signatures.
func TestContentionSQLite(t *testing.T) {
	if runChild(t) {
		return
	}
	dir := t.TempDir()
	contend(t, filepath.Join(dir, "capsules.db"), dir)
}

// TestContentionSQLiteManyChains: 8 processes x 64 goroutines spread over
// 16 chains of one SQLite file, so that every transaction carries many
// chains and other processes' appends make some of them conflict: every
// chain whole and verified.
func TestContentionSQLiteManyChains(t *testing.T) {
	if runChild(t) {
		return
	}
	t.Setenv(envChildChains, "16")
	dir := t.TempDir()
	contend(t, filepath.Join(dir, "capsules.db"), dir)
}

// TestContentionPostgres is the same against one PostgreSQL chain.
func TestContentionPostgres(t *testing.T) {
	if runChild(t) {
		return
	}
	contend(t, PostgresURL(t), t.TempDir())
}

// TestContentionPostgresNoLocks is the same with capsule_locks=off: no
// advisory lock, UNIQUE(tenant_id, sequence) alone keeps the chain whole,
// as on a PostgreSQL-compatible database without advisory locks.
func TestContentionPostgresNoLocks(t *testing.T) {
	if runChild(t) {
		return
	}
	contend(t, PostgresURL(t)+"&capsule_locks=off", t.TempDir())
}

// TestContentionPostgresManyChains: 8 processes x 64 goroutines spread
// over 16 PostgreSQL chains, so that every transaction carries many
// chains, with and without advisory locks: no deadlock between processes
// (locks, then inserts, in one order), every chain whole and verified.
func TestContentionPostgresManyChains(t *testing.T) {
	if runChild(t) {
		return
	}
	for _, locks := range []string{"on", "off"} {
		t.Run("locks="+locks, func(t *testing.T) {
			t.Setenv(envChildChains, "16")
			contend(t, PostgresURL(t)+"&capsule_locks="+locks, t.TempDir())
		})
	}
}

func contend(t *testing.T, dbURL, keyDir string) {
	if testing.Short() {
		t.Skip("spawns 8 processes")
	}
	if _, err := keys.LoadOrCreate(keyDir); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	acked := make([][]string, procs)
	var commits, conflicts atomic.Int64
	for i := range procs {
		cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1")
		cmd.Env = append(os.Environ(), envChildURL+"="+dbURL, envChildKeys+"="+keyDir, envChildN+"="+strconv.Itoa(perRoutine))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			sc := bufio.NewScanner(out)
			var said []string // what the child's test said besides its ids: its failures
			for sc.Scan() {
				if id, ok := strings.CutPrefix(sc.Text(), "acked "); ok {
					acked[i] = append(acked[i], id)
					continue
				}
				var cm, cf int64
				if _, err := fmt.Sscanf(sc.Text(), "stats %d %d", &cm, &cf); err == nil {
					commits.Add(cm)
					conflicts.Add(cf)
				} else if len(said) < 40 {
					said = append(said, sc.Text())
				}
			}
			if err := cmd.Wait(); err != nil {
				t.Errorf("child %d: %v\n%s%s", i, err, strings.Join(said, "\n"), stderr.String())
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	ctx := context.Background()
	c, err := capsule.Open(ctx, dbURL, capsule.WithKeyDir(keyDir))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	want := procs * goroutines * perRoutine
	total := 0
	for i, ids := range acked {
		if len(ids) != goroutines*perRoutine {
			t.Errorf("child %d acknowledged %d capsules, want %d", i, len(ids), goroutines*perRoutine)
		}
		for _, id := range ids {
			if _, err := c.Store().Get(ctx, id, nil); err != nil {
				t.Fatalf("acknowledged capsule %s: %v", id, err)
			}
		}
		total += len(ids)
	}
	chains := childChains()
	var verified int64
	for k := range chains {
		tn := chainName(k, chains)
		res, err := c.Verify(ctx, tn, capsule.Signatures)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Valid {
			t.Fatalf("chain %q: %+v", tn, res)
		}
		h, err := c.Store().Head(ctx, tn)
		if err != nil || h.Sequence != res.CapsulesVerified-1 {
			t.Fatalf("chain %q: head %+v, %v; want sequence %d (no gap, no duplicate)", tn, h, err, res.CapsulesVerified-1)
		}
		verified += res.CapsulesVerified
	}
	if verified != int64(want) || total != want {
		t.Fatalf("%d capsules verified in %d chains; acknowledged %d; want %d", verified, chains, total, want)
	}
	t.Logf("%d processes x %d goroutines on %d chain(s): %d capsules acknowledged and verified, in %d commits, after %d conflicts with other processes",
		procs, goroutines, chains, total, commits.Load(), conflicts.Load())
}

// childChains is how many chains the children spread over (1 unless the
// test says otherwise).
func childChains() int {
	if n, err := strconv.Atoi(os.Getenv(envChildChains)); err == nil && n > 0 {
		return n
	}
	return 1
}

// chainName names chain k of n: the shared tenant when there is one.
func chainName(k, n int) string {
	if n == 1 {
		return tenant
	}
	return fmt.Sprintf("%s-%d", tenant, k)
}

// runChild runs the child side when the test binary was started by contend:
// 64 goroutines append and print each acknowledged id.
func runChild(t *testing.T) bool {
	dbURL := os.Getenv(envChildURL)
	if dbURL == "" {
		return false
	}
	n, _ := strconv.Atoi(os.Getenv(envChildN))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// The storage timeout bounds each call (an append not confirmed
	// within it returns ErrNotConfirmed); this test is about contention,
	// not latency, on a machine that may be loaded: give each call as
	// long as the child has.
	c, err := capsule.Open(ctx, dbURL, capsule.WithKeyDir(os.Getenv(envChildKeys)), capsule.WithStorageTimeout(3*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var mu sync.Mutex
	w := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	chains := childChains()
	for g := range goroutines {
		wg.Go(func() {
			for i := range n {
				cp := capsule.New(capsule.TypeAgent)
				cp.Trigger.Request = fmt.Sprintf("pid %d g %d i %d", os.Getpid(), g, i)
				rec, err := c.Append(ctx, chainName((g+i)%chains, chains), cp)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				fmt.Fprintf(w, "acked %s\n", rec.ID)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	mu.Lock()
	st := c.Stats()
	fmt.Fprintf(w, "stats %d %d\n", st.Commits, st.Conflicts)
	w.Flush()
	mu.Unlock()
	return true
}
