package otelcapsule

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"go.opentelemetry.io/otel/metric"

	"github.com/capsule-go/capsule"
)

// MeterName is the instrumentation scope of the metrics [NewMetrics]
// creates.
const MeterName = "github.com/capsule-go/capsule/integrations/otel"

// The names of the metrics, as OpenTelemetry instruments. A Prometheus
// exporter writes them with dots as underscores, counters ending in
// _total and the latency in _seconds (capsule_appended_total,
// capsule_append_latency_seconds, …).
const (
	MetricAppended    = "capsule.appended"          // counter: capsules stored and acknowledged
	MetricFailed      = "capsule.failed"            // counter: capsules whose append failed
	MetricSwallowed   = "capsule.swallowed"         // counter: audited calls whose capsule was lost, error only logged
	MetricConflicts   = "capsule.conflicts"         // counter: another process moved a chain head first
	MetricCommits     = "capsule.commits"           // counter: storage transactions that stored capsules
	MetricQueueDepth  = "capsule.queue.depth"       // gauge: capsules waiting to commit
	MetricBreakerOpen = "capsule.breaker.open"      // gauge: 1 while appends fail fast (store down), else 0
	MetricLatency     = "capsule.append.latency"    // histogram, seconds: from Append to commit, per capsule
	MetricBatchSize   = "capsule.commit.batch_size" // histogram: capsules per storage transaction
)

// latencyBuckets are the bounds of the append latency histogram, in
// seconds: from a group commit on a local SQLite file to a store at the
// edge of the storage timeout.
var latencyBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// batchBuckets are the bounds of the batch size histogram (a storage
// transaction carries at most 1024 capsules).
var batchBuckets = []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024}

// Metrics exports the audit pipeline of one [capsule.Capsules] as
// OpenTelemetry metrics: the counters and gauges of [capsule.Stats], read
// when the meter provider collects, and histograms of append latency and
// batch size, fed by a commit observer. Use it in three steps:
//
//	m, err := otelcapsule.NewMetrics(provider)
//	caps, err := capsule.Open(ctx, "", m.CommitObserver())
//	err = m.Watch(caps)
//	defer m.Close()
//
// Alert on capsule.swallowed (audits being dropped), capsule.failed and
// capsule.breaker.open.
type Metrics struct {
	latency metric.Float64Histogram
	batch   metric.Int64Histogram

	appended, failed, swallowed, conflicts, commits metric.Int64ObservableCounter
	queue, breaker                                  metric.Int64ObservableGauge
	meter                                           metric.Meter

	mu  sync.Mutex
	reg metric.Registration // of the callback of the watched Capsules
}

// NewMetrics creates the instruments on a meter of mp named [MeterName].
func NewMetrics(mp metric.MeterProvider) (*Metrics, error) {
	m := &Metrics{meter: mp.Meter(MeterName)}
	var errs []error
	add := func(err error) { errs = append(errs, err) }
	var err error
	m.latency, err = m.meter.Float64Histogram(MetricLatency, metric.WithUnit("s"),
		metric.WithDescription("Time from an append to its commit, per capsule."),
		metric.WithExplicitBucketBoundaries(latencyBuckets...))
	add(err)
	m.batch, err = m.meter.Int64Histogram(MetricBatchSize, metric.WithUnit("{capsule}"),
		metric.WithDescription("Capsules stored per storage transaction (group commit)."),
		metric.WithExplicitBucketBoundaries(batchBuckets...))
	add(err)
	counter := func(name, unit, desc string) metric.Int64ObservableCounter {
		c, err := m.meter.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		add(err)
		return c
	}
	m.appended = counter(MetricAppended, "{capsule}", "Capsules stored and acknowledged.")
	m.failed = counter(MetricFailed, "{capsule}", "Capsules whose append failed.")
	m.swallowed = counter(MetricSwallowed, "{call}", "Audited calls whose capsule was lost and whose error was only logged.")
	m.conflicts = counter(MetricConflicts, "{conflict}", "Times another process moved a chain head first.")
	m.commits = counter(MetricCommits, "{transaction}", "Storage transactions that stored capsules.")
	m.queue, err = m.meter.Int64ObservableGauge(MetricQueueDepth, metric.WithUnit("{capsule}"),
		metric.WithDescription("Capsules waiting to commit."))
	add(err)
	m.breaker, err = m.meter.Int64ObservableGauge(MetricBreakerOpen, metric.WithUnit("{state}"),
		metric.WithDescription("1 while appends fail fast because the store is down, else 0."))
	add(err)
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("otelcapsule: metrics: %w", err)
	}
	return m, nil
}

// CommitObserver returns the option of [capsule.Open] and
// [capsule.NewCapsules] that feeds the latency and batch size histograms.
func (m *Metrics) CommitObserver() capsule.OpenOption {
	return capsule.WithCommitObserver(m.observe)
}

func (m *Metrics) observe(ci capsule.CommitInfo) {
	ctx := context.Background()
	m.batch.Record(ctx, int64(ci.Capsules))
	for _, d := range ci.Latencies {
		m.latency.Record(ctx, d.Seconds())
	}
}

// Watch reports the counters and gauges of caps at every collection. A
// Metrics watches one Capsules; watching a second one is an error.
func (m *Metrics) Watch(caps *capsule.Capsules) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.reg != nil {
		return errors.New("otelcapsule: metrics: already watching a Capsules")
	}
	reg, err := m.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		s := caps.Stats()
		o.ObserveInt64(m.appended, s.Committed)
		o.ObserveInt64(m.failed, s.Failed)
		o.ObserveInt64(m.swallowed, s.Swallowed)
		o.ObserveInt64(m.conflicts, s.Conflicts)
		o.ObserveInt64(m.commits, s.Commits)
		o.ObserveInt64(m.queue, s.Queued)
		open := int64(0)
		if s.BreakerOpen {
			open = 1
		}
		o.ObserveInt64(m.breaker, open)
		return nil
	}, m.appended, m.failed, m.swallowed, m.conflicts, m.commits, m.queue, m.breaker)
	if err != nil {
		return fmt.Errorf("otelcapsule: metrics: %w", err)
	}
	m.reg = reg
	return nil
}

// Close stops reporting the watched Capsules' counters and gauges.
func (m *Metrics) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.reg == nil {
		return nil
	}
	err := m.reg.Unregister()
	m.reg = nil
	return err
}
