package cli

import (
	"fmt"
	"io"
	"time"
)

// Progress draws a single status line, such as "verified 120000 capsules
// (85000/s)", rewritten in place at most every Interval. A Progress that is
// not enabled (the output is not a terminal, say) writes nothing; a nil
// *Progress is a disabled one. It is not safe for concurrent use.
type Progress struct {
	w       io.Writer
	verb    string
	enabled bool
	now     func() time.Time

	// Interval is the minimum time between two redraws (default 100ms).
	Interval time.Duration

	start, last time.Time
	shown       bool
}

// NewProgress returns a Progress that writes "<verb> N capsules (R/s)" to
// w when enabled.
func NewProgress(w io.Writer, verb string, enabled bool) *Progress {
	return &Progress{w: w, verb: verb, enabled: enabled, now: time.Now, Interval: 100 * time.Millisecond}
}

// Update reports that n capsules are done so far; it redraws the line
// when the last redraw is at least Interval old.
func (p *Progress) Update(n int64) {
	if p == nil || !p.enabled {
		return
	}
	t := p.now()
	if p.start.IsZero() {
		p.start, p.last = t, t
		return
	}
	if t.Sub(p.last) < p.Interval {
		return
	}
	p.last = t
	rate := float64(n) / t.Sub(p.start).Seconds()
	fmt.Fprintf(p.w, "\r\x1b[K%s %d capsules (%.0f/s)", p.verb, n, rate)
	p.shown = true
}

// Done erases the line, if one was drawn, so that the final message starts
// on a clean line.
func (p *Progress) Done() {
	if p == nil || !p.shown {
		return
	}
	io.WriteString(p.w, "\r\x1b[K")
	p.shown = false
}
