package nethttp

import (
	"context"
	"net/http"
	"time"
)

// HealthTimeout is how long GET {prefix}/healthz waits for the store and
// the checks of [WithHealth] before it answers 503.
const HealthTimeout = time.Second

// healthProbeTenant is the chain whose head the health route reads.
const healthProbeTenant = ""

// WithHealth adds a check to GET {prefix}/healthz: the route answers 200
// only when the store answers and every check returns nil, all within
// [HealthTimeout]. A check's error message is the reason the 503 gives,
// so it should say what an operator may see and no more. Give
// [github.com/capsule-go/capsule.Capsules.Health] to report the audit
// pipeline's breaker:
//
//	nethttp.Handler(caps.Store(), nethttp.WithHealth(caps.Health))
func WithHealth(check func(ctx context.Context) error) Option {
	return func(c *config) {
		if check != nil {
			c.health = append(c.health, check)
		}
	}
}

// healthz answers {"status":"ok"}, or 503 {"status":"unavailable",
// "error":reason} when the store or a check fails or does not answer in
// time.
func (s *server) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), HealthTimeout)
	defer cancel()
	// A check that ignores its context must not hold the answer: it runs
	// apart, and the route answers at the deadline.
	done := make(chan string, 1)
	go func() { done <- s.checkHealth(ctx) }()
	var reason string
	select {
	case reason = <-done:
	case <-ctx.Done():
		reason = "health check did not answer within " + HealthTimeout.String()
	}
	if reason == "" {
		writeJSON(w, http.StatusOK, []byte(`{"status":"ok"}`))
		return
	}
	buf := append([]byte(`{"status":"unavailable","error":`), appendString(nil, reason)...)
	w.Header().Set("Retry-After", retryAfter)
	writeJSON(w, http.StatusServiceUnavailable, append(buf, '}'))
}

// checkHealth probes the store and runs the checks; it returns why the
// service is unhealthy, "" when it is not.
func (s *server) checkHealth(ctx context.Context) string {
	if _, err := s.store.Head(ctx, healthProbeTenant); err != nil {
		s.log.ErrorContext(ctx, "nethttp: health check: storage failure", "err", err)
		if ctx.Err() != nil {
			return "storage did not answer within " + HealthTimeout.String()
		}
		return "storage unavailable"
	}
	for _, check := range s.health {
		if err := check(ctx); err != nil {
			if ctx.Err() != nil {
				return "health check did not answer within " + HealthTimeout.String()
			}
			return err.Error()
		}
	}
	return ""
}
