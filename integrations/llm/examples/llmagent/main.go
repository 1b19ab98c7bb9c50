// Command llmagent is an agent whose LLM calls are audited with no code in
// the agent: its OpenAI and Anthropic clients take an *http.Client whose
// transport is llm.Transport, and Answer (agent.go) is an audited
// function, so every LLM call it makes lands in its capsule (model, prompt
// hash, tokens, the answer, errors) in the zero-config default store.
//
// With OPENAI_API_KEY and ANTHROPIC_API_KEY set it calls the real APIs;
// without them it starts a local server that answers as they do, so
//
//	QUANTUMPIPES_DATA_DIR=$(mktemp -d) go run ./examples/llmagent
//
// runs anywhere (from integrations/llm). Then
// capsule inspect --db "$QUANTUMPIPES_DATA_DIR/capsules.db" --tenant llm-example --seq 0
// shows the capsule.
package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/capsule-go/capsule"
	"github.com/capsule-go/capsule/integrations/llm"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "llmagent:", err)
		os.Exit(1)
	}
}

// run asks the agent one question and prints the answer and what its
// capsule recorded.
func run(ctx context.Context, w io.Writer) error {
	defer func() {
		if caps, err := capsule.Default(); err == nil {
			caps.Close()
		}
	}()
	// The two lines: an HTTP client whose transport records LLM calls,
	// given to each SDK.
	hc := &http.Client{Transport: llm.Transport(nil)}
	oopts := []option.RequestOption{option.WithHTTPClient(hc)}
	aopts := []aoption.RequestOption{aoption.WithHTTPClient(hc)}

	if os.Getenv("OPENAI_API_KEY") == "" || os.Getenv("ANTHROPIC_API_KEY") == "" {
		srv := httptest.NewServer(fakeAPIs())
		defer srv.Close()
		fmt.Fprintf(w, "no API keys: talking to a local stand-in at %s\n", srv.URL)
		oopts = append(oopts, option.WithBaseURL(srv.URL+"/v1/"), option.WithAPIKey("sk-local"))
		aopts = append(aopts, aoption.WithBaseURL(srv.URL), aoption.WithAPIKey("sk-ant-local"))
	}
	agent := &Agent{OpenAI: openai.NewClient(oopts...), Anthropic: anthropic.NewClient(aopts...)}

	answer, err := agent.AuditedAnswer(ctx, "What is the capital of France?")
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "answer:", answer)

	caps, err := capsule.Default()
	if err != nil {
		return err
	}
	head, err := caps.Store().Head(ctx, "llm-example")
	if err != nil {
		return err
	}
	res, err := caps.Verify(ctx, "llm-example", capsule.Signatures)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "chain llm-example: %d capsules, last at sequence %d, valid=%v\n", res.CapsulesVerified, head.Sequence, res.Valid)
	return nil
}

// fakeAPIs answers as the OpenAI Chat Completions API (streaming) and the
// Anthropic Messages API do, for a run without API keys.
func fakeAPIs() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		head := `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1735689600,"model":"gpt-4o-2024-08-06",`
		for _, data := range []string{
			head + `"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null}`,
			head + `"choices":[{"index":0,"delta":{"content":"The capital of France"},"finish_reason":null}],"usage":null}`,
			head + `"choices":[{"index":0,"delta":{"content":" is Paris."},"finish_reason":null}],"usage":null}`,
			head + `"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}`,
			head + `"choices":[],"usage":{"prompt_tokens":26,"completion_tokens":8,"total_tokens":34}}`,
			`[DONE]`,
		} {
			fmt.Fprintf(w, "data: %s\n\n", data)
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("POST /v1/messages", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929",`+
			`"content":[{"type":"text","text":"OK"}],"stop_reason":"end_turn","stop_sequence":null,`+
			`"usage":{"input_tokens":31,"output_tokens":2,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}}`)
	})
	return mux
}
