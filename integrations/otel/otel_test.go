package otelcapsule_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/capsule-go/capsule"
	otelcapsule "github.com/capsule-go/capsule/integrations/otel"
	"github.com/capsule-go/capsule/keys"
	"github.com/capsule-go/capsule/protocol/canonical"
	"github.com/capsule-go/capsule/runtime"
	"github.com/capsule-go/capsule/storage/memory"
)

// newCapsules returns Capsules over a memory store with a fresh key, the
// tracing hook and opts.
func newCapsules(t testing.TB, opts ...capsule.OpenOption) (*capsule.Capsules, *memory.Store) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	st := memory.New()
	opts = append([]capsule.OpenOption{capsule.WithSigner(keys.NewSigner(priv, "qp_key_test")), otelcapsule.WithTracing()}, opts...)
	caps, err := capsule.NewCapsules(st, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { caps.Close() })
	return caps, st
}

// audited does what a generated Audited* wrapper does: start the call,
// run fn with the call's context, finish.
func audited(ctx context.Context, site *runtime.Site, fn func(ctx context.Context)) error {
	cctx, call := runtime.Start(ctx, site, "", "request")
	fn(cctx)
	return call.Finish("done", nil)
}

// stored returns the trigger.correlation_id of each capsule of the null
// tenant's chain, and their ids.
func stored(t *testing.T, st *memory.Store) (corr []any, ids []string) {
	t.Helper()
	for r, err := range st.Scan(t.Context(), "", 0) {
		if err != nil {
			t.Fatal(err)
		}
		v, err := canonical.Parse(r.Data)
		if err != nil {
			t.Fatal(err)
		}
		corr = append(corr, v.(map[string]any)["trigger"].(map[string]any)["correlation_id"])
		ids = append(ids, r.ID)
	}
	return corr, ids
}

func TestTraceJoinsCapsule(t *testing.T) {
	caps, st := newCapsules(t)
	site := &runtime.Site{Type: capsule.TypeAgent, AgentID: "example.Run", Capsules: func() *capsule.Capsules { return caps }}
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	tracer := tp.Tracer("test")

	// 1. A recording span: its trace id becomes the correlation id, and it
	// gets the capsule id.
	ctx, span := tracer.Start(t.Context(), "handle request")
	if err := audited(ctx, site, func(context.Context) {}); err != nil {
		t.Fatal(err)
	}
	span.End()
	traced := span.SpanContext().TraceID().String()

	// 2. The function sets its own correlation id: it is kept, and the
	// span still gets the capsule id.
	ctx, span2 := tracer.Start(t.Context(), "second")
	if err := audited(ctx, site, func(ctx context.Context) { capsule.Current(ctx).Trigger.CorrelationID = "order-17" }); err != nil {
		t.Fatal(err)
	}
	span2.End()

	// 3. No span: nothing changes.
	if err := audited(t.Context(), site, func(context.Context) {}); err != nil {
		t.Fatal(err)
	}

	// 4. A span context that is not recording (a remote parent, or a
	// sampled-out span): the trace id is still the correlation id.
	remote := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{0x0a, 0xf7, 0x65, 0x19, 0x16, 0xcd, 0x43, 0xdd, 0x84, 0x48, 0xeb, 0x21, 0x1c, 0x80, 0x31, 0x9c},
		SpanID:  trace.SpanID{0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31},
	})
	if err := audited(trace.ContextWithRemoteSpanContext(t.Context(), remote), site, func(context.Context) {}); err != nil {
		t.Fatal(err)
	}

	corr, ids := stored(t, st)
	want := []any{traced, "order-17", nil, "0af7651916cd43dd8448eb211c80319c"}
	if len(corr) != len(want) {
		t.Fatalf("%d capsules, want %d", len(corr), len(want))
	}
	for i := range want {
		if corr[i] != want[i] {
			t.Errorf("capsule %d: correlation_id %v, want %v", i, corr[i], want[i])
		}
	}

	spans := rec.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans ended, want 2", len(spans))
	}
	for i, s := range spans {
		attrs := map[attribute.Key]string{}
		for _, kv := range s.Attributes() {
			attrs[kv.Key] = kv.Value.Emit()
		}
		if attrs[otelcapsule.AttributeCapsuleID] != ids[i] || attrs[otelcapsule.AttributeCapsuleType] != "agent" {
			t.Errorf("span %q: attributes %v, want capsule.id %s and capsule.type agent", s.Name(), attrs, ids[i])
		}
	}
	// The capsules verify: the hook ran before sealing.
	res, err := caps.Verify(t.Context(), "", capsule.Signatures)
	if err != nil || !res.Valid || res.CapsulesVerified != 4 {
		t.Fatalf("Verify = %+v, %v", res, err)
	}
}
