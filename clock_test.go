package capsule

import (
	"sync/atomic"
	"time"
)

// withClock makes the Capsules read the time from now: the key
// directory's checks and the breaker's probes follow it.
func withClock(now func() time.Time) OpenOption { return func(c *config) { c.clock = now } }

// testClock is a clock that moves only when told to; safe for concurrent use.
type testClock struct{ ns atomic.Int64 }

func newTestClock() *testClock {
	c := new(testClock)
	c.ns.Store(time.Now().UnixNano())
	return c
}

func (c *testClock) now() time.Time { return time.Unix(0, c.ns.Load()) }

func (c *testClock) advance(d time.Duration) { c.ns.Add(int64(d)) }
