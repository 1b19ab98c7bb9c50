package capsule

import "time"

// clock tells the time for the timed behaviour of a Capsules (the key
// directory's checks, the breaker's probes); nil is time.Now. Tests set
// their own to drive time instead of waiting for it.
type clock func() time.Time

func (c clock) now() time.Time {
	if c == nil {
		return time.Now()
	}
	return c()
}
