package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/capsule-go/capsule/integrations/nethttp"
)

const serveUsage = `
Usage: capsule serve [--db PATH | --pg URL] [--addr 127.0.0.1:8080] [--prefix /api/v1/capsules]

Serve the read-only HTTP routes over a database:
  GET {prefix}/         list capsules (limit, offset, type, tenant_id)
  GET {prefix}/verify   verify a chain (tenant_id, level)
  GET {prefix}/{id}     one sealed capsule by id or id prefix
  GET {prefix}/healthz  200 {"status":"ok"} when the database answers
                        within a second, else 503 with the reason
and, for people, a read-only HTML explorer of the same data at
{prefix}/explore/ (a browser opening / or {prefix}/ is sent there): the
chains, each chain newest first, each capsule, each chain's verification.
Signatures are verified with the keyring of the data directory
($QUANTUMPIPES_DATA_DIR, else ~/.quantumpipes) when it has one, and each
signature_pq with its ML-DSA-65 key (key.ml.pub) when it has that. The routes
do not authenticate: anyone who can reach the address can read every
chain, so keep the default loopback address or put an authenticating proxy
in front. SIGINT or SIGTERM stops the server gracefully.

Without --db or --pg it serves the database the library uses by default:
$CAPSULE_URL, else capsules.db in the data directory, and says which.`

// Timeouts of the HTTP server.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 2 * nethttp.DefaultVerifyTimeout // a verify may run that long
	idleTimeout       = 2 * time.Minute
	shutdownTimeout   = 10 * time.Second
)

func runServe(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	f := newFlags("serve", serveUsage, "capsule serve --db ~/.quantumpipes/capsules.db --addr 127.0.0.1:8080")
	var sf sourceFlags
	sf.register(f.FlagSet)
	addr := f.String("addr", "127.0.0.1:8080", "listen on `HOST:PORT`")
	prefix := f.String("prefix", nethttp.DefaultPrefix, "mount the routes under `PATH`")
	positional, code, ok := f.parse(args, stdout, stderr)
	if !ok {
		return code
	}
	if sf.tenantSet {
		return f.usageFail(stderr, "serve has no --tenant: the routes take a tenant_id parameter")
	}
	if len(positional) > 0 {
		return f.usageFail(stderr, "serve wants a database: --db PATH or --pg URL (default: the library's, $CAPSULE_URL or capsules.db in the data directory)")
	}
	src, err := openSource(ctx, &sf, nil, stdin, stderr)
	if err != nil {
		return f.fail(stderr, err, exitError)
	}
	defer src.Close()
	log := slog.New(slog.NewTextHandler(stderr, nil))

	var opts []nethttp.Option
	opts = append(opts, nethttp.WithPrefix(*prefix), nethttp.WithLogger(log))
	if resolve, err := dataDirResolver(); err == nil {
		opts = append(opts, nethttp.WithResolver(resolve))
		// Where the data directory has an ML-DSA-65 key, signature_pq is
		// checked too, as by capsule verify.
		if pq, err := dataDirPQKey(); err != nil {
			log.Warn("signature_pq verification unavailable", "reason", err.Error())
		} else if pq != nil {
			opts = append(opts, nethttp.WithPQPublicKey(pq))
		}
	} else {
		log.Warn("signature verification unavailable", "reason", err.Error())
	}

	handler, err := newHandler(src, opts)
	if err != nil {
		return f.usageFail(stderr, err.Error())
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return f.fail(stderr, err, exitError)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    64 << 10,
		// OPTIONS * reaches the handler, which answers JSON as for
		// every other request, instead of net/http's empty 200.
		DisableGeneralOptionsHandler: true,
		ErrorLog:                     slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:                  func(net.Listener) context.Context { return ctx },
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("capsule serve listening", "addr", ln.Addr().String(), "prefix", *prefix, "source", src.name,
		"explorer", "http://"+ln.Addr().String()+strings.TrimRight(*prefix, "/")+"/explore/")

	select {
	case err := <-served:
		return f.fail(stderr, err, exitError)
	case <-ctx.Done():
	}
	log.Info("capsule serve shutting down")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return f.fail(stderr, fmt.Errorf("shutdown: %w", err), exitError)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return f.fail(stderr, err, exitError)
	}
	log.Info("capsule serve stopped")
	return exitOK
}

// newHandler returns the routes, turning the panic nethttp.Handler raises
// on an invalid prefix into an error.
func newHandler(src *source, opts []nethttp.Option) (h http.Handler, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return nethttp.Handler(src.store, opts...), nil
}
