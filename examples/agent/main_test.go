package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/capsule-go/capsule"
)

// TestRun runs the example against a fresh data directory and checks its
// output and the capsules its audited calls left in the default store.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("QUANTUMPIPES_DATA_DIR", dir)
	t.Setenv("CAPSULE_URL", "")
	ctx := context.Background()
	var out strings.Builder
	if err := run(ctx, &out); err != nil {
		t.Fatal(err)
	}
	want := regexp.MustCompile(`^site-a: "summarize the quarterly report": summarize the quarterly report: doc-1, doc-7
site-a: "refund order 1234": refund order 1234: doc-1, doc-7
site-b: "find the unknown document": denied: no results for "find the unknown document": action denied

chains in .*capsules\.db:
  site-a           5 capsules, head [0-9a-f]{16}…, valid \(signatures\)
  site-b           2 capsules, head [0-9a-f]{16}…, valid \(signatures\)
$`)
	if !want.MatchString(out.String()) {
		t.Errorf("output:\n%s", out.String())
	}

	caps, err := capsule.Open(ctx, filepath.Join(dir, "capsules.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer caps.Close()
	chain := func(tenant string) []map[string]any {
		var docs []map[string]any
		for rec, err := range caps.Store().Scan(ctx, tenant, 0) {
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal(rec.Data, &m); err != nil {
				t.Fatal(err)
			}
			docs = append(docs, m)
		}
		return docs
	}
	field := func(m map[string]any, path string) any {
		var v any = m
		for _, k := range strings.Split(path, ".") {
			v = v.(map[string]any)[k]
		}
		return v
	}
	const pkg = "github.com/capsule-go/capsule/examples/agent."
	// The inner calls are sealed before the call that made them returns.
	wantA := []struct{ agent, status, request string }{
		{pkg + "Search", "success", "summarize the quarterly report"},
		{pkg + "(*Agent).Run", "success", "summarize the quarterly report"},
		{pkg + "Search", "success", "refund order 1234"},
		{pkg + "Approve", "success", "refund"},
		{pkg + "(*Agent).Run", "success", "refund order 1234"},
	}
	a := chain("site-a")
	if len(a) != len(wantA) {
		t.Fatalf("site-a has %d capsules, want %d", len(a), len(wantA))
	}
	for i, w := range wantA {
		if got := []any{field(a[i], "context.agent_id"), field(a[i], "outcome.status"), field(a[i], "trigger.request")}; got[0] != w.agent || got[1] != w.status || got[2] != w.request {
			t.Errorf("site-a[%d] = %v, want %v", i, got, w)
		}
	}
	// What the functions added through capsule.Current(ctx).
	for path, want := range map[string]any{
		"reasoning.model":           "example-model-1",
		"reasoning.selected_option": "answer",
		"reasoning.confidence":      0.9,
		"context.session_id":        "example-session",
		"outcome.result":            "summarize the quarterly report: doc-1, doc-7",
	} {
		if got := field(a[1], path); got != want {
			t.Errorf("Run capsule: %s = %v, want %v", path, got, want)
		}
	}
	if got := field(a[3], "authority.policy_reference"); got != "refunds-under-100" {
		t.Errorf("Approve capsule: authority.policy_reference = %v", got)
	}
	b := chain("site-b")
	if len(b) != 2 || field(b[1], "outcome.status") != "failure" ||
		field(b[1], "outcome.error") != `no results for "find the unknown document": action denied` ||
		field(b[1], "reasoning.selected_option") != "escalate" {
		t.Errorf("site-b chain: %v", b)
	}
}
