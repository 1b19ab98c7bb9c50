// Package nethttp serves the read-only capsule routes over net/http:
//
//	GET {prefix}/          list capsules, newest first
//	GET {prefix}/verify    verify a chain (or every chain)
//	GET {prefix}/{id}      one capsule by id or id prefix
//	GET {prefix}/{id}/proof  its inclusion proof (C2SP tlog-proof)
//	GET {prefix}/healthz   whether the store answers (see Health)
//
// and a read-only HTML explorer for people under {prefix}/explore/ (see
// below). The default prefix is /api/v1/capsules. [Handler] returns the routes on a
// mux of their own; [Mount] adds them to an application's *http.ServeMux.
//
// # Responses
//
// Every response this package writes is JSON (Content-Type
// application/json; charset=utf-8) with X-Content-Type-Options: nosniff and
// Cache-Control: no-store. A capsule is written as its sealed dict (the
// content plus hash, signature, signature_pq, signed_at and signed_by), in
// the bytes [protocol.AppendSealed] produces.
//
//   - GET {prefix}/?limit=&offset=&type=&tenant_id= answers
//     {"capsules":[…],"total":N,"limit":L,"offset":O,"next_offset":X,
//     "truncated":B,"unreadable":[…],"missing":[…]}. limit is an integer
//     from 1 to 100 (default 20), offset an integer >= 0 (default 0), type
//     one of the eight capsule types, tenant_id any tenant; an absent
//     tenant_id lists every tenant and an empty one (tenant_id=) the null
//     tenant. total counts every capsule matching type and tenant_id.
//     next_offset is the offset of the next page, null when this page
//     reaches the end; truncated is true when the byte bound (see Bounded
//     reads) ended the page before limit capsules. A stored capsule that
//     cannot be written as a sealed dict (a tampered row: its content is
//     not a JSON object) is left out of "capsules" and named in
//     "unreadable" as {"id","sequence","tenant_id","type","hash","offset",
//     "error"}: its place in the listing (offset), what its columns hold
//     and why it cannot be read; the page still answers 200.
//     A page of one chain (tenant_id given or bound, or the store holds
//     one chain) without type is found by sequence, in O(log n) at any
//     offset: offset N is the capsule at sequence head-N, and total is the
//     head's sequence + 1. In a whole chain that is exactly its position
//     and length. In a chain missing rows (removed behind the store's
//     back), offsets still count sequences from the head and total counts
//     the removed ones: each page names the runs of sequences it spans that
//     the chain lacks in "missing", as {"first_sequence","last_sequence",
//     "offset"} (newest first; first_sequence >= last_sequence), so a gap
//     is never hidden; verify reports it too. A page of one chain's
//     capsules of one type is found through a ladder the handler keeps
//     per chain and type (at most 256): a capsule of the type every 1,024,
//     numbered, found once by walking the type index from the head down
//     (at the first such request, resumed by the next if it runs out of
//     time) and then kept up to date by counting only the capsules
//     appended since; a page then skips fewer than 1,024 index entries
//     and total is the ladder's count plus those appended. Rows removed
//     below the ladder's head after it was built are not seen until the
//     handler restarts (verify reports them). Every other listing
//     (several chains, a chain with a row at a negative sequence) counts
//     rows: total is exact, and the page skips offset matching rows, in
//     time that grows with the offset. missing is [] but for pages found
//     by sequence.
//   - GET {prefix}/verify?tenant_id=&level= answers
//     {"valid","level","capsules_verified","chains_verified","complete",
//     "tenant_id","error","broken_at","broken_sequence","broken_tenant_id"}.
//     level is structural, full or signatures; the default is signatures
//     when a key resolver was given ([WithResolver]) and full otherwise, and
//     signatures without a resolver is a bad parameter. With tenant_id the
//     one chain is verified (tenant_id= is the null tenant's chain) and the
//     tenant_id field repeats it; without it every chain is verified in
//     turn, tenant_id is null, and broken_tenant_id names the chain of the
//     first bad capsule. error, broken_at, broken_sequence and
//     broken_tenant_id are null when nothing is broken.
//   - GET {prefix}/{id}?tenant_id= answers the sealed dict. id is a full
//     UUID or a prefix of one of 4 to 36 characters (lowercase hex, hyphens
//     where a UUID has them). A capsule that does not exist (or belongs to
//     another tenant than tenant_id or the bound tenant) is 404
//     {"error":"capsule not found"}; a prefix that matches several capsules
//     is 400 with parameter "id", like any other unusable id.
//   - GET {prefix}/{id}/proof?tenant_id= answers the capsule's C2SP
//     tlog-proof (see package proof), the one answer that is not JSON:
//     text/plain; charset=utf-8. It finds the capsule as the route above
//     does (same parameters, tenant binding and errors) and proves it
//     against the latest checkpoint the store keeps for its chain (the
//     witnessed one), or one the handler signs ([WithCheckpointSigner]);
//     when there is neither, 404 {"error":"no checkpoint includes this
//     capsule yet"}. A chain whose Merkle tree the store has not built
//     (a read-only store over a chain the Python reference wrote) is
//     proven from the chain itself, within the query timeout.
//
// A bad parameter (malformed, out of range, repeated or unknown) is 400
// {"error":"…","parameter":"name"}; a request never causes a 500. Storage
// failures are 503 {"error":"storage unavailable"}, with the underlying
// error logged through log/slog and never sent to the client. The capsule
// route answers a stored capsule that cannot be encoded (its content is
// not a JSON object) with 500 {"error":"stored capsule is
// unreadable","capsule_id":…}; the list route names it in "unreadable".
//
// # Health
//
// GET {prefix}/healthz answers 200 {"status":"ok"} when the store answers
// a chain head read and every check given with [WithHealth] returns nil,
// all within [HealthTimeout] (one second); otherwise 503
// {"status":"unavailable","error":reason} with Retry-After, the reason
// being "storage unavailable", "storage did not answer within 1s",
// "health check did not answer within 1s" or the failing check's message
// (the store's own error is logged, never sent). A service that appends
// passes its Capsules' Health, so that the route also fails while the
// audit breaker is open. The route takes no tenant and is not bound by
// [WithTenantFunc]: it tells nothing of the chains.
//
// # Bounded verification
//
// One verify request checks at most [WithVerifyLimit] capsules (default
// 1,000,000) and runs for at most [WithVerifyTimeout] (default 30s), so a
// client cannot pin the server. When either bound stops it early, the
// answer is the partial result with "complete":false: "valid":true then
// only means that no broken link was found among the capsules_verified
// capsules checked. A client that needs a verdict on the whole chain must
// check "complete" as well as "valid" (or use the capsule verify command,
// which has no bound). A broken chain is always reported as soon as it is
// found, with "complete":true.
//
// # Bounded reads
//
// The list and capsule routes wait for storage at most [WithQueryTimeout]
// (default 10s); a storage read that takes longer is 503 {"error":"storage
// did not answer in time"} with Retry-After. An id prefix is read from an
// index on both backends. At most [WithMaxVerify] verify requests (default
// 2) run at once per handler; the next one is 503 {"error":"too many
// verifications in progress; retry later"} with Retry-After, at once,
// rather than queueing behind them. Likewise at most [WithMaxList] list
// requests (default 4, the explorer's reads included) run at once; the
// next is 503 {"error":"too many list requests in progress; retry
// later"} with Retry-After. A page of the list holds at most
// [WithListBytes] bytes of capsule content (default 4 MiB): the store
// stops reading at the capsule that reaches the bound (so a page holds at
// least one capsule, whatever its size), and the answer says
// "truncated":true and gives next_offset. So one list request holds at
// most the bound plus one capsule in memory, however large the capsules.
//
// # Tenants
//
// By default the tenant_id query parameter chooses the tenant, so anyone
// who can reach the routes can read every chain. [WithTenantFunc] binds the
// tenant to the request's authentication instead: every route is then
// restricted to the bound tenant's chain, a capsule of another tenant is a
// 404 exactly like a missing one, a request the function does not
// authenticate is 401 {"error":"authentication required"}, and a tenant_id
// parameter that differs from the bound tenant is 403 {"error":"tenant_id
// does not match the authenticated tenant","parameter":"tenant_id"}
// (repeating the bound tenant is allowed).
//
// # Explorer
//
// The same data as pages a person opens in a browser, server-rendered with
// html/template from files embedded in the binary (no build step, no
// script, nothing loaded from elsewhere):
//
//	GET {prefix}/explore/                     the chains (limit, offset)
//	GET {prefix}/explore/chain?tenant_id=T    one chain, newest first (limit, offset, type)
//	GET {prefix}/explore/capsule/{id}         one capsule: the six sections and the seal
//	GET {prefix}/explore/verify?tenant_id=T   the chain's verification, the broken link marked
//	                                          (limit, offset: every capsule it verified, paged)
//	GET {prefix}/explore/style.css            the one stylesheet
//
// A GET of the mount point itself ({prefix}/ or {prefix}) whose Accept
// header contains text/html and which has no query string, which is what
// a browser sends, is redirected (303) to {prefix}/explore/; every other
// request to it (no Accept, */*, application/json, or any query) gets the
// JSON list as before, with Vary: Accept. The pages read through the JSON
// route handlers, called in process with the page request, so they obey
// the same tenant binding, parameter checks and verify bounds; a refusal
// is shown as a page with the route's status and message. Under
// [WithTenantFunc], tenant_id may be left out of the chain and verify
// pages. Every page is sent with Content-Security-Policy: default-src
// 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri
// 'none'; frame-ancestors 'none', and links between pages are relative, so
// the explorer works under any prefix and behind http.StripPrefix. A
// capsule whose stored content cannot be read (a tampered row) is shown
// in its place on the chain, chains and verify pages, marked broken, and
// its own page says it is unreadable. A capsule's page names its chain
// in the breadcrumb (opened without tenant_id too), and links its
// previous_hash to the capsule of its chain with that hash and its
// parent_id to that capsule.
//
// # Methods and paths
//
// The routes answer GET and HEAD only. On the mux of [Handler] any other
// method is 405 with Allow: GET, HEAD (OPTIONS * included, when the
// http.Server passes it on: set DisableGeneralOptionsHandler, as capsule
// serve does), and a path outside the routes (or not in clean form, such
// as one with "//" or "..") is 404, both as JSON. The root "/" of a
// Handler mounted under a prefix redirects a browser (as the mount point
// does, see Explorer) to {prefix}/explore/, and answers anything else 404
// {"error":"not found","routes":"{prefix}/","explorer":"{prefix}/explore/"}. [Mount] leaves those cases to the application's mux, which
// answers them itself (405 with an Allow header, 404) in plain text.
package nethttp

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/capsule-go/capsule/checkpoint"
	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/storage"
)

// DefaultPrefix is where the routes are mounted unless [WithPrefix] says
// otherwise.
const DefaultPrefix = "/api/v1/capsules"

// Defaults of the verify bounds.
const (
	// DefaultVerifyLimit is how many capsules one verify request checks at
	// most unless [WithVerifyLimit] says otherwise.
	DefaultVerifyLimit = 1_000_000
	// DefaultVerifyTimeout is how long one verify request runs at most
	// unless [WithVerifyTimeout] says otherwise.
	DefaultVerifyTimeout = 30 * time.Second
	// DefaultMaxVerify is how many verify requests one handler runs at
	// once unless [WithMaxVerify] says otherwise.
	DefaultMaxVerify = 2
	// DefaultQueryTimeout is how long the list and capsule routes wait for
	// storage unless [WithQueryTimeout] says otherwise.
	DefaultQueryTimeout = 10 * time.Second
	// DefaultListBytes is how many bytes of capsule content one page of
	// the list route holds at most (plus one capsule) unless
	// [WithListBytes] says otherwise.
	DefaultListBytes = 4 << 20
	// DefaultMaxList is how many list requests one handler runs at once
	// unless [WithMaxList] says otherwise.
	DefaultMaxList = 4
)

// retryAfter is the Retry-After of a 503: the seconds a client should
// wait before asking again.
const retryAfter = "5"

// Option configures [Handler] and [Mount].
type Option func(*config)

type config struct {
	prefix        string
	resolve       protocol.KeyResolver
	pqKey         []byte
	tenantFunc    func(*http.Request) (string, bool)
	log           *slog.Logger
	verifyLimit   int64
	verifyTimeout time.Duration
	maxVerify     int
	queryTimeout  time.Duration
	listBytes     int64
	maxList       int
	health        []func(context.Context) error
	cpSigner      checkpoint.MessageSigner
}

// WithPrefix mounts the routes under prefix instead of [DefaultPrefix]. The
// prefix is a path starting with "/"; a trailing "/" is ignored, so "/"
// mounts the routes at the root. "" keeps the default. Handler and Mount
// panic on a prefix that is not a clean plain path (no "{", "}", "%",
// spaces, "?", "#", "//", "." or ".." elements).
func WithPrefix(prefix string) Option { return func(c *config) { c.prefix = prefix } }

// WithPQPublicKey gives the ML-DSA-65 public key (the content of
// key.ml.pub, for instance [github.com/capsule-go/capsule.Capsules.PQPublicKey])
// that signature-level verification checks each capsule's signature_pq
// with, as `capsule verify` does. Without it (or with nil), signature_pq
// is not checked.
func WithPQPublicKey(key []byte) Option {
	return func(c *config) { c.pqKey = bytes.Clone(key) }
}

// WithResolver gives the key lookup that signature-level verification
// needs (for instance
// [github.com/capsule-go/capsule.Capsules.Resolver]). With it, verify
// defaults to level signatures; without it, to level full, and level
// signatures is refused.
func WithResolver(resolve protocol.KeyResolver) Option {
	return func(c *config) { c.resolve = resolve }
}

// WithTenantFunc binds the tenant to the request's authentication: f
// returns the authenticated tenant ("" is the null tenant) and ok true, or
// ok false when the request is not authenticated (401). Every route is
// then restricted to that tenant's chain; see the package documentation.
func WithTenantFunc(f func(r *http.Request) (tenant string, ok bool)) Option {
	return func(c *config) { c.tenantFunc = f }
}

// WithLogger sets the logger for storage failures; the default is
// slog.Default().
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// WithVerifyLimit bounds how many capsules one verify request checks
// (default [DefaultVerifyLimit]); n <= 0 removes the bound.
func WithVerifyLimit(n int64) Option { return func(c *config) { c.verifyLimit = n } }

// WithVerifyTimeout bounds how long one verify request runs (default
// [DefaultVerifyTimeout]); d <= 0 removes the bound.
func WithVerifyTimeout(d time.Duration) Option { return func(c *config) { c.verifyTimeout = d } }

// WithMaxVerify bounds how many verify requests run at once on the
// handler (default [DefaultMaxVerify]); n <= 0 removes the bound.
func WithMaxVerify(n int) Option { return func(c *config) { c.maxVerify = n } }

// WithQueryTimeout bounds how long the list and capsule routes wait for
// storage (default [DefaultQueryTimeout]); d <= 0 removes the bound.
func WithQueryTimeout(d time.Duration) Option { return func(c *config) { c.queryTimeout = d } }

// WithListBytes bounds the capsule content one page of the list route
// holds (default [DefaultListBytes]): the page ends with the capsule that
// brings it to n bytes or more, so it holds at least one capsule whatever
// its size, and says "truncated":true with the next page's offset.
// n <= 0 removes the bound.
func WithListBytes(n int64) Option { return func(c *config) { c.listBytes = n } }

// WithMaxList bounds how many list requests run at once on the handler
// (default [DefaultMaxList]), the explorer's pages included; the next one
// is refused with 503 and Retry-After. n <= 0 removes the bound.
func WithMaxList(n int) Option { return func(c *config) { c.maxList = n } }

// server holds what the handlers share.
type server struct {
	store  storage.Store
	prefix string // without trailing slash; "" at the root
	config
	// verifying holds a token per verify request running; nil when
	// unbounded.
	verifying chan struct{}
	// listing holds a token per list request running; nil when unbounded.
	listing chan struct{}
	// ladders page one chain's capsules of one type.
	ladders ladders
}

func newServer(store storage.Store, opts []Option) *server {
	if store == nil {
		panic("nethttp: nil store")
	}
	cfg := config{
		verifyLimit:   DefaultVerifyLimit,
		verifyTimeout: DefaultVerifyTimeout,
		maxVerify:     DefaultMaxVerify,
		queryTimeout:  DefaultQueryTimeout,
		listBytes:     DefaultListBytes,
		maxList:       DefaultMaxList,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.log == nil {
		cfg.log = slog.Default()
	}
	prefix, err := cleanPrefix(cfg.prefix)
	if err != nil {
		panic("nethttp: " + err.Error())
	}
	s := &server{store: store, prefix: prefix, config: cfg}
	if cfg.maxVerify > 0 {
		s.verifying = make(chan struct{}, cfg.maxVerify)
	}
	if cfg.maxList > 0 {
		s.listing = make(chan struct{}, cfg.maxList)
	}
	return s
}

// cleanPrefix validates a prefix and removes its trailing slashes.
func cleanPrefix(p string) (string, error) {
	if p == "" {
		return DefaultPrefix, nil
	}
	if !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("prefix %q does not start with /", p)
	}
	if i := strings.IndexAny(p, "{}% \t\r\n?#"); i >= 0 {
		return "", fmt.Errorf("prefix %q contains %q", p, p[i])
	}
	p = strings.TrimRight(p, "/")
	if p != "" && path.Clean(p) != p {
		return "", fmt.Errorf("prefix %q is not a clean path", p)
	}
	return p, nil
}

// Handler returns the routes mounted under the prefix (default
// [DefaultPrefix]) on a new ServeMux. Requests with another method than
// GET or HEAD get 405 JSON with an Allow header, and paths outside the
// routes 404 JSON. It panics if store is nil or the prefix is invalid.
func Handler(store storage.Store, opts ...Option) http.Handler {
	s := newServer(store, opts)
	mux := http.NewServeMux()
	s.mount(mux)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.RequestURI == "*" {
			// OPTIONS * (or any method on *): no route takes it.
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, "method not allowed", "")
			return
		}
		probe := r
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			probe = r.Clone(r.Context())
			probe.Method = http.MethodGet
		}
		if r.URL.Path == "/" && s.prefix != "" {
			s.root(w, r)
			return
		}
		if _, pattern := mux.Handler(probe); pattern == "" || cleanPath(r.URL.Path) != r.URL.Path {
			// No route, or a path the mux would redirect to its clean form:
			// answer JSON rather than the mux's text and HTML.
			writeError(w, http.StatusNotFound, "not found", "")
			return
		}
		if probe != r {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, "method not allowed", "")
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// root answers the root of a Handler mounted under a prefix: a browser
// opening it (see wantsHTML) is sent to the explorer, anything else gets
// a JSON 404 that names where the routes are.
func (s *server) root(w http.ResponseWriter, r *http.Request) {
	if (r.Method == http.MethodGet || r.Method == http.MethodHead) && wantsHTML(r) {
		s.toExplorer(w, r)
		return
	}
	w.Header().Add("Vary", "Accept")
	buf := append([]byte(`{"error":"not found","routes":`), appendString(nil, s.prefix+"/")...)
	buf = append(append(buf, `,"explorer":`...), appendString(nil, s.prefix+"/explore/")...)
	writeJSON(w, http.StatusNotFound, append(buf, '}'))
}

// cleanPath returns the canonical form of p as ServeMux computes it: rooted,
// without "." and ".." elements or repeated slashes, keeping a trailing
// slash.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		np += "/"
	}
	return np
}

// Mount registers the routes on mux under the prefix (default
// [DefaultPrefix]): GET {prefix}/ (and GET {prefix} without the slash),
// GET {prefix}/verify, GET {prefix}/{id} and GET {prefix}/{id}/proof. It
// panics if store is nil, the
// prefix is invalid, or the patterns conflict with ones already on mux.
func Mount(mux *http.ServeMux, store storage.Store, opts ...Option) {
	newServer(store, opts).mount(mux)
}

func (s *server) mount(mux *http.ServeMux) {
	list := s.negotiate(s.list)
	mux.Handle("GET "+s.prefix+"/{$}", list)
	if s.prefix != "" {
		mux.Handle("GET "+s.prefix, list)
	}
	mux.HandleFunc("GET "+s.prefix+"/verify", s.verify)
	mux.HandleFunc("GET "+s.prefix+"/healthz", s.healthz)
	mux.HandleFunc("GET "+s.prefix+"/{id}", s.get)
	mux.HandleFunc("GET "+s.prefix+"/{id}/proof", s.proofRoute)
	s.mountExplorer(mux)
}
