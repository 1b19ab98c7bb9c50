package llm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// reply is what is known of an LLM response so far.
type reply struct {
	model     string
	text      strings.Builder // capped at maxResult characters
	tools     []*toolUse
	tokensIn  int64
	tokensOut int64
	apiError  string // the API's error message (body or error event)
	final     bool   // the stream's final event was seen
	// blocks are the tool calls of an Anthropic stream by content block
	// index.
	blocks map[int]*toolUse
}

// toolUse is one tool call the model asked for.
type toolUse struct {
	name string
	args strings.Builder // capped at maxResult characters
}

// maxTools is how many tool calls of one answer are kept.
const maxTools = 64

// addText appends s to b, up to maxResult characters in all.
func addText(b *strings.Builder, s string) {
	if n := utf8.RuneCountInString(b.String()); n < maxResult {
		b.WriteString(cutRunes(s, maxResult-n))
	}
}

// cutRunes returns the first n characters of s.
func cutRunes(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}

// tool returns the tool call at index i of the answer, adding calls up
// to it; nil past maxTools.
func (r *reply) tool(i int) *toolUse {
	if i < 0 || i >= maxTools {
		return nil
	}
	for len(r.tools) <= i {
		r.tools = append(r.tools, &toolUse{})
	}
	return r.tools[i]
}

// addTool adds a tool call at the end.
func (r *reply) addTool(name, args string) {
	if t := r.tool(len(r.tools)); t != nil {
		t.name = name
		addText(&t.args, args)
	}
}

// result is the text recorded as the tool_calls entry's result: the
// answer's text, then one line per tool call, cut at maxResult
// characters; nil when there is neither.
func (r *reply) result() any {
	var b strings.Builder
	b.WriteString(r.text.String())
	for _, t := range r.tools {
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "[tool_call] %s %s", t.name, t.args.String())
	}
	if b.Len() == 0 {
		return nil
	}
	return cutRunes(b.String(), maxResult)
}

// errorBody reads the API's error message from a non-2xx body: OpenAI's
// and Anthropic's {"error": {"message": …}}, or {"error": "…"}.
func errorBody(body []byte) string {
	var e struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && len(e.Error) > 0 {
		var m apiError
		if json.Unmarshal(e.Error, &m) == nil && m.Message != "" {
			return m.String()
		}
		var s string
		if json.Unmarshal(e.Error, &s) == nil && s != "" {
			return s
		}
	}
	return cutRunes(strings.TrimSpace(strings.ToValidUTF8(string(body), "\uFFFD")), 200)
}

// apiError is the error object of both APIs (and of their stream error
// events).
type apiError struct {
	Type    string `json:"type"`
	Code    any    `json:"code"`
	Message string `json:"message"`
}

// String is the message, after the type (or else the code) when there is
// one.
func (e *apiError) String() string {
	kind := e.Type
	if kind == "" && e.Code != nil {
		kind = fmt.Sprint(e.Code)
	}
	switch {
	case e.Message == "" && kind == "":
		return "error event"
	case kind == "":
		return e.Message
	case e.Message == "":
		return kind
	}
	return kind + ": " + e.Message
}

// ---- OpenAI Chat Completions ----

// chatCompletion is a chat completion, or one chunk of its stream.
type chatCompletion struct {
	Model   string `json:"model"`
	Choices []struct {
		Index        int         `json:"index"`
		Message      chatMessage `json:"message"`
		Delta        chatMessage `json:"delta"`
		FinishReason *string     `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens     int64 `json:"prompt_tokens"`
		CompletionTokens int64 `json:"completion_tokens"`
	} `json:"usage"`
	Error *apiError `json:"error"`
}

type chatMessage struct {
	Content   json.RawMessage `json:"content"` // a string, or an array of parts
	Refusal   string          `json:"refusal"`
	ToolCalls []struct {
		Index    int `json:"index"`
		Function struct {
			Name      string `json:"name"`
			Arguments string `json:"arguments"`
		} `json:"function"`
	} `json:"tool_calls"`
}

// addTo adds the message (or delta) to r: its text, and its tool calls
// at their index in a stream (delta) or in order.
func (m *chatMessage) addTo(r *reply, delta bool) {
	addText(&r.text, contentText(m.Content))
	addText(&r.text, m.Refusal)
	for _, tc := range m.ToolCalls {
		if !delta {
			r.addTool(tc.Function.Name, tc.Function.Arguments)
			continue
		}
		if t := r.tool(tc.Index); t != nil {
			t.name += tc.Function.Name
			addText(&t.args, tc.Function.Arguments)
		}
	}
}

// contentText is the text of a message content: a string, or the "text"
// of each part of an array.
func contentText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []struct {
		Text string `json:"text"`
	}
	if json.Unmarshal(raw, &parts) != nil {
		return ""
	}
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(p.Text)
	}
	return b.String()
}

// add folds one completion (or chunk) into r; only the first choice's
// text and tool calls are kept.
func (c *chatCompletion) add(r *reply, delta bool) {
	if c.Model != "" {
		r.model = c.Model
	}
	for _, ch := range c.Choices {
		if ch.Index != 0 {
			continue
		}
		if delta {
			ch.Delta.addTo(r, true)
		} else {
			ch.Message.addTo(r, false)
		}
	}
	if c.Usage != nil {
		r.tokensIn, r.tokensOut = c.Usage.PromptTokens, c.Usage.CompletionTokens
	}
	if c.Error != nil {
		r.apiError = c.Error.String()
	}
}

func parseChat(body []byte, r *reply) error {
	var c chatCompletion
	if err := json.Unmarshal(body, &c); err != nil {
		return err
	}
	c.add(r, false)
	return nil
}

// chatEvent reads one chunk of a chat completion stream; "[DONE]" is its
// final event.
func chatEvent(_ string, data []byte, r *reply) {
	if string(bytes.TrimSpace(data)) == "[DONE]" {
		r.final = true
		return
	}
	var c chatCompletion
	if json.Unmarshal(data, &c) == nil {
		c.add(r, true)
	}
}

// ---- OpenAI Responses ----

// response is a Responses API response object.
type response struct {
	Model  string       `json:"model"`
	Output []outputItem `json:"output"`
	Usage  *struct {
		InputTokens  int64 `json:"input_tokens"`
		OutputTokens int64 `json:"output_tokens"`
	} `json:"usage"`
	Error *apiError `json:"error"`
}

// outputItem is one item of a response's output: a message, a function
// call, or something this package does not read (reasoning, a web
// search…).
type outputItem struct {
	Type      string `json:"type"`
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
	Content   []struct {
		Type    string `json:"type"`
		Text    string `json:"text"`
		Refusal string `json:"refusal"`
	} `json:"content"`
}

// add folds a response into r; with its output, that output replaces the
// text and tool calls gathered from a stream's deltas.
func (resp *response) add(r *reply) {
	if resp.Model != "" {
		r.model = resp.Model
	}
	if resp.Usage != nil {
		r.tokensIn, r.tokensOut = resp.Usage.InputTokens, resp.Usage.OutputTokens
	}
	if resp.Error != nil {
		r.apiError = resp.Error.String()
	}
	if len(resp.Output) == 0 {
		return
	}
	r.text.Reset()
	r.tools = nil
	for _, it := range resp.Output {
		it.addTo(r)
	}
}

func (it *outputItem) addTo(r *reply) {
	switch it.Type {
	case "message":
		for _, c := range it.Content {
			addText(&r.text, c.Text)
			addText(&r.text, c.Refusal)
		}
	case "function_call", "custom_tool_call":
		r.addTool(it.Name, it.Arguments)
	}
}

func parseResponse(body []byte, r *reply) error {
	var resp response
	if err := json.Unmarshal(body, &resp); err != nil {
		return err
	}
	resp.add(r)
	return nil
}

// responseEvent reads one event of a Responses stream. Text deltas and
// finished function calls are gathered as they come; response.completed,
// .incomplete and .failed carry the whole response and end the stream.
func responseEvent(_ string, data []byte, r *reply) {
	var ev struct {
		Type     string      `json:"type"`
		Delta    string      `json:"delta"`
		Response *response   `json:"response"`
		Item     *outputItem `json:"item"`
		Code     any         `json:"code"`
		Message  string      `json:"message"`
	}
	if json.Unmarshal(data, &ev) != nil {
		return
	}
	switch ev.Type {
	case "response.output_text.delta", "response.refusal.delta":
		addText(&r.text, ev.Delta)
	case "response.output_item.done":
		if ev.Item != nil && ev.Item.Type != "message" {
			ev.Item.addTo(r)
		}
	case "response.completed", "response.incomplete", "response.failed":
		r.final = true
	case "error":
		r.apiError = (&apiError{Code: ev.Code, Message: ev.Message}).String()
		return
	}
	if ev.Response != nil {
		ev.Response.add(r)
	}
}

// ---- Anthropic Messages ----

// message is an Anthropic message.
type message struct {
	Model   string         `json:"model"`
	Content []contentBlock `json:"content"`
	Usage   *messageUsage  `json:"usage"`
}

type contentBlock struct {
	Type  string          `json:"type"`
	Text  string          `json:"text"`
	Name  string          `json:"name"`
	Input json.RawMessage `json:"input"`
}

// messageUsage is a message's usage: every field is optional in the
// message_delta event of a stream.
type messageUsage struct {
	InputTokens              *int64 `json:"input_tokens"`
	OutputTokens             *int64 `json:"output_tokens"`
	CacheCreationInputTokens *int64 `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     *int64 `json:"cache_read_input_tokens"`
}

// add sets r's tokens from the fields u has: input tokens are the
// uncached ones plus those written to and read from the cache.
func (u *messageUsage) add(r *reply) {
	if u == nil {
		return
	}
	if u.InputTokens != nil || u.CacheCreationInputTokens != nil || u.CacheReadInputTokens != nil {
		r.tokensIn = 0
		for _, n := range []*int64{u.InputTokens, u.CacheCreationInputTokens, u.CacheReadInputTokens} {
			if n != nil {
				r.tokensIn += *n
			}
		}
	}
	if u.OutputTokens != nil {
		r.tokensOut = *u.OutputTokens
	}
}

// compactJSON returns a JSON value on one line.
func compactJSON(raw json.RawMessage) string {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}

func (b *contentBlock) addTo(r *reply) {
	switch b.Type {
	case "text":
		addText(&r.text, b.Text)
	case "tool_use", "server_tool_use":
		r.addTool(b.Name, compactJSON(b.Input))
	}
}

func parseMessage(body []byte, r *reply) error {
	var m message
	if err := json.Unmarshal(body, &m); err != nil {
		return err
	}
	if m.Model != "" {
		r.model = m.Model
	}
	for i := range m.Content {
		m.Content[i].addTo(r)
	}
	m.Usage.add(r)
	return nil
}

// messageEvent reads one event of an Anthropic Messages stream:
// message_start names the model and the input tokens, content blocks
// bring text and tool calls, message_delta the usage so far, and
// message_stop ends it.
func messageEvent(_ string, data []byte, r *reply) {
	var ev struct {
		Type         string        `json:"type"`
		Message      *message      `json:"message"`
		Index        int           `json:"index"`
		ContentBlock *contentBlock `json:"content_block"`
		Delta        *struct {
			Type        string `json:"type"`
			Text        string `json:"text"`
			PartialJSON string `json:"partial_json"`
		} `json:"delta"`
		Usage *messageUsage `json:"usage"`
		Error *apiError     `json:"error"`
	}
	if json.Unmarshal(data, &ev) != nil {
		return
	}
	switch ev.Type {
	case "message_start":
		if ev.Message != nil {
			if ev.Message.Model != "" {
				r.model = ev.Message.Model
			}
			ev.Message.Usage.add(r)
		}
	case "content_block_start":
		if b := ev.ContentBlock; b != nil {
			switch b.Type {
			case "text":
				addText(&r.text, b.Text)
			case "tool_use", "server_tool_use":
				// Its input comes as input_json_delta events.
				if t := r.tool(len(r.tools)); t != nil {
					t.name = b.Name
					if r.blocks == nil {
						r.blocks = map[int]*toolUse{}
					}
					r.blocks[ev.Index] = t
				}
			}
		}
	case "content_block_delta":
		if d := ev.Delta; d != nil {
			switch d.Type {
			case "text_delta":
				addText(&r.text, d.Text)
			case "input_json_delta":
				if t := r.blocks[ev.Index]; t != nil {
					addText(&t.args, d.PartialJSON)
				}
			}
		}
	case "message_delta":
		ev.Usage.add(r)
	case "message_stop":
		r.final = true
	case "error":
		if ev.Error != nil {
			r.apiError = ev.Error.String()
		} else {
			r.apiError = "error event"
		}
	}
}
