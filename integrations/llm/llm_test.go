package llm

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"

	"github.com/capsule-go/capsule"
)

// Answers as the APIs document them.
const (
	chatJSON = `{"id":"chatcmpl-1","object":"chat.completion","created":1735689600,"model":"gpt-4o-2024-08-06",` +
		`"choices":[{"index":0,"message":{"role":"assistant","content":"Paris.","refusal":null},"logprobs":null,"finish_reason":"stop"}],` +
		`"usage":{"prompt_tokens":23,"completion_tokens":2,"total_tokens":25}}`
	chatToolJSON = `{"id":"chatcmpl-3","object":"chat.completion","created":1735689600,"model":"gpt-4o-2024-08-06",` +
		`"choices":[{"index":0,"message":{"role":"assistant","content":null,"refusal":null,"tool_calls":[` +
		`{"id":"call_abc","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},"logprobs":null,"finish_reason":"tool_calls"}],` +
		`"usage":{"prompt_tokens":50,"completion_tokens":15,"total_tokens":65}}`
	chunkHead = `{"id":"chatcmpl-2","object":"chat.completion.chunk","created":1735689600,"model":"gpt-4o-2024-08-06",`

	openai429 = `{"error":{"message":"Rate limit reached for gpt-4o in organization org-x on requests per min (RPM): Limit 3, Used 3, Requested 1.","type":"requests","param":null,"code":"rate_limit_exceeded"}}`
	openai500 = `{"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}}`

	messageJSON = `{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929",` +
		`"content":[{"type":"text","text":"Paris."}],"stop_reason":"end_turn","stop_sequence":null,` +
		`"usage":{"input_tokens":12,"output_tokens":4,"cache_creation_input_tokens":0,"cache_read_input_tokens":3}}`
	anthropic429 = `{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"}}`
	anthropic500 = `{"type":"error","error":{"type":"api_error","message":"Internal server error"}}`

	responseJSON = `{"id":"resp_1","object":"response","created_at":1735689600,"status":"completed","model":"gpt-4.1-2025-04-14",` +
		`"output":[{"type":"message","id":"msg_1","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Paris.","annotations":[]}]}],` +
		`"usage":{"input_tokens":10,"input_tokens_details":{"cached_tokens":0},"output_tokens":3,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":13}}`
)

// chatStream is a streamed chat completion with the usage chunk that
// stream_options.include_usage asks for.
var chatStream = []string{
	chunkHead + `"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null}`,
	chunkHead + `"choices":[{"index":0,"delta":{"content":"Par"},"finish_reason":null}],"usage":null}`,
	chunkHead + `"choices":[{"index":0,"delta":{"content":"is."},"finish_reason":null}],"usage":null}`,
	chunkHead + `"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}`,
	chunkHead + `"choices":[],"usage":{"prompt_tokens":23,"completion_tokens":2,"total_tokens":25}}`,
	`[DONE]`,
}

// messageStream is a streamed Anthropic message that says something and
// asks for a tool.
var messageStream = []string{
	`message_start|{"type":"message_start","message":{"id":"msg_2","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":472,"output_tokens":2,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}}}`,
	`content_block_start|{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`,
	`ping|{"type": "ping"}`,
	`content_block_delta|{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Let me check"}}`,
	`content_block_delta|{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" the weather."}}`,
	`content_block_stop|{"type":"content_block_stop","index":0}`,
	`content_block_start|{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01","name":"get_weather","input":{}}}`,
	`content_block_delta|{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}`,
	`content_block_delta|{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"city\": \"Par"}}`,
	`content_block_delta|{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"is\"}"}}`,
	`content_block_stop|{"type":"content_block_stop","index":1}`,
	`message_delta|{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":89}}`,
	`message_stop|{"type":"message_stop"}`,
}

// responseStream is a streamed Responses API answer.
var responseStream = []string{
	`response.created|{"type":"response.created","sequence_number":0,"response":{"id":"resp_2","object":"response","created_at":1735689600,"status":"in_progress","model":"gpt-4.1-2025-04-14","output":[],"usage":null}}`,
	`response.output_text.delta|{"type":"response.output_text.delta","sequence_number":1,"item_id":"msg_1","output_index":0,"content_index":0,"delta":"Par"}`,
	`response.output_text.delta|{"type":"response.output_text.delta","sequence_number":2,"item_id":"msg_1","output_index":0,"content_index":0,"delta":"is."}`,
	`response.completed|{"type":"response.completed","sequence_number":3,"response":` + responseJSON + `}`,
}

func chatParams() openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{
		Model: "gpt-4o",
		Messages: []openai.ChatCompletionMessageParamUnion{
			openai.SystemMessage("You answer in one word. Température: 0.7 — 日本語 😀"),
			openai.UserMessage("What is the capital of France?"),
		},
		Temperature: openai.Float(0.7),
	}
}

func messageParams() anthropic.MessageNewParams {
	return anthropic.MessageNewParams{
		Model:     "claude-sonnet-4-5",
		MaxTokens: 1024,
		System:    []anthropic.TextBlockParam{{Text: "You answer in one word."}},
		Messages: []anthropic.MessageParam{
			anthropic.NewUserMessage(anthropic.NewTextBlock("What is the weather in Paris? ☀️")),
		},
	}
}

func TestOpenAIChat(t *testing.T) {
	f := newFakeAPI(t, jsonAnswer(200, chatJSON))
	client := openaiClient(f)
	var answer string
	c := audited(t, func(ctx context.Context) error {
		res, err := client.Chat.Completions.New(ctx, chatParams())
		if err != nil {
			return err
		}
		answer = res.Choices[0].Message.Content
		return nil
	})
	if answer != "Paris." {
		t.Errorf("the SDK read %q", answer)
	}
	hash := pythonHash(t, f.body(0), "messages")
	tcs := entries(t, c, 1)
	wantEntry(t, tcs[0], "openai.chat.completions",
		map[string]any{"model": "gpt-4o", "message_count": 2, "stream": false, "prompt_hash": hash}, "Paris.", true, "")
	want := map[string]any{
		"reasoning.model": "gpt-4o-2024-08-06", "reasoning.prompt_hash": hash,
		"execution.resources_used.tokens_in": "23", "execution.resources_used.tokens_out": "2",
	}
	checkFields(t, c, want)
}

// checkFields checks values at dotted paths of a parsed capsule.
func checkFields(t *testing.T, c map[string]any, want map[string]any) {
	t.Helper()
	for k, v := range want {
		if got := get(c, k); fmtv(got) != fmtv(v) {
			t.Errorf("%s = %v, want %v", k, got, v)
		}
	}
}

func fmtv(v any) string { return fmt.Sprint(v) }

// The stream reaches the SDK event by event: the server sends the rest
// only once the SDK has seen the first content, and the usage of the
// final chunk is recorded.
func TestOpenAIChatStream(t *testing.T) {
	next := make(chan struct{})
	f := newFakeAPI(t, gatedStream(next))
	client := openaiClient(f)
	var text strings.Builder
	c := audited(t, func(ctx context.Context) error {
		ctx, cancel := bounded(ctx)
		defer cancel()
		p := chatParams()
		p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
		s := client.Chat.Completions.NewStreaming(ctx, p)
		defer s.Close()
		for s.Next() {
			ch := s.Current()
			if len(ch.Choices) > 0 {
				text.WriteString(ch.Choices[0].Delta.Content)
				if ch.Choices[0].Delta.Content == "Par" {
					close(next) // seen before the server sent the rest
				}
			}
		}
		return s.Err()
	})
	if text.String() != "Paris." {
		t.Errorf("the SDK read %q", text.String())
	}
	hash := pythonHash(t, f.body(0), "messages")
	tcs := entries(t, c, 1)
	wantEntry(t, tcs[0], "openai.chat.completions",
		map[string]any{"model": "gpt-4o", "message_count": 2, "stream": true, "prompt_hash": hash}, "Paris.", true, "")
	checkFields(t, c, map[string]any{
		"reasoning.model": "gpt-4o-2024-08-06", "reasoning.prompt_hash": hash,
		"execution.resources_used.tokens_in": "23", "execution.resources_used.tokens_out": "2",
	})
}

// The SDK retries a 429 and a 500: each attempt is an entry, with the
// status and the API's message.
func TestOpenAIRetries(t *testing.T) {
	f := newFakeAPI(t,
		jsonAnswer(429, openai429, "Retry-After-Ms", "0"),
		jsonAnswer(500, openai500, "Retry-After-Ms", "0"),
		jsonAnswer(200, chatToolJSON))
	client := openaiClient(f)
	var calls []openai.ChatCompletionMessageToolCallUnion
	c := audited(t, func(ctx context.Context) error {
		res, err := client.Chat.Completions.New(ctx, chatParams())
		if err != nil {
			return err
		}
		calls = res.Choices[0].Message.ToolCalls
		return nil
	})
	if len(calls) != 1 || calls[0].Function.Name != "get_weather" {
		t.Errorf("the SDK read tool calls %+v", calls)
	}
	if f.requests() != 3 {
		t.Fatalf("the server got %d requests, want 3", f.requests())
	}
	tcs := entries(t, c, 3)
	args := map[string]any{"model": "gpt-4o", "message_count": 2, "stream": false}
	wantEntry(t, tcs[0], "openai.chat.completions", args, nil, false,
		"429 Too Many Requests: requests: Rate limit reached for gpt-4o in organization org-x")
	wantEntry(t, tcs[1], "openai.chat.completions", args, nil, false,
		"500 Internal Server Error: server_error: The server had an error while processing your request.")
	wantEntry(t, tcs[2], "openai.chat.completions", args, `[tool_call] get_weather {"city":"Paris"}`, true, "")
	checkFields(t, c, map[string]any{
		"reasoning.model":                    "gpt-4o-2024-08-06",
		"execution.resources_used.tokens_in": "50", "execution.resources_used.tokens_out": "15",
	})
}

func TestAnthropicMessages(t *testing.T) {
	f := newFakeAPI(t,
		jsonAnswer(429, anthropic429, "Retry-After-Ms", "0"),
		jsonAnswer(500, anthropic500, "Retry-After-Ms", "0"),
		jsonAnswer(200, messageJSON))
	client := anthropicClient(f)
	var answer string
	c := audited(t, func(ctx context.Context) error {
		m, err := client.Messages.New(ctx, messageParams())
		if err != nil {
			return err
		}
		answer = m.Content[0].Text
		return nil
	})
	if answer != "Paris." {
		t.Errorf("the SDK read %q", answer)
	}
	hash := pythonHash(t, f.body(2), "messages")
	system := pythonHash(t, f.body(2), "system")
	tcs := entries(t, c, 3)
	args := map[string]any{"model": "claude-sonnet-4-5", "message_count": 1, "stream": false, "prompt_hash": hash, "system_hash": system}
	wantEntry(t, tcs[0], "anthropic.messages", args, nil, false,
		"429 Too Many Requests: rate_limit_error: Number of request tokens has exceeded your per-minute rate limit")
	wantEntry(t, tcs[1], "anthropic.messages", args, nil, false, "500 Internal Server Error: api_error: Internal server error")
	wantEntry(t, tcs[2], "anthropic.messages", args, "Paris.", true, "")
	checkFields(t, c, map[string]any{
		"reasoning.model": "claude-sonnet-4-5-20250929", "reasoning.prompt_hash": hash,
		"execution.resources_used.tokens_in": "15", "execution.resources_used.tokens_out": "4",
	})
}

func TestAnthropicStreamToolUse(t *testing.T) {
	f := newFakeAPI(t, sseAnswer(messageStream...))
	client := anthropicClient(f)
	var acc anthropic.Message
	c := audited(t, func(ctx context.Context) error {
		s := client.Messages.NewStreaming(ctx, messageParams())
		defer s.Close()
		for s.Next() {
			if err := acc.Accumulate(s.Current()); err != nil {
				return err
			}
		}
		return s.Err()
	})
	if len(acc.Content) != 2 || acc.Content[1].Name != "get_weather" {
		t.Errorf("the SDK accumulated %+v", acc.Content)
	}
	hash := pythonHash(t, f.body(0), "messages")
	tcs := entries(t, c, 1)
	wantEntry(t, tcs[0], "anthropic.messages",
		map[string]any{"model": "claude-sonnet-4-5", "message_count": 1, "stream": true, "prompt_hash": hash},
		"Let me check the weather.\n[tool_call] get_weather {\"city\": \"Paris\"}", true, "")
	checkFields(t, c, map[string]any{
		"reasoning.model":                    "claude-sonnet-4-5-20250929",
		"execution.resources_used.tokens_in": "472", "execution.resources_used.tokens_out": "89",
	})
}

// A string input hashes as the one user message it stands for: the same
// as the Chat Completions messages [{"role":"user","content":…}].
func TestOpenAIResponses(t *testing.T) {
	f := newFakeAPI(t, jsonAnswer(200, responseJSON), sseAnswer(responseStream...))
	client := openaiClient(f)
	var texts []string
	c := audited(t, func(ctx context.Context) error {
		p := responses.ResponseNewParams{
			Model:        "gpt-4.1",
			Instructions: openai.String("Answer in one word."),
			Input:        responses.ResponseNewParamsInputUnion{OfString: openai.String("What is the capital of France?")},
		}
		res, err := client.Responses.New(ctx, p)
		if err != nil {
			return err
		}
		texts = append(texts, res.OutputText())
		s := client.Responses.NewStreaming(ctx, p)
		defer s.Close()
		for s.Next() {
			if d := s.Current().Delta; d != "" {
				texts = append(texts, d)
			}
		}
		return s.Err()
	})
	if strings.Join(texts, "|") != "Paris.|Par|is." {
		t.Errorf("the SDK read %q", texts)
	}
	hash, err := PromptHash([]byte(`[{"role":"user","content":"What is the capital of France?"}]`))
	if err != nil {
		t.Fatal(err)
	}
	if want := pythonHash(t, []byte(`{"m":[{"role":"user","content":"What is the capital of France?"}]}`), "m"); hash != want {
		t.Fatalf("hash %s, Python's %s", hash, want)
	}
	system := pythonHash(t, f.body(0), "instructions")
	tcs := entries(t, c, 2)
	args := map[string]any{"model": "gpt-4.1", "message_count": 1, "stream": false, "prompt_hash": hash, "system_hash": system}
	wantEntry(t, tcs[0], "openai.responses", args, "Paris.", true, "")
	args["stream"] = true
	wantEntry(t, tcs[1], "openai.responses", args, "Paris.", true, "")
	checkFields(t, c, map[string]any{
		"reasoning.model": "gpt-4.1-2025-04-14", "reasoning.prompt_hash": hash,
		"execution.resources_used.tokens_in": "20", "execution.resources_used.tokens_out": "6",
	})
}

// What the function sets itself in the reasoning section stays; what the
// transport wrote follows the last response.
func TestFunctionSetsReasoning(t *testing.T) {
	f := newFakeAPI(t, jsonAnswer(200, chatJSON), jsonAnswer(200, messageJSON))
	oc, ac := openaiClient(f), anthropicClient(f)
	c := audited(t, func(ctx context.Context) error {
		capsule.Current(ctx).Reasoning.PromptHash = "set-by-the-function"
		if _, err := oc.Chat.Completions.New(ctx, chatParams()); err != nil {
			return err
		}
		if m := capsule.Current(ctx).Reasoning.Model; m != "gpt-4o-2024-08-06" {
			t.Errorf("reasoning.model after the first call = %q", m)
		}
		_, err := ac.Messages.New(ctx, messageParams())
		return err
	})
	checkFields(t, c, map[string]any{"reasoning.model": "claude-sonnet-4-5-20250929", "reasoning.prompt_hash": "set-by-the-function"})

	f = newFakeAPI(t, jsonAnswer(200, chatJSON))
	oc = openaiClient(f)
	c = audited(t, func(ctx context.Context) error {
		capsule.Current(ctx).Reasoning.Model = "my-router"
		_, err := oc.Chat.Completions.New(ctx, chatParams())
		return err
	})
	checkFields(t, c, map[string]any{"reasoning.model": "my-router", "reasoning.prompt_hash": pythonHash(t, f.body(0), "messages")})
}

// LLM calls from several goroutines of one audited call all land (run
// with -race).
func TestConcurrentCalls(t *testing.T) {
	f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(string(mustBody(r)), `"stream":true`) {
			sseAnswer(chatStream...)(w, r)
			return
		}
		jsonAnswer(200, chatJSON)(w, r)
	})
	client := openaiClient(f)
	const n = 8
	c := audited(t, func(ctx context.Context) error {
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Go(func() {
				p := chatParams()
				if i%2 == 0 {
					_, err := client.Chat.Completions.New(ctx, p)
					errs <- err
					return
				}
				p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
				s := client.Chat.Completions.NewStreaming(ctx, p)
				for s.Next() {
				}
				errs <- errors.Join(s.Err(), s.Close())
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				return err
			}
		}
		return nil
	})
	tcs := entries(t, c, n)
	for _, tc := range tcs {
		if tc["success"] != true || tc["result"] != "Paris." {
			t.Errorf("entry %v", tc)
		}
	}
	checkFields(t, c, map[string]any{
		"execution.resources_used.tokens_in": "184", "execution.resources_used.tokens_out": "16",
	})
}

func mustBody(r *http.Request) []byte {
	// The fake server has read the body already; it keeps it.
	return r.Context().Value(bodyKey{}).([]byte)
}

type bodyKey struct{}

// An error event in a stream fails the entry with the API's message; what
// came before it is the result.
func TestStreamErrorEvent(t *testing.T) {
	f := newFakeAPI(t, sseAnswer(append(messageStream[:5:5],
		`error|{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)...))
	client := anthropicClient(f)
	c := audited(t, func(ctx context.Context) error {
		s := client.Messages.NewStreaming(ctx, messageParams())
		defer s.Close()
		for s.Next() {
		}
		if s.Err() == nil {
			t.Error("the SDK saw no error")
		}
		return s.Err()
	})
	wantEntry(t, entries(t, c, 1)[0], "anthropic.messages", map[string]any{"stream": true}, "Let me check the weather.", false,
		"overloaded_error: Overloaded")
	checkFields(t, c, map[string]any{"execution.resources_used.tokens_in": "472", "execution.resources_used.tokens_out": "2"})
}
