// Command httpservice is a small net/http service whose handlers call
// audited functions, and which serves the capsules they record over the
// read-only routes of package nethttp.
//
//	go run ./examples/httpservice [-addr 127.0.0.1:8080] [-db PATH]
//
// Summarize and Convert (service.go) carry //capsule:audit directives;
// capsulegen wrote AuditedSummarize and AuditedConvert beside them
// (main_capsule.go), and the handlers call those. Every request names its
// site in the X-Site-ID header, and each site gets a chain of its own:
//
//	curl -H 'X-Site-ID: acme' -d '{"text":"Ship it. Then rest."}' localhost:8080/summarize
//	curl -H 'X-Site-ID: acme' 'localhost:8080/convert?value=21&unit=c-to-f'
//	curl -H 'X-Site-ID: acme' localhost:8080/api/v1/capsules/
//	curl -H 'X-Site-ID: acme' localhost:8080/api/v1/capsules/verify
//	curl localhost:8080/api/v1/capsules/healthz
//
// A site ID the store cannot hold as a tenant (more than 36 characters on
// PostgreSQL) gets 400 with a JSON error before the call runs, rather
// than a call that runs unaudited.
//
// The capsule routes are bound to the X-Site-ID header, so one site never
// reads another's chain. A header stands in for authentication here; a
// real service takes the tenant from a verified credential.
//
// Without -db the capsules go to $QUANTUMPIPES_DATA_DIR/capsules.db when
// QUANTUMPIPES_DATA_DIR is set (so "capsule chains --db" and "capsule
// verify --db" read them there afterwards), else to a new temporary
// directory; the database is logged at start. The signing key is read or
// created beside a SQLite database, and in the data directory
// ($QUANTUMPIPES_DATA_DIR, else ~/.quantumpipes) for a postgres:// URL.
// The explorer of the recorded chains is at /api/v1/capsules/explore/
// (bound to X-Site-ID like the routes, so a browser needs the header).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/capsule-go/capsule"
	"github.com/capsule-go/capsule/integrations/nethttp"
	"github.com/capsule-go/capsule/storage/postgres"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	db := flag.String("db", "", "SQLite file or postgres:// URL of the capsules (default: $QUANTUMPIPES_DATA_DIR/capsules.db, else a new temporary directory)")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(*addr, *db, log); err != nil {
		log.Error("httpservice", "err", err)
		os.Exit(1)
	}
}

func run(addr, db string, log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	db, keyDir, err := chooseDB(db)
	if err != nil {
		return err
	}
	opts := []capsule.OpenOption{capsule.WithLogger(log)}
	if keyDir != "" {
		opts = append(opts, capsule.WithKeyDir(keyDir))
	}
	caps, err := capsule.Open(ctx, db, opts...)
	if err != nil {
		return err
	}
	defer caps.Close()
	// The Audited* wrappers record into the process default.
	capsule.SetDefault(caps)
	defer capsule.SetDefault(nil)

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           newHandler(caps, log),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("httpservice listening", "addr", ln.Addr().String(), "db", db)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

// chooseDB returns the database to record into and the directory of its
// signing key ("" for the data directory): db itself when given, else
// $QUANTUMPIPES_DATA_DIR/capsules.db, else capsules.db in a new temporary
// directory.
func chooseDB(db string) (path, keyDir string, err error) {
	if dir := os.Getenv("QUANTUMPIPES_DATA_DIR"); db == "" && dir != "" {
		db = filepath.Join(dir, "capsules.db")
	}
	if db == "" {
		dir, err := os.MkdirTemp("", "httpservice-")
		if err != nil {
			return "", "", fmt.Errorf("temporary directory: %w", err)
		}
		return filepath.Join(dir, "capsules.db"), dir, nil
	}
	if postgres.IsURL(db) {
		return db, "", nil
	}
	return db, filepath.Dir(strings.TrimPrefix(strings.TrimPrefix(db, "sqlite://"), "sqlite:")), nil
}

// newHandler returns the service: its own routes and the capsule routes,
// all bound to the X-Site-ID header.
func newHandler(caps *capsule.Capsules, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /summarize", func(w http.ResponseWriter, r *http.Request) { summarize(w, r, caps) })
	mux.HandleFunc("GET /convert", func(w http.ResponseWriter, r *http.Request) { convert(w, r, caps) })
	nethttp.Mount(mux, caps.Store(),
		nethttp.WithTenantFunc(site),
		nethttp.WithResolver(caps.Resolver()),
		// GET /api/v1/capsules/healthz fails while the audit breaker is
		// open, not only when the database does not answer.
		nethttp.WithHealth(caps.Health),
		nethttp.WithLogger(log))
	return mux
}

// site returns the site a request acts for: its X-Site-ID header, 1 to 64
// characters of lowercase letters, digits and hyphens.
func site(r *http.Request) (string, bool) {
	s := r.Header.Get("X-Site-ID")
	if s == "" || len(s) > 64 {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return "", false
		}
	}
	return s, true
}

// auditedSite returns the site of a request whose call is to be recorded
// in caps, or answers the request and returns false: 401 without a
// well-formed X-Site-ID, 400 for one the store cannot hold as a tenant
// (more than 36 characters on PostgreSQL), whose call would otherwise run
// unaudited.
func auditedSite(w http.ResponseWriter, r *http.Request, caps *capsule.Capsules) (string, bool) {
	siteID, ok := site(r)
	if !ok {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "X-Site-ID header missing or malformed"})
		return "", false
	}
	if err := caps.CheckTenant(siteID); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("X-Site-ID cannot name a chain in this store: %v", err)})
		return "", false
	}
	return siteID, true
}

func summarize(w http.ResponseWriter, r *http.Request, caps *capsule.Capsules) {
	siteID, ok := auditedSite(w, r, caps)
	if !ok {
		return
	}
	var body struct {
		Text string `json:"text"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&body); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body must be a JSON object with a text string"})
		return
	}
	sum, err := AuditedSummarize(r.Context(), SummarizeRequest{SiteID: siteID, Text: body.Text})
	if errors.Is(err, ErrEmptyText) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, sum)
}

func convert(w http.ResponseWriter, r *http.Request, caps *capsule.Capsules) {
	siteID, ok := auditedSite(w, r, caps)
	if !ok {
		return
	}
	q := r.URL.Query()
	value, err := strconv.ParseFloat(q.Get("value"), 64)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "value must be a number"})
		return
	}
	out, err := AuditedConvert(r.Context(), siteID, value, q.Get("unit"))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]float64{"value": out})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
