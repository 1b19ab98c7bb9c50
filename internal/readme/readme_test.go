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
	"sync"
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

// goDirs are the go command's build cache, module cache and GOPATH. They
// stay where they are when env moves HOME: under a new HOME the go
// command would download every module and rebuild everything (SQLite's C
// included) for each test, which takes many minutes.
var goDirs = sync.OnceValues(func() ([]string, error) {
	out, err := exec.Command("go", "env", "GOCACHE", "GOMODCACHE", "GOPATH").Output()
	if err != nil {
		return nil, fmt.Errorf("go env: %w", err)
	}
	vals := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(vals) != 3 {
		return nil, fmt.Errorf("go env printed %q", out)
	}
	return []string{"GOCACHE=" + vals[0], "GOMODCACHE=" + vals[1], "GOPATH=" + vals[2]}, nil
})

// env is the test's environment with HOME moved away, so nothing the
// README runs touches the real ~/.quantumpipes.
func env(t *testing.T) []string {
	dirs, err := goDirs()
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "HOME=") || strings.HasPrefix(kv, "QUANTUMPIPES_DATA_DIR=") || strings.HasPrefix(kv, "CAPSULE_URL=") {
			continue
		}
		out = append(out, kv)
	}
	out = append(out, dirs...)
	return append(out, "HOME="+home, "NO_COLOR=1")
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

// TestReadmeModule follows "Using it in your module" from a new module
// outside this repository: the go mod edit block as written (with
// CAPSULE_SRC at this checkout), then an annotated function, go generate
// through the recorded tool, a build with and without cgo, a run on the
// process default, and the recorded capsule tool over what it wrote.
func TestReadmeModule(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module outside the repository")
	}
	src, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	mod := t.TempDir()
	data := t.TempDir()
	e := append(env(t), "CAPSULE_SRC="+src, "QUANTUMPIPES_DATA_DIR="+data)
	run := func(name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir, cmd.Env = mod, e
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("go", "mod", "init", "example.com/audited")
	run("bash", "-euo", "pipefail", "-c", blocks(t, "run as written by TestReadmeModule")[0])
	program := `package main

import (
	"context"
	"fmt"

	"github.com/capsule-go/capsule"
)

//go:generate go tool capsulegen

// Greet says hello.
//
//capsule:audit type=agent tenant_from=site
func Greet(ctx context.Context, site, name string) (string, error) {
	capsule.Current(ctx).Reasoning.Analysis = "a friendly greeting"
	return "hello " + name, nil
}

func main() {
	defer func() {
		if caps, err := capsule.Default(); err == nil {
			caps.Close()
		}
	}()
	fmt.Println(AuditedGreet(context.Background(), "site-a", "ada"))
}
`
	if err := os.WriteFile(filepath.Join(mod, "main.go"), []byte(program), 0o644); err != nil {
		t.Fatal(err)
	}
	run("go", "generate", "./...")
	run("go", "mod", "tidy")
	if _, err := os.Stat(filepath.Join(mod, "main_capsule.go")); err != nil {
		t.Fatalf("go generate wrote no wrapper: %v", err)
	}
	run("go", "build", "-o", "greet", ".")
	if out := run("./greet"); out != "hello ada <nil>\n" {
		t.Fatalf("program printed %q", out)
	}
	e = append(e, "CGO_ENABLED=0")
	run("go", "build", "-o", "greet-nocgo", ".")
	if out := run("./greet-nocgo"); out != "hello ada <nil>\n" {
		t.Fatalf("program built without cgo printed %q", out)
	}
	db := filepath.Join(data, "capsules.db")
	if out := run("go", "tool", "capsule", "chains", "--db", db); !strings.Contains(out, "site-a  2 ") {
		t.Errorf("capsule chains after two runs:\n%s", out)
	}
	if out := run("go", "tool", "capsule", "verify", "--db", db, "--tenant", "site-a", "--signatures"); !strings.Contains(out, "chain valid: 2 capsules verified (signatures)") {
		t.Errorf("capsule verify:\n%s", out)
	}
}
