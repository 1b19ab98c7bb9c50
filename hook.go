package capsule

import (
	"context"
	"fmt"
)

// CallHook runs in every audited call recorded into a [Capsules] opened
// with [WithCallHook]: after the function has returned (or panicked) and
// before its capsule is sealed, with the context the call received. It may
// fill fields of the capsule the function left empty from that context
// (a trace id, a request id) and note the capsule's id elsewhere (a trace
// span). It must not keep c. It runs on the caller's goroutine, so it
// should be quick; a panic in it is recovered and logged, and the capsule
// is recorded all the same.
//
// Package integrations/otel (its own module) is a CallHook that joins
// capsules to OpenTelemetry traces.
type CallHook func(ctx context.Context, c *Capsule)

// WithCallHook adds h to the hooks of the audited calls recorded into the
// Capsules being opened; hooks run in the order they were added. Capsules
// appended by hand with [Capsules.Append] do not run them.
func WithCallHook(h CallHook) OpenOption {
	return func(c *config) {
		if h != nil {
			c.hooks = append(c.hooks, h)
		}
	}
}

// RunCallHooks runs the hooks added with [WithCallHook] on c, the capsule
// of the audited call of agentID, with the context the call received; a
// panicking hook is recovered and logged. It is for package runtime, which
// calls it once per audited call before sealing; code that appends
// capsules by hand has no reason to call it.
func (caps *Capsules) RunCallHooks(ctx context.Context, c *Capsule, agentID string) {
	for _, h := range caps.hooks {
		func() {
			defer func() {
				if v := recover(); v != nil {
					caps.log.ErrorContext(ctx, "capsule: call hook panicked", "agent_id", agentID, "panic", fmt.Sprint(v))
				}
			}()
			h(ctx, c)
		}()
	}
}
