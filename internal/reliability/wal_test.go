package reliability

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/capsule-go/capsule/storage"
	"github.com/capsule-go/capsule/storage/sqlite"
	"github.com/capsule-go/capsule/storage/storagetest"
)

const envWALChild = "CAPSULE_REL_WAL_CHILD"

// TestSQLiteWALRemoved: the -wal file (then, in a second run, the -wal and
// -shm files) of a database is deleted while a process appends to it; the
// process is then killed with SIGKILL. Without the check, SQLite goes on
// committing into the unlinked WAL and the crash loses every capsule
// acknowledged since the last checkpoint. Every acknowledged capsule must
// be in the database after the crash, and every append begun after the
// process learned of the deletion must have failed.
func TestSQLiteWALRemoved(t *testing.T) {
	if path := os.Getenv(envWALChild); path != "" {
		walChild(t, path)
		return
	}
	if testing.Short() {
		t.Skip("spawns a writer and kills it")
	}
	for _, files := range [][]string{{"-wal"}, {"-wal", "-shm"}} {
		t.Run(strings.Join(files, ""), func(t *testing.T) { walRemoved(t, files) })
	}
}

func walRemoved(t *testing.T, files []string) {
	path := filepath.Join(t.TempDir(), "capsules.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestSQLiteWALRemoved$", "-test.count=1")
	cmd.Env = append(os.Environ(), envWALChild+"="+path)
	stdin, stdout, stderr := startPiped(t, cmd)
	defer cmd.Process.Kill()

	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var acked []string
	var refused, late int
	var firstErr string
	unlinked := false
	timeout := time.After(60 * time.Second)
read:
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("the writer exited: %s", stderr.String())
			}
			kind, rest, _ := strings.Cut(line, " ")
			switch kind {
			case "acked":
				acked = append(acked, rest)
			case "late":
				late++
			case "refused":
				refused++
				if firstErr == "" {
					firstErr = rest
				}
			}
			if !unlinked && len(acked) >= 400 {
				for _, f := range files {
					if err := os.Remove(path + f); err != nil {
						t.Fatal(err)
					}
				}
				unlinked = true
				fmt.Fprintln(stdin, "unlinked")
				// Without the check, appends never fail: stop after a while
				// and count the loss.
				timeout = time.After(3 * time.Second)
			}
			if refused >= 20 {
				break read
			}
		case <-timeout:
			if !unlinked {
				t.Fatalf("the writer acknowledged %d capsules in a minute", len(acked))
			}
			break read
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()

	ctx := context.Background()
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tn := "wal"
	lost := 0
	for _, id := range acked {
		if _, err := s.Get(ctx, id, &tn); err != nil {
			lost++
		}
	}
	n, err := s.Count(ctx, storage.Filter{Tenant: &tn})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("removed %v under the writer: %d capsules acknowledged, %d in the database after SIGKILL, %d lost; "+
		"%d appends refused, %d acknowledged after the writer learned of the removal; first refusal: %s",
		files, len(acked), n, lost, refused, late, firstErr)
	if lost > 0 {
		t.Errorf("%d of %d acknowledged capsules lost", lost, len(acked))
	}
	if late > 0 || refused == 0 {
		t.Errorf("appends after the removal: %d acknowledged, %d refused; want 0 and some", late, refused)
	}
	if firstErr != "" && !strings.Contains(firstErr, sqlite.ErrFileGone.Error()) {
		t.Errorf("refusal %q does not report ErrFileGone", firstErr)
	}
}

// walChild appends batches of 4 capsules to the chain "wal" until killed,
// printing "acked ID" for each acknowledged capsule, "refused ERR" for a
// failed append, and "late" for an append acknowledged though it began
// after the parent wrote "unlinked" on stdin.
func walChild(t *testing.T, path string) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	var unlinked atomic.Bool
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			if sc.Text() == "unlinked" {
				unlinked.Store(true)
			}
		}
	}()
	w := bufio.NewWriter(os.Stdout)
	head := storage.Head{Sequence: -1}
	for {
		after := unlinked.Load()
		recs := storagetest.Chain("wal", head, 4)
		if err := s.Append(ctx, "wal", recs); err != nil {
			fmt.Fprintf(w, "refused %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
			w.Flush()
			time.Sleep(5 * time.Millisecond)
			continue
		}
		for _, r := range recs {
			fmt.Fprintf(w, "acked %s\n", r.ID)
		}
		if after {
			fmt.Fprintln(w, "late")
		}
		w.Flush()
		head = storage.Head{Sequence: recs[3].Sequence, Hash: recs[3].Hash}
	}
}
