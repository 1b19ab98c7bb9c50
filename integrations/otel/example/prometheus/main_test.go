package main

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capsule-go/capsule"
)

// A scrape of /metrics carries the pipeline's counters, gauges and
// histograms under their Prometheus names.
func TestScrape(t *testing.T) {
	dir := t.TempDir()
	p, err := newPipeline(t.Context(), filepath.Join(dir, "capsules.db"), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for range 3 {
		if _, err := p.caps.Append(t.Context(), "", capsule.New(capsule.TypeAgent)); err != nil {
			t.Fatal(err)
		}
	}
	w := httptest.NewRecorder()
	p.handler.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	body := w.Body.String()
	for _, want := range []string{
		"capsule_appended_total{",
		"capsule_failed_total{",
		"capsule_swallowed_total{",
		"capsule_conflicts_total{",
		"capsule_queue_depth{",
		"capsule_breaker_open{",
		"capsule_append_latency_seconds_bucket{",
		"capsule_commit_batch_size_bucket{",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape has no %s", want)
		}
	}
	if t.Failed() {
		t.Log(body)
	}
}
