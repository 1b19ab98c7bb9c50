// Command prometheus shows a Prometheus scrape of the audit pipeline's
// metrics, through OpenTelemetry's Prometheus exporter: the capsule module
// itself carries no metrics library, and package otelcapsule feeds
// whatever OpenTelemetry meter provider the application has.
//
//	go run ./example/prometheus [-addr 127.0.0.1:9464] [-db PATH]
//	curl -s localhost:9464/metrics | grep '^capsule_'
//
// It audits one call a second into the database (default: capsules.db in
// a new temporary directory) and serves the metrics at /metrics. A
// Prometheus configuration scraping it:
//
//	scrape_configs:
//	  - job_name: capsule
//	    static_configs:
//	      - targets: ["127.0.0.1:9464"]
//
// and the rules worth alerting on:
//
//	increase(capsule_swallowed_total[5m]) > 0   # audits are being dropped
//	increase(capsule_failed_total[5m]) > 0      # appends failing
//	capsule_breaker_open == 1                   # the store is down
//
// with capsule_append_latency_seconds (histogram), capsule_commit_batch_size
// (histogram) and capsule_queue_depth beside them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/capsule-go/capsule"
	otelcapsule "github.com/capsule-go/capsule/integrations/otel"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9464", "serve /metrics on `HOST:PORT`")
	db := flag.String("db", "", "the capsules' database (default: capsules.db in a new temporary directory)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *addr, *db); err != nil {
		slog.Error("prometheus example", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, addr, db string) error {
	keyDir := ""
	if db == "" {
		dir, err := os.MkdirTemp("", "capsule-prometheus-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		db, keyDir = filepath.Join(dir, "capsules.db"), dir
	}
	p, err := newPipeline(ctx, db, keyDir)
	if err != nil {
		return err
	}
	defer p.Close()

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: p.handler, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	slog.Info("serving the metrics", "url", "http://"+ln.Addr().String()+"/metrics", "db", db)

	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return srv.Shutdown(sctx)
		case <-tick.C:
			if _, err := p.caps.Append(ctx, "", capsule.New(capsule.TypeAgent)); err != nil {
				slog.Warn("append", "err", err)
			}
		}
	}
}

// pipeline is a Capsules whose metrics a Prometheus registry exports.
type pipeline struct {
	caps     *capsule.Capsules
	metrics  *otelcapsule.Metrics
	provider *sdkmetric.MeterProvider
	handler  http.Handler // GET /metrics
}

// newPipeline opens the Capsules at db (with its key in keyDir, "" for
// the data directory) and exports its metrics through a registry of its
// own.
func newPipeline(ctx context.Context, db, keyDir string) (*pipeline, error) {
	reg := prometheus.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, fmt.Errorf("prometheus exporter: %w", err)
	}
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	metrics, err := otelcapsule.NewMetrics(provider)
	if err != nil {
		provider.Shutdown(ctx)
		return nil, err
	}
	opts := []capsule.OpenOption{metrics.CommitObserver()}
	if keyDir != "" {
		opts = append(opts, capsule.WithKeyDir(keyDir))
	}
	caps, err := capsule.Open(ctx, db, opts...)
	if err != nil {
		provider.Shutdown(ctx)
		return nil, err
	}
	if err := metrics.Watch(caps); err != nil {
		caps.Close()
		provider.Shutdown(ctx)
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return &pipeline{caps: caps, metrics: metrics, provider: provider, handler: mux}, nil
}

// Close stops the metrics and closes the Capsules.
func (p *pipeline) Close() error {
	return errors.Join(p.metrics.Close(), p.caps.Close(), p.provider.Shutdown(context.Background()))
}
