// Package reliability holds the tests that try to break capsule's
// guarantees with real processes and real databases: many processes
// appending to one chain, processes killed mid-append, databases that
// vanish and come back, and rows tampered with behind the runtime's back.
// RELIABILITY.md lists each test with the command that reproduces it.
//
// The package has no API; its helpers exist for its tests.
package reliability

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
)

// PostgresEnv names the environment variable with the PostgreSQL URL the
// tests use; .ci/run sets it.
const PostgresEnv = "CAPSULE_TEST_POSTGRES_URL"

// PostgresURL returns the test database URL in a fresh schema that is
// dropped when the test ends, or skips the test when PostgresEnv is unset.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(PostgresEnv)
	if base == "" {
		t.Skipf("set %s=postgres://postgres@127.0.0.1:5432/test?sslmode=disable to run the PostgreSQL tests", PostgresEnv)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("postgres: %v", err)
	}
	schema := fmt.Sprintf("capsule_rel_%d_%d", os.Getpid(), schemaSeq.Add())
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), base)
		if err == nil {
			conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			conn.Close(context.Background())
		}
	})
	return WithSearchPath(t, base, schema)
}

type counter struct {
	mu sync.Mutex
	n  int
}

func (c *counter) Add() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	return c.n
}

var schemaSeq counter

// WithSearchPath returns raw with its search_path set to schema.
func WithSearchPath(t testing.TB, raw, schema string) string {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Proxy forwards TCP connections from a local port to a target address,
// and can be stopped (new connections refused, open ones cut) and started
// again, to make a database server vanish and come back without touching
// the server.
type Proxy struct {
	target string
	addr   string

	mu      sync.Mutex
	ln      net.Listener
	conns   map[net.Conn]bool
	cut     *commitCut        // nil: forward bytes as they come
	stalled bool              // accept and read, forward nothing
	dead    map[net.Conn]bool // forwarding connections open at the last Stall: they forward nothing
	holes   atomic.Int64      // connections accepted while stalled
}

// BlackHoled returns the number of connections the proxy accepted while
// stalled (each one a connect that never gets an answer).
func (p *Proxy) BlackHoled() int64 { return p.holes.Load() }

// commitCut is the fault CutAtCommit sets up.
type commitCut struct {
	every   int64 // cut at every n-th COMMIT answer
	forward bool  // forward the answer before cutting
	hold    bool  // neither forward the answer nor cut: forward nothing more
	seen    atomic.Int64
	cuts    atomic.Int64
}

// CutAtCommit makes the proxy, for the connections it accepts from now on,
// read the PostgreSQL protocol the server sends and cut the connection (both
// sides) at every n-th CommandComplete "COMMIT": just after forwarding it
// when forward is true (the client read COMMIT; the ReadyForQuery after it
// never comes), else instead of forwarding it (the server committed; the
// client never learns). It returns the number of cuts made so far.
func (p *Proxy) CutAtCommit(every int, forward bool) func() int64 {
	c := &commitCut{every: int64(every), forward: forward}
	p.mu.Lock()
	p.cut = c
	p.mu.Unlock()
	return c.cuts.Load
}

// HoldAtCommit makes the proxy, for the connections it accepts from now
// on, withhold every n-th CommandComplete "COMMIT" the server sends, and
// everything after it on that connection, without cutting it: the server
// committed, and the client waits for an answer until its own deadline.
// It returns the number of answers withheld so far.
func (p *Proxy) HoldAtCommit(every int) func() int64 {
	c := &commitCut{every: int64(every), hold: true}
	p.mu.Lock()
	p.cut = c
	p.mu.Unlock()
	return c.cuts.Load
}

// copy forwards the server's messages from s to c, cutting at the
// COMMIT answers cut selects. Every server message is a type byte and a
// 4-byte big-endian length that counts itself; without SSL the server
// sends nothing else.
func (cut *commitCut) copy(c, s net.Conn) {
	r := bufio.NewReaderSize(s, 64<<10)
	w := bufio.NewWriterSize(c, 64<<10)
	var hdr [5]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint32(hdr[1:])) - 4
		if n < 0 {
			return
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(r, body); err != nil {
			return
		}
		commit := hdr[0] == 'C' && string(body) == "COMMIT\x00" && cut.seen.Add(1)%cut.every == 0
		if !commit || cut.forward && !cut.hold {
			w.Write(hdr[:])
			w.Write(body)
		}
		if commit || r.Buffered() == 0 {
			if w.Flush() != nil {
				return
			}
		}
		if commit {
			cut.cuts.Add(1)
			if cut.hold {
				io.Copy(io.Discard, r) // until the client gives up
			}
			return
		}
	}
}

// NewProxy starts a proxy to target on a free loopback port.
func NewProxy(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{target: target, addr: ln.Addr().String(), conns: map[net.Conn]bool{}, dead: map[net.Conn]bool{}}
	p.serve(ln)
	return p, nil
}

// ProxyTo starts a proxy to the server of the database URL dbURL, stopped
// when t ends, and returns it with the URL that reaches the database
// through it.
func ProxyTo(t testing.TB, dbURL string) (*Proxy, string) {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewProxy(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	u.Host = p.Addr()
	return p, u.String()
}

// Addr is the proxy's listening address.
func (p *Proxy) Addr() string { return p.addr }

func (p *Proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.pipe(c)
		}
	}()
}

func (p *Proxy) pipe(c net.Conn) {
	p.mu.Lock()
	if p.stalled {
		// A black hole: the connection is accepted and read, never
		// answered, until Resume cuts it.
		p.conns[c] = true
		p.mu.Unlock()
		p.holes.Add(1)
		io.Copy(io.Discard, c)
		c.Close()
		return
	}
	p.mu.Unlock()
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil {
		p.mu.Unlock()
		c.Close()
		s.Close()
		return
	}
	p.conns[c], p.conns[s] = true, true
	cut := p.cut
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			p.mu.Lock()
			stalled := p.stalled || p.dead[src]
			p.mu.Unlock()
			if n > 0 && !stalled {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		done <- struct{}{}
	}
	go cp(s, c)
	if cut != nil {
		go func() {
			cut.copy(c, s)
			done <- struct{}{}
		}()
	} else {
		go cp(c, s)
	}
	<-done
	c.Close()
	s.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, s)
	delete(p.dead, c)
	delete(p.dead, s)
	p.mu.Unlock()
}

// Stop closes the listener and cuts every open connection.
func (p *Proxy) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
}

// Start listens again on the same address.
func (p *Proxy) Start() error {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		return err
	}
	p.serve(ln)
	return nil
}

// Stall makes the path to the server a black hole: open and new
// connections stay open but nothing is forwarded either way, as with a
// server that hangs or a network path that drops packets.
func (p *Proxy) Stall() {
	p.mu.Lock()
	p.stalled = true
	for c := range p.conns {
		p.dead[c] = true
	}
	p.mu.Unlock()
}

// ResumeNew ends a stall for new connections only: they reach the server,
// while every connection opened before stays a black hole (never
// answered, never cut) until its client closes it, as after a route
// comes back to a server that lost those connections' state.
func (p *Proxy) ResumeNew() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stalled = false
}

// Resume ends a stall: the connections that lost data are cut, new ones
// reach the server.
func (p *Proxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stalled = false
	for c := range p.conns {
		c.Close()
	}
}
