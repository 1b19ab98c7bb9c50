package otelcapsule_test

import (
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/capsule-go/capsule"
	otelcapsule "github.com/capsule-go/capsule/integrations/otel"
	"github.com/capsule-go/capsule/runtime"
)

// collect reads every metric of the reader by name.
func collect(t *testing.T, r *sdkmetric.ManualReader) map[string]metricdata.Aggregation {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]metricdata.Aggregation{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != otelcapsule.MeterName {
			t.Errorf("scope %q, want %q", sm.Scope.Name, otelcapsule.MeterName)
		}
		for _, m := range sm.Metrics {
			out[m.Name] = m.Data
		}
	}
	return out
}

func sumOf(t *testing.T, got map[string]metricdata.Aggregation, name string) int64 {
	t.Helper()
	s, ok := got[name].(metricdata.Sum[int64])
	if !ok || len(s.DataPoints) != 1 || !s.IsMonotonic {
		t.Fatalf("%s: %#v, want one monotonic int64 sum", name, got[name])
	}
	return s.DataPoints[0].Value
}

func gaugeOf(t *testing.T, got map[string]metricdata.Aggregation, name string) int64 {
	t.Helper()
	g, ok := got[name].(metricdata.Gauge[int64])
	if !ok || len(g.DataPoints) != 1 {
		t.Fatalf("%s: %#v, want one int64 gauge", name, got[name])
	}
	return g.DataPoints[0].Value
}

// The metrics follow the pipeline: appended capsules, a swallowed audit
// and the failure behind it, the open breaker, and the histograms of every
// commit.
func TestMetrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer provider.Shutdown(t.Context())
	m, err := otelcapsule.NewMetrics(provider)
	if err != nil {
		t.Fatal(err)
	}
	caps, st := newCapsules(t, m.CommitObserver())
	if err := m.Watch(caps); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Watch(caps); err == nil {
		t.Fatal("a second Watch succeeded")
	}

	batch := make([]*capsule.Capsule, 5)
	for i := range batch {
		batch[i] = capsule.New(capsule.TypeTool)
	}
	if _, err := caps.AppendAll(t.Context(), "t", batch); err != nil {
		t.Fatal(err)
	}
	got := collect(t, reader)
	if n := sumOf(t, got, otelcapsule.MetricAppended); n != 5 {
		t.Fatalf("appended = %d, want 5", n)
	}
	commits := sumOf(t, got, otelcapsule.MetricCommits)
	lat, ok := got[otelcapsule.MetricLatency].(metricdata.Histogram[float64])
	if !ok || len(lat.DataPoints) != 1 || lat.DataPoints[0].Count != 5 {
		t.Fatalf("latency histogram %#v, want 5 observations", got[otelcapsule.MetricLatency])
	}
	bs, ok := got[otelcapsule.MetricBatchSize].(metricdata.Histogram[int64])
	if !ok || len(bs.DataPoints) != 1 || int64(bs.DataPoints[0].Count) != commits || bs.DataPoints[0].Sum != 5 {
		t.Fatalf("batch size histogram %#v, want %d commits of 5 capsules in all", got[otelcapsule.MetricBatchSize], commits)
	}
	for name, want := range map[string]int64{otelcapsule.MetricQueueDepth: 0, otelcapsule.MetricBreakerOpen: 0} {
		if v := gaugeOf(t, got, name); v != want {
			t.Fatalf("%s = %d, want %d", name, v, want)
		}
	}

	// The store fails: an audited call loses its capsule and swallows the
	// error (the default of //capsule:audit).
	st.Close()
	site := &runtime.Site{Type: capsule.TypeAgent, AgentID: "example.F", Capsules: func() *capsule.Capsules { return caps }}
	_, call := runtime.Start(t.Context(), site, "t2", "request")
	if err := call.Finish("ok", nil); err != nil {
		t.Fatalf("swallowed audit failure returned %v", err)
	}
	got = collect(t, reader)
	for name, want := range map[string]int64{otelcapsule.MetricSwallowed: 1, otelcapsule.MetricFailed: 1, otelcapsule.MetricAppended: 5, otelcapsule.MetricConflicts: 0} {
		if v := sumOf(t, got, name); v != want {
			t.Fatalf("%s = %d, want %d", name, v, want)
		}
	}
}
