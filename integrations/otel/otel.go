// Package otelcapsule joins capsules to OpenTelemetry traces. When the
// context of an audited call carries a span, the capsule's
// trigger.correlation_id becomes the span's trace id (unless the function
// set one itself), and the span gets the capsule's id and type as the
// attributes capsule.id and capsule.type, so that a trace leads to its
// audit record and the record back to its trace.
//
// It is its own Go module, so that the capsule module itself depends on no
// OpenTelemetry package. Install it as a call hook of the Capsules the
// audited calls record into:
//
//	caps, err := capsule.Open(ctx, "", otelcapsule.WithTracing())
//	...
//	capsule.SetDefault(caps)
//
// It also exports the audit pipeline as OpenTelemetry metrics (see
// [Metrics]): capsules appended, failed and swallowed, chain conflicts,
// append latency and batch size, queue depth and breaker state. The
// example/prometheus command serves them to a Prometheus scrape through
// OpenTelemetry's Prometheus exporter.
package otelcapsule

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/capsule-go/capsule"
)

// The span attributes Hook sets.
const (
	// AttributeCapsuleID is the id of the capsule recorded for the call.
	AttributeCapsuleID = attribute.Key("capsule.id")
	// AttributeCapsuleType is its type (agent, tool, …).
	AttributeCapsuleType = attribute.Key("capsule.type")
)

// WithTracing is the option of [capsule.Open] and [capsule.NewCapsules]
// that runs [Hook] in every audited call recorded into the Capsules.
func WithTracing() capsule.OpenOption { return capsule.WithCallHook(Hook) }

// Hook is the [capsule.CallHook] of this package. With a valid span
// context in ctx it sets c.Trigger.CorrelationID to the trace id (32
// lowercase hex digits) when the function left it empty, and, when the
// span is recording, adds the capsule's id and type to it. Without a span
// it does nothing.
func Hook(ctx context.Context, c *capsule.Capsule) {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.HasTraceID() {
		return
	}
	if c.Trigger.CorrelationID == "" {
		c.Trigger.CorrelationID = sc.TraceID().String()
	}
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.SetAttributes(AttributeCapsuleID.String(c.ID), AttributeCapsuleType.String(string(c.Type)))
	}
}
