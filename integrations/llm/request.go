package llm

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
)

// The limits on what is kept of a request or response to parse it; what
// goes past them is still passed through whole.
const (
	maxRequest   = 32 << 20 // request body parsed for its arguments
	maxJSON      = 8 << 20  // JSON response body parsed
	maxEvent     = 1 << 20  // one server-sent event
	maxErrorBody = 64 << 10 // non-2xx body read on Close
	maxResult    = 2000     // characters of result text, as capsule-litellm
)

// api is one of the LLM APIs the transport knows.
type api struct {
	tool   string // the tool_calls entry's tool
	suffix string // the end of the request path
	// messages is the body member hashed as the prompt; system the one
	// hashed as system_hash.
	messages, system string
	// parse reads a whole JSON response body into r; event reads one
	// server-sent event of a stream.
	parse func(body []byte, r *reply) error
	event func(name string, data []byte, r *reply)
}

var (
	chatCompletions = &api{tool: "openai.chat.completions", suffix: "/chat/completions",
		messages: "messages", parse: parseChat, event: chatEvent}
	responsesAPI = &api{tool: "openai.responses", suffix: "/responses",
		messages: "input", system: "instructions", parse: parseResponse, event: responseEvent}
	anthropicMessages = &api{tool: "anthropic.messages", suffix: "/messages",
		messages: "messages", system: "system", parse: parseMessage, event: messageEvent}
	apis = []*api{chatCompletions, responsesAPI, anthropicMessages}
)

// apiOf returns the API a request's method and path belong to, or nil.
func apiOf(req *http.Request) *api {
	if req.Method != http.MethodPost || req.URL == nil || req.Body == nil || req.Body == http.NoBody {
		return nil
	}
	if ce := req.Header.Get("Content-Encoding"); ce != "" && ce != "identity" {
		return nil
	}
	path := strings.TrimSuffix(req.URL.Path, "/")
	for _, a := range apis {
		if strings.HasSuffix(path, a.suffix) {
			return a
		}
	}
	return nil
}

// readRequest reads req's body (up to maxRequest bytes) and returns it
// with a shallow copy of req whose body gives the same bytes, then the
// rest of the original body (or the error reading it gave), and closes
// the original.
func readRequest(req *http.Request) ([]byte, *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, maxRequest+1))
	out := *req
	var rest io.Reader = bytes.NewReader(body)
	switch {
	case err != nil:
		rest = io.MultiReader(rest, errReader{err})
		body = nil
	case len(body) > maxRequest:
		rest = io.MultiReader(rest, req.Body)
		body = nil
	}
	out.Body = replayBody{rest, req.Body}
	return body, &out
}

// replayBody is a request body replayed from what was read of it.
type replayBody struct {
	io.Reader
	orig io.Closer
}

func (b replayBody) Close() error { return b.orig.Close() }

// errReader fails every read with err.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// arguments returns the tool_calls arguments of a request body, and
// whether the body is one of a's: a JSON object with a "messages" array
// (for Responses: with "input" or "model"). A body too large to parse
// (nil) is taken to be one, with unknown arguments.
func (a *api) arguments(body []byte) (map[string]any, bool) {
	args := map[string]any{"model": nil, "message_count": nil, "stream": nil, "prompt_hash": nil}
	if body == nil {
		args["request"] = "not parsed: larger than 32 MiB, or not read whole"
		return args, true
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return nil, false
	}
	msgs, ok := m[a.messages]
	if a == responsesAPI {
		_, hasModel := m["model"]
		if !ok && !hasModel {
			return nil, false
		}
	} else if !ok || !isArray(msgs) {
		return nil, false
	}
	var model string
	if json.Unmarshal(m["model"], &model) == nil && model != "" {
		args["model"] = model
	}
	var stream bool
	json.Unmarshal(m["stream"], &stream)
	args["stream"] = stream
	if ok {
		if a == responsesAPI && !isArray(msgs) {
			var s string
			if json.Unmarshal(msgs, &s) == nil {
				// A string input is one user message.
				one, _ := json.Marshal([]map[string]string{{"role": "user", "content": s}})
				msgs = one
			}
		}
		var items []json.RawMessage
		if json.Unmarshal(msgs, &items) == nil {
			args["message_count"] = len(items)
		}
		if h, err := PromptHash(msgs); err == nil {
			args["prompt_hash"] = h
		}
	} else {
		args["message_count"] = 0
	}
	if sys, ok := m[a.system]; ok && a.system != "" && string(sys) != "null" {
		if h, err := PromptHash(sys); err == nil {
			args["system_hash"] = h
		}
	}
	return args, true
}

// isArray reports whether a JSON value is an array.
func isArray(v json.RawMessage) bool {
	v = bytes.TrimLeft(v, " \t\r\n")
	return len(v) > 0 && v[0] == '['
}

// credentialHeaders are the request headers whose values are cut out of
// recorded texts.
var credentialHeaders = []string{"Authorization", "Proxy-Authorization", "X-Api-Key", "Api-Key", "X-Goog-Api-Key"}

// secretsOf returns the credentials req carries in its headers: each
// header value, and the token of an "Authorization: Scheme token".
func secretsOf(req *http.Request) []string {
	var out []string
	for _, h := range credentialHeaders {
		for _, v := range req.Header.Values(h) {
			if _, tok, ok := strings.Cut(v, " "); ok && len(tok) >= 8 {
				out = append(out, tok)
			}
			if len(v) >= 8 {
				out = append(out, v)
			}
		}
	}
	return out
}

// redact returns s with every secret replaced.
func redact(s string, secrets []string) string {
	for _, k := range secrets {
		s = strings.ReplaceAll(s, k, "[redacted]")
	}
	return s
}
