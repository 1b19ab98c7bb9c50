package nethttp

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/capsule-go/capsule/checkpoint"
	"github.com/capsule-go/capsule/internal/sections"
	"github.com/capsule-go/capsule/proof"
	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/storage"
)

// The explorer is a read-only HTML view of the same data, for people:
//
//	GET {prefix}/explore/                      the chains
//	GET {prefix}/explore/chain?tenant_id=T     one chain, newest first (limit, offset, type)
//	GET {prefix}/explore/capsule/{id}          one capsule: six sections and seal
//	GET {prefix}/explore/verify?tenant_id=T    the chain's verification, broken link marked
//
// Every page reads through the JSON route handlers of this package, called
// in process with the page request's context and headers, so a page obeys
// exactly the tenant binding, parameter checks and bounds of those routes.

// explorerCSP is the Content-Security-Policy of every explorer response:
// nothing but the explorer's own stylesheet loads, no script runs, forms
// only submit to the explorer and no other site can frame it.
const explorerCSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

//go:embed explorer
var explorerFiles embed.FS

// explorerPages returns the parsed templates, one set per page, each
// joined with the shared layout. They are parsed on first use, so that
// programs that never serve a page (the capsule command's other
// subcommands) do not pay for it at start.
var explorerPages = sync.OnceValue(func() map[string]*template.Template {
	return parsePages("chains", "chain", "capsule", "verify", "error")
})

// explorerCSS returns the stylesheet, served at {prefix}/explore/style.css.
var explorerCSS = sync.OnceValue(func() []byte { return mustRead("explorer/style.css") })

func mustRead(name string) []byte {
	b, err := fs.ReadFile(explorerFiles, name)
	if err != nil {
		panic("nethttp: embedded " + name + ": " + err.Error())
	}
	return b
}

func parsePages(names ...string) map[string]*template.Template {
	funcs := template.FuncMap{"shortHash": shortHash}
	layout := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(explorerFiles, "explorer/layout.html"))
	pages := make(map[string]*template.Template, len(names))
	for _, n := range names {
		pages[n] = template.Must(template.Must(layout.Clone()).ParseFS(explorerFiles, "explorer/"+n+".html"))
	}
	return pages
}

// mountExplorer adds the explorer pages to mux.
func (s *server) mountExplorer(mux *http.ServeMux) {
	base := s.prefix + "/explore"
	mux.HandleFunc("GET "+base, s.toExplorer)
	mux.HandleFunc("GET "+base+"/{$}", s.pageChains)
	mux.HandleFunc("GET "+base+"/chain", s.pageChain)
	mux.HandleFunc("GET "+base+"/capsule/{id}", s.pageCapsule)
	mux.HandleFunc("GET "+base+"/verify", s.pageVerify)
	mux.HandleFunc("GET "+base+"/style.css", serveCSS)
	// Unknown pages deeper than one element get the explorer's 404 page.
	// (One element, base+"/{page}", would clash with the proof route
	// {prefix}/{id}/proof at base+"/proof": those get the JSON 404.)
	mux.HandleFunc("GET "+base+"/{page}/{rest...}", func(w http.ResponseWriter, r *http.Request) {
		s.render(w, r, http.StatusNotFound, "error", "", errorPage{Message: "There is no such page."})
	})
}

// wantsHTML reports whether a request to the list route comes from a
// browser opening the mount point: it accepts text/html and asks nothing
// of the list. JSON clients (no Accept header, */*, application/json) and
// any request with a query string get the JSON route as before.
func wantsHTML(r *http.Request) bool {
	return r.URL.RawQuery == "" && strings.Contains(r.Header.Get("Accept"), "text/html")
}

// negotiate sends browsers opening the mount point to the explorer and
// everything else to the list route.
func (s *server) negotiate(list http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if wantsHTML(r) {
			s.toExplorer(w, r)
			return
		}
		w.Header().Add("Vary", "Accept")
		list(w, r)
	}
}

// toExplorer redirects to the chains page.
func (s *server) toExplorer(w http.ResponseWriter, r *http.Request) {
	w.Header().Add("Vary", "Accept")
	http.Redirect(w, r, s.prefix+"/explore/", http.StatusSeeOther)
}

func serveCSS(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/css; charset=utf-8")
	h.Set("Content-Security-Policy", explorerCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-cache")
	css := explorerCSS()
	h.Set("Content-Length", strconv.Itoa(len(css)))
	w.WriteHeader(http.StatusOK)
	w.Write(css)
}

// page is what every template gets.
type page struct {
	Title string
	Base  string // relative path from the page to {prefix}/explore/
	Crumb []link // the path from the chains page to this one
	Data  any
}

type link struct {
	Text, URL string
}

// errorPage is the data of the error template.
type errorPage struct {
	Status  int
	Message string
	Param   string
}

// render writes one page with the explorer's headers.
func (s *server) render(w http.ResponseWriter, r *http.Request, status int, name, base string, data any, crumb ...link) {
	if e, ok := data.(errorPage); ok {
		e.Status = status
		data = e
	}
	if base == "" {
		base = "./"
	}
	p := page{Title: pageTitle(name, data), Base: base, Crumb: crumb, Data: data}
	var buf bytes.Buffer
	if err := explorerPages()[name].ExecuteTemplate(&buf, "layout.html", p); err != nil {
		s.log.ErrorContext(r.Context(), "nethttp: explorer template", "page", name, "err", err)
		buf.Reset()
		buf.WriteString("<!doctype html><title>capsule explorer</title><p>This page could not be shown.</p>\n")
		status = http.StatusInternalServerError
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", explorerCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func pageTitle(name string, data any) string {
	switch d := data.(type) {
	case chainView:
		return "Chain " + d.Tenant.Label
	case capsuleView:
		return "Capsule " + d.ID
	case verifyView:
		return "Verification of " + d.Tenant.Label
	case errorPage:
		return http.StatusText(d.Status)
	}
	return "Chains"
}

// captured is the answer of a JSON route called in process.
type captured struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (c *captured) Header() http.Header { return c.header }

func (c *captured) WriteHeader(status int) {
	if c.status == 0 {
		c.status = status
	}
}

func (c *captured) Write(b []byte) (int, error) {
	c.WriteHeader(http.StatusOK)
	return c.body.Write(b)
}

// routeError is a JSON route's refusal, shown as an error page.
type routeError struct {
	status    int
	msg       string
	param     string
	capsuleID string // the stored capsule that is unreadable, if that is the refusal
}

func (e *routeError) Error() string { return e.msg }

// call runs a JSON route handler for the page request r with the query q
// (and the path value id, when not ""), and decodes its answer into v. A
// status other than 200 is returned as a *routeError with the route's
// message.
func (s *server) call(r *http.Request, route http.HandlerFunc, path string, q url.Values, id string, v any) *routeError {
	body, e := s.callRaw(r, route, path, q, id)
	if e != nil {
		return e
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		s.log.ErrorContext(r.Context(), "nethttp: explorer could not read a route's answer", "path", path, "err", err)
		return &routeError{status: http.StatusInternalServerError, msg: "the answer of the " + path + " route is unreadable"}
	}
	return nil
}

// callRaw runs route as call does and returns its answer's body.
func (s *server) callRaw(r *http.Request, route http.HandlerFunc, path string, q url.Values, id string) ([]byte, *routeError) {
	sub := r.Clone(r.Context())
	sub.URL = &url.URL{Path: path, RawQuery: q.Encode()}
	sub.RequestURI = ""
	if id != "" {
		sub.SetPathValue("id", id)
	}
	out := &captured{header: http.Header{}}
	route(out, sub)
	if out.status != http.StatusOK {
		var e struct {
			Error     string `json:"error"`
			Parameter string `json:"parameter"`
			CapsuleID string `json:"capsule_id"`
		}
		json.Unmarshal(out.body.Bytes(), &e)
		if e.Error == "" {
			e.Error = http.StatusText(out.status)
		}
		return nil, &routeError{status: out.status, msg: e.Error, param: e.Parameter, capsuleID: e.CapsuleID}
	}
	return out.body.Bytes(), nil
}

// fail renders a route's refusal (or a page's own bad parameter).
func (s *server) fail(w http.ResponseWriter, r *http.Request, base string, e *routeError) {
	s.render(w, r, e.status, "error", base, errorPage{Message: e.msg, Param: e.param})
}

// refuse renders a request error of the page's own checks.
func (s *server) refuse(w http.ResponseWriter, r *http.Request, base string, e *requestError) {
	s.fail(w, r, base, &routeError{status: e.status, msg: e.msg, param: e.param})
}

// pageChainTenant authenticates a page about one chain and returns the
// chain: the tenant_id parameter (nil when absent), else the bound
// tenant. ok is false when the page has been answered with a refusal.
func (s *server) pageChainTenant(w http.ResponseWriter, r *http.Request, param *string) (tenant string, ok bool) {
	bound, rerr := s.authenticate(r)
	if rerr != nil {
		s.refuse(w, r, "", rerr)
		return "", false
	}
	tenant, e := chainTenant(bound, param)
	if e != nil {
		s.fail(w, r, "", e)
		return "", false
	}
	return tenant, true
}

// listAnswer is the list route's answer.
type listAnswer struct {
	Capsules   []map[string]any  `json:"capsules"`
	Total      int64             `json:"total"`
	Limit      int               `json:"limit"`
	Offset     int64             `json:"offset"`
	NextOffset *int64            `json:"next_offset"`
	Truncated  bool              `json:"truncated"`
	Unreadable []unreadableEntry `json:"unreadable"`
	Missing    []missingEntry    `json:"missing"`
}

// missingEntry is an element of the list route's "missing": a run of
// sequences the page spans that the chain does not hold.
type missingEntry struct {
	First  int64 `json:"first_sequence"`
	Last   int64 `json:"last_sequence"`
	Offset int64 `json:"offset"`
}

// unreadableEntry is an element of the list route's "unreadable": a
// capsule whose stored content cannot be read.
type unreadableEntry struct {
	ID       string `json:"id"`
	Sequence int64  `json:"sequence"`
	Tenant   string `json:"tenant_id"`
	Type     string `json:"type"`
	Hash     string `json:"hash"`
	Offset   int64  `json:"offset"`
	Error    string `json:"error"`
}

// rows returns the answer's capsules as table rows in listing order, the
// unreadable ones in their places, marked broken.
func (a *listAnswer) rows(tenant tenantRef, base string) []rowView {
	out := make([]rowView, 0, len(a.Capsules)+len(a.Unreadable))
	next := 0 // the next readable capsule
	for _, u := range a.Unreadable {
		for ; next < len(a.Capsules) && a.Offset+int64(len(out)) < u.Offset; next++ {
			out = append(out, newRow(a.Capsules[next], tenant, base))
		}
		out = append(out, rowView{
			ID: u.ID, Short: shortID(u.ID), Sequence: strconv.FormatInt(u.Sequence, 10), Type: u.Type, Hash: u.Hash,
			CapsuleURL: capsuleURL(base, u.ID, tenant), Broken: true, Unreadable: u.Error,
		})
	}
	for ; next < len(a.Capsules); next++ {
		out = append(out, newRow(a.Capsules[next], tenant, base))
	}
	// A missing run goes before the first row below it: rows are newest
	// first.
	for _, m := range a.Missing {
		at := slices.IndexFunc(out, func(r rowView) bool {
			seq, err := strconv.ParseInt(r.Sequence, 10, 64)
			return err == nil && seq < m.Last
		})
		if at < 0 {
			at = len(out)
		}
		seqs := strconv.FormatInt(m.First, 10)
		if m.Last != m.First {
			seqs += "–" + strconv.FormatInt(m.Last, 10)
		}
		out = slices.Insert(out, at, rowView{Sequence: seqs, Broken: true,
			Missing: "the chain holds no capsule at sequence " + seqs + ": rows were removed"})
	}
	return out
}

// tenantRef names a chain for the pages.
type tenantRef struct {
	ID    string // the tenant id; "" is the null tenant
	Label string // what people read
	Query string // "tenant_id=…", escaped
}

func newTenantRef(t string) tenantRef {
	label := t
	if t == "" {
		label = "(null tenant)"
	}
	return tenantRef{ID: t, Label: label, Query: url.Values{"tenant_id": {t}}.Encode()}
}

// rowView is one capsule in a table.
type rowView struct {
	ID, Short  string
	Sequence   string
	Type       string
	Time       string
	Source     string
	Status     string
	Hash       string
	CapsuleURL string
	Broken     bool
	Verified   bool   // marked as verified (the verification page)
	Unreadable string // why the stored capsule cannot be read; "" when it can
	Missing    string // for a run of sequences the chain lacks, what is missing
}

func newRow(m map[string]any, tenant tenantRef, base string) rowView {
	id := str(m["id"])
	return rowView{
		ID: id, Short: shortID(id), Sequence: str(m["sequence"]), Type: str(m["type"]),
		Time: str(member(m, "trigger", "timestamp")), Source: str(member(m, "trigger", "source")),
		Status: str(member(m, "outcome", "status")), Hash: str(m["hash"]),
		CapsuleURL: capsuleURL(base, id, tenant),
	}
}

// capsuleURL is the link from a page at base to the page of capsule id.
func capsuleURL(base, id string, tenant tenantRef) string {
	return base + "capsule/" + url.PathEscape(id) + "?" + tenant.Query
}

// member returns m[section][key], nil when absent.
func member(m map[string]any, section, key string) any {
	sec, _ := m[section].(map[string]any)
	return sec[key]
}

// str writes a scalar for a table cell: strings as they are, numbers as
// written, null and absent as "".
func str(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	}
	return ""
}

// shortID abbreviates a UUID to its first and last 8 hex digits. Both
// ends matter: time-ordered ids (version 7, which capsule writes) taken
// within a minute share their first 8 digits, and differ at the end.
func shortID(id string) string {
	if len(id) == 36 {
		return id[:8] + "…" + id[28:]
	}
	return id
}

func shortHash(h string) string {
	if len(h) > 16 {
		return h[:16] + "…"
	}
	return h
}

// maxChainRows bounds the chains page like the list route bounds a page
// of capsules.
const maxChainRows = maxLimit

// chainsView is the chains page.
type chainsView struct {
	Chains        []chainRow
	Total         int
	From, To      int
	Newer, Older  string
	TenantIsBound bool
}

type chainRow struct {
	Tenant    tenantRef
	Length    int64
	Head      rowView
	ChainURL  string
	VerifyURL string
}

// pageChains serves GET {prefix}/explore/: every chain (the bound one
// only, under WithTenantFunc), limit and offset paging through them.
func (s *server) pageChains(w http.ResponseWriter, r *http.Request) {
	bound, rerr := s.authenticate(r)
	if rerr != nil {
		s.refuse(w, r, "", rerr)
		return
	}
	q, rerr := parseListQuery(r.URL.RawQuery)
	if rerr == nil && (q.typ != "" || q.tenant != nil) {
		rerr = badParam("", "the chains page takes limit and offset only")
	}
	if rerr != nil {
		s.refuse(w, r, "", rerr)
		return
	}
	var tenants []string
	if bound != nil {
		tenants = []string{*bound}
	} else {
		var err error
		if tenants, err = s.store.Tenants(r.Context()); err != nil {
			s.storageFailure(w, r, "explore chains", err)
			return
		}
	}
	v := chainsView{Total: len(tenants), TenantIsBound: bound != nil}
	from := int(min(q.offset, int64(len(tenants))))
	to := min(from+min(q.limit, maxChainRows), len(tenants))
	for _, t := range tenants[from:to] {
		ref := newTenantRef(t)
		var ans listAnswer
		if e := s.call(r, s.list, s.prefix+"/", url.Values{"tenant_id": {t}, "limit": {"1"}}, "", &ans); e != nil {
			s.fail(w, r, "", e)
			return
		}
		row := chainRow{Tenant: ref, Length: ans.Total, ChainURL: "chain?" + ref.Query, VerifyURL: "verify?" + ref.Query}
		if rows := ans.rows(ref, ""); len(rows) > 0 {
			row.Head = rows[0]
		}
		v.Chains = append(v.Chains, row)
	}
	v.From, v.To = from+1, to
	if from > 0 {
		v.Newer = pageURL("", url.Values{}, max(from-q.limit, 0), q.limit)
	}
	if to < len(tenants) {
		v.Older = pageURL("", url.Values{}, to, q.limit)
	}
	s.render(w, r, http.StatusOK, "chains", "", v)
}

// pageURL is the URL of another page of a paged view.
func pageURL(path string, q url.Values, offset, limit int) string {
	q = cloneValues(q)
	if offset > 0 {
		q.Set("offset", strconv.Itoa(offset))
	}
	if limit != defaultLimit {
		q.Set("limit", strconv.Itoa(limit))
	}
	if len(q) == 0 {
		return "./" + path
	}
	return "./" + path + "?" + q.Encode()
}

// cloneValues copies q.
func cloneValues(q url.Values) url.Values {
	out := make(url.Values, len(q))
	for k, v := range q {
		out[k] = slices.Clone(v)
	}
	return out
}

// chainTenant returns the chain a page is about: the tenant_id parameter,
// else the bound tenant; a page without either is a bad request.
func chainTenant(bound, param *string) (string, *routeError) {
	switch {
	case param != nil:
		return *param, nil
	case bound != nil:
		return *bound, nil
	}
	return "", &routeError{status: http.StatusBadRequest, msg: "tenant_id is required: it names the chain (tenant_id= is the null tenant's)", param: "tenant_id"}
}

// chainView is the page of one chain.
type chainView struct {
	Tenant       tenantRef
	Rows         []rowView
	Total        int64
	From, To     int64
	Newer, Older string
	Type         string
	Types        []string
	VerifyURL    string
}

// pageChain serves GET {prefix}/explore/chain: one chain newest first,
// with the list route's limit, offset and type.
func (s *server) pageChain(w http.ResponseWriter, r *http.Request) {
	q, rerr := parseListQuery(dropEmpty(r.URL.RawQuery, "type"))
	if rerr != nil {
		s.refuse(w, r, "", rerr)
		return
	}
	tenant, ok := s.pageChainTenant(w, r, q.tenant)
	if !ok {
		return
	}
	ref := newTenantRef(tenant)
	sub := url.Values{"tenant_id": {tenant}, "limit": {strconv.Itoa(q.limit)}, "offset": {strconv.FormatInt(q.offset, 10)}}
	if q.typ != "" {
		sub.Set("type", q.typ)
	}
	var ans listAnswer
	if e := s.call(r, s.list, s.prefix+"/", sub, "", &ans); e != nil {
		s.fail(w, r, "", e)
		return
	}
	v := chainView{Tenant: ref, Total: ans.Total, Type: q.typ, VerifyURL: "verify?" + ref.Query}
	v.Types = protocol.Types()
	v.Rows = ans.rows(ref, "")
	// The page ends where the next one starts, or at the end.
	v.From, v.To = q.offset+1, ans.Total
	if ans.NextOffset != nil {
		v.To = *ans.NextOffset
	}
	keep := url.Values{"tenant_id": {tenant}}
	if q.typ != "" {
		keep.Set("type", q.typ)
	}
	if q.offset > 0 {
		v.Newer = pageURL("chain", keep, int(max(q.offset-int64(q.limit), 0)), q.limit)
	}
	if ans.NextOffset != nil {
		v.Older = pageURL("chain", keep, int(*ans.NextOffset), q.limit)
	}
	s.render(w, r, http.StatusOK, "chain", "", v, link{"Chains", "./"})
}

// sealKeys are the seal's fields, in the order the page shows them.
var sealKeys = sections.Seal

// capsuleView is the page of one capsule.
type capsuleView struct {
	ID         string
	Unreadable bool       // its stored content cannot be read: only ID is known
	Tenant     *tenantRef // nil when the page does not know the chain
	Identity   []fieldView
	Sections   []sectionView
	Seal       []fieldView
	ChainURL   string
	VerifyURL  string
	Log        *logView // the checkpoint that includes the capsule; nil when none
	LogNote    string   // why there is none
}

// logView is the checkpoint a capsule's proof is against.
type logView struct {
	Origin    string
	Size      int64
	Root      string
	Time      string
	Index     int64
	Witnesses []string // names of the cosignatures the checkpoint carries
	ProofURL  string
}

// newLogView describes the proof body p of capsule id.
func newLogView(body []byte, id string, q url.Values) (*logView, error) {
	p, err := proof.Parse(body)
	if err != nil {
		return nil, err
	}
	text, sigs, _ := strings.Cut(string(p.Checkpoint), "\n\n")
	cp, err := checkpoint.Parse(text + "\n")
	if err != nil {
		return nil, err
	}
	v := &logView{Origin: cp.Origin, Size: cp.Size, Root: cp.Root.String(), Index: p.Index,
		ProofURL: "../../" + url.PathEscape(id) + "/proof"}
	if t, ok := cp.Time(); ok {
		v.Time = t.UTC().Format(time.RFC3339)
	}
	if len(q) > 0 {
		v.ProofURL += "?" + q.Encode()
	}
	for _, line := range strings.Split(sigs, "\n") {
		rest, ok := strings.CutPrefix(line, "— ")
		if name, _, _ := strings.Cut(rest, " "); ok && name != cp.Origin && !slices.Contains(v.Witnesses, name) {
			v.Witnesses = append(v.Witnesses, name)
		}
	}
	return v, nil
}

type sectionView struct {
	Name   string
	Fields []fieldView
}

// fieldView is one key and its value, in the form the template shows.
type fieldView struct {
	Key  string
	Kind string // "text", "empty", "null", "number", "bool", "json"
	Text string
	URL  string // the page Text links to; "" when none
}

func newField(key string, v any) fieldView {
	f := fieldView{Key: key}
	switch v := v.(type) {
	case nil:
		f.Kind, f.Text = "null", "null"
	case string:
		f.Kind, f.Text = "text", v
		if v == "" {
			f.Kind, f.Text = "empty", `""`
		}
	case json.Number:
		f.Kind, f.Text = "number", v.String()
	case bool:
		f.Kind, f.Text = "bool", strconv.FormatBool(v)
	case []any:
		if len(v) == 0 {
			f.Kind, f.Text = "empty", "[]"
			break
		}
		f.Kind, f.Text = "json", indentJSON(v)
	case map[string]any:
		if len(v) == 0 {
			f.Kind, f.Text = "empty", "{}"
			break
		}
		f.Kind, f.Text = "json", indentJSON(v)
	default:
		f.Kind, f.Text = "text", fmt.Sprint(v)
	}
	return f
}

// indentJSON writes a nested value as indented JSON, its text unescaped:
// the template escapes it for HTML.
func indentJSON(v any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// pageCapsule serves GET {prefix}/explore/capsule/{id}: the get route's
// capsule, readable.
func (s *server) pageCapsule(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	vals, rerr := parseQuery(r.URL.RawQuery, "tenant_id")
	if rerr != nil {
		s.refuse(w, r, "../", rerr)
		return
	}
	q := url.Values{}
	if t, ok := vals["tenant_id"]; ok {
		q.Set("tenant_id", t)
	}
	// The capsule route notes the capsule's chain, so that a page opened
	// without tenant_id can still name it.
	sink := new(tenantSink)
	r = r.WithContext(context.WithValue(r.Context(), tenantSinkKey{}, sink))
	var m map[string]any
	e := s.call(r, s.get, s.prefix+"/"+id, q, id, &m)
	if e != nil && e.capsuleID == "" {
		s.fail(w, r, "../", e)
		return
	}
	v := capsuleView{ID: str(m["id"])}
	crumb := []link{{"Chains", "../"}}
	tenant, hasTenant := vals["tenant_id"]
	if !hasTenant && sink.known {
		tenant, hasTenant = sink.tenant, true
	}
	if hasTenant {
		t := tenant
		ref := newTenantRef(t)
		v.Tenant = &ref
		v.ChainURL, v.VerifyURL = "../chain?"+ref.Query, "../verify?"+ref.Query
		crumb = append(crumb, link{ref.Label, v.ChainURL})
	}
	if e != nil {
		// A tampered row: the route names it but cannot show it. Show
		// it as broken, as the chain and verify pages do.
		v.ID, v.Unreadable = e.capsuleID, true
		s.render(w, r, http.StatusOK, "capsule", "../", v, crumb...)
		return
	}
	known := []string{"id"}
	for _, k := range sections.Identity {
		known = append(known, k)
		if val, ok := m[k]; ok {
			f := newField(k, val)
			switch k {
			case "previous_hash":
				if hasTenant {
					f.URL = s.capsuleByHash(r, str(val), tenant)
				}
			case "parent_id":
				if id := str(val); id != "" {
					f.URL = "../capsule/" + url.PathEscape(id)
				}
			}
			v.Identity = append(v.Identity, f)
		}
	}
	for _, order := range sections.Order {
		name := order[0]
		known = append(known, name)
		val, ok := m[name]
		if !ok {
			continue
		}
		sec := sectionView{Name: name}
		if sm, isMap := val.(map[string]any); isMap {
			for _, k := range sections.Keys(sm, order[1:]) {
				sec.Fields = append(sec.Fields, newField(k, sm[k]))
			}
		} else {
			sec.Fields = append(sec.Fields, newField(name, val))
		}
		v.Sections = append(v.Sections, sec)
	}
	known = append(known, sealKeys...)
	for _, k := range sealKeys {
		if val, ok := m[k]; ok {
			v.Seal = append(v.Seal, newField(k, val))
		}
	}
	var extra []fieldView
	for _, k := range sections.Keys(m, nil) {
		if !slices.Contains(known, k) {
			extra = append(extra, newField(k, m[k]))
		}
	}
	if extra != nil {
		v.Sections = append(v.Sections, sectionView{Name: "other fields", Fields: extra})
	}
	// The transparency log: the checkpoint the proof route proves the
	// capsule against, with the same tenant binding.
	body, e := s.callRaw(r, s.proofRoute, s.prefix+"/"+id+"/proof", q, id)
	switch {
	case e != nil:
		v.LogNote = e.msg
	default:
		lv, err := newLogView(body, v.ID, q)
		if err != nil {
			s.log.ErrorContext(r.Context(), "nethttp: explorer could not read a proof", "capsule_id", v.ID, "err", err)
			v.LogNote = "the proof is unreadable"
		}
		v.Log = lv
	}
	s.render(w, r, http.StatusOK, "capsule", "../", v, crumb...)
}

// tenantSinkKey is the context key of a *tenantSink.
type tenantSinkKey struct{}

// tenantSink receives the tenant of the capsule the capsule route answers
// with, for the capsule page that called it in process; JSON clients never
// see it.
type tenantSink struct {
	tenant string
	known  bool
}

// noteTenant gives tenant to the request's tenantSink, if it has one.
func noteTenant(r *http.Request, tenant string) {
	if sink, ok := r.Context().Value(tenantSinkKey{}).(*tenantSink); ok {
		sink.tenant, sink.known = tenant, true
	}
}

// capsuleByHash returns the page of the capsule of tenant's chain whose
// hash is hash, "" when there is none or the store does not answer (the
// hash is then shown without a link).
func (s *server) capsuleByHash(r *http.Request, hash, tenant string) string {
	if hash == "" {
		return ""
	}
	ctx, cancel := s.queryContext(r)
	defer cancel()
	rec, err := s.store.GetByHash(ctx, hash, &tenant)
	if err != nil {
		if !errors.Is(err, storage.ErrNotFound) {
			s.log.WarnContext(r.Context(), "nethttp: explorer could not look up previous_hash", "hash", hash, "err", err)
		}
		return ""
	}
	return capsuleURL("../", rec.ID, newTenantRef(tenant))
}

// verifyAnswer is the verify route's answer.
type verifyAnswer struct {
	Valid            bool    `json:"valid"`
	Level            string  `json:"level"`
	CapsulesVerified int64   `json:"capsules_verified"`
	ChainsVerified   int64   `json:"chains_verified"`
	Complete         bool    `json:"complete"`
	Tenant           *string `json:"tenant_id"`
	Error            *string `json:"error"`
	BrokenAt         *string `json:"broken_at"`
	BrokenSequence   *int64  `json:"broken_sequence"`
	BrokenTenant     *string `json:"broken_tenant_id"`
}

// verifyView is the verification page.
type verifyView struct {
	Tenant    tenantRef
	Result    verifyAnswer
	Error     string
	BrokenSeq int64
	BrokenURL string
	Rows      []rowView // the capsules around the broken link, or the newest, or a page of all
	Total     int64
	ChainURL  string

	// AllURL pages through every capsule of the chain, each marked
	// verified or not; Paged is set on those pages, From, To, Newer and
	// Older as on the chain page.
	AllURL       string
	Paged        bool
	From, To     int64
	Newer, Older string
}

// verifyPageLimit is how many capsules a page of all the capsules
// verified shows unless limit says otherwise.
const verifyPageLimit = 50

// verified reports whether the verification checked the capsule at
// sequence seq and found it good: all of a valid, complete chain; those
// before the broken link of a broken one; the first CapsulesVerified of
// one the bounds stopped early.
func (v *verifyView) verified(seq string) bool {
	n, err := strconv.ParseInt(seq, 10, 64)
	switch {
	case err != nil:
		return false
	case !v.Result.Valid:
		return n < v.BrokenSeq
	case !v.Result.Complete:
		return n < v.Result.CapsulesVerified
	}
	return true
}

// verifyContext is how many capsules the verification page shows on each
// side of a broken link.
const verifyContext = 2

// pageVerify serves GET {prefix}/explore/verify: the verify route's result
// for one chain, with the capsules around a broken link and that link
// marked.
func (s *server) pageVerify(w http.ResponseWriter, r *http.Request) {
	vals, rerr := parseQuery(r.URL.RawQuery, "tenant_id", "level", "limit", "offset")
	if rerr == nil {
		if t, ok := vals["tenant_id"]; ok {
			rerr = checkTenant(t)
		}
	}
	// limit and offset page through every capsule, as the list route
	// does (and within its bounds).
	_, hasLimit := vals["limit"]
	_, hasOffset := vals["offset"]
	paged := hasLimit || hasOffset
	var page listQuery
	if rerr == nil && paged {
		pq := url.Values{}
		for _, k := range []string{"limit", "offset"} {
			if v, ok := vals[k]; ok {
				pq.Set(k, v)
			}
		}
		page, rerr = parseListQuery(pq.Encode())
	}
	if rerr != nil {
		s.refuse(w, r, "", rerr)
		return
	}
	var param *string
	if t, ok := vals["tenant_id"]; ok {
		param = &t
	}
	tenant, ok := s.pageChainTenant(w, r, param)
	if !ok {
		return
	}
	ref := newTenantRef(tenant)
	q := url.Values{"tenant_id": {tenant}}
	if l, ok := vals["level"]; ok {
		q.Set("level", l)
	}
	v := verifyView{Tenant: ref, ChainURL: "chain?" + ref.Query, Paged: paged}
	if e := s.call(r, s.verify, s.prefix+"/verify", q, "", &v.Result); e != nil {
		s.fail(w, r, "", e)
		return
	}
	keep := url.Values{"tenant_id": {tenant}}
	if l, ok := vals["level"]; ok {
		keep.Set("level", l)
	}
	if v.Result.CapsulesVerified > 0 {
		v.AllURL = strings.TrimPrefix(pageURL("verify", keep, 0, verifyPageLimit), "./")
	}
	// The capsules to show: around the broken link, else the newest.
	var around listAnswer
	if e := s.call(r, s.list, s.prefix+"/", url.Values{"tenant_id": {tenant}, "limit": {"1"}}, "", &around); e != nil {
		s.fail(w, r, "", e)
		return
	}
	v.Total = around.Total
	offset := int64(0)
	if !v.Result.Valid && v.Result.BrokenSequence != nil {
		v.BrokenSeq = *v.Result.BrokenSequence
		v.Error = deref(v.Result.Error)
		if v.Result.BrokenAt != nil && *v.Result.BrokenAt != "" {
			v.BrokenURL = "capsule/" + url.PathEscape(*v.Result.BrokenAt) + "?" + ref.Query
		}
		// Newest first: the capsule at sequence n is at offset total-1-n.
		offset = max(around.Total-1-(v.BrokenSeq+verifyContext), 0)
	}
	sub := url.Values{"tenant_id": {tenant}, "limit": {strconv.Itoa(2*verifyContext + 1)}, "offset": {strconv.FormatInt(offset, 10)}}
	if paged {
		sub.Set("limit", strconv.Itoa(page.limit))
		sub.Set("offset", strconv.FormatInt(page.offset, 10))
	}
	if e := s.call(r, s.list, s.prefix+"/", sub, "", &around); e != nil {
		s.fail(w, r, "", e)
		return
	}
	for _, row := range around.rows(ref, "") {
		if !v.Result.Valid {
			// The broken capsule by id when the result names it, else by
			// sequence.
			if at := deref(v.Result.BrokenAt); at != "" {
				row.Broken = row.Broken || row.ID == at
			} else {
				row.Broken = row.Broken || row.Sequence == strconv.FormatInt(v.BrokenSeq, 10)
			}
		}
		row.Verified = !row.Broken && v.Result.Valid
		if paged && !row.Broken {
			row.Verified = v.verified(row.Sequence)
		}
		v.Rows = append(v.Rows, row)
	}
	if paged {
		v.Total = around.Total
		v.From, v.To = page.offset+1, page.offset+int64(len(v.Rows))
		if page.offset > 0 {
			v.Newer = pageURL("verify", keep, int(max(page.offset-int64(page.limit), 0)), page.limit)
		}
		if v.To < around.Total {
			v.Older = pageURL("verify", keep, int(v.To), page.limit)
		}
	}
	s.render(w, r, http.StatusOK, "verify", "", v, link{"Chains", "./"}, link{ref.Label, v.ChainURL})
}

// dropEmpty removes the parameters named name with an empty value from a
// raw query: the type filter form submits "type=" for all types.
func dropEmpty(raw, name string) string {
	var keep []string
	for _, pair := range strings.Split(raw, "&") {
		if pair != name+"=" && pair != "" {
			keep = append(keep, pair)
		}
	}
	return strings.Join(keep, "&")
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
