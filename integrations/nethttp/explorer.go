package nethttp

import (
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"sync"
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
