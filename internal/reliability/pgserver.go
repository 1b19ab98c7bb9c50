package reliability

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresBinEnv names the environment variable with the directory of
// PostgreSQL's server binaries (initdb, pg_ctl, pg_basebackup, postgres)
// for the tests that run their own servers; by default the newest
// /usr/lib/postgresql/*/bin that has them, else the directory of initdb
// on PATH.
const PostgresBinEnv = "CAPSULE_TEST_POSTGRES_BIN"

// serverCommandTimeout bounds each command the server helpers run
// (initdb, pg_basebackup, pg_ctl) and each wait for a server to answer.
const serverCommandTimeout = 2 * time.Minute

// PostgresBin returns the directory of PostgreSQL's server binaries, or
// skips the test, saying how to run it, when there is none.
func PostgresBin(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs its own PostgreSQL servers")
	}
	has := func(dir string) bool {
		for _, b := range []string{"initdb", "pg_ctl", "pg_basebackup", "postgres"} {
			if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
				return false
			}
		}
		return true
	}
	if dir := os.Getenv(PostgresBinEnv); dir != "" {
		if !has(dir) {
			t.Fatalf("%s=%s: initdb, pg_ctl, pg_basebackup or postgres is missing there", PostgresBinEnv, dir)
		}
		return dir
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { return version(b) - version(a) })
	if initdb, err := exec.LookPath("initdb"); err == nil {
		dirs = append(dirs, filepath.Dir(initdb))
	}
	for _, dir := range dirs {
		if has(dir) {
			return dir
		}
	}
	t.Skipf("no PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup, postgres) in /usr/lib/postgresql/*/bin or on PATH: "+
		"install the postgresql package, or set %s to their directory, to run the tests that start their own servers", PostgresBinEnv)
	return ""
}

// version is the major version in a path /usr/lib/postgresql/N/bin.
func version(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

// Servers is a directory holding PostgreSQL servers a test runs itself,
// each with its data directory and a free port on 127.0.0.1. When the
// test runs as root the servers run as the postgres user (PostgreSQL
// refuses root), and the directory belongs to it. Every server is stopped
// and the directory removed when the test ends, whatever its outcome.
type Servers struct {
	t    testing.TB
	bin  string
	dir  string
	cred *syscall.Credential // nil: run as the test's own user
}

// NewServers makes the directory for a test's servers, or skips the test
// when the binaries are missing (see [PostgresBin]).
func NewServers(t testing.TB) *Servers {
	t.Helper()
	bin := PostgresBin(t)
	dir, err := os.MkdirTemp("", "capsule-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) }) // after every server's own cleanup, registered later
	s := &Servers{t: t, bin: bin, dir: dir}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Skipf("running as root and there is no postgres user to run PostgreSQL as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// command returns the binary name of s run with args, as the servers' user,
// in its own process group, in the servers' directory (which that user can
// read, unlike the test's working directory). It is killed if the test
// process dies first (a test binary killed at its -timeout runs no
// cleanup), so that no server outlives the test.
func (s *Servers) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, name), args...)
	cmd.Dir = s.dir
	cmd.Env = []string{"PATH=" + s.bin + ":/usr/bin:/bin", "LC_ALL=C", "TZ=UTC"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Setpgid: true, Pdeathsig: syscall.SIGKILL}
	return cmd
}

// run runs a binary to completion, bounded by serverCommandTimeout.
func (s *Servers) run(name string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), serverCommandTimeout)
	defer cancel()
	out, err := s.command(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

// Server is one PostgreSQL server of [Servers]: a postmaster the test
// started and waits for, so that a killed one is reaped.
type Server struct {
	s    *Servers
	name string
	Data string // data directory
	Port int
	conf string // the settings of capsule_test.conf, the port's included

	cmd      *exec.Cmd
	done     chan struct{} // closed when the postmaster has exited
	orphans  []int         // server processes left by a killed postmaster
	logStart int64         // log size when the postmaster started
}

// testConf is the file holding the settings the tests give a server,
// included from postgresql.conf, so that a standby made by pg_basebackup
// gets its own by rewriting it.
const testConf = "capsule_test.conf"

// Primary initializes a server (initdb, trust authentication for local
// and 127.0.0.1 connections, replication included) with the settings
// conf (postgresql.conf lines) and starts it.
func (s *Servers) Primary(name, conf string) *Server {
	s.t.Helper()
	srv := s.server(name, conf)
	if err := s.run("initdb", "-D", srv.Data, "-U", "postgres", "-A", "trust", "--no-sync", "--no-locale", "-E", "UTF8"); err != nil {
		s.t.Fatal(err)
	}
	// initdb's pg_hba.conf already trusts 127.0.0.1 for replication with
	// -A trust; say it explicitly, as an operator's file would.
	hba := "host replication postgres 127.0.0.1/32 trust\n"
	srv.appendFile("pg_hba.conf", hba)
	srv.appendFile("postgresql.conf", "include '"+testConf+"'\n")
	srv.writeConf()
	srv.Start()
	return srv
}

// Standby makes a streaming standby of primary (pg_basebackup -R), with
// the settings conf instead of the primary's, and starts it.
func (s *Servers) Standby(name string, primary *Server, conf string) *Server {
	s.t.Helper()
	srv := s.server(name, conf)
	if err := s.run("pg_basebackup", "-h", "127.0.0.1", "-p", strconv.Itoa(primary.Port), "-U", "postgres",
		"-D", srv.Data, "-R", "-X", "stream", "--no-sync", "-c", "fast"); err != nil {
		s.t.Fatal(err)
	}
	srv.writeConf() // replaces the primary's settings, port included
	srv.Start()
	return srv
}

func (s *Servers) server(name, conf string) *Server {
	srv := &Server{s: s, name: name, Data: filepath.Join(s.dir, name), Port: freePort(s.t), conf: conf}
	s.t.Cleanup(srv.stop)
	return srv
}

// freePort returns a TCP port of 127.0.0.1 that is free now.
func freePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func (srv *Server) writeConf() {
	conf := fmt.Sprintf("listen_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = '%s'\n%s",
		srv.Port, srv.s.dir, srv.conf)
	srv.writeFile(testConf, conf, os.O_TRUNC)
}

func (srv *Server) appendFile(name, text string) { srv.writeFile(name, text, os.O_APPEND) }

// writeFile writes a file of the data directory, owned by the servers'
// user.
func (srv *Server) writeFile(name, text string, flag int) {
	path := filepath.Join(srv.Data, name)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|flag, 0o600)
	if err == nil {
		_, err = f.WriteString(text)
		err = errors.Join(err, f.Close())
	}
	if err == nil && srv.s.cred != nil {
		err = os.Chown(path, int(srv.s.cred.Uid), int(srv.s.cred.Gid))
	}
	if err != nil {
		srv.s.t.Fatal(err)
	}
}

// logFile is the server's log, beside its data directory.
func (srv *Server) logFile() string { return srv.Data + ".log" }

// URL returns the URL of database db on the server.
func (srv *Server) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", srv.Port, db)
}

// Start starts the postmaster on the data directory and waits until it
// accepts connections (a standby: read-only ones).
func (srv *Server) Start() {
	t := srv.s.t
	t.Helper()
	log, err := os.OpenFile(srv.logFile(), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	if fi, err := log.Stat(); err == nil {
		srv.logStart = fi.Size()
	}
	cmd := srv.s.command(context.Background(), "postgres", "-D", srv.Data)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	srv.cmd, srv.done = cmd, make(chan struct{})
	go func(done chan struct{}) {
		cmd.Wait()
		close(done)
	}(srv.done)
	ctx, cancel := context.WithTimeout(context.Background(), serverCommandTimeout)
	defer cancel()
	for {
		cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
		conn, err := pgx.Connect(cctx, srv.URL("postgres"))
		ccancel()
		if err == nil {
			conn.Close(ctx)
			return
		}
		select {
		case <-srv.done:
			t.Fatalf("postgres %s exited: %s", srv.name, srv.Log())
		case <-ctx.Done():
			t.Fatalf("postgres %s did not accept connections within %v: %v\n%s", srv.name, serverCommandTimeout, err, srv.Log())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Reload replaces the server's settings with conf and has it read them
// again (SIGHUP), as pg_ctl reload does.
func (srv *Server) Reload(conf string) {
	srv.conf = conf
	srv.writeConf()
	syscall.Kill(srv.cmd.Process.Pid, syscall.SIGHUP)
}

// Conn connects to the server's database postgres, or fails the test.
func (srv *Server) Conn(ctx context.Context) *pgx.Conn {
	srv.s.t.Helper()
	conn, err := pgx.Connect(ctx, srv.URL("postgres"))
	if err != nil {
		srv.s.t.Fatal(err)
	}
	return conn
}

// Log returns what the server logged since it last started.
func (srv *Server) Log() string {
	b, err := os.ReadFile(srv.logFile())
	if err != nil {
		return err.Error()
	}
	if int64(len(b)) >= srv.logStart {
		b = b[srv.logStart:]
	}
	return string(bytes.TrimSpace(b))
}

// Kill sends SIGKILL to the postmaster, as a crash would; with all, to
// every process of the server at once (its backends, WAL writer,
// checkpointer …), as a crash of its machine would, else to the
// postmaster alone, whose processes end by themselves once they notice
// it is gone. It returns once the postmaster has exited.
func (srv *Server) Kill(all bool) {
	pid := srv.cmd.Process.Pid
	kids := children(pid)
	srv.orphans = append(srv.orphans, kids...)
	if all {
		// Stopped, the postmaster cannot react to its children's death;
		// they cannot notice its own. (Each child is a process group
		// leader of its own: one signal to a group does not reach them.)
		syscall.Kill(pid, syscall.SIGSTOP)
		for _, p := range kids {
			syscall.Kill(p, syscall.SIGKILL)
		}
	}
	syscall.Kill(pid, syscall.SIGKILL)
	<-srv.done
}

// children returns the processes whose parent is pid.
func children(pid int) []int {
	var kids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid(p) == pid {
			kids = append(kids, p)
		}
	}
	return kids
}

// ppid returns the parent of process pid, or -1 when it is gone (a zombie
// counts as gone).
func ppid(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// pid (comm) state ppid …; comm may hold spaces and parentheses.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 2 || f[0] == "Z" {
		return -1
	}
	n, _ := strconv.Atoi(f[1])
	return n
}

// Restart starts the server again on its data directory after Kill, with
// the settings conf, once the processes the killed postmaster left have
// ended (PostgreSQL refuses to start while they hold its shared memory).
func (srv *Server) Restart(conf string) {
	srv.s.t.Helper()
	srv.conf = conf
	srv.writeConf()
	srv.WaitEnded()
	srv.Start()
}

// WaitEnded waits until the processes a killed postmaster left have
// ended (they do once they notice it is gone), killing those that have
// not after 10 s.
func (srv *Server) WaitEnded() {
	deadline := time.Now().Add(10 * time.Second)
	for _, p := range srv.orphans {
		for ppid(p) >= 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if ppid(p) >= 0 {
			syscall.Kill(p, syscall.SIGKILL)
		}
	}
	srv.orphans = nil
}

// Promote promotes a standby (pg_ctl promote) and returns once it
// accepts writes.
func (srv *Server) Promote() {
	srv.s.t.Helper()
	if err := srv.s.run("pg_ctl", "promote", "-w", "-t", strconv.Itoa(int(serverCommandTimeout/time.Second)), "-D", srv.Data); err != nil {
		srv.s.t.Fatalf("%v\n%s", err, srv.Log())
	}
}

// stop ends the server at once (an immediate shutdown), or kills it when
// it does not end within 10 s, and the processes a killed postmaster left.
func (srv *Server) stop() {
	if srv.cmd != nil {
		select {
		case <-srv.done:
		default:
			syscall.Kill(srv.cmd.Process.Pid, syscall.SIGQUIT)
			select {
			case <-srv.done:
			case <-time.After(10 * time.Second):
				srv.Kill(true)
			}
		}
	}
	srv.WaitEnded()
}
