// Package witnesstest runs a real C2SP tlog-witness for tests: litewitness
// from filippo.io/torchwood v0.6.1, with its key in an ssh-agent of its
// own and its database in a temporary directory.
//
// The binaries are built from the nested module in ./tools, which records
// torchwood as a tool dependency: the main module's dependency list stays
// without torchwood's (sigsum, a second SQLite driver, x/net …). The first
// build takes about half a minute; from the build cache, a build is only
// the link.
package witnesstest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/capsule-go/capsule/checkpoint"
)

// Litewitness is a running litewitness.
type Litewitness struct {
	URL  string // its submission prefix: http://127.0.0.1:PORT
	Name string // its name, the key name of its cosignatures
	VKey string // its cosignature/v1 verifier key (witness.NewVerifier reads it)

	db         string // its database
	witnessctl string
	log        *lineLog // its standard error
}

// Bounds of the build (the first one compiles a SQLite driver) and of
// the start of ssh-agent and litewitness.
const (
	buildTimeout = 10 * time.Minute
	startTimeout = time.Minute
)

// build builds litewitness and witnessctl into dir (from the build cache
// after the first time: only the link).
func build(ctx context.Context, dir string) error {
	_, file, _, _ := runtime.Caller(0)
	tools := filepath.Join(filepath.Dir(file), "tools")
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", dir+string(os.PathSeparator),
		"filippo.io/torchwood/cmd/litewitness", "filippo.io/torchwood/cmd/witnessctl")
	cmd.Dir = tools
	cmd.Env = append(os.Environ(), "GOWORK=off", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build litewitness witnessctl in %s: %v\n%s", tools, err, out)
	}
	return nil
}

// Start starts an ssh-agent holding a new Ed25519 key and a litewitness
// named name that signs with it, listening on a free port of 127.0.0.1;
// both are stopped when the test ends. It skips the test when ssh-agent,
// ssh-add or ssh-keygen is missing (Debian: apt-get install
// openssh-client).
func Start(t testing.TB, name string) *Litewitness {
	t.Helper()
	for _, tool := range []string{"ssh-agent", "ssh-add", "ssh-keygen"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("litewitness test SKIPPED: %s not found (it signs through ssh-agent; apt-get install openssh-client)", tool)
		}
	}
	// A short directory: a Unix socket path must fit in 108 bytes.
	dir, err := os.MkdirTemp("", "lw-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	bctx, bcancel := context.WithTimeout(context.Background(), buildTimeout)
	defer bcancel()
	if err := build(bctx, dir); err != nil {
		t.Fatal(err)
	}
	bin := dir
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()

	key := filepath.Join(dir, "witness")
	run(t, ctx, nil, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "litewitness", "-f", key)
	fp := strings.Fields(run(t, ctx, nil, "ssh-keygen", "-l", "-E", "sha256", "-f", key+".pub"))
	if len(fp) < 2 || !strings.HasPrefix(fp[1], "SHA256:") {
		t.Fatalf("ssh-keygen -l printed %q, want a SHA256: fingerprint", fp)
	}
	sock := filepath.Join(dir, "agent.sock")
	startAgent(t, sock)
	run(t, ctx, []string{"SSH_AUTH_SOCK=" + sock}, "ssh-add", "-q", key)

	l := &Litewitness{Name: name, db: filepath.Join(dir, "litewitness.db"), witnessctl: filepath.Join(bin, "witnessctl"), log: newLineLog(t, "litewitness")}
	addr := freeAddr(t)
	cmd := exec.Command(filepath.Join(bin, "litewitness"), "-name", name, "-db", l.db,
		"-ssh-agent", sock, "-key", fp[1], "-listen", addr)
	cmd.Stdout, cmd.Stderr = l.log, l.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	l.URL = "http://" + addr
	vkeyRE := regexp.MustCompile(`vkey=(\S+)`)
	for {
		if m := vkeyRE.FindStringSubmatch(l.log.String()); m != nil && dials(addr) {
			l.VKey = m[1]
			break
		}
		select {
		case <-exited:
			t.Fatalf("litewitness exited:\n%s", l.log)
		case <-ctx.Done():
			t.Fatalf("litewitness did not listen on %s within %v:\n%s", addr, startTimeout, l.log)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Logf("litewitness %s at %s, verifier key %s", name, l.URL, l.VKey)
	return l
}

// AddLog registers a log with the witness, as its operator does:
// witnessctl add-log, then add-key with the log's note verifier key.
func (l *Litewitness) AddLog(t testing.TB, origin, vkey string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	t.Logf("witnessctl add-log: %s", strings.TrimSpace(run(t, ctx, nil, l.witnessctl, "add-log", "-db", l.db, "-origin", origin)))
	t.Logf("witnessctl add-key: %s", strings.TrimSpace(run(t, ctx, nil, l.witnessctl, "add-key", "-db", l.db, "-origin", origin, "-key", vkey)))
}

// AddLogKey registers the log origin whose checkpoints are signed with
// pub under the key name origin (see [checkpoint.VerifierKey]), and
// returns the log's note verifier.
func (l *Litewitness) AddLogKey(t testing.TB, origin string, pub ed25519.PublicKey) note.Verifier {
	t.Helper()
	vkey, err := checkpoint.VerifierKey(origin, pub)
	if err != nil {
		t.Fatal(err)
	}
	l.AddLog(t, origin, vkey)
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Logs returns the witness's list-logs output: one JSON line per log, with
// the size and root it holds.
func (l *Litewitness) Logs(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	return run(t, ctx, nil, l.witnessctl, "list-logs", "-db", l.db)
}

// startAgent starts an ssh-agent in the foreground bound to sock and
// returns once it listens; it is killed when the test ends.
func startAgent(t testing.TB, sock string) {
	t.Helper()
	cmd := exec.Command("ssh-agent", "-D", "-s", "-a", sock)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	// It prints its environment lines once the socket listens.
	r := bufio.NewReader(out)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("ssh-agent: %v: %s", err, stderr.String())
		}
		if strings.HasPrefix(line, "echo Agent pid") {
			break
		}
	}
	go io.Copy(io.Discard, r)
}

// run runs a command and returns its standard output and error.
func run(t testing.TB, ctx context.Context, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// freeAddr returns an address of 127.0.0.1 with a port free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func dials(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// lineLog keeps what a process writes and logs it to the test line by line.
type lineLog struct {
	t      testing.TB
	prefix string
	mu     sync.Mutex
	all    bytes.Buffer
	part   []byte
	done   bool
}

func newLineLog(t testing.TB, prefix string) *lineLog {
	l := &lineLog{t: t, prefix: prefix}
	t.Cleanup(func() {
		l.mu.Lock()
		l.done = true // the test is over: t.Log would panic
		l.mu.Unlock()
	})
	return l
}

func (l *lineLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all.Write(b)
	l.part = append(l.part, b...)
	for {
		i := bytes.IndexByte(l.part, '\n')
		if i < 0 {
			break
		}
		if !l.done {
			l.t.Logf("%s: %s", l.prefix, l.part[:i])
		}
		l.part = l.part[i+1:]
	}
	return len(b), nil
}

func (l *lineLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.all.String()
}
