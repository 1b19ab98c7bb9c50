package runtime

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/capsule-go/capsule"
)

// Site describes one audited function; for generated code. Generated code
// declares one package-level Site per wrapper and passes it to [Start] on
// every call.
type Site struct {
	Type    capsule.Type // capsule type (directive key type)
	AgentID string       // context.agent_id: the package-qualified function name
	// Source is trigger.source (directive key source); "" means AgentID.
	Source string
	// Domain is the capsule domain (directive key domain); "" means "agents".
	Domain string
	// ReturnAuditErrors makes [Call.Finish] return audit failures joined to
	// the function's error (directive swallow_errors=false); by default
	// they are logged and the call's results are unaffected.
	ReturnAuditErrors bool
	// Capsules returns the *capsule.Capsules to record into (directive key
	// capsules); nil records into the process default.
	Capsules func() *capsule.Capsules
}

// Call is one audited call in progress; for generated code. [Start]
// creates it; [Call.Finish] ends it on return, and [Call.Guard], deferred,
// ends it when the function panics or calls runtime.Goexit.
type Call struct {
	site   *Site
	tenant string
	start  time.Time
	cap    *capsule.Capsule
	end    func()
	ctx    context.Context
	ended  bool
}

// Start begins an audited call of site; for generated code. tenant selects
// the chain ("" is the null tenant) and request fills trigger.request. The
// returned context carries the capsule, so capsule.Current returns it
// inside the call.
func Start(ctx context.Context, site *Site, tenant, request string) (context.Context, *Call) {
	if ctx == nil {
		ctx = context.Background()
	}
	now := time.Now()
	c := capsule.New(site.Type)
	if site.Domain != "" {
		c.Domain = site.Domain
	}
	c.Trigger.Type = capsule.TriggerAgent // as the reference's @audit records it
	c.Trigger.Source = site.Source
	if c.Trigger.Source == "" {
		c.Trigger.Source = site.AgentID
	}
	c.Trigger.Timestamp = now.UTC()
	c.Trigger.Request = request
	c.Context.AgentID = site.AgentID
	call := &Call{site: site, tenant: tenant, start: now, cap: c, ctx: ctx}
	var inner context.Context
	inner, call.end = capsule.NewContext(ctx, c)
	return inner, call
}

// Finish records the call's outcome and returns the error the wrapper
// returns; for generated code. result is the function's first non-error
// result (nil when it has none) and err its error result (nil when it has
// none). Finish seals and stores the capsule before it returns. It returns
// err, joined with the audit failure if there is one and the site returns
// audit errors (a failure alone when err is nil); otherwise audit failures
// are logged and err is returned as it is.
func (c *Call) Finish(result any, err error) error {
	c.ended = true
	o := &c.cap.Outcome
	if err != nil {
		o.Status = capsule.StatusFailure
		if o.Error == "" {
			o.Error = err.Error()
		}
	} else {
		if o.Status == capsule.StatusPending {
			o.Status = capsule.StatusSuccess
		}
		if o.Result == nil {
			o.Result = JSONSafe(result)
		}
	}
	aerr := c.record(!c.site.ReturnAuditErrors)
	switch {
	case aerr == nil:
		return err
	case err == nil:
		return aerr
	}
	return errors.Join(err, aerr)
}

// Guard, deferred right after [Start], records a call that did not reach
// [Call.Finish]; for generated code. A panic is recorded (outcome failure,
// error "panic: <value>") and re-raised with the same value; a goroutine
// leaving through runtime.Goexit is recorded with error "goexit" and goes
// on exiting. Audit failures here are logged, never returned.
func (c *Call) Guard() {
	if c.ended {
		return
	}
	c.ended = true
	p := recover()
	o := &c.cap.Outcome
	o.Status = capsule.StatusFailure
	if p == nil {
		o.Error = "goexit"
	} else {
		o.Error = "panic: " + fmt.Sprint(p)
	}
	c.record(true)
	if p != nil {
		panic(p)
	}
}

// record seals and stores the capsule. swallow makes audit failures logged
// instead of returned.
func (c *Call) record(swallow bool) error {
	c.end()
	c.cap.Execution.DurationMS = time.Since(c.start).Milliseconds()
	var caps *capsule.Capsules
	if c.site.Capsules != nil {
		caps = c.site.Capsules()
	}
	var err error
	if caps == nil {
		caps, err = capsule.Default()
	}
	if err == nil {
		caps.RunCallHooks(c.ctx, c.cap, c.site.AgentID)
		// Detach from the caller's cancellation: the call has happened and
		// its record must land even if the caller's context ends now.
		_, err = caps.Append(context.WithoutCancel(c.ctx), c.tenant, c.cap)
	}
	if err != nil {
		err = fmt.Errorf("capsule: audit %s: %w", c.site.AgentID, err)
		if swallow {
			if caps != nil {
				caps.CountSwallowed() // Stats().Swallowed: what operators alert on
			}
			bursts.of(caps).failure(c.site.AgentID, err)
			return nil
		}
		return err
	}
	if b := bursts.lookup(caps); b != nil && b.active() {
		b.success()
	}
	return nil
}
