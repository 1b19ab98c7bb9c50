package proof_test

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/capsule-go/capsule/checkpoint"
	"github.com/capsule-go/capsule/keys"
	"github.com/capsule-go/capsule/logtree"
	"github.com/capsule-go/capsule/proof"
	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/storage"
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
	for _, n := range []int{1000, 1000000} {
		b.Run(map[int]string{1000: "capsules=1000", 1000000: "capsules=1000000"}[n], func(b *testing.B) {
			for b.Loop() {
				benchLog(b, n)
			}
		})
	}
}

func benchLog(b *testing.B, n int) {
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
	defer s.Close()
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
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := db.Exec("DELETE FROM capsule_tree"); err != nil {
		b.Fatal(err)
	}
	db.Close()

	start := time.Now()
	size, err := logtree.Sync(ctx, s, "")
	if err != nil || size != int64(n) {
		b.Fatalf("Sync: %d, %v", size, err)
	}
	b.ReportMetric(time.Since(start).Seconds(), "build-s")

	_, priv, _ := ed25519.GenerateKey(nil)
	signer := keys.NewSigner(priv, "qp_key_bench")
	start = time.Now()
	cp, signed, err := checkpoint.Take(ctx, s, "", checkpoint.Origin(""), signer)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/1000, "checkpoint-ms")

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
	b.ReportMetric(float64(time.Since(start).Microseconds())/1000, "prove-ms")
	b.ReportMetric(float64(len(text)), "proof-bytes")
	bare := p
	bare.Extra = nil
	b.ReportMetric(float64(len(bare.Marshal())), "proof-bytes-without-capsule")
	leaf, _ := logtree.Leaf(rec.Hash)
	if err := tlog.CheckRecord(p.Inclusion, cp.Size, cp.Root, seq, leaf); err != nil {
		b.Fatal(err)
	}
}
