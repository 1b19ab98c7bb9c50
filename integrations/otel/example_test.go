package otelcapsule_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"path/filepath"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/capsule-go/capsule"
	otelcapsule "github.com/capsule-go/capsule/integrations/otel"
	"github.com/capsule-go/capsule/runtime"
)

// runAgent stands for a function annotated with //capsule:audit; auditedRunAgent
// is written here the way capsulegen writes the wrapper AuditedRunAgent.
func runAgent(ctx context.Context, task string) (string, error) {
	capsule.Current(ctx).Reasoning.Model = "gpt-4o"
	return "done: " + task, nil
}

var runAgentSite = &runtime.Site{Type: capsule.TypeAgent, AgentID: "example.RunAgent"}

func auditedRunAgent(ctx context.Context, task string) (string, error) {
	ctx, call := runtime.Start(ctx, runAgentSite, "", task)
	defer call.Guard()
	out, err := runAgent(ctx, task)
	return out, call.Finish(out, err)
}

// An application that traces with OpenTelemetry opens its capsules with
// WithTracing: every audited call made inside a span is recorded with the
// span's trace id as trigger.correlation_id, and the span carries the
// capsule's id.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "capsule-otel-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	caps, err := capsule.Open(ctx, filepath.Join(dir, "capsules.db"), capsule.WithKeyDir(dir), otelcapsule.WithTracing())
	if err != nil {
		log.Fatal(err)
	}
	defer caps.Close()
	capsule.SetDefault(caps) // the wrappers record into the process default

	tp := sdktrace.NewTracerProvider() // your tracer provider, with its exporter
	defer tp.Shutdown(ctx)
	ctx, span := tp.Tracer("example").Start(ctx, "handle request")
	if _, err := auditedRunAgent(ctx, "summarize the incident"); err != nil {
		log.Fatal(err)
	}
	span.End()

	// The capsule names the trace.
	for rec, err := range caps.Store().Scan(ctx, "", 0) {
		if err != nil {
			log.Fatal(err)
		}
		var content struct {
			Trigger struct {
				CorrelationID string `json:"correlation_id"`
			} `json:"trigger"`
		}
		if err := json.Unmarshal(rec.Data, &content); err != nil {
			log.Fatal(err)
		}
		fmt.Println("correlation_id is the trace id:", content.Trigger.CorrelationID == span.SpanContext().TraceID().String())
	}
	// Output:
	// correlation_id is the trace id: true
}
