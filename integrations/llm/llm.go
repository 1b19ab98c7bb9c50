// Package llm records the LLM calls of an audited function into its
// capsule, with no code in the function: an [http.RoundTripper] for the
// *http.Client of any SDK or framework that speaks the OpenAI Chat
// Completions, OpenAI Responses or Anthropic Messages API
// (github.com/openai/openai-go/v3 and github.com/anthropics/anthropic-sdk-go/v2
// among them):
//
//	hc := &http.Client{Transport: llm.Transport(nil)}
//	client := openai.NewClient(option.WithHTTPClient(hc))
//
// It is its own Go module, so that the capsule module itself depends on
// no LLM SDK; this package depends on none either.
//
// # What a request records
//
// Inside an audited call (a context from an Audited* wrapper or from
// [capsule.NewContext]), each POST to a known API, recognised by its path
// (…/chat/completions, …/responses, …/messages) and its JSON body (a
// "messages" array; for Responses an object with "input" or "model"),
// adds to the call's capsule, when its response has been read to the end
// (or closed, or has failed):
//
//   - one execution.tool_calls entry: tool "openai.chat.completions",
//     "openai.responses" or "anthropic.messages"; arguments "model" (as
//     requested), "message_count", "stream" and "prompt_hash", and
//     "system_hash" when the request has an Anthropic "system" or a
//     Responses "instructions"; result, the response text followed by one
//     line per tool call the model asked for ("[tool_call] name {args}"),
//     cut at 2,000 characters; success (a 2xx answer read to its end, and
//     for a stream its final event, with no error event); duration_ms,
//     from the request to the end of the response; error, the HTTP status
//     and the API's error message for a non-2xx answer, an error event of
//     a stream, or the transport's or the body's read error;
//   - the tokens the answer reports, added to execution.resources_used
//     "tokens_in" and "tokens_out" (for a stream, the usage of its last
//     events; for Anthropic, tokens_in counts cached input tokens too);
//   - reasoning.model, the model the response named, and
//     reasoning.prompt_hash, the request's prompt hash, unless the
//     function set them itself: they follow the last LLM response
//     recorded.
//
// Entries are added in the order the responses end; the SDK's retries are
// requests of their own, so a 429 answered by a success records two
// entries. Outside an audited call (and after it has returned) requests
// pass through untouched and nothing is recorded, unless [Standalone] asks
// for one chat capsule per LLM call, as capsule-litellm seals.
//
// # The prompt hash
//
// prompt_hash is [PromptHash] of the request's "messages" array (Chat
// Completions, Anthropic Messages): SHA3-256 of it serialized as
// capsule-litellm serializes it, Python's json.dumps(messages,
// sort_keys=True, separators=(",", ":"), ensure_ascii=False), so a
// conversation hashes the same here and in Python. For the Responses API
// "input" plays the role of messages: an array of input items is hashed
// as it is, and a string input as the one message it stands for,
// [{"content": input, "role": "user"}], so the same single question hashes
// the same through either OpenAI API. Anthropic's "system" and the
// Responses "instructions" are not part of the messages; their hash, the
// same way, is system_hash.
//
// # What the caller sees
//
// Exactly what the server sent, when it sent it: the response body is
// read by the caller, and this package looks at the bytes as they go by,
// so a stream reaches the SDK event by event; bodies are byte-identical,
// and errors and retries are the SDK's own. A response too large to keep
// (8 MiB of JSON, a stream event over 1 MiB) or that cannot be parsed is
// passed through all the same and recorded as far as it could be read. A
// non-2xx body that the caller closes unread (as an SDK does before it
// retries) is read on Close, up to 64 KiB, for its error message. Request
// headers are never recorded, and the values of Authorization, X-Api-Key,
// Api-Key and X-Goog-Api-Key are cut out of every error and result text
// recorded.
//
// # Concurrency
//
// LLM calls from several goroutines of one audited call record through
// [capsule.Update], under the call's lock; code of the function that
// writes the capsule while they run must use capsule.Update too. A
// response still being read when the audited call returns is recorded as
// far as it got, through [capsule.OnEnd], before the capsule is sealed,
// with success false and an error saying so.
package llm

import (
	"errors"
	"net/http"

	"github.com/capsule-go/capsule"
)

// Option configures [Transport].
type Option func(*transport)

// Standalone makes the transport seal one capsule of type chat per LLM
// call made outside an audited call, as capsule-litellm does: into caps
// (nil means the process default, [capsule.Default]), in the chain of
// tenant ("" is the null tenant). The capsule is sealed when the response
// has been read to its end, or closed, before the read returns; a failure
// to record it is logged with the Capsules' logger and never reaches the
// caller. Calls inside an audited call are recorded into its capsule, as
// without this option.
func Standalone(caps *capsule.Capsules, tenant string) Option {
	return func(t *transport) {
		t.standalone = true
		t.caps = caps
		t.tenant = tenant
	}
}

// Transport returns an http.RoundTripper that sends requests through base
// (nil means [http.DefaultTransport]) and records the LLM calls among them
// into the capsule of the audited call their context belongs to, as the
// package documentation describes.
func Transport(base http.RoundTripper, opts ...Option) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	t := &transport{base: base}
	for _, o := range opts {
		o(t)
	}
	return t
}

// transport is the RoundTripper Transport returns.
type transport struct {
	base       http.RoundTripper
	standalone bool
	caps       *capsule.Capsules
	tenant     string
}

// RoundTrip sends req through the base transport; an LLM request inside
// an audited call (or outside one, with Standalone) gets its response
// body wrapped so that it is recorded as it is read.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	a := apiOf(req)
	if a == nil {
		return t.base.RoundTrip(req)
	}
	ctx := req.Context()
	_, err := capsule.FromContext(ctx)
	inCall := err == nil
	if !inCall && (!t.standalone || !errors.Is(err, capsule.ErrNoActiveCapsule)) {
		return t.base.RoundTrip(req)
	}
	body, out := readRequest(req)
	args, ok := a.arguments(body)
	if !ok {
		return t.base.RoundTrip(out)
	}
	x := newExchange(t, a, args, req)
	if inCall {
		if capsule.OnEnd(ctx, x.atEnd) != nil {
			return t.base.RoundTrip(out) // the call has just ended
		}
		x.call = ctx
	}
	resp, err := t.base.RoundTrip(out)
	if err != nil {
		x.finish(err)
		return nil, err
	}
	x.respond(resp)
	return resp, nil
}
