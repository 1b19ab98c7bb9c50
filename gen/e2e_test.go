package gen

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/capsule-go/capsule/internal/testmod"
)

// e2eReport is what testdata/e2e/cmd/e2e prints.
type e2eReport struct {
	Obs      map[string]any `json:"obs"`
	Capsules map[string][]struct {
		Sequence int64          `json:"sequence"`
		Data     map[string]any `json:"data"`
	} `json:"capsules"`
	Verify map[string]struct {
		Valid            bool   `json:"valid"`
		CapsulesVerified int64  `json:"capsules_verified"`
		Error            string `json:"error"`
	} `json:"verify"`
}

// copyTree reads every file under dir into a map keyed by slash path.
func copyTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := make(map[string]string)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		files[filepath.ToSlash(rel)] = read(t, path)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestEndToEnd generates the wrappers of testdata/e2e/audited, builds the
// program testdata/e2e/cmd/e2e that calls each of them once or twice
// against the zero-config default store in a temporary data directory,
// and checks what the calls returned and the capsules the store holds.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a program")
	}
	dir := testmod.New(t, copyTree(t, filepath.Join("testdata", "e2e")))
	if _, err := Generate(context.Background(), Config{Dir: dir, Patterns: []string{"./..."}}); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "e2e")
	if out, err := goCmd(t, dir, nil, "build", "-o", bin, "./cmd/e2e"); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	data := t.TempDir()
	cmd := exec.Command(bin)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CAPSULE_URL=") && !strings.HasPrefix(kv, "QUANTUMPIPES_DATA_DIR=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "QUANTUMPIPES_DATA_DIR="+data)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("running the program: %v\n%s", err, stderr.String())
	}
	var rep e2eReport
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("decoding the report: %v\n%s", err, out)
	}

	// What the callers saw: results, errors and panics unchanged.
	wantObs := map[string]any{
		"outside_no_active": true,
		"greet":             []any{"hello ada", true},
		"greet2":            "hello bob",
		"fail":              []any{7.0, "failing because reasons: sentinel", true},
		"panic_same_value":  true,
		"panic_nil":         true,
		"goexit":            true,
		"enrich":            []any{map[string]any{"answer": "WHY", "n": 3.0}, true},
		"act":               []any{1.0, true, 1.0},
		"name":              "co-acme",
		"nested_nil":        true,
		"nested_nil_inner":  false,
		"nested":            false,
		"stringer_panics":   "called",
		"stringer":          "called",
		"numbered":          14.0,
		"identity":          []any{1.0, 2.0},
		"join":              "a-b",
		// swallow_errors=false: the audit failure comes back through the
		// error result, joined with the function's own error.
		"strict_ok":   []any{42.0, true, true},
		"strict_fail": []any{0.0, true, true},
		// swallow_errors=true: the audit failure is only logged.
		"lenient": []any{43.0, true},
		"long":    600.0,
		// Error results of other types than error come back unchanged.
		"concrete_fail": []any{0.0, true},
		"concrete_ok":   []any{1.0, true},
		"concrete_only": []any{9.0, true},
		"iface_fail":    []any{"", 8.0},
		"iface_ok":      []any{"ok", true},
	}
	for k, want := range wantObs {
		if got := rep.Obs[k]; !reflect.DeepEqual(got, want) {
			t.Errorf("observation %s = %#v, want %#v", k, got, want)
		}
	}

	// Every chain verifies, signatures included.
	for tenant, v := range rep.Verify {
		if !v.Valid || v.CapsulesVerified != int64(len(rep.Capsules[tenant])) {
			t.Errorf("chain %q: valid %v, %d verified of %d: %s", tenant, v.Valid, v.CapsulesVerified, len(rep.Capsules[tenant]), v.Error)
		}
	}

	const pkg = "example.com/m/audited."
	type want struct {
		tenant, agentID, typ, request, status string
		fields                                map[string]any // dotted paths into the content
	}
	wants := []want{
		{"site-1", pkg + "Greet", "agent", "ada", "success", map[string]any{
			"outcome.result": "hello ada", "outcome.error": nil, "trigger.source": pkg + "Greet", "domain": "agents", "sequence": 0.0,
		}},
		{"site-1", pkg + "Greet", "agent", "bob", "success", map[string]any{"sequence": 1.0}},
		{"", pkg + "Sleep", "tool", "30", "success", nil},
		{"errors", pkg + "Fail", "tool", "reasons", "failure", map[string]any{
			"outcome.error": "failing because reasons: sentinel", "outcome.result": nil,
		}},
		{"panics", pkg + "Boom", "kill", "", "failure", map[string]any{"outcome.error": "panic: &{1}"}},
		{"panics", pkg + "Boom", "kill", "", "failure", map[string]any{"outcome.error": "panic: panic called with nil argument"}},
		{"panics", pkg + "Exit", "system", "", "failure", map[string]any{"outcome.error": "goexit"}},
		{"enrich", pkg + "Enrich", "chat", "why", "success", map[string]any{
			"domain": "conversations", "reasoning.model": "model-x", "reasoning.confidence": 0.75,
			"outcome.result": map[string]any{"answer": "WHY", "n": 3.0},
		}},
		{"acme", pkg + "(*Agent).Act", "agent", "work", "success", map[string]any{
			"trigger.source": "agent runner", "outcome.result": 1.0,
		}},
		{"values", pkg + "Agent.Name", "agent", "co-", "success", map[string]any{"outcome.result": "co-acme"}},
		{"", pkg + "Nested", "agent", "", "success", map[string]any{"outcome.result": true}},
		{"", pkg + "Nested", "agent", "", "success", map[string]any{"outcome.result": false}},
		{"deep", pkg + "Nested", "agent", "deep", "success", nil},
		{"", pkg + "Stringer", "agent", "", "success", map[string]any{"outcome.result": "called"}},
		{"bad-name", pkg + "Stringer", "agent", "bad-name", "success", nil},
		{"7", pkg + "Numbered", "agent", "7", "success", map[string]any{"outcome.result": 14.0}},
		{"from-func", pkg + "FromFunc", "workflow", "step-1", "success", nil},
		{"site-b", pkg + "FromArgs", "workflow", "2", "success", nil},
		{"generic", pkg + "Identity", "tool", "", "success", map[string]any{"outcome.result": []any{1.0, 2.0}}},
		{"generic", pkg + "Join", "tool", "-", "success", map[string]any{"outcome.result": "a-b"}},
		{"long", pkg + "Long", "tool", "", "success", nil},
		// A non-nil error result of a concrete or other interface type is
		// a failure with its text; a nil one is success.
		{"errtypes", pkg + "Concrete", "tool", "true", "failure", map[string]any{"outcome.error": "code 7", "outcome.result": nil}},
		{"errtypes", pkg + "Concrete", "tool", "false", "success", map[string]any{"outcome.error": nil, "outcome.result": 1.0}},
		{"errtypes", pkg + "ConcreteOnly", "tool", "true", "failure", map[string]any{"outcome.error": "code 9"}},
		{"errtypes", pkg + "ConcreteOnly", "tool", "false", "success", map[string]any{"outcome.error": nil, "outcome.result": nil}},
		{"errtypes", pkg + "Iface", "tool", "true", "failure", map[string]any{"outcome.error": "code 8", "outcome.result": nil}},
		{"errtypes", pkg + "Iface", "tool", "false", "success", map[string]any{"outcome.error": nil, "outcome.result": "ok"}},
	}
	used := make(map[string]bool) // tenant/sequence already matched
	for _, w := range wants {
		var found map[string]any
		for _, c := range rep.Capsules[w.tenant] {
			key := fmt.Sprintf("%s/%d", w.tenant, c.Sequence)
			if used[key] || get(c.Data, "context.agent_id") != w.agentID || get(c.Data, "trigger.request") != w.request {
				continue
			}
			ok := true
			for path, v := range w.fields {
				if path != "sequence" && !reflect.DeepEqual(get(c.Data, path), v) {
					ok = false
				}
			}
			if ok {
				used[key] = true
				found = c.Data
				break
			}
		}
		if found == nil {
			t.Errorf("no capsule in chain %q for %s with request %q and %v; chain:\n%s", w.tenant, w.agentID, w.request, w.fields, dump(rep.Capsules[w.tenant]))
			continue
		}
		if got := get(found, "type"); got != w.typ {
			t.Errorf("%s: type %v, want %s", w.agentID, got, w.typ)
		}
		if got := get(found, "outcome.status"); got != w.status {
			t.Errorf("%s: status %v, want %s", w.agentID, got, w.status)
		}
		if seq, ok := w.fields["sequence"]; ok && get(found, "sequence") != seq {
			t.Errorf("%s: sequence %v, want %v", w.agentID, get(found, "sequence"), seq)
		}
	}
	total := 0
	for _, chain := range rep.Capsules {
		total += len(chain)
	}
	if total != len(wants) {
		t.Errorf("the store holds %d capsules, want %d (the Closed store's calls must not land in the default)", total, len(wants))
	}

	// Durations come from the monotonic clock around the call.
	for _, c := range rep.Capsules[""] {
		if get(c.Data, "context.agent_id") == pkg+"Sleep" {
			if d, _ := get(c.Data, "execution.duration_ms").(float64); d < 30 {
				t.Errorf("Sleep(30ms) recorded duration_ms %v", d)
			}
		}
	}
	// String results are cut at 500 characters.
	for _, c := range rep.Capsules["long"] {
		if r, _ := get(c.Data, "outcome.result").(string); len(r) != 500 {
			t.Errorf("Long's result is recorded with %d characters, want 500", len(r))
		}
	}
}

// get reads a dotted path in decoded JSON.
func get(m map[string]any, path string) any {
	var v any = m
	for _, k := range strings.Split(path, ".") {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

func dump(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}
