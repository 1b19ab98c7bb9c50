package storagetest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/capsule-go/capsule/logtree"
	"github.com/capsule-go/capsule/storage"
)

// Environment variables of the child processes of [MultiProcess].
const (
	childEnvLocation = "CAPSULE_STORAGETEST_CHILD_LOCATION"
	childEnvN        = "CAPSULE_STORAGETEST_CHILD_N"
	childEnvTenant   = "CAPSULE_STORAGETEST_CHILD_TENANT"
	childEnvCatchUp  = "CAPSULE_STORAGETEST_CHILD_CATCHUP"
)

// Processes configures [MultiProcess].
type Processes struct {
	// Open opens the store at location, in the parent and in each child.
	Open func(ctx context.Context, location string) (storage.Store, error)
	// New returns the location of a new, empty store (a file path, a
	// schema); only the parent calls it.
	New func(t *testing.T) string
	// Binaries are the test executables the children run, in turn; they
	// must be builds of the calling test's package. Empty means this test
	// binary (os.Args[0]). A backend with several drivers lists one build
	// per driver, so processes of each append to one store together.
	Binaries []string
	// DropTree, when set, deletes every stored tree hash of tenant's chain
	// in s (a store Open returned), as a chain written by the Python
	// reference has none. MultiProcess then also catches such a tree up
	// in a child process while the others append.
	DropTree func(s storage.Store, tenant string) error
}

// MultiProcess is the contract across processes: four child processes
// append to one store at once, on the null tenant's chain and then on
// another, and every capsule each acknowledged is in a gap-free chain whose
// stored tree matches it. With [Processes.DropTree], each chain starts
// with 600 capsules whose tree is lost, and a fifth child catches the tree
// up (logtree.Sync, again and again) while the four append, until the
// chain is whole. Call
// it from a test named TestMultiProcess; the children run that test of the
// binaries again, where MultiProcess appends and returns.
func MultiProcess(t *testing.T, p Processes) {
	if location := os.Getenv(childEnvLocation); location != "" {
		runChild(t, p, location)
		return
	}
	if testing.Short() {
		t.Skip("spawns processes")
	}
	binaries := p.Binaries
	if len(binaries) == 0 {
		binaries = []string{os.Args[0]}
	}
	const procs, n = 4, 40
	location := p.New(t)
	for _, tenant := range []string{"", "mp"} {
		prefill := 0
		children := procs
		if p.DropTree != nil {
			prefill, children = 600, procs+1
			dropTree(t, p, location, tenant, prefill)
		}
		cmds := make([]*exec.Cmd, children)
		outs := make([]strings.Builder, children)
		for i := range cmds {
			cmd := exec.CommandContext(t.Context(), binaries[i%len(binaries)], "-test.run=^TestMultiProcess$", "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), childEnvLocation+"="+location, childEnvN+"="+strconv.Itoa(n), childEnvTenant+"="+tenant)
			if i == procs {
				cmd.Env = append(cmd.Env, childEnvCatchUp+"="+strconv.Itoa(prefill+procs*n))
			}
			cmd.Stdout, cmd.Stderr = &outs[i], &outs[i]
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			cmds[i] = cmd
		}
		for i, cmd := range cmds {
			if err := cmd.Wait(); err != nil {
				t.Errorf("child %d (%s): %v\n%s", i, cmd.Path, err, outs[i].String())
			}
		}
		if t.Failed() {
			t.FailNow()
		}
		s, err := p.Open(t.Context(), location)
		if err != nil {
			t.Fatal(err)
		}
		recs := CheckChain(t.Context(), t, s, tenant, prefill+procs*n)
		if p.DropTree != nil {
			var sizes []string
			for line := range strings.Lines(outs[procs].String()) {
				if size, ok := strings.CutPrefix(strings.TrimSpace(line), "caught up "); ok {
					sizes = append(sizes, size)
				}
			}
			if len(sizes) == 0 {
				t.Errorf("the catch-up child caught nothing up:\n%s", outs[procs].String())
			}
			t.Logf("tenant %q: the catch-up child's tree sizes: %s", tenant, strings.Join(sizes, " "))
		}
		checkTreeOf(t, s, tenant, int64(len(recs)))
		ids := make(map[string]bool, len(recs))
		for _, r := range recs {
			ids[r.ID] = true
		}
		// Every child printed the ids it had acknowledged.
		for i := range outs[:procs] {
			for line := range strings.Lines(outs[i].String()) {
				if id, ok := strings.CutPrefix(strings.TrimSpace(line), "acked "); ok && !ids[id] {
					t.Errorf("child %d: acknowledged capsule %s is missing", i, id)
				}
			}
			if c := strings.Count(outs[i].String(), "acked "); c != n {
				t.Errorf("child %d acknowledged %d capsules, want %d", i, c, n)
			}
		}
		s.Close()
	}
}

// dropTree fills tenant's chain at location with n capsules, then drops
// its stored tree with p.DropTree.
func dropTree(t *testing.T, p Processes, location, tenant string, n int) {
	s, err := p.Open(t.Context(), location)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	grow(t, s, tenant, n, 300)
	if err := p.DropTree(s, tenant); err != nil {
		t.Fatal(err)
	}
}

// runChild appends to the store at location as one child of MultiProcess,
// printing each acknowledged id; or, as the catch-up child, catches the
// chain's stored tree up again and again until the chain holds every
// capsule the others append, printing each new size it reached.
func runChild(t *testing.T, p Processes, location string) {
	n, err := strconv.Atoi(os.Getenv(childEnvN))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	s, err := p.Open(ctx, location)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if target := os.Getenv(childEnvCatchUp); target != "" {
		end, err := strconv.ParseInt(target, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		for last := int64(-1); last < end; {
			size, err := logtree.Sync(ctx, s, os.Getenv(childEnvTenant))
			if err != nil {
				t.Fatal(err)
			}
			if size != last {
				fmt.Printf("caught up %d\n", size)
				last = size
			}
		}
		return
	}
	recs, err := AppendRetry(ctx, s, os.Getenv(childEnvTenant), n)
	for _, r := range recs {
		fmt.Printf("acked %s\n", r.ID)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// BenchmarkAppend measures appends of batches of 1 and 64 records to the
// null tenant's chain and to another, on a store open returns; it reports
// records/s.
func BenchmarkAppend(b *testing.B, open func(b *testing.B) storage.Store) {
	for _, size := range []int{1, 64} {
		for _, tenant := range []string{"", "bench"} {
			b.Run(fmt.Sprintf("batch=%d/tenant=%q", size, tenant), func(b *testing.B) {
				s := open(b)
				head := storage.Head{Sequence: -1}
				for b.Loop() {
					b.StopTimer()
					recs := Chain(tenant, head, size)
					head = storage.Head{Sequence: recs[size-1].Sequence, Hash: recs[size-1].Hash}
					b.StartTimer()
					if err := s.Append(b.Context(), tenant, recs); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "records/s")
			})
		}
	}
}
