package proof_test

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/capsule-go/capsule/checkpoint"
	"github.com/capsule-go/capsule/keys"
	"github.com/capsule-go/capsule/logtree"
	"github.com/capsule-go/capsule/proof"
	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/storage"
	"github.com/capsule-go/capsule/storage/postgres"
	"github.com/capsule-go/capsule/storage/sqlite"
	"github.com/capsule-go/capsule/storage/storagetest"

	_ "github.com/mattn/go-sqlite3"
)

// BenchmarkLog measures, on SQLite chains of 1,000 and 1,000,000 capsules
// written in bulk (batches of 10,000) and then stripped of their tree (as
// a chain the Python reference wrote): building the tree from the chain,
// then taking a checkpoint and building a proof once the tree exists, and
// the size of a proof. CAPSULE_BENCH_DB_DIR keeps the databases there
// (for timing the capsule command on them); else they are temporary.
func BenchmarkLog(b *testing.B) {
	runLog(b, func(b *testing.B) (storage.Store, func()) {
		ctx := context.Background()
		dir := os.Getenv("CAPSULE_BENCH_DB_DIR")
		if dir == "" {
			dir = b.TempDir()
		}
		path := filepath.Join(dir, "log-"+time.Now().Format("150405.000")+".db")
		s, err := sqlite.Open(ctx, path, sqlite.WithSynchronous(sqlite.SynchronousNormal))
		if err != nil {
			b.Fatal(err)
		}
		return s, func() {
			db, err := sql.Open("sqlite3", path)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			for _, stmt := range []string{"DELETE FROM capsule_tree", "UPDATE capsules SET tree = NULL", "UPDATE capsule_tenant_chains SET tree = NULL"} {
				if _, err := db.Exec(stmt); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// BenchmarkLogPostgres is BenchmarkLog on PostgreSQL
// (CAPSULE_TEST_POSTGRES_URL), in a scratch schema dropped afterwards. The
// bulk appends keep the tree in the capsules' rows, which the strip
// empties.
func BenchmarkLogPostgres(b *testing.B) {
	url := os.Getenv("CAPSULE_TEST_POSTGRES_URL")
	if url == "" {
		b.Skip("CAPSULE_TEST_POSTGRES_URL is not set")
	}
	runLog(b, func(b *testing.B) (storage.Store, func()) {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			b.Fatal(err)
		}
		schema := "capsule_bench_log_" + strconv.FormatInt(time.Now().UnixNano(), 36)
		if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			conn.Close(context.Background())
		})
		s, err := postgres.Open(ctx, url, postgres.WithPoolConfig(func(c *pgxpool.Config) {
			c.ConnConfig.RuntimeParams["search_path"] = schema
		}))
		if err != nil {
			b.Fatal(err)
		}
		return s, func() {
			for _, stmt := range []string{"SET search_path = " + schema, "DELETE FROM capsule_tree",
				"UPDATE quantumpipes_capsules SET tree = NULL", "VACUUM ANALYZE quantumpipes_capsules"} {
				if _, err := conn.Exec(ctx, stmt); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// runLog runs the body of BenchmarkLog on the stores open makes; strip
// deletes a store's tree.
func runLog(b *testing.B, open func(*testing.B) (storage.Store, func())) {
	for _, n := range []int{1000, 1000000} {
		b.Run(map[int]string{1000: "capsules=1000", 1000000: "capsules=1000000"}[n], func(b *testing.B) {
			for b.Loop() {
				s, strip := open(b)
				benchLog(b, s, strip, n)
				s.Close()
			}
		})
	}
}

func benchLog(b *testing.B, s storage.Store, strip func(), n int) {
	ctx := context.Background()
	head := storage.Head{Sequence: -1}
	for done := 0; done < n; {
		k := min(10000, n-done)
		recs := storagetest.Chain("", head, k)
		if err := s.Append(ctx, "", recs); err != nil {
			b.Fatal(err)
		}
		head = storage.Head{Sequence: recs[k-1].Sequence, Hash: recs[k-1].Hash}
		done += k
	}
	// As appended: the tree the appends wrote, in the rows.
	proveAt(b, s, n, "-appended")
	strip()

	start := time.Now()
	size, err := logtree.Sync(ctx, s, "")
	if err != nil || size != int64(n) {
		b.Fatalf("Sync: %d, %v", size, err)
	}
	b.ReportMetric(time.Since(start).Seconds(), "build-s")
	proveAt(b, s, n, "")
}

// proveAt takes a checkpoint of s's null-tenant chain of n capsules and a
// proof of its middle capsule, checks the proof, and reports how long
// each took and the proof's size (suffix names the tree's state).
func proveAt(b *testing.B, s storage.Store, n int, suffix string) {
	ctx := context.Background()
	_, priv, _ := ed25519.GenerateKey(nil)
	signer := keys.NewSigner(priv, "qp_key_bench")
	start := time.Now()
	cp, signed, err := checkpoint.Take(ctx, s, "", checkpoint.Origin(""), signer)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/1000, "checkpoint-ms"+suffix)

	seq := int64(n / 2)
	start = time.Now()
	var rec protocol.Sealed
	for r, err := range s.Scan(ctx, "", seq) {
		if err != nil {
			b.Fatal(err)
		}
		rec = r
		break
	}
	p, err := proof.Build(ctx, s, "", rec, signed)
	if err != nil {
		b.Fatal(err)
	}
	text := p.Marshal()
	b.ReportMetric(float64(time.Since(start).Microseconds())/1000, "prove-ms"+suffix)
	leaf, _ := logtree.Leaf(rec.Hash)
	if err := tlog.CheckRecord(p.Inclusion, cp.Size, cp.Root, seq, leaf); err != nil {
		b.Fatal(err)
	}
	if suffix == "" {
		b.ReportMetric(float64(len(text)), "proof-bytes")
		bare := p
		bare.Extra = nil
		b.ReportMetric(float64(len(bare.Marshal())), "proof-bytes-without-capsule")
	}
}
