package nethttp

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/capsule-go/capsule/protocol"
)

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
