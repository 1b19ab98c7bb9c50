package nethttp

import (
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
)

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
