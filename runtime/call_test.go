package runtime

import (
	"context"
	"errors"
	"math"
	goruntime "runtime"
	"strings"
	"sync"
	"testing"

	"github.com/capsule-go/capsule"
	"github.com/capsule-go/capsule/protocol/canonical"
	"github.com/capsule-go/capsule/storage/memory"
)

func newMemCapsules(t *testing.T) (*capsule.Capsules, *memory.Store) {
	t.Helper()
	st := memory.New()
	c, err := capsule.NewCapsules(st, capsule.WithKeyDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, st
}

// outcomes returns the stored capsules of tenant as parsed JSON.
func outcomes(t *testing.T, st *memory.Store, tenant string) []map[string]any {
	t.Helper()
	var got []map[string]any
	for r, err := range st.Scan(context.Background(), tenant, 0) {
		if err != nil {
			t.Fatal(err)
		}
		v, err := canonical.Parse(r.Data)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, v.(map[string]any))
	}
	return got
}

func field(m map[string]any, section, key string) any {
	return m[section].(map[string]any)[key]
}

// panicking runs a wrapper in the generated shape around a function that
// panics with v, and returns what the wrapper re-raised.
func panicking(site *Site, v any) (got any) {
	defer func() { got = recover() }()
	_, call := Start(context.Background(), site, "t1", "panic")
	defer call.Guard()
	panic(v)
}

func TestCallRecordsOutcome(t *testing.T) {
	c, st := newMemCapsules(t)
	site := &Site{Type: capsule.TypeTool, Source: "src", AgentID: "pkg.F", Domain: "d",
		Capsules: func() *capsule.Capsules { return c }}
	ctx := context.Background()

	cctx, call := Start(ctx, site, "t1", "do it")
	capsule.Current(cctx).Reasoning.Model = "gpt-4o"
	if err := call.Finish(strings.Repeat("é", 600), nil); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	_, call = Start(ctx, site, "t1", "fail")
	if err := call.Finish(nil, boom); err != boom {
		t.Fatalf("Finish returned %v, want the function's error itself", err)
	}
	if got := panicking(site, "oops"); got != "oops" {
		t.Fatalf("re-raised %v, want the same value", got)
	}
	got := outcomes(t, st, "t1")
	if len(got) != 3 {
		t.Fatalf("%d capsules, want 3", len(got))
	}
	if field(got[0], "outcome", "status") != "success" || len([]rune(field(got[0], "outcome", "result").(string))) != 500 {
		t.Errorf("success capsule outcome: %v", got[0]["outcome"])
	}
	if field(got[0], "reasoning", "model") != "gpt-4o" {
		t.Errorf("enrichment lost: %v", got[0]["reasoning"])
	}
	if field(got[0], "trigger", "request") != "do it" || field(got[0], "context", "agent_id") != "pkg.F" ||
		field(got[0], "trigger", "source") != "src" || got[0]["type"] != "tool" || got[0]["domain"] != "d" ||
		field(got[0], "trigger", "type") != "agent" { // what the reference's @audit records
		t.Errorf("fields: %v", got[0])
	}
	if field(got[1], "outcome", "status") != "failure" || field(got[1], "outcome", "error") != "boom" {
		t.Errorf("failure capsule outcome: %v", got[1]["outcome"])
	}
	if field(got[2], "outcome", "status") != "failure" || field(got[2], "outcome", "error") != "panic: oops" {
		t.Errorf("panic capsule outcome: %v", got[2]["outcome"])
	}
}

// A site without Source or Domain records the agent id as the source and
// the default domain.
func TestSiteDefaults(t *testing.T) {
	c, st := newMemCapsules(t)
	site := &Site{Type: capsule.TypeAgent, AgentID: "pkg.G", Capsules: func() *capsule.Capsules { return c }}
	_, call := Start(context.Background(), site, "t", "")
	call.Finish(nil, nil)
	got := outcomes(t, st, "t")
	if field(got[0], "trigger", "source") != "pkg.G" || got[0]["domain"] != "agents" {
		t.Errorf("defaults: source %v, domain %v", field(got[0], "trigger", "source"), got[0]["domain"])
	}
}

// panic(nil) is re-raised as the same *runtime.PanicNilError; Goexit is
// recorded and goes on.
func TestGuardPanicNilAndGoexit(t *testing.T) {
	c, st := newMemCapsules(t)
	site := &Site{Type: capsule.TypeAgent, AgentID: "pkg.H", Capsules: func() *capsule.Capsules { return c }}
	got := func() (got any) {
		defer func() { got = recover() }()
		_, call := Start(context.Background(), site, "t", "")
		defer call.Guard()
		panic(nil)
	}()
	if _, ok := got.(*goruntime.PanicNilError); !ok {
		t.Fatalf("panic(nil) re-raised as %T %v", got, got)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		_, call := Start(context.Background(), site, "t", "")
		defer call.Guard()
		goruntime.Goexit()
	})
	wg.Wait()
	caps := outcomes(t, st, "t")
	if len(caps) != 2 || field(caps[1], "outcome", "error") != "goexit" ||
		!strings.HasPrefix(field(caps[0], "outcome", "error").(string), "panic: ") {
		t.Fatalf("recorded %v", caps)
	}
}

func TestCallAuditFailure(t *testing.T) {
	c, st := newMemCapsules(t)
	st.Close()
	ctx := context.Background()
	swallow := &Site{Type: capsule.TypeAgent, AgentID: "pkg.F", Capsules: func() *capsule.Capsules { return c }}
	_, call := Start(ctx, swallow, "", "")
	if err := call.Finish("ok", nil); err != nil {
		t.Fatalf("swallowed audit failure returned %v", err)
	}
	if n := c.Stats().Swallowed; n != 1 {
		t.Fatalf("Stats().Swallowed = %d after one swallowed audit failure, want 1", n)
	}
	strict := &Site{Type: capsule.TypeAgent, AgentID: "pkg.F", ReturnAuditErrors: true,
		Capsules: func() *capsule.Capsules { return c }}
	_, call = Start(ctx, strict, "", "")
	if err := call.Finish("ok", nil); err == nil {
		t.Fatal("audit failure not returned with swallow_errors=false")
	}
	boom := errors.New("boom")
	_, call = Start(ctx, strict, "", "")
	err := call.Finish(nil, boom)
	if !errors.Is(err, boom) || err == boom {
		t.Fatalf("Finish = %v, want the function's error joined with the audit failure", err)
	}
	if n := c.Stats().Swallowed; n != 1 {
		t.Fatalf("Stats().Swallowed = %d, want 1: a returned audit error is not swallowed", n)
	}
}

// After the call has returned, the context no longer hands out its
// capsule: a goroutine that outlives the call cannot change a capsule that
// is sealed.
func TestCurrentAfterCallEnded(t *testing.T) {
	c, _ := newMemCapsules(t)
	site := &Site{Type: capsule.TypeAgent, AgentID: "pkg.F", Capsules: func() *capsule.Capsules { return c }}
	cctx, call := Start(context.Background(), site, "", "")
	inCall, err := capsule.FromContext(cctx)
	if err != nil {
		t.Fatal(err)
	}
	call.Finish(nil, nil)
	if _, err := capsule.FromContext(cctx); !errors.Is(err, capsule.ErrCallEnded) {
		t.Fatalf("FromContext after the call: %v, want ErrCallEnded", err)
	}
	if capsule.Current(cctx) == inCall {
		t.Fatal("Current after the call returned the sealed capsule")
	}
	if _, err := capsule.FromContext(context.Background()); !errors.Is(err, capsule.ErrNoActiveCapsule) {
		t.Errorf("FromContext outside a call: %v", err)
	}
}

func TestJSONSafe(t *testing.T) {
	long := strings.Repeat("x", 600)
	type point struct{ X, Y int }
	for _, c := range []struct {
		in   any
		want string
	}{
		{[]string{"a", long}, `["a","` + long[:500] + `"]`},
		{point{1, 2}, `{"X":1,"Y":2}`},
		{math.NaN(), `"NaN"`},
		{errors.New("boom"), `"boom"`},
		{"bad \xff utf8", `"bad ` + "\uFFFD" + ` utf8"`},
		{panicky{}, `"unrecordable result: no"`},
	} {
		b, err := canonical.Append(nil, JSONSafe(c.in))
		if err != nil || string(b) != c.want {
			t.Errorf("JSONSafe(%#v) = %s (%v), want %s", c.in, b, err, c.want)
		}
	}
}

type panicky struct{}

func (panicky) String() string { panic("no") }

// Goroutines of one call enrich its capsule at once through
// capsule.Update; work still in flight when the function returns records
// through capsule.OnEnd before the capsule is sealed, and neither is
// accepted once the call has ended.
func TestUpdateAndOnEnd(t *testing.T) {
	c, st := newMemCapsules(t)
	site := &Site{Type: capsule.TypeAgent, AgentID: "pkg.F", Capsules: func() *capsule.Capsules { return c }}
	cctx, call := Start(context.Background(), site, "", "")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := capsule.Update(cctx, func(c *capsule.Capsule) {
				c.Execution.ToolCalls = append(c.Execution.ToolCalls, capsule.ToolCall{Tool: "t", DurationMS: int64(i)})
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if err := capsule.OnEnd(cctx, func(*capsule.Capsule) { panic("boom") }); err != nil {
		t.Fatal(err)
	}
	if err := capsule.OnEnd(cctx, func(c *capsule.Capsule) { c.Outcome.Summary = "flushed" }); err != nil {
		t.Fatal(err)
	}
	if err := call.Finish("ok", nil); err != nil {
		t.Fatal(err)
	}
	if err := capsule.Update(cctx, func(*capsule.Capsule) { t.Error("Update ran after the call ended") }); !errors.Is(err, capsule.ErrCallEnded) {
		t.Errorf("Update after the call: %v, want ErrCallEnded", err)
	}
	if err := capsule.OnEnd(cctx, func(*capsule.Capsule) {}); !errors.Is(err, capsule.ErrCallEnded) {
		t.Errorf("OnEnd after the call: %v, want ErrCallEnded", err)
	}
	if err := capsule.Update(context.Background(), func(*capsule.Capsule) {}); !errors.Is(err, capsule.ErrNoActiveCapsule) {
		t.Errorf("Update outside a call: %v, want ErrNoActiveCapsule", err)
	}
	got := outcomes(t, st, "")
	if len(got) != 1 {
		t.Fatalf("%d capsules, want 1", len(got))
	}
	if n := len(field(got[0], "execution", "tool_calls").([]any)); n != 8 {
		t.Errorf("%d tool calls, want 8", n)
	}
	if s := field(got[0], "outcome", "summary"); s != "flushed" {
		t.Errorf("outcome.summary = %v, want what OnEnd wrote before the seal", s)
	}
}
