package llm

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/capsule-go/capsule"
	"github.com/capsule-go/capsule/protocol/canonical"
	"github.com/capsule-go/capsule/runtime"
	"github.com/capsule-go/capsule/storage/memory"
)

// apiKey is the key the test clients send; it must never reach a capsule.
const apiKey = "sk-test-0123456789abcdefSECRET"

// newCapsules returns Capsules over a memory store.
func newCapsules(t testing.TB) (*capsule.Capsules, *memory.Store) {
	t.Helper()
	st := memory.New()
	caps, err := capsule.NewCapsules(st, capsule.WithKeyDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { caps.Close() })
	return caps, st
}

// audited runs fn as a generated Audited* wrapper runs a function: start
// the call, run fn with the call's context, finish; it returns the
// capsule recorded for the call, as stored (parsed from its canonical
// JSON).
func audited(t *testing.T, fn func(ctx context.Context) error) map[string]any {
	t.Helper()
	caps, st := newCapsules(t)
	site := &runtime.Site{Type: capsule.TypeAgent, AgentID: "example.Agent", Capsules: func() *capsule.Capsules { return caps }}
	ctx, call := runtime.Start(t.Context(), site, "", "task")
	err := fn(ctx)
	if err := call.Finish(nil, err); err != nil {
		t.Logf("the audited function returned %v", err)
	}
	got := stored(t, st, "")
	if len(got) != 1 {
		t.Fatalf("%d capsules stored, want 1", len(got))
	}
	return got[0]
}

// stored returns the capsules of tenant in st, parsed, checking that no
// stored byte holds the API key.
func stored(t *testing.T, st *memory.Store, tenant string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for r, err := range st.Scan(context.Background(), tenant, 0) {
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(r.Data), apiKey) || strings.Contains(string(r.Data), "0123456789abcdefSECRET") {
			t.Errorf("the API key reached a capsule: %s", r.Data)
		}
		v, err := canonical.Parse(r.Data)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, v.(map[string]any))
	}
	return out
}

// get returns the value at a dotted path of a parsed capsule; a number
// in the path indexes an array.
func get(v any, path string) any {
	for _, k := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[k]
		case []any:
			var i int
			if _, err := fmt.Sscan(k, &i); err != nil || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

// num returns a parsed JSON number as an int64 (or -1).
func num(v any) int64 {
	var n int64 = -1
	if v != nil {
		fmt.Sscan(fmt.Sprint(v), &n)
	}
	return n
}

// toolCalls returns the execution.tool_calls of a parsed capsule.
func toolCalls(c map[string]any) []map[string]any {
	var out []map[string]any
	for _, tc := range get(c, "execution.tool_calls").([]any) {
		out = append(out, tc.(map[string]any))
	}
	return out
}

// fakeAPI is a local server that answers as an LLM API does: each
// request gets the next of its answers (the last one repeats), and the
// bodies it received are kept.
type fakeAPI struct {
	*httptest.Server
	mu      sync.Mutex
	answers []http.HandlerFunc
	bodies  [][]byte
	headers []http.Header
}

func newFakeAPI(t *testing.T, answers ...http.HandlerFunc) *fakeAPI {
	f := &fakeAPI{answers: answers}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.bodies = append(f.bodies, b)
		f.headers = append(f.headers, r.Header.Clone())
		h := f.answers[0]
		if len(f.answers) > 1 {
			f.answers = f.answers[1:]
		}
		f.mu.Unlock()
		h(w, r.WithContext(context.WithValue(r.Context(), bodyKey{}, b)))
	}))
	t.Cleanup(f.Close)
	return f
}

// body returns the i-th request body the server received.
func (f *fakeAPI) body(i int) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.bodies[i]
}

// requests returns how many requests the server received.
func (f *fakeAPI) requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.bodies)
}

// jsonAnswer answers with status and a JSON body.
func jsonAnswer(status int, body string, header ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

// sseAnswer answers with a text/event-stream of events, each written and
// flushed on its own ("event: name\ndata: …\n\n", or data alone when the
// event has no name: "name|data" or "data").
func sseAnswer(events ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		writeSSEHeader(w)
		for _, e := range events {
			writeEvent(w, e)
		}
	}
}

func writeSSEHeader(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
}

func writeEvent(w http.ResponseWriter, e string) {
	if name, data, ok := strings.Cut(e, "|"); ok {
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, data)
	} else {
		fmt.Fprintf(w, "data: %s\n\n", e)
	}
	w.(http.Flusher).Flush()
}

// openaiClient returns an OpenAI client of the fake server whose HTTP
// client uses the transport.
func openaiClient(f *fakeAPI, opts ...Option) openai.Client {
	return openai.NewClient(
		option.WithBaseURL(f.URL+"/v1/"),
		option.WithAPIKey(apiKey),
		option.WithHTTPClient(&http.Client{Transport: Transport(nil, opts...)}),
		option.WithMaxRetries(2),
	)
}

// anthropicClient returns an Anthropic client of the fake server whose
// HTTP client uses the transport.
func anthropicClient(f *fakeAPI, opts ...Option) anthropic.Client {
	return anthropic.NewClient(
		aoption.WithBaseURL(f.URL),
		aoption.WithAPIKey(apiKey),
		aoption.WithHTTPClient(&http.Client{Transport: Transport(nil, opts...)}),
		aoption.WithMaxRetries(2),
	)
}

// pythonHash returns the prompt hash Python computes for the messages
// member of a request body (skipping the test without python3).
func pythonHash(t *testing.T, body []byte, member string) string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	h, _ := pythonHashes(t, []string{string(m[member])})
	return h[0]
}

// bounded returns a context that ends after a minute, so that a test
// waiting for something that never comes fails instead of hanging.
func bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, time.Minute)
}

// wantEntry checks a tool_calls entry's tool, arguments, result, success
// and error.
func wantEntry(t *testing.T, tc map[string]any, tool string, args map[string]any, result any, success bool, errPrefix string) {
	t.Helper()
	if tc["tool"] != tool {
		t.Errorf("tool = %v, want %s", tc["tool"], tool)
	}
	for k, v := range args {
		got := get(tc, "arguments."+k)
		if fmt.Sprint(got) != fmt.Sprint(v) {
			t.Errorf("%s: arguments.%s = %v, want %v", tool, k, got, v)
		}
	}
	if fmt.Sprint(tc["result"]) != fmt.Sprint(result) {
		t.Errorf("%s: result = %q, want %q", tool, tc["result"], result)
	}
	if tc["success"] != success {
		t.Errorf("%s: success = %v, want %v (error %v)", tool, tc["success"], success, tc["error"])
	}
	e, _ := tc["error"].(string)
	if errPrefix == "" && tc["error"] != nil || !strings.HasPrefix(e, errPrefix) {
		t.Errorf("%s: error = %v, want %q…", tool, tc["error"], errPrefix)
	}
	if num(tc["duration_ms"]) < 0 {
		t.Errorf("%s: duration_ms = %v", tool, tc["duration_ms"])
	}
}

// gatedStream answers with chatStream, sending its first two chunks, then
// the rest once next is closed.
func gatedStream(next <-chan struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		writeSSEHeader(w)
		writeEvent(w, chatStream[0])
		writeEvent(w, chatStream[1])
		select {
		case <-next:
		case <-r.Context().Done():
			return
		}
		for _, e := range chatStream[2:] {
			writeEvent(w, e)
		}
	}
}

// entries returns the execution.tool_calls of a parsed capsule, which
// must have n.
func entries(t *testing.T, c map[string]any, n int) []map[string]any {
	t.Helper()
	tcs := toolCalls(c)
	if len(tcs) != n {
		t.Fatalf("%d tool calls, want %d", len(tcs), n)
	}
	return tcs
}
