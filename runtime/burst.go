package runtime

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/capsule-go/capsule"
)

// bursts holds the failure log of each Capsules audited calls record into;
// the nil key logs failures to open the process default.
var bursts burstLogs

type burstLogs struct{ m sync.Map } // *capsule.Capsules -> *burstLog

// of returns the failure log of caps, creating it on first use.
func (b *burstLogs) of(caps *capsule.Capsules) *burstLog {
	if l := b.lookup(caps); l != nil {
		return l
	}
	l, _ := b.m.LoadOrStore(caps, &burstLog{caps: caps})
	return l.(*burstLog)
}

// lookup returns the failure log of caps, or nil when nothing failed yet.
func (b *burstLogs) lookup(caps *capsule.Capsules) *burstLog {
	if l, ok := b.m.Load(caps); ok {
		return l.(*burstLog)
	}
	return nil
}

// burstLog logs audit failures once per burst: the first failure after a
// quiet period is logged with its error; the ones that follow within the
// burst are counted and reported when appends succeed again.
type burstLog struct {
	caps       *capsule.Capsules // whose logger to use; nil for slog.Default()
	flag       atomic.Bool       // mirrors inBurst, read without the lock
	mu         sync.Mutex
	inBurst    bool
	suppressed int
	last       time.Time
	now        func() time.Time // nil: time.Now; tests drive their own
}

// burstQuiet is how long without a failure ends a burst.
const burstQuiet = 10 * time.Second

func (b *burstLog) failure(site string, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.clock()
	if b.inBurst && now.Sub(b.last) < burstQuiet {
		b.suppressed++
		b.last = now
		return
	}
	if b.suppressed > 0 {
		b.logger().Warn("capsule: audit failures suppressed", "count", b.suppressed)
	}
	b.inBurst, b.suppressed, b.last = true, 0, now
	b.flag.Store(true)
	b.logger().Error("capsule: audit failed; the call's result is unaffected", "function", site, "err", err)
}

func (b *burstLog) success() {
	b.mu.Lock()
	if b.inBurst {
		b.logger().Info("capsule: auditing recovered", "suppressed_failures", b.suppressed)
		b.inBurst, b.suppressed = false, 0
		b.flag.Store(false)
	}
	b.mu.Unlock()
}

func (b *burstLog) clock() time.Time {
	if b.now == nil {
		return time.Now()
	}
	return b.now()
}

// active reports, without locking, whether a burst of failures is open.
func (b *burstLog) active() bool { return b.flag.Load() }

func (b *burstLog) logger() *slog.Logger {
	if b.caps == nil {
		return slog.Default()
	}
	return b.caps.Logger()
}
