package bench

import (
	"context"
	"os"
	"runtime"
	"testing"
	"time"
)

// Run completes on a small configuration and fills every figure; the
// figures themselves are not asserted (performance is measured by
// `capsule bench`, never by timed tests).
func TestRunFillsEveryFigure(t *testing.T) {
	if testing.Short() {
		t.Skip("measures for a few seconds")
	}
	r, err := Run(context.Background(), Config{
		Duration:    100 * time.Millisecond,
		Writers:     8,
		ChainLength: 3000,
		PostgresURL: os.Getenv("CAPSULE_TEST_POSTGRES_URL"),
		Dir:         t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]float64{
		"sign one core": r.Limits.SignOneCore, "sign all cores": r.Limits.SignAllCores,
		"verify one core": r.Limits.VerifyOneCore, "verify all cores": r.Limits.VerifyAllCores,
		"sha3": r.Limits.SHA3CapsulePerS, "seal": r.Seal.PerSecond,
		"sqlite 1": r.SQLiteAppend1.PerSecond, "sqlite n": r.SQLiteAppendN.PerSecond,
		"call memory": r.CallMemory.AuditedP50NS, "call sqlite": r.CallSQLite.AuditedP50NS,
		"verify structural": r.Verify["structural"].PerSecond, "verify full": r.Verify["full"].PerSecond,
		"verify signatures": r.Verify["signatures"].PerSecond, "peak heap": r.VerifyPeakHeap["signatures"],
	} {
		if !(v > 0) {
			t.Errorf("%s = %v, want > 0", name, v)
		}
	}
	for name, x := range map[string]Rate{"sqlite 1 chain": r.SQLiteChains["1_chain"],
		"sqlite 8 chains": r.SQLiteChains["8_chains"], "seal pipeline": r.SealPipeline} {
		if !(x.PerSecond > 0 && x.LimitBefore > 0 && x.LimitAfter > 0 && x.Ratio > 0) {
			t.Errorf("%s = %+v, want a rate between two limits", name, x)
		}
	}
	// What each capsule cost, the figures to compare across machines.
	for name, x := range map[string]Rate{"sqlite 1": r.SQLiteAppend1, "sqlite n": r.SQLiteAppendN,
		"sqlite 1 chain": r.SQLiteChains["1_chain"], "sqlite 8 chains": r.SQLiteChains["8_chains"],
		"seal pipeline": r.SealPipeline} {
		if x.Capsules <= 0 || x.CPUPerCapsuleUS <= 0 {
			t.Errorf("%s = %+v, want capsules stored and CPU per capsule", name, x)
		}
		// A durable capsule is written at least once: its content alone
		// is over a kilobyte.
		if runtime.GOOS == "linux" && (x.Bytes != "process_write_bytes" || x.BytesPerCapsule < 1000) {
			t.Errorf("%s = %+v, want the process's write bytes per capsule, over 1000", name, x)
		}
	}
	if os.Getenv("CAPSULE_TEST_POSTGRES_URL") != "" {
		for _, k := range []string{"1_writers", "8_writers", "8_writers_1_chain", "8_writers_8_chains"} {
			x := r.PostgresAppend[k]
			if x.PerSecond <= 0 {
				t.Errorf("postgres figure %s missing: %v", k, r.PostgresAppend)
			}
			if x.Bytes != "postgres_wal" || x.BytesPerCapsule < 1000 || x.CPUPerCapsuleUS <= 0 {
				t.Errorf("postgres figure %s = %+v, want WAL bytes (over 1000) and CPU per capsule", k, x)
			}
		}
	}
}
