package llm

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"

	"github.com/capsule-go/capsule"
)

// A stream still open when the audited call returns is recorded as far as
// it got, before the seal; the caller goes on reading it afterwards.
func TestStreamOpenWhenCallReturns(t *testing.T) {
	next := make(chan struct{})
	f := newFakeAPI(t, gatedStream(next))
	client := openaiClient(f)
	ctx, cancel := bounded(t.Context())
	defer cancel()
	var text strings.Builder
	var rest func() error
	c := audited(t, func(cctx context.Context) error {
		p := chatParams()
		p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
		// The stream's context is the call's, so it is recorded into the
		// call; its deadline is the test's bound.
		sctx, scancel := context.WithCancel(cctx)
		context.AfterFunc(ctx, scancel)
		s := client.Chat.Completions.NewStreaming(sctx, p)
		for s.Next() {
			ch := s.Current()
			if len(ch.Choices) > 0 && ch.Choices[0].Delta.Content != "" {
				text.WriteString(ch.Choices[0].Delta.Content)
				break
			}
		}
		rest = func() error {
			defer scancel()
			defer s.Close()
			for s.Next() {
				if ch := s.Current(); len(ch.Choices) > 0 {
					text.WriteString(ch.Choices[0].Delta.Content)
				}
			}
			return s.Err()
		}
		return nil // returns with the stream open
	})
	tcs := entries(t, c, 1)
	wantEntry(t, tcs[0], "openai.chat.completions", map[string]any{"model": "gpt-4o", "stream": true}, "Par", false,
		"reading the response: the audited call returned before the response was read to its end")
	checkFields(t, c, map[string]any{"reasoning.model": "gpt-4o-2024-08-06"})

	close(next)
	if err := rest(); err != nil {
		t.Fatal(err)
	}
	if text.String() != "Paris." {
		t.Errorf("the SDK read %q after the call", text.String())
	}
}

// Outside an audited call nothing is recorded, unless Standalone asks for
// one chat capsule per LLM call.
func TestOutsideAuditedCall(t *testing.T) {
	f := newFakeAPI(t, jsonAnswer(200, chatJSON))
	plain := openaiClient(f)
	if _, err := plain.Chat.Completions.New(t.Context(), chatParams()); err != nil {
		t.Fatal(err)
	}

	caps, st := newCapsules(t)
	client := openaiClient(f, Standalone(caps, "site-a"))
	if _, err := client.Chat.Completions.New(t.Context(), chatParams()); err != nil {
		t.Fatal(err)
	}
	s := client.Chat.Completions.NewStreaming(t.Context(), chatParams())
	for s.Next() {
	}
	s.Close()
	got := stored(t, st, "site-a")
	if len(got) != 2 {
		t.Fatalf("%d standalone capsules, want 2", len(got))
	}
	hash := pythonHash(t, f.body(1), "messages")
	c := got[0]
	checkFields(t, c, map[string]any{
		"type": "chat", "domain": "chat", "trigger.source": "openai.chat.completions",
		"context.agent_id": "llm", "context.environment.model": "gpt-4o",
		"reasoning.model": "gpt-4o-2024-08-06", "reasoning.prompt_hash": hash,
		"execution.resources_used.tokens_in": "23", "execution.resources_used.tokens_out": "2",
		"outcome.status": "success", "outcome.result": "Paris.", "outcome.summary": "Completed: gpt-4o-2024-08-06",
		"outcome.metrics.tokens_in": "23",
	})
	wantEntry(t, entries(t, c, 1)[0], "openai.chat.completions", map[string]any{"prompt_hash": hash}, "Paris.", true, "")
	// The second request asked for a stream and got JSON: recorded as
	// what it is.
	checkFields(t, got[1], map[string]any{"outcome.status": "success", "execution.tool_calls.0.arguments.stream": "true"})

	// A standalone capsule the store cannot take is lost: logged, and
	// counted where operators alert on lost audits.
	st.Close()
	if _, err := client.Chat.Completions.New(t.Context(), chatParams()); err != nil {
		t.Fatal(err)
	}
	if n := caps.Stats().Swallowed; n != 1 {
		t.Fatalf("Stats().Swallowed = %d after a lost standalone capsule, want 1", n)
	}
}

// Bodies reach the caller byte for byte, JSON, stream and error alike;
// requests and answers that are not LLM calls pass through unrecorded.
func TestBytesUntouched(t *testing.T) {
	stream := ": keep-alive comment\r\n\r\ndata: " + chatStream[1] + "\r\n\r\nevent: x\rdata: {\"a\":\r\ndata: 1}\n\n" + "data: [DONE]\n\n"
	big := `{"model":"m","choices":[{"index":0,"message":{"content":"` + strings.Repeat("é", maxJSON/2) + `"}}]}`
	for _, tc := range []struct {
		name, path, ctype, body string
		status                  int
		req                     string
		recorded                bool
	}{
		{"json", "/v1/chat/completions", "application/json", chatJSON, 200, `{"model":"gpt-4o","messages":[]}`, true},
		{"sse", "/v1/chat/completions", "text/event-stream", stream, 200, `{"model":"gpt-4o","messages":[],"stream":true}`, true},
		{"error", "/v1/messages", "application/json", anthropic429, 429, `{"model":"c","messages":[{"role":"user","content":"hi"}]}`, true},
		{"too large", "/v1/chat/completions", "application/json", big, 200, `{"model":"gpt-4o","messages":[]}`, true},
		{"not json", "/v1/chat/completions", "application/json", "<html>bad gateway</html>", 200, `{"model":"gpt-4o","messages":[]}`, true},
		{"other path", "/v1/embeddings", "application/json", `{"data":[]}`, 200, `{"model":"e","input":"x"}`, false},
		{"not an llm body", "/v1/threads/t/messages", "application/json", `{"id":"m"}`, 200, `{"role":"user","content":"x"}`, false},
		{"not json request", "/v1/responses", "application/json", `{}`, 200, `model=x`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []byte
			var resp *http.Response
			f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request) {
				if string(mustBody(r)) != tc.req {
					t.Errorf("the server got %q, want %q", mustBody(r), tc.req)
				}
				w.Header().Set("Content-Type", tc.ctype)
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			})
			c := audited(t, func(ctx context.Context) error {
				req, err := http.NewRequestWithContext(ctx, "POST", f.URL+tc.path, strings.NewReader(tc.req))
				if err != nil {
					return err
				}
				req.Header.Set("Authorization", "Bearer "+apiKey)
				resp, err = (&http.Client{Transport: Transport(nil)}).Do(req)
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				got, err = io.ReadAll(resp.Body)
				return err
			})
			if !bytes.Equal(got, []byte(tc.body)) {
				t.Errorf("the caller read %d bytes, want the %d the server sent", len(got), len(tc.body))
			}
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.status)
			}
			n := len(get(c, "execution.tool_calls").([]any))
			if tc.recorded != (n == 1) {
				t.Fatalf("%d entries recorded", n)
			}
			if !tc.recorded {
				return
			}
			e := entries(t, c, 1)[0]
			switch tc.name {
			case "sse":
				wantEntry(t, e, "openai.chat.completions", nil, "Par", true, "")
			case "too large":
				// Recorded as far as it could be read: the text itself.
				want := string([]rune(tc.body)[:maxResult])
				wantEntry(t, e, "openai.chat.completions", nil, want, true, "")
			case "not json":
				wantEntry(t, e, "openai.chat.completions", nil, tc.body, false, "the answer could not be parsed: invalid character '<'")
			}
		})
	}
}

// The transport's errors reach the SDK as they are, the request body the
// server gets is the one sent, and an error text that echoes the API key
// is recorded without it.
func TestErrorsAndKeys(t *testing.T) {
	boom := errors.New("dial tcp: connection refused by " + apiKey)
	failing := roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, boom })
	hc := &http.Client{Transport: Transport(failing)}
	c := audited(t, func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, "POST", "http://127.0.0.1:1/v1/chat/completions", strings.NewReader(`{"model":"m","messages":[]}`))
		req.Header.Set("Authorization", "Bearer "+apiKey)
		_, err := hc.Do(req)
		if !errors.Is(err, boom) {
			t.Errorf("the caller got %v, want the transport's error", err)
		}
		return nil
	})
	wantEntry(t, entries(t, c, 1)[0], "openai.chat.completions", map[string]any{"model": "m", "message_count": 0}, nil, false,
		"dial tcp: connection refused by [redacted]")

	echo := `{"error":{"message":"Incorrect API key provided: ` + apiKey + `. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`
	f := newFakeAPI(t, jsonAnswer(401, echo))
	client := openaiClient(f)
	c = audited(t, func(ctx context.Context) error {
		_, err := client.Chat.Completions.New(ctx, chatParams())
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 401 {
			t.Errorf("the SDK returned %v, want its own 401 error", err)
		}
		return err
	})
	wantEntry(t, entries(t, c, 1)[0], "openai.chat.completions", nil, nil, false,
		"401 Unauthorized: invalid_request_error: Incorrect API key provided: [redacted].")
	if h := f.headers[0].Get("Authorization"); h != "Bearer "+apiKey {
		t.Errorf("the server got Authorization %q", h)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// A request body that fails to read fails the request as it would have
// without the transport.
func TestRequestBodyError(t *testing.T) {
	boom := errors.New("body broke")
	var sent []byte
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		var err error
		sent, err = io.ReadAll(r.Body)
		r.Body.Close()
		return nil, err
	})
	_, err := Transport(base).RoundTrip(mustRequest(t, capsuleContext(t), io.MultiReader(strings.NewReader(`{"messages":`), errReader{boom})))
	if !errors.Is(err, boom) || string(sent) != `{"messages":` {
		t.Errorf("RoundTrip = %v after %q, want the body's error after its bytes", err, sent)
	}
}

func mustRequest(t *testing.T, ctx context.Context, body io.Reader) *http.Request {
	req, err := http.NewRequestWithContext(ctx, "POST", "http://127.0.0.1:1/v1/chat/completions", body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// capsuleContext returns the context of a hand-made audited call.
func capsuleContext(t *testing.T) context.Context {
	ctx, end := capsule.NewContext(t.Context(), capsule.New(capsule.TypeAgent))
	t.Cleanup(end)
	return ctx
}

func TestSSEParser(t *testing.T) {
	in := ": comment\n\nevent: a\ndata: 1\ndata:2\r\n\r\nid: 7\rdata:  3\r\rdata\n\ndata: " + strings.Repeat("x", maxEvent) + "\n\ndata: after\n\nevent: no data\n\n"
	want := []string{"a|1\n2", "| 3", "|", "|after"}
	// Byte by byte and in one piece: the same events.
	for _, step := range []int{1, 7, len(in)} {
		var got []string
		p := &sseParser{onEvent: func(name string, data []byte) { got = append(got, name+"|"+string(data)) }}
		for i := 0; i < len(in); i += step {
			p.write([]byte(in[i:min(i+step, len(in))]))
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("step %d: events %q, want %q", step, got, want)
		}
	}
}
