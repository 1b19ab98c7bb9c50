package nethttp

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
)

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
