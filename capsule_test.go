package capsule

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/capsule-go/capsule/checkpoint"
	"github.com/capsule-go/capsule/keys"
	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/protocol/canonical"
	"github.com/capsule-go/capsule/storage"
	"github.com/capsule-go/capsule/storage/memory"
)

type fixture struct {
	Name          string          `json:"name"`
	CapsuleDict   json.RawMessage `json:"capsule_dict"`
	CanonicalJSON string          `json:"canonical_json"`
	Hash          string          `json:"sha3_256_hash"`
}

func loadFixtures(t testing.TB) []fixture {
	t.Helper()
	b, err := os.ReadFile("testdata/conformance/fixtures.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ Fixtures []fixture }
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Fixtures) != 16 {
		t.Fatalf("got %d fixtures, want 16", len(f.Fixtures))
	}
	return f.Fixtures
}

func capsuleOf(t testing.TB, raw []byte) *Capsule {
	t.Helper()
	v, err := canonical.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	c, err := FromContent(v.(map[string]any))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The model's direct encoder writes every golden vector byte for byte.
func TestModelEncodesGoldenVectors(t *testing.T) {
	for _, f := range loadFixtures(t) {
		t.Run(f.Name, func(t *testing.T) {
			c := capsuleOf(t, f.CapsuleDict)
			got, err := c.Canonical()
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != f.CanonicalJSON {
				t.Fatalf("canonical mismatch\n got %s\nwant %s", got, f.CanonicalJSON)
			}
			if h := protocol.Hash(got); h != f.Hash {
				t.Fatalf("hash %s, want %s", h, f.Hash)
			}
		})
	}
}

// Go float64 values in free-form fields are written the Python way.
func TestGoFloatsWrittenAsPython(t *testing.T) {
	c := New(TypeTool)
	c.ID = "a1b2c3d4-e5f6-4890-abcd-ef1234567890"
	c.Trigger.Timestamp = time.Date(2026, 1, 15, 12, 0, 0, 123456000, time.UTC)
	c.Context.Environment = map[string]any{
		"a": 0.00004, "b": 1e-05, "c": 5.0, "d": 1e16, "e": 1.0 / 3, "f": 1e15, "g": int64(7), "h": -0.0 * -1,
	}
	c.Reasoning.Confidence = 1
	got, err := c.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`"environment":{"a":4e-05,"b":1e-05,"c":5.0,"d":1e+16,"e":0.3333333333333333,"f":1000000000000000.0,"g":7,"h":0.0}`,
		`"confidence":1.0`,
		`"timestamp":"2026-01-15T12:00:00.123456+00:00"`,
	} {
		if !bytes.Contains(got, []byte(want)) {
			t.Errorf("canonical JSON lacks %s\n%s", want, got)
		}
	}
	// The generic canonicalizer agrees with the model's encoder.
	again, err := canonical.CanonicalizeContent(got)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, got) {
		t.Fatalf("not a fixed point:\n%s\n%s", got, again)
	}
	c.Context.Environment["nan"] = math.NaN()
	if _, err := c.Canonical(); err == nil || !strings.Contains(err.Error(), "context.environment") {
		t.Fatalf("NaN: err = %v, want an error naming context.environment", err)
	}
}

type testSigner struct {
	priv ed25519.PrivateKey
}

func newTestSigner() *testSigner {
	_, priv, _ := ed25519.GenerateKey(nil)
	return &testSigner{priv}
}

func (s *testSigner) Sign(h string) string {
	return fmt.Sprintf("%x", ed25519.Sign(s.priv, []byte(h)))
}
func (s *testSigner) Fingerprint() string          { return "test" }
func (s *testSigner) PublicKey() ed25519.PublicKey { return s.priv.Public().(ed25519.PublicKey) }

func newMemCapsules(t testing.TB) (*Capsules, *memory.Store) {
	st := memory.New()
	c, err := NewCapsules(st, WithSigner(newTestSigner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, st
}

// Many goroutines appending to several chains end with gap-free chains that
// verify at every level, and every acknowledged capsule is stored.
func TestConcurrentAppendsVerify(t *testing.T) {
	c, st := newMemCapsules(t)
	ctx := context.Background()
	const goroutines, each = 32, 40
	tenants := []string{"", "a", "b"}
	var wg sync.WaitGroup
	var mu sync.Mutex
	acked := map[string]bool{}
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				cp := New(TypeAgent)
				cp.Trigger.Request = fmt.Sprintf("g%d i%d", g, i)
				rec, err := c.Append(ctx, tenants[(g+i)%3], cp)
				if err != nil {
					t.Error(err)
					return
				}
				if rec.Hash == "" || rec.Signature == "" || cp.Sequence != rec.Sequence {
					t.Errorf("incomplete record %+v", rec)
				}
				mu.Lock()
				acked[rec.ID] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	total := 0
	for _, tenant := range tenants {
		for _, level := range []Level{Structural, Full, Signatures} {
			res, err := c.Verify(ctx, tenant, level)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Valid {
				t.Fatalf("tenant %q %v: %+v", tenant, level, res)
			}
			if level == Signatures {
				total += int(res.CapsulesVerified)
			}
		}
	}
	if total != goroutines*each || len(acked) != total {
		t.Fatalf("verified %d capsules, acknowledged %d, want %d", total, len(acked), goroutines*each)
	}
	for id := range acked {
		if _, err := st.Get(ctx, id, nil); err != nil {
			t.Fatalf("acknowledged %s missing: %v", id, err)
		}
	}
}

// conflictStore moves the head under the chain once, as another process
// would, to exercise re-sequencing.
type conflictStore struct {
	*memory.Store
	once   sync.Once
	signer Signer
}

func (s *conflictStore) Append(ctx context.Context, tenant string, recs []protocol.Sealed) error {
	s.once.Do(func() {
		// Another writer lands a genesis capsule first.
		other := New(TypeSystem)
		rec, err := SealWith(other, tenant, s.signer, nil)
		if err != nil {
			panic(err)
		}
		if err := s.Store.Append(ctx, tenant, []protocol.Sealed{rec}); err != nil {
			panic(err)
		}
	})
	return s.Store.Append(ctx, tenant, recs)
}

func TestAppendResequencesAfterConflict(t *testing.T) {
	signer := newTestSigner()
	st := &conflictStore{Store: memory.New(), signer: signer}
	c, err := NewCapsules(st, WithSigner(signer))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	rec, err := c.Append(ctx, "t", New(TypeAgent))
	if err != nil {
		t.Fatal(err)
	}
	if rec.Sequence != 1 {
		t.Fatalf("sequence %d, want 1 after another writer took 0", rec.Sequence)
	}
	res, err := c.Verify(ctx, "t", Signatures)
	if err != nil || !res.Valid || res.CapsulesVerified != 2 {
		t.Fatalf("verify: %+v %v", res, err)
	}
	if c.Stats().Conflicts != 1 {
		t.Fatalf("conflicts = %d, want 1", c.Stats().Conflicts)
	}
}

// failingStore fails appends while down is set.
type failingStore struct {
	*memory.Store
	mu   sync.Mutex
	down bool
}

func (s *failingStore) Append(ctx context.Context, tenant string, recs []protocol.Sealed) error {
	s.mu.Lock()
	down := s.down
	s.mu.Unlock()
	if down {
		return errors.New("disk on fire")
	}
	return s.Store.Append(ctx, tenant, recs)
}

func TestAppendRecoversAfterStoreFailure(t *testing.T) {
	st := &failingStore{Store: memory.New()}
	clk := newTestClock()
	c, err := NewCapsules(st, WithSigner(newTestSigner()), withClock(clk.now))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if _, err := c.Append(ctx, "", New(TypeAgent)); err != nil {
		t.Fatal(err)
	}
	st.mu.Lock()
	st.down = true
	st.mu.Unlock()
	if _, err := c.Append(ctx, "", New(TypeAgent)); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("err = %v, want the store's error", err)
	}
	// The store is known down: the next append fails at once.
	if _, err := c.Append(ctx, "", New(TypeAgent)); !errors.Is(err, ErrStoreDown) {
		t.Fatalf("err = %v, want ErrStoreDown", err)
	}
	st.mu.Lock()
	st.down = false
	st.mu.Unlock()
	// The store answers again, but is not tried before the next probe.
	if _, err := c.Append(ctx, "", New(TypeAgent)); !errors.Is(err, ErrStoreDown) {
		t.Fatalf("err = %v before the next probe, want ErrStoreDown", err)
	}
	// One append a second tries the store again; it answers now.
	clk.advance(probeInterval)
	rec, err := c.Append(ctx, "", New(TypeAgent))
	if err != nil {
		t.Fatal(err)
	}
	if rec.Sequence != 1 {
		t.Fatalf("sequence %d, want 1: the failed capsule must not leave a gap", rec.Sequence)
	}
	if res, _ := c.Verify(ctx, "", Signatures); !res.Valid || res.CapsulesVerified != 2 {
		t.Fatalf("verify: %+v", res)
	}
}

// Verification reports the first bad capsule at the right level.
func TestVerifyDetectsTampering(t *testing.T) {
	c, st := newMemCapsules(t)
	ctx := context.Background()
	for range 6 {
		if _, err := c.Append(ctx, "", New(TypeAgent)); err != nil {
			t.Fatal(err)
		}
	}
	recs := scanAll(t, st)
	other := newTestSigner()
	cases := []struct {
		name   string
		edit   func([]protocol.Sealed) []protocol.Sealed
		level  Level // lowest level that must catch it
		broken int64
	}{
		{"content edit", func(r []protocol.Sealed) []protocol.Sealed {
			r[3].Data = bytes.Replace(r[3].Data, []byte(`"domain":"agents"`), []byte(`"domain":"agentz"`), 1)
			return r
		}, Full, 3},
		{"stored hash edit", func(r []protocol.Sealed) []protocol.Sealed { r[2].Hash = strings.Repeat("0", 64); return r }, Full, 2},
		{"stored hash edit seen by linkage", func(r []protocol.Sealed) []protocol.Sealed { r[2].Hash = strings.Repeat("0", 64); return r }, Structural, 3},
		{"delete", func(r []protocol.Sealed) []protocol.Sealed { return append(r[:4:4], r[5:]...) }, Structural, 5},
		{"swap", func(r []protocol.Sealed) []protocol.Sealed { r[1], r[2] = r[2], r[1]; return r }, Structural, 2},
		{"forged signature", func(r []protocol.Sealed) []protocol.Sealed { r[4].Signature = other.Sign(r[4].Hash); return r }, Signatures, 4},
		// signed_by is not signed: an unknown or missing one is an error,
		// never an attempt with another key (PROTOCOL.md, "Seal").
		{"unknown signed_by", func(r []protocol.Sealed) []protocol.Sealed { r[1].SignedBy = "qp_key_ffff"; return r }, Signatures, 1},
		{"missing signed_by", func(r []protocol.Sealed) []protocol.Sealed { r[2].SignedBy = ""; return r }, Signatures, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			edited := tc.edit(cloneRecs(recs))
			seq := func(yield func(protocol.Sealed, error) bool) {
				for _, r := range edited {
					if !yield(r, nil) {
						return
					}
				}
			}
			if tc.level > Structural && tc.name != "stored hash edit" {
				res, err := VerifyChain(ctx, seq, tc.level-1, VerifyOptions{Resolve: c.Resolver()})
				if err != nil || !res.Valid {
					t.Fatalf("level %v should not see it: %+v %v", tc.level-1, res, err)
				}
			}
			res, err := VerifyChain(ctx, seq, tc.level, VerifyOptions{Resolve: c.Resolver()})
			if err != nil {
				t.Fatal(err)
			}
			if res.Valid || res.BrokenSequence != tc.broken || res.BrokenAt != edited[indexOf(edited, tc.broken)].ID {
				t.Fatalf("got %+v, want broken at sequence %d", res, tc.broken)
			}
		})
	}
}

func indexOf(recs []protocol.Sealed, seq int64) int {
	for i, r := range recs {
		if r.Sequence == seq {
			return i
		}
	}
	return -1
}

func cloneRecs(in []protocol.Sealed) []protocol.Sealed {
	out := make([]protocol.Sealed, len(in))
	for i, r := range in {
		r.Data = bytes.Clone(r.Data)
		out[i] = r
	}
	return out
}

func BenchmarkSeal(b *testing.B) {
	f := loadFixtures(b)[1] // "full"
	c := capsuleOf(b, f.CapsuleDict)
	s := newTestSigner()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := SealWith(c, "", s, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCanonicalModel(b *testing.B) {
	f := loadFixtures(b)[1]
	c := capsuleOf(b, f.CapsuleDict)
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = c.AppendCanonical(buf[:0])
	}
}

func BenchmarkAppendMemory(b *testing.B) {
	c, _ := newMemCapsules(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Append(ctx, "", New(TypeAgent)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestCheckpointsWrittenOnClose(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(nil)
	signer := keys.NewSigner(priv, "qp_key_test")
	dir := t.TempDir()
	st := memory.New()
	c, err := NewCapsules(st, WithSigner(signer), WithCheckpoints(dir, time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tenant := range []string{"", "acme"} {
		for range 3 {
			if _, err := c.Append(ctx, tenant, New(TypeAgent)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	for _, tenant := range []string{"", "acme"} {
		b, err := os.ReadFile(filepath.Join(dir, checkpoint.FileName(tenant)))
		if err != nil {
			t.Fatal(err)
		}
		v, err := checkpoint.LogVerifier(checkpoint.Origin(tenant), signer.PublicKey())
		if err != nil {
			t.Fatal(err)
		}
		cp, _, err := checkpoint.Open(b, v)
		if err != nil {
			t.Fatal(err)
		}
		if cp.Origin != checkpoint.Origin(tenant) || cp.Size != 3 {
			t.Fatalf("checkpoint %+v, want origin %q size 3", cp, checkpoint.Origin(tenant))
		}
		if err := checkpoint.Check(ctx, st, tenant, cp); err != nil {
			t.Fatal(err)
		}
	}
}

func benchmarkVerify(b *testing.B, level Level) {
	c, st := newMemCapsules(b)
	ctx := context.Background()
	const n = 4096
	for range n {
		cp := New(TypeAgent)
		cp.Context.Environment = map[string]any{"cwd": "/workspace", "os": "linux", "cost": 0.0042}
		cp.Trigger.Request = strings.Repeat("deploy the service ", 20)
		if _, err := c.Append(ctx, "", cp); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		res, err := VerifyChain(ctx, st.Scan(ctx, "", 0), level, VerifyOptions{Resolve: c.Resolver()})
		if err != nil || !res.Valid {
			b.Fatal(res, err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "capsules/s")
}

func BenchmarkVerifyStructural(b *testing.B) { benchmarkVerify(b, Structural) }
func BenchmarkVerifyFull(b *testing.B)       { benchmarkVerify(b, Full) }
func BenchmarkVerifySignatures(b *testing.B) { benchmarkVerify(b, Signatures) }

// TestQueuePipelines queues groups without waiting for the ones before
// them: they are chained in the order queued, and each Wait returns its
// own group once durable.
func TestQueuePipelines(t *testing.T) {
	c, st := newMemCapsules(t)
	ctx := context.Background()
	var qs []*Queued
	for g := range 4 {
		caps := make([]*Capsule, 300)
		for i := range caps {
			caps[i] = New(TypeTool)
			caps[i].Trigger.Request = fmt.Sprint(g*300 + i)
		}
		q, err := c.Queue(ctx, "x", caps)
		if err != nil {
			t.Fatal(err)
		}
		qs = append(qs, q)
	}
	for g, q := range qs {
		recs, err := q.Wait(ctx)
		if err != nil || len(recs) != 300 {
			t.Fatalf("group %d: %d capsules, %v", g, len(recs), err)
		}
		for i, r := range recs {
			if n := g*300 + i; r.Sequence != int64(n) || !strings.Contains(string(r.Data), fmt.Sprintf(`"request":"%d"`, n)) {
				t.Fatalf("capsule %d of group %d stored at %d", i, g, r.Sequence)
			}
		}
	}
	if res, err := c.Verify(ctx, "x", Signatures); err != nil || !res.Valid || res.CapsulesVerified != 1200 {
		t.Fatalf("verify: %+v %v", res, err)
	}
	if n, _ := st.Count(ctx, storage.Filter{}); n != 1200 {
		t.Fatalf("%d stored", n)
	}
	if q, err := c.Queue(ctx, "x", nil); q != nil || err != nil {
		t.Fatalf("Queue of nothing: %v %v", q, err)
	}
	if recs, err := (*Queued)(nil).Wait(ctx); recs != nil || err != nil {
		t.Fatalf("Wait on nothing: %v %v", recs, err)
	}
}

func TestAppendAllKeepsOrder(t *testing.T) {
	c, st := newMemCapsules(t)
	ctx := context.Background()
	var caps []*Capsule
	for i := range 1200 {
		cp := New(TypeTool)
		cp.Trigger.Request = fmt.Sprint(i)
		caps = append(caps, cp)
	}
	if _, err := c.Append(ctx, "x", New(TypeAgent)); err != nil {
		t.Fatal(err)
	}
	recs, err := c.AppendAll(ctx, "x", caps)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		if r.Sequence != int64(i+1) || caps[i].Sequence != r.Sequence {
			t.Fatalf("capsule %d stored at %d", i, r.Sequence)
		}
		if !strings.Contains(string(r.Data), fmt.Sprintf(`"request":"%d"`, i)) {
			t.Fatalf("capsule %d holds the wrong content", i)
		}
	}
	if res, err := c.Verify(ctx, "x", Signatures); err != nil || !res.Valid || res.CapsulesVerified != 1201 {
		t.Fatalf("verify: %+v %v", res, err)
	}
	if n, _ := st.Count(ctx, storage.Filter{}); n != 1201 {
		t.Fatalf("%d stored", n)
	}
	bad := New(TypeTool)
	bad.Context.Environment = map[string]any{"x": math.Inf(1)}
	if _, err := c.AppendAll(ctx, "x", []*Capsule{New(TypeTool), bad}); err == nil {
		t.Fatal("an unencodable capsule was accepted")
	}
	if n, _ := st.Count(ctx, storage.Filter{}); n != 1201 {
		t.Fatalf("a failed AppendAll stored %d capsules", n-1201)
	}
}

// benchmarkAppendSQLite measures durable appends with writers goroutines
// on a SQLite file, spread over tenants chains, the figures `capsule
// bench` reports.
func benchmarkAppendSQLite(b *testing.B, writers, tenants int) {
	c, err := Open(context.Background(), filepath.Join(b.TempDir(), "capsules.db"), WithSigner(newTestSigner()))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	benchmarkAppend(b, c, writers, tenants)
}

// benchmarkAppend appends typical capsules with writers goroutines, writer
// i on chain i mod tenants.
func benchmarkAppend(b *testing.B, c *Capsules, writers, tenants int) {
	ctx := context.Background()
	b.SetParallelism((writers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ReportAllocs()
	var next atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		tenant := ""
		if tenants > 1 {
			tenant = fmt.Sprint("t", next.Add(1)%int64(tenants))
		}
		for pb.Next() {
			if _, err := c.Append(ctx, tenant, typicalCapsule()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "capsules/s")
	st := c.Stats()
	b.ReportMetric(float64(st.Committed)/float64(max(st.Commits, 1)), "capsules/commit")
}

func BenchmarkAppendSQLite1(b *testing.B)        { benchmarkAppendSQLite(b, 1, 1) }
func BenchmarkAppendSQLite64(b *testing.B)       { benchmarkAppendSQLite(b, 64, 1) }
func BenchmarkAppendSQLite64Chains(b *testing.B) { benchmarkAppendSQLite(b, 64, 64) }

// BenchmarkSealPipelineSQLite stores b.N typical capsules into a SQLite
// file from one goroutine in groups of 512, each group queued while the
// one before it commits, as `capsule seal` does.
func BenchmarkSealPipelineSQLite(b *testing.B) {
	ctx := context.Background()
	c, err := Open(ctx, filepath.Join(b.TempDir(), "capsules.db"), WithSigner(newTestSigner()))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.ReportAllocs()
	var prev *Queued
	for done := 0; done < b.N; {
		group := make([]*Capsule, min(512, b.N-done))
		for i := range group {
			group[i] = typicalCapsule()
		}
		q, err := c.Queue(ctx, "", group)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := prev.Wait(ctx); err != nil {
			b.Fatal(err)
		}
		prev = q
		done += len(group)
	}
	if _, err := prev.Wait(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "capsules/s")
	st := c.Stats()
	b.ReportMetric(float64(st.Committed)/float64(max(st.Commits, 1)), "capsules/commit")
}

// BenchmarkVerifySQLiteSignatures verifies a chain streamed from SQLite
// with signatures, the figure `capsule bench` reports.
func BenchmarkVerifySQLiteSignatures(b *testing.B) {
	ctx := context.Background()
	c, err := Open(ctx, filepath.Join(b.TempDir(), "capsules.db"), WithSigner(newTestSigner()))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	caps := make([]*Capsule, 20000)
	for i := range caps {
		caps[i] = typicalCapsule()
	}
	if _, err := c.AppendAll(ctx, "", caps); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		res, err := c.Verify(ctx, "", Signatures)
		if err != nil || !res.Valid {
			b.Fatal(res, err)
		}
	}
	b.ReportMetric(float64(len(caps)*b.N)/b.Elapsed().Seconds(), "capsules/s")
}

// benchmarkAppendPostgres measures durable appends with 64 writers on
// PostgreSQL (set CAPSULE_TEST_POSTGRES_URL), in a scratch schema, spread
// over tenants chains.
func benchmarkAppendPostgres(b *testing.B, tenants int) {
	base := os.Getenv("CAPSULE_TEST_POSTGRES_URL")
	if base == "" {
		b.Skip("set CAPSULE_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	schema := fmt.Sprintf("capsule_bench_%d", time.Now().UnixNano())
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		b.Fatal(err)
	}
	defer conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
	u, _ := url.Parse(base)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	c, err := Open(ctx, u.String(), WithSigner(newTestSigner()))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	benchmarkAppend(b, c, 64, tenants)
}

// BenchmarkAppendPostgres64 measures 64 writers on one PostgreSQL chain.
func BenchmarkAppendPostgres64(b *testing.B) { benchmarkAppendPostgres(b, 1) }

// BenchmarkAppendPostgres64Chains measures 64 writers on 64 chains.
func BenchmarkAppendPostgres64Chains(b *testing.B) { benchmarkAppendPostgres(b, 64) }

// typicalCapsule is a capsule with every section filled, about 1.7 KB of
// canonical JSON, like internal/bench.Typical.
func typicalCapsule() *Capsule {
	c := New(TypeAgent)
	c.Trigger.Source = "scheduler"
	c.Trigger.Request = "Deploy service v2.4 to production after the canary stays healthy for ten minutes"
	c.Trigger.CorrelationID = "corr_abc123"
	c.Context.AgentID = "example.com/agents.Deploy"
	c.Context.SessionID = "sess_def456"
	c.Context.Environment = map[string]any{"cwd": "/workspace", "os": "linux", "region": "eu-west-1"}
	c.Reasoning.Analysis = "Production deployment requires a blue-green strategy."
	c.Reasoning.Options = []Option{
		{ID: "opt_0", Description: "Blue-green deployment", Pros: []string{"Zero downtime"}, Cons: []string{"Double resources"}, Feasibility: 0.9, Selected: true},
		{ID: "opt_1", Description: "Rolling update", Pros: []string{"Simple"}, Cons: []string{"Brief downtime"}, Feasibility: 0.7, RejectionReason: "Higher risk"},
	}
	c.Reasoning.SelectedOption = "Blue-green deployment"
	c.Reasoning.Confidence = 0.95
	c.Reasoning.Model = "gpt-4o"
	c.Execution.ToolCalls = []ToolCall{{Tool: "kubectl_apply", Arguments: map[string]any{"manifest": "deploy.yaml"}, Result: map[string]any{"pods": 3}, Success: true, DurationMS: 4500}}
	c.Execution.DurationMS = 5700
	c.Execution.ResourcesUsed = map[string]any{"cpu_seconds": 2.5, "api_calls": 3}
	c.Outcome.Status = StatusSuccess
	c.Outcome.Result = map[string]any{"version": "2.4", "replicas": 3}
	c.Outcome.Summary = "Deployed v2.4 with 3 replicas"
	c.Outcome.Metrics = map[string]any{"latency_ms": 5700, "cost_usd": 0.0042}
	return c
}

// Content with options_considered but no options is sealed with the
// options the Python reference builds from the descriptions (its verifier
// rebuilds them, so anything else would never verify there). The hash is
// the reference's compute_hash(Capsule(..., reasoning=ReasoningSection(
// options_considered=["a", "b ✓"], selected_option="b ✓")).to_dict()).
func TestLegacyOptionsSealedAsTheReference(t *testing.T) {
	c := New(TypeAgent)
	c.ID = "00001234-0000-4000-8000-000000000000"
	c.Trigger.Timestamp = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	c.Reasoning.OptionsConsidered = []string{"a", "b ✓"}
	c.Reasoning.SelectedOption = "b ✓"
	content, err := c.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := protocol.Hash(content), "78c3f54d3fc7f4c7dd779d7377836c4435af275c6110a41ce4012c4b60180a7e"; got != want {
		t.Fatalf("hash %s, want the reference's %s\ncontent: %s", got, want, content)
	}
}

// Append and AppendAll refuse what validate refuses, and what the
// reference's tables cannot hold, before anything is queued: nothing of a
// refused call is stored, and the error names the field.
func TestAppendRefusesInvalid(t *testing.T) {
	c, st := newMemCapsules(t)
	ctx := context.Background()
	tests := []struct {
		field string
		edit  func(*Capsule)
	}{
		{"reasoning.confidence", func(c *Capsule) { c.Reasoning.Confidence = 1.5 }},
		{"reasoning.confidence", func(c *Capsule) { c.Reasoning.Confidence = -0.01 }},
		{"reasoning.confidence", func(c *Capsule) { c.Reasoning.Confidence = math.NaN() }},
		{"reasoning.options[1].feasibility", func(c *Capsule) {
			c.Reasoning.Options = []Option{{Feasibility: 1}, {Feasibility: 2}}
		}},
		{"execution.duration_ms", func(c *Capsule) { c.Execution.DurationMS = -1 }},
		{"execution.tool_calls[0].duration_ms", func(c *Capsule) { c.Execution.ToolCalls = []ToolCall{{DurationMS: -5}} }},
		{"type", func(c *Capsule) { c.Type = "Agent" }},
		{"outcome.status", func(c *Capsule) { c.Outcome.Status = "done" }},
		{"id", func(c *Capsule) { c.ID = strings.ToUpper(c.ID) }},
		{"parent_id", func(c *Capsule) { c.ParentID = "parent" }},
		{"domain", func(c *Capsule) { c.Domain = strings.Repeat("é", protocol.MaxDomainLen+1) }},
		{"context.session_id", func(c *Capsule) { c.Context.SessionID = strings.Repeat("s", protocol.MaxSessionIDLen+1) }},
	}
	for _, tt := range tests {
		bad := New(TypeAgent)
		tt.edit(bad)
		_, err := c.Append(ctx, "", bad)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tt.field {
			t.Errorf("Append with bad %s: %v", tt.field, err)
		}
		_, err = c.AppendAll(ctx, "", []*Capsule{New(TypeTool), bad})
		if !errors.As(err, &fe) || fe.Field != tt.field || !strings.Contains(err.Error(), "capsule 1") {
			t.Errorf("AppendAll with bad %s: %v", tt.field, err)
		}
	}
	if h, err := st.Head(ctx, ""); err != nil || h.Sequence != -1 {
		t.Fatalf("refused capsules were stored: head %+v, %v", h, err)
	}
	// The limits themselves are accepted.
	ok := New(TypeAgent)
	ok.Domain, ok.Context.SessionID = strings.Repeat("é", protocol.MaxDomainLen), strings.Repeat("s", protocol.MaxSessionIDLen)
	ok.Reasoning.Confidence, ok.Reasoning.Options = 1, []Option{{Feasibility: 0}}
	if _, err := c.Append(ctx, "", ok); err != nil {
		t.Fatal(err)
	}
}

// An explicit public key overrides signed_by, as the operator's choice.
func TestVerifyExplicitKeyOverridesSignedBy(t *testing.T) {
	c, st := newMemCapsules(t)
	ctx := context.Background()
	if _, err := c.Append(ctx, "", New(TypeAgent)); err != nil {
		t.Fatal(err)
	}
	recs := scanAll(t, st)
	for i := range recs {
		recs[i].SignedBy = "someone else"
	}
	res, err := VerifyChain(ctx, seqOf(recs), Signatures, VerifyOptions{Resolve: protocol.StaticKey(c.Signer().PublicKey())})
	if err != nil || !res.Valid {
		t.Fatalf("explicit key: %+v, %v", res, err)
	}
	res, _ = VerifyChain(ctx, seqOf(recs), Signatures, VerifyOptions{Resolve: c.Resolver()})
	if res.Valid || !strings.Contains(res.Error, "unknown signer") {
		t.Fatalf("by signed_by: %+v", res)
	}
}

// signature_pq is checked whenever it is present and the ML-DSA-65 public
// key is known: Capsules.Verify knows it from the data directory.
func TestVerifyChecksSignaturePQ(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	c, err := Open(ctx, filepath.Join(t.TempDir(), "c.db"), WithKeyDir(dir), WithPostQuantum())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for range 3 {
		if _, err := c.Append(ctx, "", New(TypeAgent)); err != nil {
			t.Fatal(err)
		}
	}
	if res, err := c.Verify(ctx, "", Signatures); err != nil || !res.Valid {
		t.Fatalf("PQ chain: %+v, %v", res, err)
	}
	if c.PQPublicKey() == nil {
		t.Fatal("no ML-DSA-65 public key known")
	}
	recs := scanAll(t, c.Store())
	if recs[1].SignaturePQ == "" {
		t.Fatal("no signature_pq sealed")
	}
	// Another valid-looking ML-DSA-65 signature: capsule 2's over its own hash.
	recs[1].SignaturePQ = recs[2].SignaturePQ
	opt := VerifyOptions{Resolve: c.Resolver(), PQPublicKey: c.PQPublicKey()}
	res, err := VerifyChain(ctx, seqOf(recs), Signatures, opt)
	if err != nil || res.Valid || res.BrokenSequence != 1 || !strings.Contains(res.Error, "signature_pq") {
		t.Fatalf("swapped signature_pq: %+v, %v", res, err)
	}
	// Without the ML-DSA-65 key it cannot be checked (and is not).
	if res, _ := VerifyChain(ctx, seqOf(recs), Signatures, VerifyOptions{Resolve: c.Resolver()}); !res.Valid {
		t.Fatalf("no PQ key: %+v", res)
	}
	// A Capsules opened later on the same data directory knows the key.
	c2, err := NewCapsules(c.Store(), WithKeyDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(c2.PQPublicKey(), c.PQPublicKey()) {
		t.Fatal("key.ml.pub not read")
	}
}

// scanAll returns the null tenant's chain of st.
func scanAll(t *testing.T, st storage.Store) []protocol.Sealed {
	t.Helper()
	var recs []protocol.Sealed
	for r, err := range st.Scan(t.Context(), "", 0) {
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	return recs
}

// rejectingStore refuses, as a database constraint would, every batch
// holding a capsule of domain "poison".
type rejectingStore struct{ *memory.Store }

func (s rejectingStore) Append(ctx context.Context, tenant string, recs []protocol.Sealed) error {
	for _, r := range recs {
		if r.Domain == "poison" {
			return fmt.Errorf("capsule %s: %w", r.ID, storage.ErrRejected)
		}
	}
	return s.Store.Append(ctx, tenant, recs)
}

// A batch the store rejects is split until the capsule at fault fails
// alone: the capsules committed beside it, and those queued behind it in
// its chain, are stored, and the chains verify.
func TestRejectedCapsuleFailsAlone(t *testing.T) {
	c, err := NewCapsules(rejectingStore{memory.New()}, WithSigner(newTestSigner()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	var ok, bad, poisoned atomic.Int64
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := range 100 {
				cp := New(TypeAgent)
				if i%10 == 0 && w%4 == 0 {
					cp.Domain = "poison"
				}
				_, err := c.Append(ctx, fmt.Sprint("t", w%2), cp)
				switch {
				case cp.Domain == "poison" && errors.Is(err, storage.ErrRejected):
					poisoned.Add(1)
				case err != nil:
					bad.Add(1)
					t.Errorf("capsule of domain %q: %v", cp.Domain, err)
				default:
					ok.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if bad.Load() != 0 || poisoned.Load() != 40 {
		t.Fatalf("%d good capsules stored, %d failed; %d of 40 poisoned refused", ok.Load(), bad.Load(), poisoned.Load())
	}
	var total int64
	for _, tenant := range []string{"t0", "t1"} {
		res, err := c.Verify(ctx, tenant, Signatures)
		if err != nil || !res.Valid {
			t.Fatalf("chain %s: %+v %v", tenant, res, err)
		}
		total += res.CapsulesVerified
	}
	if total != ok.Load() || c.Stats().Failed != 40 {
		t.Fatalf("%d stored, %d acknowledged; stats %+v", total, ok.Load(), c.Stats())
	}
}

// Writers on different chains share storage transactions: with one writer
// per chain, a committer per chain would make one commit per capsule.
func TestChainsShareCommits(t *testing.T) {
	c, err := Open(context.Background(), filepath.Join(t.TempDir(), "capsules.db"), WithSigner(newTestSigner()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var wg sync.WaitGroup
	for w := range 32 {
		wg.Go(func() {
			for range 20 {
				if _, err := c.Append(context.Background(), fmt.Sprint("t", w), New(TypeAgent)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	st := c.Stats()
	if st.Committed != 640 || st.Commits >= st.Committed {
		t.Fatalf("stats %+v: want 640 capsules in fewer commits", st)
	}
	t.Logf("640 capsules on 32 chains in %d commits", st.Commits)
	for w := range 32 {
		if res, err := c.Verify(context.Background(), fmt.Sprint("t", w), Signatures); err != nil || !res.Valid || res.CapsulesVerified != 20 {
			t.Fatalf("chain t%d: %+v %v", w, res, err)
		}
	}
}

// One size limit for writing and reading (protocol.MaxCapsuleBytes, 16
// MiB): a capsule whose sealed form could be over it is refused by Append,
// AppendAll, Queue and SealWith with an error naming the limit, and
// nothing is stored; one just under it is stored, and its sealed form is
// within the limit that readers of JSON apply.
func TestAppendRefusesOversizedCapsule(t *testing.T) {
	const limit, reserve = 16 << 20, 8 << 10
	c, st := newMemCapsules(t)
	ctx := context.Background()
	base, err := New(TypeAgent).Canonical() // outcome.result null
	if err != nil {
		t.Fatal(err)
	}
	withResult := func(n int) *Capsule {
		cp := New(TypeAgent)
		cp.Outcome.Result = strings.Repeat("x", n)
		return cp
	}
	refused := func(what string, err error) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), "16777216") || !errors.Is(err, protocol.ErrTooLarge) {
			t.Errorf("%s of an oversized capsule: %v, want an error naming the limit of 16777216 bytes", what, err)
		}
	}
	for _, big := range []*Capsule{withResult(20 << 20), withResult(limit - reserve - len(base) + 3)} {
		_, err := c.Append(ctx, "", big)
		refused("Append", err)
		_, err = c.AppendAll(ctx, "", []*Capsule{New(TypeTool), big})
		refused("AppendAll", err)
		_, err = c.Queue(ctx, "t", []*Capsule{big})
		refused("Queue", err)
		_, err = SealWith(big, "", newTestSigner(), nil)
		refused("SealWith", err)
	}
	for _, tenant := range []string{"", "t"} {
		if h, err := st.Head(ctx, tenant); err != nil || h.Sequence != -1 {
			t.Fatalf("refused capsules were stored in %q: head %+v, %v", tenant, h, err)
		}
	}
	rec, err := c.Append(ctx, "", withResult(limit-reserve-len(base)-100))
	if err != nil {
		t.Fatalf("a capsule under the limit: %v", err)
	}
	sealed, err := protocol.MarshalSealed(&rec)
	if err != nil || len(sealed) > limit {
		t.Errorf("sealed capsule of %d bytes (%v), over the limit of %d", len(sealed), err, limit)
	}
}
