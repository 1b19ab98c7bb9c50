package nethttp

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/capsule-go/capsule"
	"github.com/capsule-go/capsule/protocol"
)

// requestError is a request the handlers refuse: the status, the message
// and the parameter at fault ("" when none is).
type requestError struct {
	status  int
	msg     string
	param   string
	isParam bool // param names the parameter at fault, even when it is ""
}

func badParam(param, format string, args ...any) *requestError {
	return &requestError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...), param: param, isParam: true}
}

// parseQuery splits a raw query string into its parameters. Only the names
// in allowed are accepted, each at most once; a malformed escape, a
// semicolon, an unknown or a repeated parameter is a bad request.
func parseQuery(raw string, allowed ...string) (map[string]string, *requestError) {
	vals := make(map[string]string, len(allowed))
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" {
			continue
		}
		rawKey, rawVal, _ := strings.Cut(pair, "=")
		key, err := url.QueryUnescape(rawKey)
		if err != nil || !utf8.ValidString(key) {
			return nil, badParam(printable(rawKey), "malformed parameter name")
		}
		if strings.Contains(rawKey, ";") {
			return nil, badParam(key, "semicolons are not allowed in the query string")
		}
		if !slices.Contains(allowed, key) {
			return nil, badParam(key, "unknown parameter %q (want %s)", printable(key), strings.Join(allowed, ", "))
		}
		if strings.Contains(rawVal, ";") {
			return nil, badParam(key, "semicolons are not allowed in the query string")
		}
		val, err := url.QueryUnescape(rawVal)
		if err != nil {
			return nil, badParam(key, "malformed escape in %s", key)
		}
		if _, dup := vals[key]; dup {
			return nil, badParam(key, "%s is given more than once", key)
		}
		vals[key] = val
	}
	return vals, nil
}

// printable returns s cut to 64 bytes and made valid UTF-8, for quoting in
// error messages.
func printable(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// parseUint parses a decimal number of at most 18 digits (so it fits an
// int64), with no sign, spaces or leading "+".
func parseUint(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// listQuery is the parsed query of the list route.
type listQuery struct {
	limit  int
	offset int64
	typ    string
	tenant *string // nil: every tenant
}

// Limits of the list route.
const (
	defaultLimit = 20
	maxLimit     = 100
)

// parseListQuery parses the list route's query string.
func parseListQuery(raw string) (listQuery, *requestError) {
	q := listQuery{limit: defaultLimit}
	vals, rerr := parseQuery(raw, "limit", "offset", "type", "tenant_id")
	if rerr != nil {
		return q, rerr
	}
	if s, ok := vals["limit"]; ok {
		n, ok := parseUint(s)
		if !ok || n < 1 || n > maxLimit {
			return q, badParam("limit", "limit must be an integer from 1 to %d", maxLimit)
		}
		q.limit = int(n)
	}
	if s, ok := vals["offset"]; ok {
		n, ok := parseUint(s)
		if !ok {
			return q, badParam("offset", "offset must be an integer from 0 to 999999999999999999")
		}
		q.offset = n
	}
	if s, ok := vals["type"]; ok {
		if !capsule.Type(s).Valid() {
			return q, badParam("type", "type must be one of %s", typeNames())
		}
		q.typ = s
	}
	if s, ok := vals["tenant_id"]; ok {
		if rerr := checkTenant(s); rerr != nil {
			return q, rerr
		}
		q.tenant = &s
	}
	return q, nil
}

func typeNames() string { return strings.Join(protocol.Types(), ", ") }

// checkTenant refuses tenant ids no database column can hold, as the
// write path does ([protocol.CheckTenant]).
func checkTenant(s string) *requestError {
	if err := protocol.CheckTenant(s); err != nil {
		return badParam("tenant_id", "tenant_id %v", err)
	}
	return nil
}

// checkID validates a capsule id or id prefix: 4 to 36 characters of a
// lowercase hyphenated UUID, hyphens exactly where a UUID has them.
func checkID(id string) *requestError {
	if len(id) < 4 || len(id) > 36 {
		return badParam("id", "id must be a capsule UUID or a prefix of one, 4 to 36 characters")
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case protocol.IsUUIDHyphen(i):
			if c != '-' {
				return badParam("id", "id must be a lowercase hyphenated UUID or a prefix of one (a hyphen at position %d)", i+1)
			}
		default:
			if c >= 'A' && c <= 'F' {
				return badParam("id", "id must be lowercase")
			}
			if !protocol.IsHexDigit(c) {
				return badParam("id", "id must be a lowercase hyphenated UUID or a prefix of one (a hex digit at position %d)", i+1)
			}
		}
	}
	return nil
}

// authenticate asks the tenant function, if any, for the request's tenant.
// It returns nil when no tenant function is set.
func (s *server) authenticate(r *http.Request) (*string, *requestError) {
	if s.tenantFunc == nil {
		return nil, nil
	}
	bound, ok := s.tenantFunc(r)
	if !ok {
		return nil, &requestError{status: http.StatusUnauthorized, msg: "authentication required"}
	}
	return &bound, nil
}

// restrict combines the tenant bound by authentication (nil when no tenant
// function is set) with the tenant_id parameter (nil when absent). It
// returns the tenant the request is restricted to, nil for every tenant.
func restrict(bound, param *string) (*string, *requestError) {
	if bound == nil {
		return param, nil
	}
	if param != nil && *param != *bound {
		return nil, &requestError{status: http.StatusForbidden, msg: "tenant_id does not match the authenticated tenant", param: "tenant_id", isParam: true}
	}
	return bound, nil
}
