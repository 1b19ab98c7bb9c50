package runtime

import (
	"bytes"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/capsule-go/capsule"
	"github.com/capsule-go/capsule/storage/memory"
)

// A burst of failures is logged once, with its first error; failures
// closer together than burstQuiet are counted, not logged, and reported
// when the next burst starts or appends succeed again. The test drives
// the log's clock.
func TestBurstLogQuietPeriod(t *testing.T) {
	var buf bytes.Buffer
	c, err := capsule.NewCapsules(memory.New(), capsule.WithKeyDir(t.TempDir()),
		capsule.WithLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{
			ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey {
					return slog.Attr{}
				}
				return a
			},
		}))))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	now := time.Unix(1_700_000_000, 0)
	b := &burstLog{caps: c, now: func() time.Time { return now }}
	boom := errors.New("boom")
	step := func(d time.Duration, failed bool, want string) {
		t.Helper()
		now = now.Add(d)
		buf.Reset()
		if failed {
			b.failure("pkg.F", boom)
		} else {
			b.success()
		}
		if got := buf.String(); got != want {
			t.Errorf("at +%v: logged\n%s\nwant\n%s", d, got, want)
		}
		if b.active() != failed {
			t.Errorf("at +%v: active() = %v", d, b.active())
		}
	}
	const first = `level=ERROR msg="capsule: audit failed; the call's result is unaffected" function=pkg.F err=boom` + "\n"
	step(0, true, first)
	step(burstQuiet-time.Nanosecond, true, "") // within the burst: counted
	step(burstQuiet-time.Nanosecond, true, "") // the quiet period runs from the last failure
	step(burstQuiet, true, `level=WARN msg="capsule: audit failures suppressed" count=2`+"\n"+first)
	step(time.Second, true, "")
	step(time.Second, false, `level=INFO msg="capsule: auditing recovered" suppressed_failures=1`+"\n")
	step(time.Second, false, "")   // nothing to recover from
	step(time.Second, true, first) // a new burst
}
