package bench

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/capsule-go/capsule"
)

// usage is what the process (and, for PostgreSQL, the server) has spent
// so far: the figures that do not depend on the machine's speed.
type usage struct {
	written int64         // bytes the process caused to be written to storage; -1 when unknown
	wal     int64         // the PostgreSQL server's WAL position in bytes; -1 when not measured
	cpu     time.Duration // the process's user + system CPU time; -1 when unknown
}

// readUsage reads the process's counters and, when conn is not nil, the
// WAL position of its PostgreSQL server.
func readUsage(ctx context.Context, conn *pgx.Conn) usage {
	u := usage{written: writeBytes(), wal: -1, cpu: cpuTime()}
	if conn != nil {
		if err := conn.QueryRow(ctx, "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint").Scan(&u.wal); err != nil {
			u.wal = -1
		}
	}
	return u
}

// measured opens a Capsules, runs a figure on it and closes it, and sets
// the figure's cost per stored capsule: the CPU time of the process, and
// the bytes written, counted from before the open to after the close, so
// that the WAL, its checkpoints and the final one at close are included.
// With conn, the bytes are the PostgreSQL server's WAL (pg_current_wal_lsn,
// which counts every writer of that server, so run it on a quiet one);
// without, they are this process's write bytes (/proc/self/io on Linux).
func measured(ctx context.Context, conn *pgx.Conn, open func() (*capsule.Capsules, error), run func(*capsule.Capsules) (Rate, error)) (Rate, error) {
	before := readUsage(ctx, conn)
	c, err := open()
	if err != nil {
		return Rate{}, err
	}
	r, err := run(c)
	n := c.Stats().Committed
	if cerr := c.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return Rate{}, err
	}
	after := readUsage(ctx, conn)
	r.Capsules = n
	if n > 0 {
		switch {
		case conn != nil && before.wal >= 0 && after.wal >= 0:
			r.BytesPerCapsule = float64(after.wal-before.wal) / float64(n)
			r.Bytes = "postgres_wal"
		case conn == nil && before.written >= 0 && after.written >= 0:
			r.BytesPerCapsule = float64(after.written-before.written) / float64(n)
			r.Bytes = "process_write_bytes"
		}
		if before.cpu >= 0 && after.cpu >= 0 {
			r.CPUPerCapsuleUS = float64((after.cpu - before.cpu).Microseconds()) / float64(n)
		}
	}
	return r, nil
}
