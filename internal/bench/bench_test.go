package bench

import (
	"context"
	"os"
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
	if os.Getenv("CAPSULE_TEST_POSTGRES_URL") != "" && len(r.PostgresAppend) != 2 {
		t.Errorf("postgres figures: %v", r.PostgresAppend)
	}
}
