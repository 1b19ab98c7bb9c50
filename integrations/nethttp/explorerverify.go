package nethttp

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

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

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
