package llm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"time"
	"weak"

	"github.com/capsule-go/capsule"
)

// exchange is one LLM request and its response, from the request until
// it is recorded.
type exchange struct {
	t       *transport
	api     *api
	args    map[string]any
	secrets []string
	start   time.Time
	reqCtx  context.Context
	// call is the context of the audited call to record into; nil records
	// a standalone capsule.
	call context.Context

	// recorded is guarded by the audited call's lock (capsule.Update and
	// OnEnd), or belongs to the reading goroutine for a standalone capsule.
	recorded bool

	mu       sync.Mutex // guards what follows: the reader and the end of the call
	status   string     // "200 OK"; "" until there is a response
	ok       bool       // a 2xx status
	reply    reply
	sse      *sseParser // nil for a JSON body
	body     []byte     // the JSON body so far, up to maxJSON
	overflow bool       // the JSON body went past maxJSON
	unparsed string     // why the body is not parsed
	done     bool       // the response has ended
	err      error      // the transport's or the body's error
	eof      bool       // the body was read to its end
	end      time.Time
	stopped  bool // recorded before its end: stop parsing
}

func newExchange(t *transport, a *api, args map[string]any, req *http.Request) *exchange {
	return &exchange{t: t, api: a, args: args, secrets: secretsOf(req), start: time.Now(), reqCtx: req.Context()}
}

// respond takes the response: its status, and its body, which it wraps
// so that what the caller reads is parsed on the way.
func (x *exchange) respond(resp *http.Response) {
	x.mu.Lock()
	x.status = resp.Status
	x.ok = resp.StatusCode >= 200 && resp.StatusCode < 300
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	switch ce := resp.Header.Get("Content-Encoding"); {
	case ce != "" && ce != "identity":
		x.unparsed = "[response not parsed: Content-Encoding " + ce + "]"
	case mt == "text/event-stream" && x.ok:
		x.sse = &sseParser{onEvent: func(name string, data []byte) { x.api.event(name, data, &x.reply) }}
	}
	x.mu.Unlock()
	if resp.Body == nil || resp.Body == http.NoBody {
		x.finish(io.EOF)
		return
	}
	resp.Body = &body{rc: resp.Body, x: x}
}

// feed parses the next bytes of the body.
func (x *exchange) feed(p []byte) {
	x.mu.Lock()
	defer x.mu.Unlock()
	switch {
	case x.stopped || x.unparsed != "":
	case x.sse != nil:
		x.sse.write(p)
	case len(x.body)+len(p) > maxJSON:
		x.overflow = true
	default:
		x.body = append(x.body, p...)
	}
}

// finish ends the exchange (err is io.EOF at the end of the body, or the
// error that ended it) and records it, once.
func (x *exchange) finish(err error) {
	x.mu.Lock()
	if x.done {
		x.mu.Unlock()
		return
	}
	x.done, x.end = true, time.Now()
	if err == io.EOF {
		x.eof = true
	} else {
		x.err = err
	}
	x.mu.Unlock()
	if x.call == nil {
		x.seal()
		return
	}
	// ErrCallEnded: the end of the call has recorded it (atEnd).
	capsule.Update(x.call, func(c *capsule.Capsule) { x.recordInto(c) })
}

// atEnd records the exchange when the audited call ends, as far as it has
// got if its response is still open.
func (x *exchange) atEnd(c *capsule.Capsule) { x.recordInto(c) }

// errCallReturned is the error of a response still open when the audited
// call returned.
var errCallReturned = errors.New("the audited call returned before the response was read to its end")

// entry returns the tool_calls entry of the exchange as far as it has
// got, and what it adds to the capsule's other sections.
func (x *exchange) entry() (tc capsule.ToolCall, r *reply) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if !x.done {
		x.stopped = true
		x.end = time.Now()
		if x.status == "" {
			x.err = errors.New("the audited call returned before the response arrived")
		} else {
			x.err = errCallReturned
		}
	}
	r = &x.reply
	var errs []string
	if x.status != "" && x.sse == nil && x.unparsed == "" {
		if err := x.parseBody(r); err != nil {
			errs = append(errs, "the answer could not be parsed: "+err.Error())
		}
	}
	if x.status != "" && !x.ok {
		msg := x.status
		if e := errorBody(x.body); e != "" {
			msg += ": " + e
		}
		errs = append(errs, msg)
		r = &reply{} // an error body has no answer
	} else if r.apiError != "" {
		errs = append(errs, r.apiError)
	}
	complete := x.eof
	if x.err == errClosed && x.sse != nil && r.final {
		// An SDK stops reading at the final event ([DONE]) and closes.
		complete, x.err = true, nil
	}
	switch {
	case x.err != nil && x.status == "":
		errs = append(errs, x.err.Error())
	case x.err != nil:
		errs = append(errs, "reading the response: "+x.err.Error())
	case x.sse != nil && !r.final:
		errs = append(errs, "the stream ended before its final event")
	}
	tc = capsule.ToolCall{
		Tool:       x.api.tool,
		Arguments:  x.args,
		Result:     r.result(),
		Success:    len(errs) == 0 && complete,
		DurationMS: x.end.Sub(x.start).Milliseconds(),
	}
	if x.unparsed != "" && x.ok {
		tc.Result = x.unparsed
	}
	if s, ok := tc.Result.(string); ok {
		tc.Result = redact(s, x.secrets)
	}
	for i, e := range errs {
		if i > 0 {
			tc.Error += "; "
		}
		tc.Error += redact(e, x.secrets)
	}
	if !tc.Success && tc.Error == "" {
		tc.Error = "the response was closed before its end"
	}
	return tc, r
}

// parseBody parses the JSON body read so far into r (a 2xx answer read
// to its end). What cannot be parsed is recorded as the text it is: a
// body past maxJSON as it begins, and one that is not the API's JSON
// with the parser's error.
func (x *exchange) parseBody(r *reply) error {
	if !x.ok || len(x.body) == 0 {
		return nil
	}
	var err error
	if x.overflow || !x.eof {
		// Not whole: not parsed.
	} else if err = x.api.parse(x.body, r); err == nil {
		return nil
	}
	r.text.Reset()
	addText(&r.text, strings.ToValidUTF8(string(x.body), "\uFFFD"))
	return err
}

// recordInto adds the exchange to c, the capsule of the audited call,
// once; it runs under the call's lock.
func (x *exchange) recordInto(c *capsule.Capsule) {
	if x.recorded {
		return
	}
	x.recorded = true
	tc, r := x.entry()
	c.Execution.ToolCalls = append(c.Execution.ToolCalls, tc)
	if c.Execution.ResourcesUsed == nil {
		c.Execution.ResourcesUsed = map[string]any{}
	}
	addCount(c.Execution.ResourcesUsed, "tokens_in", r.tokensIn)
	addCount(c.Execution.ResourcesUsed, "tokens_out", r.tokensOut)
	st := stateOf(c)
	if r.model != "" && (c.Reasoning.Model == "" || c.Reasoning.Model == st.model) {
		c.Reasoning.Model, st.model = r.model, r.model
	}
	if h, ok := x.args["prompt_hash"].(string); ok && (c.Reasoning.PromptHash == "" || c.Reasoning.PromptHash == st.promptHash) {
		c.Reasoning.PromptHash, st.promptHash = h, h
	}
	// The call keeps x (its OnEnd) until it ends: keep no body.
	x.mu.Lock()
	x.stopped, x.body, x.sse, x.reply = true, nil, nil, reply{}
	x.mu.Unlock()
}

// addCount adds n to the count m[key], when it holds a number or nothing.
func addCount(m map[string]any, key string, n int64) {
	switch v := m[key].(type) {
	case nil:
		m[key] = n
	case int64:
		m[key] = v + n
	case int:
		m[key] = int64(v) + n
	case float64:
		m[key] = v + float64(n)
	}
}

// callState is what the transport wrote into an audited call's
// reasoning section, so that it can tell a value the function set itself
// from one it may replace.
type callState struct {
	model, promptHash string
}

// states holds the callState of each capsule the transport has recorded
// into, weakly: an entry goes when its capsule is collected. Its values
// are guarded by their call's lock.
var states = struct {
	sync.Mutex
	m map[weak.Pointer[capsule.Capsule]]*callState
}{m: map[weak.Pointer[capsule.Capsule]]*callState{}}

// stateOf returns the callState of c, a capsule whose call's lock is
// held.
func stateOf(c *capsule.Capsule) *callState {
	k := weak.Make(c)
	states.Lock()
	defer states.Unlock()
	st := states.m[k]
	if st == nil {
		st = &callState{}
		states.m[k] = st
		runtime.AddCleanup(c, func(k weak.Pointer[capsule.Capsule]) {
			states.Lock()
			delete(states.m, k)
			states.Unlock()
		}, k)
	}
	return st
}

// body is a response body that parses what the caller reads.
type body struct {
	rc io.ReadCloser
	x  *exchange
}

func (b *body) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 {
		b.x.feed(p[:n])
	}
	if err != nil {
		b.x.finish(err)
	}
	return n, err
}

// Close closes the body; a non-2xx body still unread is read first (up to
// maxErrorBody) for the API's error message.
func (b *body) Close() error {
	b.x.mu.Lock()
	drain := !b.x.done && !b.x.ok
	b.x.mu.Unlock()
	if drain {
		buf := make([]byte, 4096)
		for read := 0; read < maxErrorBody; {
			n, err := b.rc.Read(buf)
			b.x.feed(buf[:n])
			read += n
			if err != nil {
				b.x.finish(err)
				break
			}
		}
	}
	err := b.rc.Close()
	b.x.finish(errClosed)
	return err
}

// errClosed ends a response that the caller closed before its end.
var errClosed = errors.New("closed by the caller before its end")

// seal seals a standalone capsule of the exchange (Standalone).
func (x *exchange) seal() {
	caps := x.t.caps
	if caps == nil {
		var err error
		if caps, err = capsule.Default(); err != nil {
			slog.ErrorContext(x.reqCtx, "capsule: llm: recording a standalone LLM call", "tool", x.api.tool, "error", err)
			return
		}
	}
	tc, r := x.entry()
	c := capsule.New(capsule.TypeChat)
	c.Domain = "chat"
	c.Trigger.Source = x.api.tool
	c.Trigger.Timestamp = x.start.UTC()
	c.Context.AgentID = "llm"
	c.Context.Environment = map[string]any{"model": x.args["model"], "call_type": x.api.tool}
	c.Reasoning.Model = r.model
	if c.Reasoning.Model == "" {
		c.Reasoning.Model, _ = x.args["model"].(string)
	}
	c.Reasoning.PromptHash, _ = x.args["prompt_hash"].(string)
	c.Execution.ToolCalls = []capsule.ToolCall{tc}
	c.Execution.DurationMS = tc.DurationMS
	c.Execution.ResourcesUsed = map[string]any{"tokens_in": r.tokensIn, "tokens_out": r.tokensOut}
	c.Outcome.Result = tc.Result
	c.Outcome.Metrics = map[string]any{"tokens_in": r.tokensIn, "tokens_out": r.tokensOut, "latency_ms": tc.DurationMS}
	if tc.Success {
		c.Outcome.Status = capsule.StatusSuccess
		c.Outcome.Summary = fmt.Sprintf("Completed: %s", c.Reasoning.Model)
	} else {
		c.Outcome.Status = capsule.StatusFailure
		c.Outcome.Summary = fmt.Sprintf("Failed: %s", c.Reasoning.Model)
		c.Outcome.Error = tc.Error
	}
	if _, err := caps.Append(context.WithoutCancel(x.reqCtx), x.t.tenant, c); err != nil {
		caps.Logger().ErrorContext(x.reqCtx, "capsule: llm: recording a standalone LLM call", "tool", x.api.tool, "error", err)
		caps.CountSwallowed() // the capsule is lost and the caller never hears of it
	}
}
