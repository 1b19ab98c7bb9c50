package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/capsule-go/capsule/protocol"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// connLost reports whether err says that an open connection failed
// without an answer from the server (no answer in time, a reset, an
// unexpected end), rather than that the server refused something or that
// no connection was free. It then closes every connection of a pool Open
// created, at most once per connect timeout: a network fault or a black
// hole rarely spares the idle connections, and each would otherwise cost
// an operation its whole timeout to be found dead, long after the server
// answers again.
func (s *Store) connLost(err error) bool {
	var pe *pgconn.PgError
	var oe *net.OpError
	if err == nil || errors.As(err, &pe) || pgconn.SafeToRetry(err) || // nothing sent: a context already done
		!pgconn.Timeout(err) && !errors.As(err, &oe) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return false
	}
	now := time.Now().UnixNano()
	if last := s.lastReset.Load(); s.owned && now-last >= int64(s.resetEvery) && s.lastReset.CompareAndSwap(last, now) {
		s.pool.Reset()
	}
	return true
}

// errOutcomeUnknown marks a transaction whose connection failed after its
// COMMIT was sent and before the answer came: the server settled it one way
// or the other, and only its rows tell which.
var errOutcomeUnknown = errors.New("the connection failed after COMMIT was sent")

// errNotSettled marks an unknown outcome whose server process could not be
// seen to finish: a batch not found may still be committed after.
var errNotSettled = errors.New("not settled")

// outcomeUnknown reports whether a failed transaction may nonetheless have
// committed: the connection failed (the server did not answer with an
// error, which would have aborted the transaction) after the pipeline,
// COMMIT included, was sent.
func outcomeUnknown(err error) bool {
	var pe *pgconn.PgError
	return !errors.As(err, &pe) && !pgconn.SafeToRetry(err)
}

// settleTimeout bounds how long the store looks for the outcome of a
// transaction whose connection failed after COMMIT was sent: until the
// append's own deadline, at most settleTimeout and at least settleMin
// from when the transaction failed, even when the append's deadline (or
// cancellation) is what cut the connection: without it a stored batch
// would be reported failed.
const (
	settleTimeout = 30 * time.Second
	settleMin     = 5 * time.Second
)

// askAgain is the pause between two questions about such an outcome while
// the server cannot answer.
const askAgain = 50 * time.Millisecond

// unreachable reports whether err says that the server cannot be asked
// now (the connection failed or was refused; the server is starting up,
// shutting down, or not the read-write server the URL asks for), rather
// than that it answered.
func unreachable(err error) bool {
	var pe *pgconn.PgError
	switch {
	case errors.Is(err, pgx.ErrNoRows), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	case errors.As(err, &pe):
		return strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "57P")
	}
	return true
}

// ask runs q, and runs it again while the server cannot answer (see
// unreachable), until ctx ends. A server that crashed may be restarting,
// or a standby being promoted in its place.
func ask(ctx context.Context, q func(context.Context) error) error {
	for {
		err := q(ctx)
		if err == nil || !unreachable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(askAgain):
		}
	}
}

// afterUnknown returns the context that settles an unknown outcome: ctx's
// values, not its cancellation, with ctx's deadline held between
// settleMin and settleTimeout from now (settleTimeout without one).
func afterUnknown(ctx context.Context) (context.Context, context.CancelFunc) {
	now := time.Now()
	d, ok := ctx.Deadline()
	if !ok {
		d = now.Add(settleTimeout)
	}
	if lo := now.Add(settleMin); d.Before(lo) {
		d = lo
	} else if hi := now.Add(settleTimeout); d.After(hi) {
		d = hi
	}
	return context.WithDeadline(context.WithoutCancel(ctx), d)
}

// sessionStart is the key under which a connection of a pool that Open
// made keeps its server session's start time (see identify).
const sessionStart = "capsule.backend_start"

// identify keeps the start time of c's server session in c, so that
// settle later tells that session from another with the same process id:
// on another server after a failover, or a later session once the id is
// reused. Without it (a pool that New was given, or a server that did not
// answer) settle goes by the process id alone.
func identify(ctx context.Context, c *pgx.Conn) error {
	var start time.Time
	err := c.QueryRow(ctx, "SELECT backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()").Scan(&start)
	switch {
	case err == nil:
		c.PgConn().CustomData()[sessionStart] = start
	case c.IsClosed():
		// The server stopped answering: this connection is no good.
		return fmt.Errorf("identify the server session: %w", err)
	}
	return nil
}

// settle waits until the server session of pc, whose connection failed
// with a COMMIT sent and unanswered, no longer runs a statement (it may
// still be committing), and ends it if it sits in the transaction, so that
// a COMMIT still in the network cannot land later. The session is its
// server process, and its start time when identify kept it, so that
// another session (of another client, on the server that the pool reaches
// after a failover) is never waited for nor ended. While no server answers
// it asks again (see ask): a server that answers without that session has
// settled the transaction, one way or the other.
func (s *Store) settle(ctx context.Context, pc *pgconn.PgConn) error {
	ctx, cancel := afterUnknown(ctx)
	defer cancel()
	pid := pc.PID()
	session, args := "pid = $1", []any{int32(pid)}
	if start, ok := pc.CustomData()[sessionStart].(time.Time); ok {
		session, args = session+" AND backend_start = $2", append(args, start)
	}
	for {
		var state string
		err := ask(ctx, func(ctx context.Context) error {
			return s.pool.QueryRow(ctx, "SELECT coalesce(state, '') FROM pg_stat_activity WHERE "+session, args...).Scan(&state)
		})
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return nil // the server process is gone: the outcome is settled
		case err != nil:
			return fmt.Errorf("look for server process %d: %w", pid, err)
		case state == "idle":
			return nil // the transaction ended, committed or not
		case strings.HasPrefix(state, "idle in transaction"):
			// The COMMIT has not arrived (it may still be in the network):
			// end the session, so that it never lands.
			if _, err := s.pool.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "+session, args...); err != nil {
				return fmt.Errorf("end server process %d: %w", pid, err)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("server process %d still runs the commit: %w", pid, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// stored reports whether recs, a batch of tenant's chain whose transaction
// had an unknown outcome, are stored: a batch is all there or not at all.
// While no server answers it asks again (see ask).
func (s *Store) stored(ctx context.Context, tenant string, recs []protocol.Sealed) (bool, error) {
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	var q query
	q.where("id = ANY(%s)", ids)
	q.tenant(tenant)
	var n int
	err := ask(ctx, func(ctx context.Context) error {
		return s.pool.QueryRow(ctx, q.sql("count(*)", ""), readArgs(q.args)...).Scan(&n)
	})
	if err != nil {
		return false, fmt.Errorf("look for the batch: %w", err)
	}
	return n == len(recs), nil
}
