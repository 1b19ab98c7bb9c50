// Package readme runs the commands of README.md as written, so the README
// cannot drift from what the code does.
package readme

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const root = "../.."

// blocks returns the fenced ```sh blocks of README.md that follow a line
// containing marker.
func blocks(t *testing.T, marker string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	lines := strings.Split(string(b), "\n")
	for i := 0; i < len(lines); i++ {
		if !strings.Contains(lines[i], marker) {
			continue
		}
		j := i + 1
		for j < len(lines) && strings.TrimSpace(lines[j]) == "" || j < len(lines) && !strings.HasPrefix(lines[j], "```") {
			j++
		}
		if j >= len(lines) || lines[j] != "```sh" {
			t.Fatalf("README.md:%d: marker %q is not followed by a ```sh block", i+1, marker)
		}
		var block []string
		for j++; j < len(lines) && lines[j] != "```"; j++ {
			block = append(block, lines[j])
		}
		out = append(out, strings.Join(block, "\n")+"\n")
	}
	if len(out) == 0 {
		t.Fatalf("README.md has no block marked %q", marker)
	}
	return out
}

// env is the test's environment with HOME moved away, so nothing the
// README runs touches the real ~/.quantumpipes.
func env(t *testing.T) []string {
	home := t.TempDir()
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "HOME=") || strings.HasPrefix(kv, "QUANTUMPIPES_DATA_DIR=") || strings.HasPrefix(kv, "CAPSULE_URL=") {
			continue
		}
		out = append(out, kv)
	}
	out = append(out, "HOME="+home, "NO_COLOR=1")
	// Keep the go command's caches: derived from HOME, they would be
	// empty, and every run would download and compile every module.
	for _, v := range []string{"GOPATH", "GOMODCACHE", "GOCACHE"} {
		if os.Getenv(v) == "" {
			val, err := exec.Command("go", "env", v).Output()
			if err != nil {
				t.Fatalf("go env %s: %v", v, err)
			}
			out = append(out, v+"="+strings.TrimSpace(string(val)))
		}
	}
	return out
}

// TestReadmeTour runs the five-minute tour exactly as README.md writes it.
func TestReadmeTour(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the example and the CLI")
	}
	for _, f := range []string{"chain.json", "site-a.checkpoint"} {
		t.Cleanup(func() { os.Remove(filepath.Join(root, f)) })
	}
	for _, block := range blocks(t, "run as written by TestReadmeTour") {
		cmd := exec.Command("bash", "-euo", "pipefail", "-c", block)
		cmd.Dir = root
		cmd.Env = env(t)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("README tour failed: %v\n%s", err, out)
		}
		for _, want := range []string{"site-a", "valid"} {
			if !bytes.Contains(out, []byte(want)) {
				t.Errorf("tour output lacks %q:\n%s", want, out)
			}
		}
	}
}

// TestReadmeServe runs the serve block: the first line starts the server,
// the others query it, then SIGINT must shut it down cleanly.
func TestReadmeServe(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the CLI")
	}
	block := blocks(t, "run as written by TestReadmeServe")[0]
	lines := strings.Split(strings.TrimSpace(block), "\n")
	e := env(t)
	data := t.TempDir()
	e = append(e, "QUANTUMPIPES_DATA_DIR="+data)

	// Something to serve: the example's chain.
	seed := exec.Command("go", "run", "./examples/agent")
	seed.Dir, seed.Env = root, e
	if out, err := seed.CombinedOutput(); err != nil {
		t.Fatalf("seeding: %v\n%s", err, out)
	}
	// Build first so the server starts at once, then run the line as written
	// (with the port swapped for a free one).
	port := freePort(t)
	serveLine := strings.ReplaceAll(lines[0], "127.0.0.1:8080", "127.0.0.1:"+port)
	build := exec.Command("go", "build", "-o", os.DevNull, "./cmd/capsule")
	build.Dir, build.Env = root, e
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	server := exec.Command("bash", "-c", "exec "+serveLine)
	server.Dir, server.Env = root, e
	server.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var serverOut bytes.Buffer
	server.Stdout, server.Stderr = &serverOut, &serverOut
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(-server.Process.Pid, syscall.SIGKILL)
	waitPort(t, port, &serverOut)

	for _, line := range lines[1:] {
		line = strings.ReplaceAll(line, "127.0.0.1:8080", "127.0.0.1:"+port)
		cmd := exec.Command("bash", "-euo", "pipefail", "-c", "curl -sSf "+strings.TrimPrefix(line, "curl "))
		cmd.Dir, cmd.Env = root, e
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", line, err, out)
		}
		if !bytes.HasPrefix(out, []byte("{")) {
			t.Errorf("%s: not JSON: %s", line, out)
		}
	}
	// Graceful shutdown on SIGINT: go run forwards nothing, so signal the group.
	syscall.Kill(-server.Process.Pid, syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- server.Wait() }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatalf("server did not stop on SIGINT:\n%s", serverOut.String())
	}
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
}

func waitPort(t *testing.T, port string, out *bytes.Buffer) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for ctx.Err() == nil {
		c, err := net.Dial("tcp", "127.0.0.1:"+port)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		t.Log(sc.Text())
	}
	t.Fatal("server did not start listening")
}
