package runtime

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/capsule-go/capsule"
	"github.com/capsule-go/capsule/protocol/canonical"
	"github.com/capsule-go/capsule/storage/memory"
)

type requestIDKey struct{}

// Call hooks see the audited call's context and fill what the function
// left empty, before the capsule is sealed; a panicking hook is logged and
// the capsule still recorded.
func TestCallHook(t *testing.T) {
	st := memory.New()
	var logs bytes.Buffer
	var seen []string
	c, err := capsule.NewCapsules(st, capsule.WithKeyDir(t.TempDir()),
		capsule.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))),
		capsule.WithCallHook(func(ctx context.Context, cp *capsule.Capsule) {
			if id, ok := ctx.Value(requestIDKey{}).(string); ok && cp.Trigger.CorrelationID == "" {
				cp.Trigger.CorrelationID = id
			}
			seen = append(seen, cp.ID)
		}),
		capsule.WithCallHook(func(ctx context.Context, cp *capsule.Capsule) {
			if cp.Trigger.Request == "panic in hook" {
				panic("hook failed")
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	site := &Site{Type: capsule.TypeTool, AgentID: "pkg.F", Capsules: func() *capsule.Capsules { return c }}
	ctx := context.WithValue(context.Background(), requestIDKey{}, "req-42")

	_, call := Start(ctx, site, "", "from context")
	if err := call.Finish("ok", nil); err != nil {
		t.Fatal(err)
	}
	cctx, call := Start(ctx, site, "", "function sets its own")
	capsule.Current(cctx).Trigger.CorrelationID = "mine"
	if err := call.Finish("ok", nil); err != nil {
		t.Fatal(err)
	}
	_, call = Start(context.Background(), site, "", "no id in context")
	if err := call.Finish("ok", nil); err != nil {
		t.Fatal(err)
	}
	_, call = Start(ctx, site, "", "panic in hook")
	if err := call.Finish("ok", nil); err != nil {
		t.Fatal(err)
	}
	// Capsules appended by hand do not run the hooks.
	if _, err := c.Append(ctx, "", capsule.New(capsule.TypeChat)); err != nil {
		t.Fatal(err)
	}

	var got []any
	var ids []string
	for r, err := range st.Scan(ctx, "", 0) {
		if err != nil {
			t.Fatal(err)
		}
		v, _ := canonical.Parse(r.Data)
		got = append(got, v.(map[string]any)["trigger"].(map[string]any)["correlation_id"])
		ids = append(ids, r.ID)
	}
	want := []any{"req-42", "mine", nil, "req-42", nil}
	if len(got) != len(want) {
		t.Fatalf("%d capsules, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("capsule %d: correlation_id %v, want %v", i, got[i], want[i])
		}
	}
	if strings.Join(seen, ",") != strings.Join(ids[:4], ",") {
		t.Errorf("hook saw capsules %v, the audited calls recorded %v", seen, ids[:4])
	}
	if !strings.Contains(logs.String(), "call hook panicked") || !strings.Contains(logs.String(), "hook failed") {
		t.Errorf("the hook's panic was not logged: %s", logs.String())
	}
}
