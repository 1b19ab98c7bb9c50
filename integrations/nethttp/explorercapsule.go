package nethttp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/capsule-go/capsule/checkpoint"
	"github.com/capsule-go/capsule/internal/sections"
	"github.com/capsule-go/capsule/proof"
	"github.com/capsule-go/capsule/storage"
)

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
