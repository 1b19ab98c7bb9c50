package reliability

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/capsule-go/capsule"
)

// buildCLI builds cmd/capsule once per test binary.
var buildCLI = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "capsule-cli-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "capsule")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/capsule-go/capsule/cmd/capsule").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

const crashRounds = 25

// TestKilledSealSQLite kills a real `capsule seal` process with SIGKILL at
// random moments while it appends, many times over, to one SQLite chain.
// After every kill the chain must verify fully and hold every capsule the
// process acknowledged (printed) before it died.
func TestKilledSealSQLite(t *testing.T) {
	dir := t.TempDir()
	crashLoop(t, []string{"--db", filepath.Join(dir, "capsules.db")}, filepath.Join(dir, "capsules.db"))
}

// TestKilledSealPostgres is the same against one PostgreSQL chain.
func TestKilledSealPostgres(t *testing.T) {
	url := PostgresURL(t)
	crashLoop(t, []string{"--pg", url}, url)
}

func crashLoop(t *testing.T, source []string, dbURL string) {
	if testing.Short() {
		t.Skip("builds the CLI and kills it many times")
	}
	bin, err := buildCLI()
	if err != nil {
		t.Fatal(err)
	}
	dataDir := t.TempDir()
	env := append(os.Environ(), "QUANTUMPIPES_DATA_DIR="+dataDir)
	acked := map[string]bool{}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	for round := range crashRounds {
		// Most rounds kill the process while it appends, a random time
		// after its first acknowledgement (a loaded machine may take
		// longer than any fixed time to start it); every third kills it
		// a random time after it starts, possibly while it opens the store.
		afterAck := round%3 != 0
		ids, stderr := sealUntilKilled(t, bin, source, env, time.Duration(20+rng.IntN(250))*time.Millisecond, afterAck, round)
		for _, id := range ids {
			acked[id] = true
		}
		if stderr != "" {
			t.Logf("round %d stderr: %s", round, stderr)
		}
	}
	ctx := context.Background()
	c, err := capsule.Open(ctx, dbURL, capsule.WithKeyDir(dataDir))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	res, err := c.Verify(ctx, "crash", capsule.Signatures)
	if err != nil || !res.Valid {
		t.Fatalf("chain after %d kills: %+v %v", crashRounds, res, err)
	}
	tenant := "crash"
	for id := range acked {
		if _, err := c.Store().Get(ctx, id, &tenant); err != nil {
			t.Fatalf("capsule %s was acknowledged before the kill but is missing: %v", id, err)
		}
	}
	if len(acked) == 0 || res.CapsulesVerified < int64(len(acked)) {
		t.Fatalf("%d acknowledged, %d in the chain", len(acked), res.CapsulesVerified)
	}
	t.Logf("%d kills, %d capsules acknowledged, %d in the chain, all verified", crashRounds, len(acked), res.CapsulesVerified)
}

// sealUntilKilled runs `capsule seal` fed an endless stream of capsule
// content, kills it with SIGKILL d after it starts or, with afterAck, d
// after it acknowledges its first capsule (or after a minute without one),
// and returns the ids it printed.
func sealUntilKilled(t *testing.T, bin string, source, env []string, d time.Duration, afterAck bool, round int) ([]string, string) {
	args := append([]string{"seal", "--tenant", "crash"}, source...)
	cmd := exec.Command(bin, append(args, "-")...)
	cmd.Env = env
	stdin, stdout, stderr := startPiped(t, cmd)
	go func() {
		w := bufio.NewWriter(stdin)
		for i := 0; ; i++ {
			if _, err := fmt.Fprintf(w, `{"type":"tool","trigger":{"source":"crash-test","request":"round %d item %d"}}`+"\n", round, i); err != nil {
				return
			}
			if i%16 == 0 {
				if w.Flush() != nil {
					return
				}
			}
		}
	}()
	var ids []string
	done := make(chan struct{})
	first := make(chan struct{})
	go func() {
		defer close(done)
		signalled := false
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var sealed struct {
				ID string `json:"id"`
			}
			if json.Unmarshal(sc.Bytes(), &sealed) == nil && sealed.ID != "" {
				ids = append(ids, sealed.ID)
				if !signalled {
					signalled = true
					close(first)
				}
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	if afterAck {
		select {
		case <-first:
		case <-done: // it exited: the kill below finds nothing to kill
		case <-time.After(time.Minute):
		}
	}
	time.Sleep(d)
	cmd.Process.Signal(syscall.SIGKILL)
	<-done
	cmd.Wait()
	stdin.Close()
	return ids, stderr.String()
}

// startPiped starts cmd with pipes to its standard input and output, and
// its standard error collected.
func startPiped(t *testing.T, cmd *exec.Cmd) (io.WriteCloser, io.ReadCloser, *safeBuffer) {
	t.Helper()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := new(safeBuffer)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return stdin, stdout, stderr
}

type safeBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b = append(s.b, p...)
	return len(p), nil
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.b)
}
