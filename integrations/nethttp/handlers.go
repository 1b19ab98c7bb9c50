package nethttp

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/storage"
)

// list serves GET {prefix}/.
func (s *server) list(w http.ResponseWriter, r *http.Request) {
	bound, rerr := s.authenticate(r)
	if rerr != nil {
		writeRequestError(w, rerr)
		return
	}
	q, rerr := parseListQuery(r.URL.RawQuery)
	if rerr != nil {
		writeRequestError(w, rerr)
		return
	}
	tenant, rerr := restrict(bound, q.tenant)
	if rerr != nil {
		writeRequestError(w, rerr)
		return
	}
	release, ok := admit(w, s.listing, "too many list requests in progress; retry later")
	if !ok {
		return
	}
	defer release()
	f := storage.Filter{Tenant: tenant, Type: q.typ, Limit: q.limit, Offset: q.offset, MaxBytes: s.listBytes}
	ctx, cancel := s.queryContext(r)
	defer cancel()
	page, err := readPage(ctx, s.store, &s.ladders, f)
	if err != nil {
		s.storageFailure(w, r, "list", err)
		return
	}
	recs, total := page.recs, page.total
	buf := make([]byte, 0, 1024+len(recs)*2048)
	buf = append(buf, `{"capsules":[`...)
	var bad []unreadable
	written := 0
	for i := range recs {
		rec := &recs[i]
		if bound != nil && rec.Tenant != *bound {
			// The store returned a capsule of another chain: never show it.
			s.log.ErrorContext(r.Context(), "nethttp: store returned a capsule outside the requested tenant",
				"route", "list", "capsule_id", rec.ID)
			writeError(w, http.StatusServiceUnavailable, "storage unavailable", "")
			return
		}
		mark := len(buf)
		if written > 0 {
			buf = append(buf, ',')
		}
		out, err := protocol.AppendSealed(buf, rec)
		if err != nil {
			// A tampered row: name it and go on with the others.
			s.log.ErrorContext(r.Context(), "nethttp: stored capsule is unreadable", "capsule_id", rec.ID, "err", err)
			bad = append(bad, unreadable{rec: rec, offset: page.offsetOf(i), err: err})
			buf = buf[:mark]
			continue
		}
		buf = out
		written++
	}
	end := page.end
	buf = append(buf, `],"total":`...)
	buf = strconv.AppendInt(buf, total, 10)
	buf = append(buf, `,"limit":`...)
	buf = strconv.AppendInt(buf, int64(q.limit), 10)
	buf = append(buf, `,"offset":`...)
	buf = strconv.AppendInt(buf, q.offset, 10)
	buf = append(buf, `,"next_offset":`...)
	if end < total {
		buf = strconv.AppendInt(buf, end, 10)
	} else {
		buf = append(buf, "null"...)
	}
	buf = append(buf, `,"truncated":`...)
	buf = strconv.AppendBool(buf, len(recs) < q.limit && end < total)
	buf = append(buf, `,"unreadable":[`...)
	for i, u := range bad {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = u.appendJSON(buf)
	}
	buf = append(buf, `],"missing":[`...)
	for i, m := range page.missing {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, `{"first_sequence":`...)
		buf = strconv.AppendInt(buf, m.first, 10)
		buf = append(buf, `,"last_sequence":`...)
		buf = strconv.AppendInt(buf, m.last, 10)
		buf = append(buf, `,"offset":`...)
		buf = strconv.AppendInt(buf, m.offset, 10)
		buf = append(buf, '}')
	}
	buf = append(buf, "]}"...)
	writeJSON(w, http.StatusOK, buf)
}

// unreadable is a capsule of a list page whose stored content cannot be
// written as a sealed dict: a tampered row.
type unreadable struct {
	rec    *protocol.Sealed
	offset int64 // its position in the whole listing
	err    error
}

// appendJSON appends {"id","sequence","tenant_id","type","hash","offset","error"},
// type and hash as their columns hold them.
func (u unreadable) appendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, u.rec.ID)
	b = append(b, `,"sequence":`...)
	b = strconv.AppendInt(b, u.rec.Sequence, 10)
	b = append(b, `,"tenant_id":`...)
	b = appendString(b, u.rec.Tenant)
	b = append(b, `,"type":`...)
	b = appendString(b, u.rec.Type)
	b = append(b, `,"hash":`...)
	b = appendString(b, u.rec.Hash)
	b = append(b, `,"offset":`...)
	b = strconv.AppendInt(b, u.offset, 10)
	b = append(b, `,"error":`...)
	b = appendString(b, u.err.Error())
	return append(b, '}')
}

// get serves GET {prefix}/{id}.
func (s *server) get(w http.ResponseWriter, r *http.Request) {
	rec, ok := s.lookup(w, r, "get")
	if !ok {
		return
	}
	buf, err := protocol.AppendSealed(make([]byte, 0, len(rec.Data)+512), &rec)
	if err != nil {
		s.unreadable(w, r, &rec, err)
		return
	}
	writeJSON(w, http.StatusOK, buf)
}

// lookup reads the capsule the {id} of r names, with the tenant_id
// parameter and the tenant binding, and answers r itself (ok false) when
// it cannot.
func (s *server) lookup(w http.ResponseWriter, r *http.Request, route string) (_ protocol.Sealed, ok bool) {
	bound, rerr := s.authenticate(r)
	if rerr != nil {
		writeRequestError(w, rerr)
		return protocol.Sealed{}, false
	}
	id := r.PathValue("id")
	if rerr := checkID(id); rerr != nil {
		writeRequestError(w, rerr)
		return
	}
	vals, rerr := parseQuery(r.URL.RawQuery, "tenant_id")
	if rerr != nil {
		writeRequestError(w, rerr)
		return protocol.Sealed{}, false
	}
	var param *string
	if t, ok := vals["tenant_id"]; ok {
		if rerr := checkTenant(t); rerr != nil {
			writeRequestError(w, rerr)
			return protocol.Sealed{}, false
		}
		param = &t
	}
	tenant, rerr := restrict(bound, param)
	if rerr != nil {
		writeRequestError(w, rerr)
		return protocol.Sealed{}, false
	}
	ctx, cancel := s.queryContext(r)
	defer cancel()
	rec, err := s.store.Get(ctx, id, tenant)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		writeError(w, http.StatusNotFound, "capsule not found", "")
		return rec, false
	case errors.Is(err, storage.ErrAmbiguous):
		writeError(w, http.StatusBadRequest, "id prefix "+id+" matches more than one capsule; give more characters", "id")
		return rec, false
	case err != nil:
		s.storageFailure(w, r, route, err)
		return rec, false
	}
	if !strings.HasPrefix(rec.ID, id) || tenant != nil && rec.Tenant != *tenant {
		// Defence in depth: a backend that answered outside the lookup must
		// not leak another tenant's capsule.
		s.log.ErrorContext(r.Context(), "nethttp: store returned a capsule outside the lookup",
			"route", route, "id", id, "capsule_id", rec.ID)
		writeError(w, http.StatusNotFound, "capsule not found", "")
		return rec, false
	}
	noteTenant(r, rec.Tenant)
	return rec, true
}

// admit takes a token of slots, a semaphore of the requests running (nil
// when unbounded), and returns the function that gives it back. When every
// slot is taken it answers 503 with msg and Retry-After at once, rather
// than queueing, and returns ok false.
func admit(w http.ResponseWriter, slots chan struct{}, msg string) (release func(), ok bool) {
	if slots == nil {
		return func() {}, true
	}
	select {
	case slots <- struct{}{}:
		return func() { <-slots }, true
	default:
		w.Header().Set("Retry-After", retryAfter)
		writeError(w, http.StatusServiceUnavailable, msg, "")
		return nil, false
	}
}

// queryContext returns the context of a storage read for r, bounded by
// the query timeout.
func (s *server) queryContext(r *http.Request) (context.Context, context.CancelFunc) {
	if s.queryTimeout <= 0 {
		return r.Context(), func() {}
	}
	return context.WithTimeout(r.Context(), s.queryTimeout)
}

// storageFailure answers 503 and logs err, which never reaches the client.
func (s *server) storageFailure(w http.ResponseWriter, r *http.Request, op string, err error) {
	switch {
	case r.Context().Err() != nil:
		// The client went away; the failure is its cancellation.
		s.log.DebugContext(r.Context(), "nethttp: request canceled", "op", op, "path", r.URL.Path, "err", err)
	case errors.Is(err, context.DeadlineExceeded):
		s.log.WarnContext(r.Context(), "nethttp: storage did not answer in time", "op", op, "path", r.URL.Path,
			"timeout", s.queryTimeout, "err", err)
		w.Header().Set("Retry-After", retryAfter)
		writeError(w, http.StatusServiceUnavailable, "storage did not answer in time", "")
		return
	default:
		s.log.ErrorContext(r.Context(), "nethttp: storage failure", "op", op, "path", r.URL.Path, "err", err)
	}
	writeError(w, http.StatusServiceUnavailable, "storage unavailable", "")
}

// unreadable answers 500 for a stored capsule that cannot be written as a
// sealed dict.
func (s *server) unreadable(w http.ResponseWriter, r *http.Request, rec *protocol.Sealed, err error) {
	s.log.ErrorContext(r.Context(), "nethttp: stored capsule is unreadable", "capsule_id", rec.ID, "err", err)
	buf := []byte(`{"error":"stored capsule is unreadable","capsule_id":`)
	buf = appendString(buf, rec.ID)
	buf = append(buf, '}')
	writeJSON(w, http.StatusInternalServerError, buf)
}

// writeJSON writes body with the headers every response carries.
func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

// writeError writes {"error":msg,"parameter":param}, without parameter when
// param is "".
func writeError(w http.ResponseWriter, status int, msg, param string) {
	writeRequestError(w, &requestError{status: status, msg: msg, param: param, isParam: param != ""})
}

// writeRequestError writes {"error":msg,"parameter":param}, with parameter
// only when the error concerns one.
func writeRequestError(w http.ResponseWriter, e *requestError) {
	buf := []byte(`{"error":`)
	buf = appendString(buf, e.msg)
	if e.isParam {
		buf = append(buf, `,"parameter":`...)
		buf = appendString(buf, e.param)
	}
	buf = append(buf, '}')
	writeJSON(w, e.status, buf)
}

// appendString appends s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendString(dst []byte, s string) []byte {
	b, _ := json.Marshal(s) // a string always marshals
	return append(dst, b...)
}

// appendNullString appends s as a JSON string, or null when null is true.
func appendNullString(dst []byte, s string, null bool) []byte {
	if null {
		return append(dst, "null"...)
	}
	return appendString(dst, s)
}
