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

// TestRun runs the example against the local stand-in and a fresh data
// directory, and checks the capsule its audited call left: both LLM calls,
// their tokens, and the model of the last.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("QUANTUMPIPES_DATA_DIR", dir)
	t.Setenv("CAPSULE_URL", "")
	t.Setenv("OPENAI_API_KEY", "")
	t.Setenv("ANTHROPIC_API_KEY", "")
	ctx := context.Background()
	var out strings.Builder
	if err := run(ctx, &out); err != nil {
		t.Fatal(err)
	}
	want := regexp.MustCompile(`^no API keys: talking to a local stand-in at http://127\.0\.0\.1:\d+
answer: The capital of France is Paris\. \(checked: OK\)
chain llm-example: 1 capsules, last at sequence 0, valid=true
$`)
	if !want.MatchString(out.String()) {
		t.Errorf("output:\n%s", out.String())
	}

	caps, err := capsule.Open(ctx, filepath.Join(dir, "capsules.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer caps.Close()
	for rec, err := range caps.Store().Scan(ctx, "llm-example", 0) {
		if err != nil {
			t.Fatal(err)
		}
		var c struct {
			Reasoning struct {
				Model      string `json:"model"`
				PromptHash string `json:"prompt_hash"`
			} `json:"reasoning"`
			Execution struct {
				ToolCalls []struct {
					Tool      string         `json:"tool"`
					Arguments map[string]any `json:"arguments"`
					Result    string         `json:"result"`
					Success   bool           `json:"success"`
				} `json:"tool_calls"`
				ResourcesUsed map[string]int `json:"resources_used"`
			} `json:"execution"`
		}
		if err := json.Unmarshal(rec.Data, &c); err != nil {
			t.Fatal(err)
		}
		tcs := c.Execution.ToolCalls
		if len(tcs) != 2 || tcs[0].Tool != "openai.chat.completions" || tcs[1].Tool != "anthropic.messages" ||
			tcs[0].Result != "The capital of France is Paris." || tcs[1].Result != "OK" ||
			tcs[0].Arguments["stream"] != true || !tcs[0].Success || !tcs[1].Success {
			t.Errorf("tool calls %+v", tcs)
		}
		if c.Reasoning.Model != "claude-sonnet-4-5-20250929" || c.Reasoning.PromptHash != tcs[1].Arguments["prompt_hash"] {
			t.Errorf("reasoning %+v", c.Reasoning)
		}
		if r := c.Execution.ResourcesUsed; r["tokens_in"] != 57 || r["tokens_out"] != 10 {
			t.Errorf("resources_used %v", r)
		}
	}
}
