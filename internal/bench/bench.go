// Package bench measures capsule's performance against the machine's own
// limits, in one run: the raw Ed25519 and SHA3-256 rates first, then
// sealing, durable appends, audited-call overhead and verification through
// the production code paths, each figure beside the limit it is bounded by.
// `capsule bench` prints its Report; the Go benchmarks of each package
// measure the same paths one at a time.
package bench

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha3"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/capsule-go/capsule"
	"github.com/capsule-go/capsule/internal/bench/benchfn"
	"github.com/capsule-go/capsule/keys"
	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/storage"
	"github.com/capsule-go/capsule/storage/memory"
)

// Config says what to measure and for how long.
type Config struct {
	Duration    time.Duration // per throughput figure; default 2s
	Writers     int           // concurrent writers for the N-writer figures; default 64
	Tenants     int           // chains the spread N-writer figures use; default Writers
	ChainLength int           // capsules in the verification chain; default 100,000
	PostgresURL string        // when set, also measure PostgreSQL appends
	Dir         string        // scratch directory; default a temporary one
	// Progress, when set, receives a line before each measurement.
	Progress func(step string)
}

// Rate is a throughput figure with the limit it is compared to.
type Rate struct {
	PerSecond float64 `json:"per_second"`
	Limit     string  `json:"limit,omitempty"`        // name of the limiting figure
	Ratio     float64 `json:"ratio,omitempty"`        // PerSecond / limit
	Target    float64 `json:"target_ratio,omitempty"` // the ratio the project aims for
	// LimitBefore and LimitAfter are the limit measured just before and
	// just after the figure, on a machine others may share; Ratio divides
	// by their mean. Zero when the limit was measured once for the run.
	LimitBefore float64 `json:"limit_before,omitempty"`
	LimitAfter  float64 `json:"limit_after,omitempty"`
	// The cost of each stored capsule, which does not depend on the
	// machine's speed: the figures to compare across machines. Capsules
	// is how many the figure stored; BytesPerCapsule the bytes written for
	// each, as Bytes says: "process_write_bytes" (SQLite: what this
	// process wrote to storage from opening the store to closing it, the
	// WAL and its checkpoints included) or "postgres_wal" (the WAL the
	// server wrote meanwhile); CPUPerCapsuleUS the process's user+system
	// CPU time for each, in microseconds. Zero where not measured.
	Capsules        int64   `json:"capsules,omitempty"`
	BytesPerCapsule float64 `json:"bytes_per_capsule,omitempty"`
	Bytes           string  `json:"bytes_measured_as,omitempty"`
	CPUPerCapsuleUS float64 `json:"cpu_us_per_capsule,omitempty"`
}

// Latency is an audited-call overhead figure.
type Latency struct {
	BareP50NS    float64 `json:"bare_p50_ns"`
	AuditedP50NS float64 `json:"audited_p50_ns"`
	AuditedP99NS float64 `json:"audited_p99_ns"`
	OverheadNS   float64 `json:"overhead_p50_ns"` // audited - bare at p50
	Limit        string  `json:"limit"`
	Ratio        float64 `json:"ratio"` // overhead / limit
	Target       float64 `json:"target_ratio,omitempty"`
}

// Report holds every figure of one run.
type Report struct {
	Machine struct {
		CPUs      int    `json:"cpus"`
		GoVersion string `json:"go_version"`
		OS        string `json:"os"`
	} `json:"machine"`
	Limits struct {
		SignOneCore      float64 `json:"ed25519_sign_per_s_one_core"`
		SignAllCores     float64 `json:"ed25519_sign_per_s_all_cores"`
		VerifyOneCore    float64 `json:"ed25519_verify_per_s_one_core"`
		VerifyAllCores   float64 `json:"ed25519_verify_per_s_all_cores"`
		SHA3CapsulePerS  float64 `json:"sha3_256_capsule_per_s"`
		SHA3CapsuleBytes int     `json:"sha3_256_capsule_bytes"`
		SealNS           float64 `json:"seal_ns_one_core"` // one canonicalize+hash+sign
	} `json:"limits"`
	Seal          Rate `json:"seal_all_cores"`
	SQLiteAppend1 Rate `json:"sqlite_append_1_writer"`
	SQLiteAppendN Rate `json:"sqlite_append_n_writers"`
	// SQLiteChains holds the N-writer figures beside the sign limit
	// measured before and after each: "1_chain" and "T_chains".
	SQLiteChains map[string]Rate `json:"sqlite_append_n_writers_chains"`
	// SealPipeline is one producer storing SealCapsules capsules into
	// SQLite in pipelined groups of 512, as `capsule seal` does.
	SealPipeline   Rate               `json:"sqlite_seal_pipeline"`
	SealCapsules   int                `json:"sqlite_seal_pipeline_capsules"`
	PostgresAppend map[string]Rate    `json:"postgres_append,omitempty"`
	Writers        int                `json:"writers"`
	Tenants        int                `json:"tenants"`
	CallMemory     Latency            `json:"audited_call_memory"`
	CallSQLite     Latency            `json:"audited_call_sqlite"`
	Verify         map[string]Rate    `json:"verify"`
	VerifyPeakHeap map[string]float64 `json:"verify_peak_heap_mib"`
	ChainLength    int                `json:"verify_chain_length"`
}

// Run measures everything and returns the report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Duration <= 0 {
		cfg.Duration = 2 * time.Second
	}
	if cfg.Writers <= 0 {
		cfg.Writers = 64
	}
	if cfg.ChainLength <= 0 {
		cfg.ChainLength = 100_000
	}
	if cfg.Tenants <= 0 {
		cfg.Tenants = cfg.Writers
	}
	step := func(s string) {
		if cfg.Progress != nil {
			cfg.Progress(s)
		}
	}
	if cfg.Dir == "" {
		d, err := os.MkdirTemp("", "capsule-bench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		cfg.Dir = d
	}
	r := &Report{Writers: cfg.Writers, Tenants: cfg.Tenants, ChainLength: cfg.ChainLength}
	r.Machine.CPUs = runtime.GOMAXPROCS(0)
	r.Machine.GoVersion = runtime.Version()
	r.Machine.OS = runtime.GOOS + "/" + runtime.GOARCH

	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	signer := keys.NewSigner(priv, "")
	pub := signer.PublicKey()
	typical := Typical()
	content, err := typical.Canonical()
	if err != nil {
		return nil, err
	}
	hash := protocol.Hash(content)
	sig := ed25519.Sign(priv, []byte(hash))

	step("raw Ed25519 sign and verify, SHA3-256")
	lim := &r.Limits
	lim.SignOneCore = rate(ctx, cfg.Duration/2, 1, func() { ed25519.Sign(priv, []byte(hash)) })
	lim.SignAllCores = rate(ctx, cfg.Duration/2, r.Machine.CPUs, func() { ed25519.Sign(priv, []byte(hash)) })
	lim.VerifyOneCore = rate(ctx, cfg.Duration/2, 1, func() { ed25519.Verify(pub, []byte(hash), sig) })
	lim.VerifyAllCores = rate(ctx, cfg.Duration/2, r.Machine.CPUs, func() { ed25519.Verify(pub, []byte(hash), sig) })
	lim.SHA3CapsuleBytes = len(content)
	lim.SHA3CapsulePerS = rate(ctx, cfg.Duration/2, 1, func() { sha3.Sum256(content) })

	step("sealing")
	sealOne := rate(ctx, cfg.Duration/2, 1, func() { capsule.SealWith(typical, "", signer, nil) })
	lim.SealNS = 1e9 / sealOne
	r.Seal = ratio(rate(ctx, cfg.Duration, r.Machine.CPUs, func() { capsule.SealWith(Typical(), "", signer, nil) }),
		"ed25519_sign_per_s_all_cores", lim.SignAllCores, 0)

	step("durable SQLite appends")
	r.SQLiteAppend1, err = appendRate(ctx, cfg, filepath.Join(cfg.Dir, "append1.db"), signer, 1, lim.SignAllCores)
	if err != nil {
		return nil, err
	}
	r.SQLiteAppendN, err = appendRate(ctx, cfg, filepath.Join(cfg.Dir, "appendN.db"), signer, cfg.Writers, lim.SignAllCores)
	if err != nil {
		return nil, err
	}
	r.SQLiteAppendN.Target = 0.5
	signLimit := func() float64 {
		return rate(ctx, cfg.Duration/2, r.Machine.CPUs, func() { ed25519.Sign(priv, []byte(hash)) })
	}
	step(fmt.Sprintf("%d SQLite writers on 1 chain and on %d chains, between sign limits", cfg.Writers, cfg.Tenants))
	r.SQLiteChains = map[string]Rate{}
	for i, tenants := range []int{1, cfg.Tenants} {
		path := filepath.Join(cfg.Dir, fmt.Sprintf("chains%d.db", i))
		x, err := bracketed(signLimit, func() (Rate, error) {
			return measured(ctx, nil, openSQLite(ctx, path, signer), func(c *capsule.Capsules) (Rate, error) {
				return appendSpread(ctx, c, cfg.Duration, cfg.Writers, tenants)
			})
		})
		if err != nil {
			return nil, err
		}
		x.Target = 0.35
		r.SQLiteChains[chainsKey(tenants)] = x
	}

	step("one producer sealing 20,000 capsules into SQLite in groups of 512, between sign limits")
	r.SealCapsules = 20_000
	r.SealPipeline, err = bracketed(signLimit, func() (Rate, error) {
		return sealPipeline(ctx, filepath.Join(cfg.Dir, "seal.db"), signer, r.SealCapsules)
	})
	if err != nil {
		return nil, err
	}
	r.SealPipeline.Target = 0.25

	if cfg.PostgresURL != "" {
		step("durable PostgreSQL appends")
		r.PostgresAppend = map[string]Rate{}
		for _, w := range []int{1, cfg.Writers} {
			pr, err := postgresRate(ctx, cfg, signer, w, 1, lim.SignAllCores)
			if err != nil {
				return nil, err
			}
			r.PostgresAppend[fmt.Sprintf("%d_writers", w)] = pr
		}
		step(fmt.Sprintf("%d PostgreSQL writers on 1 chain and on %d chains, between sign limits", cfg.Writers, cfg.Tenants))
		for _, tenants := range []int{1, cfg.Tenants} {
			x, err := bracketed(signLimit, func() (Rate, error) {
				return postgresRate(ctx, cfg, signer, cfg.Writers, tenants, 0)
			})
			if err != nil {
				return nil, err
			}
			x.Target = 0.3
			r.PostgresAppend[fmt.Sprintf("%d_writers_%s", cfg.Writers, chainsKey(tenants))] = x
		}
	}

	step("audited call overhead")
	r.CallMemory, err = callOverhead(ctx, memory.New(), signer, 20000, lim.SealNS)
	if err != nil {
		return nil, err
	}
	r.CallMemory.Target = 2
	sq, err := capsule.OpenStore(ctx, filepath.Join(cfg.Dir, "calls.db"))
	if err != nil {
		return nil, err
	}
	r.CallSQLite, err = callOverhead(ctx, sq, signer, 500, lim.SealNS)
	sq.Close()
	if err != nil {
		return nil, err
	}

	step(fmt.Sprintf("verification of a %d-capsule chain", cfg.ChainLength))
	r.Verify, r.VerifyPeakHeap, err = verifyRates(ctx, cfg, signer, lim.VerifyAllCores)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// Typical returns the capsule the figures use: every section filled, about
// 1.7 KB of canonical JSON, like a real agent action.
func Typical() *capsule.Capsule {
	c := capsule.New(capsule.TypeAgent)
	c.Trigger.Source = "scheduler"
	c.Trigger.Request = "Deploy service v2.4 to production after the canary stays healthy for ten minutes"
	c.Trigger.CorrelationID = "corr_abc123"
	c.Context.AgentID = "example.com/agents.Deploy"
	c.Context.SessionID = "sess_def456"
	c.Context.Environment = map[string]any{"cwd": "/workspace", "os": "linux", "region": "eu-west-1"}
	c.Reasoning.Analysis = "Production deployment requires a blue-green strategy."
	c.Reasoning.Options = []capsule.Option{
		{ID: "opt_0", Description: "Blue-green deployment", Pros: []string{"Zero downtime"}, Cons: []string{"Double resources"}, Feasibility: 0.9, Selected: true},
		{ID: "opt_1", Description: "Rolling update", Pros: []string{"Simple"}, Cons: []string{"Brief downtime"}, Feasibility: 0.7, RejectionReason: "Higher risk"},
	}
	c.Reasoning.SelectedOption = "Blue-green deployment"
	c.Reasoning.Confidence = 0.95
	c.Reasoning.Model = "gpt-4o"
	c.Execution.ToolCalls = []capsule.ToolCall{{Tool: "kubectl_apply", Arguments: map[string]any{"manifest": "deploy.yaml"}, Result: map[string]any{"pods": 3}, Success: true, DurationMS: 4500}}
	c.Execution.DurationMS = 5700
	c.Execution.ResourcesUsed = map[string]any{"cpu_seconds": 2.5, "api_calls": 3}
	c.Outcome.Status = capsule.StatusSuccess
	c.Outcome.Result = map[string]any{"version": "2.4", "replicas": 3}
	c.Outcome.Summary = "Deployed v2.4 with 3 replicas"
	c.Outcome.Metrics = map[string]any{"latency_ms": 5700, "cost_usd": 0.0042}
	return c
}

// rate runs f on workers goroutines for about d and returns calls per
// second.
func rate(ctx context.Context, d time.Duration, workers int, f func()) float64 {
	var n atomic.Int64
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := 0; ; i++ {
				if i%16 == 0 && (time.Now().After(deadline) || ctx.Err() != nil) {
					return
				}
				f()
				n.Add(1)
			}
		})
	}
	wg.Wait()
	return float64(n.Load()) / time.Since(start).Seconds()
}

func ratio(perSecond float64, limitName string, limit, target float64) Rate {
	r := Rate{PerSecond: perSecond, Limit: limitName, Target: target}
	if limit > 0 {
		r.Ratio = perSecond / limit
	}
	return r
}

// appendRate measures durable appends per second with writers goroutines
// appending Typical capsules to one chain through the production path.
func appendRate(ctx context.Context, cfg Config, path string, signer *keys.Signer, writers int, signLimit float64) (Rate, error) {
	return measured(ctx, nil, openSQLite(ctx, path, signer), func(c *capsule.Capsules) (Rate, error) {
		return appendLoop(ctx, c, "", cfg.Duration, writers, signLimit)
	})
}

// openSQLite returns a function opening the SQLite store at path.
func openSQLite(ctx context.Context, path string, signer *keys.Signer) func() (*capsule.Capsules, error) {
	return func() (*capsule.Capsules, error) { return capsule.Open(ctx, path, capsule.WithSigner(signer)) }
}

func appendLoop(ctx context.Context, c *capsule.Capsules, tenant string, d time.Duration, writers int, signLimit float64) (Rate, error) {
	var firstErr error
	var once sync.Once
	per := rate(ctx, d, writers, func() {
		if _, err := c.Append(ctx, tenant, Typical()); err != nil {
			once.Do(func() { firstErr = err })
		}
	})
	if firstErr != nil {
		return Rate{}, fmt.Errorf("append: %w", firstErr)
	}
	return ratio(per, "ed25519_sign_per_s_all_cores", signLimit, 0), nil
}

// appendSpread measures durable appends per second with writers
// goroutines, writer i appending Typical capsules to chain i mod tenants.
func appendSpread(ctx context.Context, c *capsule.Capsules, d time.Duration, writers, tenants int) (Rate, error) {
	var firstErr error
	var once sync.Once
	var next atomic.Int64
	per := rate(ctx, d, writers, func() {
		tenant := fmt.Sprintf("tenant-%d", next.Add(1)%int64(tenants))
		if _, err := c.Append(ctx, tenant, Typical()); err != nil {
			once.Do(func() { firstErr = err })
		}
	})
	if firstErr != nil {
		return Rate{}, fmt.Errorf("append: %w", firstErr)
	}
	return Rate{PerSecond: per}, nil
}

// sealPipeline stores n Typical capsules into a new SQLite file from one
// goroutine in groups of 512, each queued while the one before it
// commits, as `capsule seal` does.
func sealPipeline(ctx context.Context, path string, signer *keys.Signer, n int) (Rate, error) {
	return measured(ctx, nil, openSQLite(ctx, path, signer), func(c *capsule.Capsules) (Rate, error) {
		return sealGroups(ctx, c, n)
	})
}

// sealGroups stores n Typical capsules into c's null-tenant chain from one
// goroutine in pipelined groups of 512.
func sealGroups(ctx context.Context, c *capsule.Capsules, n int) (Rate, error) {
	start := time.Now()
	var prev *capsule.Queued // committing while the next group is sealed
	for done := 0; done < n; {
		group := make([]*capsule.Capsule, min(512, n-done))
		for i := range group {
			group[i] = Typical()
		}
		q, err := c.Queue(ctx, "", group)
		if err != nil {
			return Rate{}, fmt.Errorf("append: %w", err)
		}
		if _, err := prev.Wait(ctx); err != nil {
			return Rate{}, fmt.Errorf("append: %w", err)
		}
		prev = q
		done += len(group)
	}
	if _, err := prev.Wait(ctx); err != nil {
		return Rate{}, fmt.Errorf("append: %w", err)
	}
	return Rate{PerSecond: float64(n) / time.Since(start).Seconds()}, nil
}

// bracketed measures a figure between two measurements of the sign limit
// and sets its ratio against their mean.
func bracketed(limit func() float64, figure func() (Rate, error)) (Rate, error) {
	before := limit()
	r, err := figure()
	if err != nil {
		return Rate{}, err
	}
	after := limit()
	r.Limit, r.Ratio, r.Target = "ed25519_sign_per_s_all_cores", r.PerSecond/((before+after)/2), 0
	r.LimitBefore, r.LimitAfter = before, after
	return r, nil
}

// chainsKey names a figure by its number of chains.
func chainsKey(tenants int) string {
	if tenants == 1 {
		return "1_chain"
	}
	return fmt.Sprintf("%d_chains", tenants)
}

// postgresRate measures appends into a scratch schema that is dropped
// afterwards.
// With tenants > 1 the writers spread over that many chains.
func postgresRate(ctx context.Context, cfg Config, signer *keys.Signer, writers, tenants int, signLimit float64) (Rate, error) {
	conn, err := pgx.Connect(ctx, cfg.PostgresURL)
	if err != nil {
		return Rate{}, fmt.Errorf("postgres: %w", err)
	}
	defer conn.Close(ctx)
	schema := fmt.Sprintf("capsule_bench_%d", time.Now().UnixNano())
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		return Rate{}, fmt.Errorf("postgres: %w", err)
	}
	defer conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
	pgURL, err := withSearchPath(cfg.PostgresURL, schema)
	if err != nil {
		return Rate{}, err
	}
	open := func() (*capsule.Capsules, error) { return capsule.Open(ctx, pgURL, capsule.WithSigner(signer)) }
	return measured(ctx, conn, open, func(c *capsule.Capsules) (Rate, error) {
		if tenants > 1 {
			return appendSpread(ctx, c, cfg.Duration, writers, tenants)
		}
		r, err := appendLoop(ctx, c, "bench", cfg.Duration, writers, signLimit)
		if writers > 1 {
			r.Target = 20000 / signLimit
		}
		return r, err
	})
}

// callOverhead measures the latency of the generated AuditedNoop wrapper
// over the bare Noop, one call at a time.
func callOverhead(ctx context.Context, st storage.Store, signer *keys.Signer, calls int, sealNS float64) (Latency, error) {
	c, err := capsule.NewCapsules(st, capsule.WithSigner(signer))
	if err != nil {
		return Latency{}, err
	}
	defer c.Close()
	benchfn.Target = c
	defer func() { benchfn.Target = nil }()

	bare := make([]time.Duration, calls)
	audited := make([]time.Duration, calls)
	for i := range calls {
		t0 := time.Now()
		benchfn.Noop(ctx, "ping")
		bare[i] = time.Since(t0)
	}
	for i := range calls {
		t0 := time.Now()
		if _, err := benchfn.AuditedNoop(ctx, "ping"); err != nil {
			return Latency{}, err
		}
		audited[i] = time.Since(t0)
	}
	if n := c.Stats().Committed; n != int64(calls) {
		return Latency{}, fmt.Errorf("bench: %d audited calls stored %d capsules", calls, n)
	}
	l := Latency{
		BareP50NS:    pct(bare, 50),
		AuditedP50NS: pct(audited, 50),
		AuditedP99NS: pct(audited, 99),
		Limit:        "seal_ns_one_core",
	}
	l.OverheadNS = l.AuditedP50NS - l.BareP50NS
	l.Ratio = l.OverheadNS / sealNS
	return l, nil
}

func pct(d []time.Duration, p int) float64 {
	s := slices.Clone(d)
	slices.Sort(s)
	return float64(s[(len(s)-1)*p/100].Nanoseconds())
}

// verifyRates builds a chain in SQLite and verifies it at each level,
// sampling the heap while it runs.
func verifyRates(ctx context.Context, cfg Config, signer *keys.Signer, verifyLimit float64) (map[string]Rate, map[string]float64, error) {
	path := filepath.Join(cfg.Dir, "verify.db")
	c, err := capsule.Open(ctx, path, capsule.WithSigner(signer))
	if err != nil {
		return nil, nil, err
	}
	defer c.Close()
	if err := fill(ctx, c, cfg.ChainLength, cfg.Writers); err != nil {
		return nil, nil, err
	}
	rates := map[string]Rate{}
	heaps := map[string]float64{}
	for _, level := range []capsule.Level{capsule.Structural, capsule.Full, capsule.Signatures} {
		runtime.GC()
		stop := sampleHeap()
		start := time.Now()
		res, err := c.Verify(ctx, "", level)
		elapsed := time.Since(start)
		peak := stop()
		if err != nil {
			return nil, nil, err
		}
		if !res.Valid || res.CapsulesVerified != int64(cfg.ChainLength) {
			return nil, nil, fmt.Errorf("bench: verification failed: %+v", res)
		}
		per := float64(res.CapsulesVerified) / elapsed.Seconds()
		if level == capsule.Signatures {
			rates[level.String()] = ratio(per, "ed25519_verify_per_s_all_cores", verifyLimit, 0.8)
		} else {
			rates[level.String()] = Rate{PerSecond: per}
		}
		heaps[level.String()] = peak / (1 << 20)
	}
	return rates, heaps, nil
}

// fill appends n Typical capsules with writers goroutines.
func fill(ctx context.Context, c *capsule.Capsules, n, writers int) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range writers {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				if _, err := c.Append(ctx, "", Typical()); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

// sampleHeap samples the live heap every 5 ms until the returned function
// is called, which reports the peak in bytes.
func sampleHeap() func() float64 {
	done := make(chan struct{})
	var peak atomic.Uint64
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() {
		metrics.Read(sample)
		if v := sample[0].Value.Uint64(); v > peak.Load() {
			peak.Store(v)
		}
	}
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			read()
			select {
			case <-t.C:
			case <-done:
				return
			}
		}
	}()
	return func() float64 {
		close(done)
		<-finished
		read()
		return float64(peak.Load())
	}
}

// withSearchPath returns the PostgreSQL URL with search_path set to schema.
func withSearchPath(raw, schema string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("bench: postgres URL: %w", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), nil
}
