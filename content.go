package capsule

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/protocol/canonical"
)

// FieldError reports a content field that cannot be read into a Capsule
// (or, from [protocol.ParseSealed], a seal key that is not a string).
type FieldError = protocol.FieldError

// FromContent builds a Capsule from a content dict as read by
// canonical.Parse (or built from the same types). Missing keys take the
// defaults of [New] (a fresh id and the current time included); present keys
// must have the protocol's types, or a *FieldError names the field. Keys the
// model does not know are rejected, since they could not be sealed.
//
// A stored document sealed before spec_version existed (qp-capsule 1.5.2
// and earlier) reads without error. The Capsule is a model: encoded again
// (Canonical, sealing) it has spec_version, so its hash is not the stored
// one. Verification hashes the stored document ([protocol.Sealed].Data), never a
// Capsule read from it.
func FromContent(m map[string]any) (*Capsule, error) {
	c := New(TypeAgent)
	if v, ok := m["type"]; ok {
		s, _ := v.(string)
		if !Type(s).Valid() {
			return nil, &FieldError{Field: "type", Msg: fmt.Sprintf("unknown capsule type %v (want one of %s)", v, strings.Join(enumType, ", "))}
		}
	}
	r := reader{m: m}
	r.content(c) // generated from the declaration: model_gen.go
	r.done("")
	if r.err != nil {
		return nil, r.err
	}
	return c, nil
}

// reader reads typed fields out of one JSON object, remembering the first
// error and which keys it consumed. The fields it is given are paths from
// the content (trigger.type) or, in an array's element, keys that its
// prefix (the element's path and a dot) completes in reports.
type reader struct {
	m      map[string]any
	prefix string
	seen   map[string]bool
	err    error
	parent *reader
}

func (r *reader) fail(field, msg string) {
	field = r.prefix + field
	if r = r.root(); r.err == nil {
		r.err = &FieldError{Field: field, Msg: msg}
	}
}

// root returns the reader of the whole content, which keeps the error.
func (r *reader) root() *reader {
	for r.parent != nil {
		r = r.parent
	}
	return r
}

func (r *reader) get(field string) (any, bool) {
	key := field[strings.LastIndexByte(field, '.')+1:]
	if r.seen == nil {
		r.seen = make(map[string]bool, len(r.m))
	}
	r.seen[key] = true
	v, ok := r.m[key]
	return v, ok
}

// done reports the first key of the object (at path) that no field read
// consumed, in sorted order.
func (r *reader) done(path string) {
	unseen := false
	for k := range r.m {
		if !r.seen[k] {
			unseen = true
			break
		}
	}
	if !unseen {
		return
	}
	for _, k := range sortedKeys(r.m) {
		if !r.seen[k] && !(r.parent == nil && contentKey(k)) {
			p := k
			if path != "" {
				p = path + "." + k
			}
			r.fail(p, "unknown field")
			return
		}
	}
}

// section returns the reader of the section name, false when it is
// absent or (after reporting it) not an object.
func (r *reader) section(name string) (reader, bool) {
	v, ok := r.get(name)
	if !ok {
		return reader{}, false
	}
	m, ok := v.(map[string]any)
	if !ok {
		r.fail(name, "not an object")
		return reader{}, false
	}
	return reader{m: m, parent: r}, true
}

// elem returns the reader of the element v at index i of the array at
// path, false (after reporting it) when v is not an object. Its errors
// go to r's root, with the element's path.
func (r *reader) elem(path string, i int, v any) (reader, bool) {
	prefix := path + "[" + strconv.Itoa(i) + "]."
	m, ok := v.(map[string]any)
	if !ok {
		r.fail(prefix[:len(prefix)-1], "not an object")
		return reader{}, false
	}
	return reader{m: m, prefix: prefix, parent: r}, true
}

// uuid reads a required id, a lowercase hyphenated UUID.
func (r *reader) uuid(field string, dst *string) {
	r.str(field, dst)
	if r.root().err == nil && !protocol.IsUUID(*dst) {
		r.fail(field, "not a lowercase hyphenated UUID")
	}
}

// constant checks a field the model does not hold, whose value is want.
func (r *reader) constant(field, want string) {
	if v, ok := r.get(field); ok && v != want {
		name := strings.ReplaceAll(field[strings.LastIndexByte(field, '.')+1:], "_", " ")
		r.fail(field, fmt.Sprintf("unsupported %s %v (want %q)", name, v, want))
	}
}

// named reads a field of a named string type; "" when it is absent or
// empty, which keeps the model's default.
func (r *reader) named(field string) string {
	var s string
	r.str(field, &s)
	return s
}

// any reads a free-form value.
func (r *reader) any(field string, dst *any) {
	if v, ok := r.get(field); ok {
		*dst = v
	}
}

// objects reads an array of free-form objects.
func (r *reader) objects(field string, dst *[]map[string]any) {
	r.list(field, func(i int, v any) {
		m, ok := v.(map[string]any)
		if !ok {
			r.fail(fmt.Sprintf("%s[%d]", field, i), "not an object")
			return
		}
		*dst = append(*dst, m)
	})
}

// mirror checks that listed is the key of each of the n elements of the
// array (elem(i) for element i), in order.
func (r *reader) mirror(field, array, key string, listed []string, n int, elem func(int) string) {
	if len(listed) != n {
		r.fail(field, "must list the "+key+"s of "+array)
		return
	}
	for i, s := range listed {
		if s != elem(i) {
			r.fail(fmt.Sprintf("%s[%d]", field, i), "must equal "+array+"[]."+key)
			return
		}
	}
}

func (r *reader) str(field string, dst *string) {
	v, ok := r.get(field)
	if !ok {
		return
	}
	s, ok := v.(string)
	if !ok {
		r.fail(field, fmt.Sprintf("want a string, got %s", jsonType(v)))
		return
	}
	*dst = s
}

func (r *reader) nullable(field string, dst *string) {
	if v, ok := r.m[field[strings.LastIndexByte(field, '.')+1:]]; ok && v == nil {
		r.get(field)
		*dst = ""
		return
	}
	r.str(field, dst)
}

func (r *reader) bool(field string, dst *bool) {
	v, ok := r.get(field)
	if !ok {
		return
	}
	b, ok := v.(bool)
	if !ok {
		r.fail(field, fmt.Sprintf("want a boolean, got %s", jsonType(v)))
		return
	}
	*dst = b
}

func (r *reader) int(field string, dst *int64) {
	v, ok := r.get(field)
	if !ok {
		return
	}
	n, ok := canonical.Int(v)
	if !ok {
		r.fail(field, fmt.Sprintf("want an integer, got %s", jsonType(v)))
		return
	}
	*dst = n
}

func (r *reader) float(field string, dst *float64) {
	v, ok := r.get(field)
	if !ok {
		return
	}
	f, ok := toFloat(v)
	if !ok {
		r.fail(field, fmt.Sprintf("want a number, got %s", jsonType(v)))
		return
	}
	*dst = f
}

func (r *reader) time(field string, dst *time.Time) {
	var s string
	r.str(field, &s)
	if s == "" {
		return
	}
	t, msg := parseTimestamp(s)
	if msg != "" {
		r.fail(field, msg)
		return
	}
	*dst = t
}

// parseTimestamp reads trigger.timestamp, which must be UTC; it returns
// the message of a refusal, "" on success.
func parseTimestamp(s string) (time.Time, string) {
	norm, ok := canonical.NormalizeTimestamp(s)
	if !ok {
		return time.Time{}, "not an ISO-8601 timestamp: " + s
	}
	t, err := time.Parse("2006-01-02T15:04:05.999999-07:00", norm)
	if err != nil {
		return time.Time{}, "not an ISO-8601 timestamp: " + s
	}
	if _, off := t.Zone(); off != 0 {
		return time.Time{}, "timestamp must be UTC (+00:00): " + s
	}
	return t.UTC(), ""
}

func (r *reader) object(field string, dst *map[string]any) {
	v, ok := r.get(field)
	if !ok {
		return
	}
	m, ok := v.(map[string]any)
	if !ok {
		r.fail(field, fmt.Sprintf("want an object, got %s", jsonType(v)))
		return
	}
	*dst = m
}

func (r *reader) strs(field string, dst *[]string) {
	out := []string{}
	ok := r.list(field, func(i int, v any) {
		s, ok := v.(string)
		if !ok {
			r.fail(fmt.Sprintf("%s[%d]", field, i), fmt.Sprintf("want a string, got %s", jsonType(v)))
			return
		}
		out = append(out, s)
	})
	if ok {
		*dst = out
	}
}

func (r *reader) list(field string, each func(int, any)) bool {
	v, ok := r.get(field)
	if !ok {
		return false
	}
	l, ok := v.([]any)
	if !ok {
		r.fail(field, fmt.Sprintf("want an array, got %s", jsonType(v)))
		return false
	}
	for i, x := range l {
		each(i, x)
	}
	return true
}

func toFloat(v any) (float64, bool) {
	var f float64
	switch n := v.(type) {
	case canonical.Number:
		x, err := strconv.ParseFloat(string(n), 64)
		if err != nil {
			return 0, false
		}
		f = x
	case json.Number:
		x, err := strconv.ParseFloat(string(n), 64)
		if err != nil {
			return 0, false
		}
		f = x
	case float64:
		f = n
	case int:
		f = float64(n)
	case int64:
		f = float64(n)
	default:
		return 0, false
	}
	return f, !math.IsNaN(f) && !math.IsInf(f, 0)
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case canonical.Number, json.Number, int, int64, float64:
		return "a number"
	}
	return fmt.Sprintf("%T", v)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
