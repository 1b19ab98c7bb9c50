package nethttp

import (
	"bytes"
	"net/http"
	"strconv"
)

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

// fail renders a route's refusal (or a page's own bad parameter).
func (s *server) fail(w http.ResponseWriter, r *http.Request, base string, e *routeError) {
	s.render(w, r, e.status, "error", base, errorPage{Message: e.msg, Param: e.param})
}

// refuse renders a request error of the page's own checks.
func (s *server) refuse(w http.ResponseWriter, r *http.Request, base string, e *requestError) {
	s.fail(w, r, base, &routeError{status: e.status, msg: e.msg, param: e.param})
}
