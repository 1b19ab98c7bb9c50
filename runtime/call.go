package capsule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/capsule-go/capsule/runtime/canonical"
)

// Site describes one audited function. Generated code declares one
// package-level Site per wrapper and passes it to [Start] on every call;
// user code does not need it.
type Site struct {
	Type          Type   // capsule type (directive key type)
	Source        string // trigger.source (directive key source)
	AgentID       string // context.agent_id: the package-qualified function name
	Domain        string // capsule domain (directive key domain)
	SwallowErrors bool   // directive key swallow_errors
	// Capsules returns the *Capsules to record into (directive key
	// capsules); nil records into the process default.
	Capsules func() *Capsules
}

// Call is one audited call in progress, created by [Start] and ended by
// exactly one of [Call.Finish] or [Call.Panic].
type Call struct {
	site   *Site
	tenant string
	start  time.Time
	cap    Capsule
	ctx    context.Context
}

type ctxKey struct{}

// Start begins an audited call of site. tenant selects the chain ("" is the
// null tenant) and request fills trigger.request. The returned context
// carries the capsule, so [Current] returns it inside the call.
func Start(ctx context.Context, site *Site, tenant, request string) (context.Context, *Call) {
	if ctx == nil {
		ctx = context.Background()
	}
	now := time.Now()
	c := &Call{site: site, tenant: tenant, start: now}
	c.cap = Capsule{
		ID:     NewID(),
		Type:   site.Type,
		Domain: site.Domain,
		Trigger: Trigger{
			Type:      TriggerAgent, // as the reference's @audit records it
			Source:    site.Source,
			Timestamp: now.UTC(),
			Request:   request,
		},
		Context:   Context{AgentID: site.AgentID},
		Authority: Authority{Type: AuthorityAutonomous},
		Outcome:   Outcome{Status: StatusPending},
	}
	c.ctx = ctx
	return context.WithValue(ctx, ctxKey{}, &c.cap), c
}

// Current returns the capsule being recorded by the audited call whose
// context ctx is (or derives from), so the function can enrich its
// reasoning, context, execution and outcome. Outside an audited call it
// returns a detached capsule that is never recorded, so enrichment code
// also runs when the function is called directly; use [FromContext] to
// find out which case applies.
func Current(ctx context.Context) *Capsule {
	if c, ok := ctx.Value(ctxKey{}).(*Capsule); ok {
		return c
	}
	return New(TypeAgent)
}

// ErrNoActiveCapsule reports that a context belongs to no audited call.
var ErrNoActiveCapsule = errors.New("capsule: no active capsule: the context does not come from an Audited* call")

// FromContext returns the capsule of the audited call ctx belongs to, or
// ErrNoActiveCapsule.
func FromContext(ctx context.Context) (*Capsule, error) {
	if c, ok := ctx.Value(ctxKey{}).(*Capsule); ok {
		return c, nil
	}
	return nil, ErrNoActiveCapsule
}

// Finish records the call's outcome: result (the first non-error result, or
// nil when the function has none) and err (its error result, or nil). It
// seals and stores the capsule before returning. It returns the audit
// failure, if any, only when the site does not swallow errors; otherwise it
// logs the failure and returns nil.
func (c *Call) Finish(result any, err error) error {
	o := &c.cap.Outcome
	if err != nil {
		o.Status = StatusFailure
		if o.Error == "" {
			o.Error = err.Error()
		}
	} else {
		if o.Status == StatusPending {
			o.Status = StatusSuccess
		}
		if o.Result == nil {
			o.Result = JSONSafe(result)
		}
	}
	return c.record(c.site.SwallowErrors)
}

// Panic records that the call panicked with v (outcome failure, error
// "panic: <v>") and seals and stores the capsule; v == nil means the
// goroutine left the call through runtime.Goexit (error "goexit"). The
// generated wrapper re-panics with v afterwards (a nil v is not re-panicked:
// Goexit goes on by itself). An audit failure is logged, never returned.
func (c *Call) Panic(v any) {
	o := &c.cap.Outcome
	o.Status = StatusFailure
	if v == nil {
		o.Error = "goexit"
	} else {
		o.Error = "panic: " + fmt.Sprint(v)
	}
	c.record(true)
}

// record seals and stores the capsule. swallow forces audit failures to be
// logged instead of returned.
func (c *Call) record(swallow bool) error {
	c.cap.Execution.DurationMS = time.Since(c.start).Milliseconds()
	var caps *Capsules
	if c.site.Capsules != nil {
		caps = c.site.Capsules()
	}
	var err error
	if caps == nil {
		caps, err = Default()
	}
	if err == nil {
		caps.runHooks(c.ctx, &c.cap, c.site.AgentID)
		// Detach from the caller's cancellation: the call has happened and
		// its record must land even if the caller's context ends now.
		_, err = caps.Append(context.WithoutCancel(c.ctx), c.tenant, &c.cap)
	}
	if err != nil {
		err = fmt.Errorf("capsule: audit %s: %w", c.site.AgentID, err)
		if swallow {
			if caps != nil {
				caps.burst.failure(c.site.AgentID, err)
			} else {
				defaultBurst.failure(c.site.AgentID, err)
			}
			return nil
		}
		return err
	}
	if caps.burst.active() {
		caps.burst.success()
	}
	return nil
}

// defaultBurst logs failures to open the process default.
var defaultBurst = burstLog{}

// maxResultString is how many characters of a string result are recorded.
const maxResultString = 500

// JSONSafe returns a copy of v that canonical JSON can encode: strings cut
// at 500 characters, numbers as they are (NaN and infinities as strings),
// errors and fmt.Stringers as their text, and any other value through
// encoding/json (its JSON re-read), or its %v text when that fails.
//
// A panic in a String, Error or MarshalJSON method is recovered: the value
// is recorded as the text "unrecordable result: <panic>", so recording a
// result never changes the outcome of the call.
func JSONSafe(v any) (out any) {
	defer func() {
		if p := recover(); p != nil {
			out = cut(fmt.Sprintf("unrecordable result: %v", p))
		}
	}()
	switch x := v.(type) {
	case nil, bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, canonical.Number, json.Number:
		return x
	case string:
		return cut(x)
	case float64:
		return safeFloat(x)
	case float32:
		return safeFloat(float64(x))
	case error:
		return cut(x.Error())
	case fmt.Stringer:
		return cut(x.String())
	case []byte:
		return cut(string(x))
	case []string:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = cut(e)
		}
		return out
	}
	b, err := json.Marshal(v)
	if err != nil {
		return cut(fmt.Sprintf("%v", v))
	}
	parsed, err := canonical.Parse(b)
	if err != nil {
		return cut(string(b))
	}
	return cutAll(parsed)
}

func safeFloat(f float64) any {
	if _, err := canonical.AppendFloat(nil, f); err != nil {
		return fmt.Sprint(f)
	}
	return f
}

func cut(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if len(s) <= maxResultString {
		return s
	}
	n := 0
	for i := range s {
		if n == maxResultString {
			return s[:i]
		}
		n++
	}
	return s
}

func cutAll(v any) any {
	switch x := v.(type) {
	case string:
		return cut(x)
	case []any:
		for i := range x {
			x[i] = cutAll(x[i])
		}
	case map[string]any:
		for k, e := range x {
			x[k] = cutAll(e)
		}
	}
	return v
}
