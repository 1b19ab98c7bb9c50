// Package validate checks one capsule, as a JSON object, against the
// Capsule Protocol (CPS 1.0): the fields and types of the content, the chain
// rules that one capsule can show on its own, and the seal's hash.
//
// A check stops at the first problem and reports it as an [*Error] with the
// categories of the conformance vectors (conformance/invalid-fixtures.json)
// and the path of the field, such as "trigger.timestamp" or
// "reasoning.options[1].feasibility". The order of the checks is fixed, so a
// given input always gets the same report:
//
//  1. every top-level field is present, in the order id, type, domain,
//     parent_id, sequence, previous_hash, spec_version, trigger, context,
//     reasoning, authority, execution, outcome (so {} reports "id");
//  2. the same fields in the same order, each for its type, then its value;
//     a section is checked completely (presence of all its keys in protocol
//     order, then each key's type and value, then unknown keys) before the
//     next field;
//  3. top-level fields that the protocol does not define;
//  4. the chain rules: sequence 0 has a null previous_hash, any other
//     sequence a non-null one;
//  5. the content can be canonicalized (rule 7 of canonical JSON).
//
// Free-form values (context.environment, execution.resources_used,
// outcome.result, outcome.metrics, tool call arguments and results, option
// estimated_impact, authority.chain entries) may hold any JSON.
package validate

import (
	"crypto/sha3"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"

	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/protocol/canonical"
	"github.com/capsule-go/capsule/protocol/schema"
)

// Category classifies a validation error, as the conformance vectors do.
type Category string

// The categories of conformance/invalid-fixtures.json.
const (
	// MissingField: a required top-level or section field is absent.
	MissingField Category = "missing_field"
	// WrongType: a field has the wrong JSON type.
	WrongType Category = "wrong_type"
	// InvalidValue: a field has a structurally invalid value.
	InvalidValue Category = "invalid_value"
	// ChainViolation: the chain rules are violated.
	ChainViolation Category = "chain_violation"
	// IntegrityViolation: the stored hash does not match the content.
	IntegrityViolation Category = "integrity_violation"
)

// Error is one protocol violation.
type Error struct {
	Category Category // what kind of violation
	Field    string   // path of the field, like "reasoning.confidence"; "" for the whole capsule
	Message  string   // what is wrong, for people
}

// Error formats e as "<category> <field>: <message>".
func (e *Error) Error() string {
	if e.Field == "" {
		return string(e.Category) + ": " + e.Message
	}
	return string(e.Category) + " " + e.Field + ": " + e.Message
}

// sealFields are the keys of a sealed capsule that are not content.
var sealFields = protocol.SealKeys()

// Content checks a capsule's content dict: the 13 top-level fields and the
// six sections, with the types and values the protocol defines, and the
// chain rules. It returns nil when m is valid content. Seal fields (hash,
// signature, ...) are not content: use [Sealed] for a sealed capsule.
//
// m is a dict as [canonical.Parse] returns it (numbers as canonical.Number)
// or built by hand with the types canonical.AppendContent accepts. An
// integer field holds a Number without '.', 'e' or 'E' (or a Go integer);
// a float like 1.0 is not an integer.
func Content(m map[string]any) *Error {
	return checkContent(m, topLevel)
}

// Sealed checks a sealed capsule: the content (m without the seal fields)
// as [Content] does, then the seal. A field that joined the content after
// records were sealed without it (spec_version, absent from every record
// of qp-capsule 1.5.2 and earlier) may be missing: such a record's hash
// covers its stored document without it (CPS section 3.5). hash must be present and 64 lowercase
// hex digits, and equal the SHA3-256 of the canonical content
// (integrity_violation otherwise); signature must be present and 128
// lowercase hex digits. signature_pq, signed_at and signed_by are checked
// when present: hex (or empty), a timestamp, and a string. Signatures are
// not verified here: that needs the signer's public key (package keys).
func Sealed(m map[string]any) *Error {
	content := make(map[string]any, len(m))
	for k, v := range m {
		if !slices.Contains(sealFields, k) {
			content[k] = v
		}
	}
	if err := checkContent(content, sealedTopLevel(content)); err != nil {
		return err
	}
	// The hash covers the content as stored (PROTOCOL.md rule 8), as the
	// reference's verifier computes it: an integer confidence stays an
	// integer. checkContent has made sure it canonicalizes.
	canon, cerr := canonical.Append(nil, content)
	if cerr != nil {
		return &Error{Category: InvalidValue, Message: "cannot be canonicalized: " + cerr.Error()}
	}

	h, present := m["hash"]
	if !present {
		return missing("hash")
	}
	hs, ok := h.(string)
	if !ok {
		return wrongType("hash", "a string", h)
	}
	if !protocol.IsLowerHex(hs, protocol.HashHexLen) {
		return invalid("hash", "must be 64 lowercase hex digits (SHA3-256), got %s", quote(hs))
	}
	sum := sha3.Sum256(canon)
	if got := hex.EncodeToString(sum[:]); got != hs {
		return &Error{Category: IntegrityViolation, Field: "hash",
			Message: fmt.Sprintf("stored hash %s does not match the content, whose SHA3-256 is %s", hs, got)}
	}

	sig, present := m["signature"]
	if !present {
		return missing("signature")
	}
	ss, ok := sig.(string)
	if !ok {
		return wrongType("signature", "a string", sig)
	}
	if len(ss) != 128 {
		return invalid("signature", "must be 128 lowercase hex digits (Ed25519), got %d characters", len(ss))
	}
	if !protocol.IsLowerHex(ss, protocol.SignatureHexLen) {
		return invalid("signature", "must be 128 lowercase hex digits (Ed25519), got other characters")
	}
	if v, present := m["signature_pq"]; present {
		s, ok := v.(string)
		if !ok {
			return wrongType("signature_pq", "a string", v)
		}
		if len(s)%2 != 0 || !protocol.IsLowerHex(s, -1) {
			return invalid("signature_pq", "must be lowercase hex digits, or empty when absent")
		}
	}
	if v, present := m["signed_at"]; present {
		s, ok := v.(string)
		if !ok {
			return wrongType("signed_at", "a string", v)
		}
		if !canonical.IsTimestamp(s) {
			return invalid("signed_at", "must be an ISO-8601 date and time like 2026-01-15T12:00:00+00:00, got %s", quote(s))
		}
	}
	if v, present := m["signed_by"]; present {
		if _, ok := v.(string); !ok {
			return wrongType("signed_by", "a string", v)
		}
	}
	return nil
}

// Document checks one capsule given as JSON text. The text must be one JSON
// object; it is checked with [Sealed] when it has any seal field (hash,
// signature, signature_pq, signed_at, signed_by), else with [Content].
//
// JSON that cannot be read is reported as invalid_value, with the field
// path where the parser stopped ("" at the top level) and the parser's
// message: malformed JSON, duplicate keys, invalid UTF-8, lone surrogates.
// A top-level value that is not an object is wrong_type with field "".
func Document(data []byte) *Error {
	v, err := canonical.Parse(data)
	if err != nil {
		if ce, ok := err.(*canonical.Error); ok {
			return &Error{Category: InvalidValue, Field: ce.Path, Message: "unreadable JSON: " + ce.Msg}
		}
		return &Error{Category: InvalidValue, Message: "unreadable JSON: " + err.Error()}
	}
	m, ok := v.(map[string]any)
	if !ok {
		return &Error{Category: WrongType, Message: "a capsule must be a JSON object, got " + kindName(v)}
	}
	for _, k := range sealFields {
		if _, ok := m[k]; ok {
			return Sealed(m)
		}
	}
	return Content(m)
}

// sealedTopLevel returns the top-level fields the content m of a sealed
// capsule is checked against: those of new content, less the ones that
// joined the content later ([protocol.IsAddedField]) when m lacks them.
func sealedTopLevel(m map[string]any) []spec {
	specs := topLevel
	for i := 0; i < len(specs); i++ {
		if _, ok := m[specs[i].name]; !ok && protocol.IsAddedField(specs[i].name) {
			specs = slices.Delete(slices.Clone(specs), i, i+1)
			i--
		}
	}
	return specs
}

// checkContent runs the content checks, with top the specs of the
// top-level fields.
func checkContent(m map[string]any, top []spec) *Error {
	if m == nil {
		return &Error{Category: WrongType, Message: "a capsule must be a JSON object, got null"}
	}
	if err := checkObject("", m, top); err != nil {
		return err
	}
	// Chain rules. The fields were checked above.
	seq, _ := integer(m["sequence"])
	prev := m["previous_hash"]
	switch {
	case seq == 0 && prev != nil:
		return &Error{Category: ChainViolation, Field: "previous_hash",
			Message: "the genesis capsule (sequence 0) must have a null previous_hash"}
	case seq > 0 && prev == nil:
		return &Error{Category: ChainViolation, Field: "previous_hash",
			Message: fmt.Sprintf("capsule at sequence %d must carry the hash of capsule %d, got null", seq, seq-1)}
	}
	if _, err := canonical.AppendContent(nil, m); err != nil {
		if ce, ok := err.(*canonical.Error); ok {
			return &Error{Category: InvalidValue, Field: ce.Path, Message: "cannot be canonicalized: " + ce.Msg}
		}
		return &Error{Category: InvalidValue, Message: "cannot be canonicalized: " + err.Error()}
	}
	return nil
}

// jtype is the JSON type a field must have.
type jtype int

const (
	tString jtype = iota
	tInteger
	tNumber
	tBool
	tObject
	tArray
	tAny
)

var jtypeNames = [...]string{
	tString:  "a string",
	tInteger: "an integer",
	tNumber:  "a number",
	tBool:    "a boolean",
	tObject:  "an object",
	tArray:   "an array",
	tAny:     "any JSON value",
}

// spec describes one key of an object: its JSON type, whether null is
// allowed, and a check of its value once the type is right.
type spec struct {
	name     string
	typ      jtype
	nullable bool
	check    func(path string, v any) *Error
}

// topLevel are the specs of the top-level fields, built from the
// declaration of package schema; the specs of each section and declared
// object are inside their checks. They are read-only.
var topLevel = specsOf("", schema.Content)

// kinds maps the declaration's kinds to the JSON types checked here.
var kinds = [...]jtype{
	schema.String:  tString,
	schema.Integer: tInteger,
	schema.Number:  tNumber,
	schema.Bool:    tBool,
	schema.Object:  tObject,
	schema.Array:   tArray,
	schema.Any:     tAny,
}

// specsOf returns the specs of the declared fields fs of the object at
// path ("" for the content), in the declaration's order.
func specsOf(path string, fs []schema.Field) []spec {
	specs := make([]spec, len(fs))
	for i := range fs {
		f := &fs[i]
		specs[i] = spec{f.Key, kinds[f.Kind], f.Nullable, checkOf(join(path, f.Key), f)}
	}
	return specs
}

// ruleChecks are the checks of the declaration's rules that take no
// argument.
var ruleChecks = [...]func(string, any) *Error{
	schema.UUID:         checkUUID,
	schema.NonNegative:  checkNonNegative,
	schema.Hash:         checkHash,
	schema.Timestamp:    checkTimestamp,
	schema.UnitInterval: checkUnitInterval,
}

// checkOf returns the check of the value of field f at path: its rule,
// its declared keys or its elements.
func checkOf(path string, f *schema.Field) func(string, any) *Error {
	switch f.Rule {
	case schema.None:
	case schema.OneOf:
		return oneOf(f.Enum)
	case schema.Const:
		return checkConst(f.Value)
	default:
		return ruleChecks[f.Rule]
	}
	switch {
	case f.Kind == schema.Object && len(f.Fields) > 0:
		return objectOf(specsOf(path, f.Fields), mirrorsOf(f.Fields))
	case f.Kind == schema.Array && f.Elem == schema.Object && len(f.Fields) > 0:
		return arrayOf(tObject, objectOf(specsOf(path, f.Fields), nil))
	case f.Kind == schema.Array:
		return arrayOf(kinds[f.Elem], nil)
	}
	return nil
}

// mirror is a field that lists a key of each element of a sibling array
// (schema.Field.Mirror).
type mirror struct{ field, array, key string }

// mirrorsOf returns the mirrors among the fields fs of an object.
func mirrorsOf(fs []schema.Field) []mirror {
	var ms []mirror
	for _, f := range fs {
		if array, key, ok := strings.Cut(f.Mirror, "."); ok {
			ms = append(ms, mirror{f.Key, array, key})
		}
	}
	return ms
}

// checkObject checks m against specs: presence of every key in order, then
// type and value of each in order, then keys the specs do not define.
func checkObject(path string, m map[string]any, specs []spec) *Error {
	for _, s := range specs {
		if _, ok := m[s.name]; !ok {
			return missing(join(path, s.name))
		}
	}
	for _, s := range specs {
		p := join(path, s.name)
		v := m[s.name]
		if v == nil {
			if s.nullable {
				continue
			}
			return wrongType(p, jtypeNames[s.typ], v)
		}
		if !hasType(v, s.typ) {
			want := jtypeNames[s.typ]
			if s.nullable {
				want += " or null"
			}
			return wrongType(p, want, v)
		}
		if s.check != nil {
			if err := s.check(p, v); err != nil {
				return err
			}
		}
	}
	if len(m) > len(specs) {
		var unknown []string
		for k := range m {
			if !slices.ContainsFunc(specs, func(s spec) bool { return s.name == k }) {
				unknown = append(unknown, k)
			}
		}
		slices.Sort(unknown)
		msg := "field is not defined by the protocol (CPS 1.0)"
		if path == "" && slices.Contains(sealFields, unknown[0]) {
			msg = "seal field in capsule content: check a sealed capsule with Sealed"
		}
		return &Error{Category: InvalidValue, Field: join(path, unknown[0]), Message: msg}
	}
	return nil
}

// objectOf returns the check of an object field with the given keys and
// mirrors.
func objectOf(specs []spec, mirrors []mirror) func(string, any) *Error {
	return func(path string, v any) *Error {
		m := asObject(v)
		if err := checkObject(path, m, specs); err != nil {
			return err
		}
		for _, mr := range mirrors {
			if err := checkMirror(path, m, mr); err != nil {
				return err
			}
		}
		return nil
	}
}

// arrayOf returns the check of an array whose elements have type elem and
// pass check (when not nil).
func arrayOf(elem jtype, check func(string, any) *Error) func(string, any) *Error {
	return func(path string, v any) *Error {
		for i, e := range asArray(v) {
			p := path + "[" + strconv.Itoa(i) + "]"
			if !hasType(e, elem) {
				return wrongType(p, jtypeNames[elem], e)
			}
			if check != nil {
				if err := check(p, e); err != nil {
					return err
				}
			}
		}
		return nil
	}
}

// checkMirror checks that the field of mr lists the key of each element
// of its array, in order, when the array has elements (as
// options_considered lists the descriptions of reasoning.options).
func checkMirror(path string, m map[string]any, mr mirror) *Error {
	elems := asArray(m[mr.array])
	if len(elems) == 0 {
		return nil
	}
	listed := asArray(m[mr.field])
	ok := len(listed) == len(elems)
	for i := 0; ok && i < len(elems); i++ {
		ok = asObject(elems[i])[mr.key] == listed[i]
	}
	if !ok {
		return invalid(join(path, mr.field), "must list the %ss of %s, in order", mr.key, join(path, mr.array))
	}
	return nil
}

func checkUUID(path string, v any) *Error {
	if s := v.(string); !protocol.IsUUID(s) {
		return invalid(path, "must be a lowercase hyphenated UUID, got %s", quote(s))
	}
	return nil
}

func oneOf(values []string) func(string, any) *Error {
	return func(path string, v any) *Error {
		if s := v.(string); !slices.Contains(values, s) {
			return invalid(path, "must be one of %s; got %s", strings.Join(values, ", "), quote(s))
		}
		return nil
	}
}

func checkNonNegative(path string, v any) *Error {
	n, ok := integer(v)
	if !ok {
		return invalid(path, "integer out of range")
	}
	if n < 0 {
		return invalid(path, "must be >= 0, got %d", n)
	}
	return nil
}

func checkHash(path string, v any) *Error {
	if s := v.(string); !protocol.IsLowerHex(s, protocol.HashHexLen) {
		return invalid(path, "must be 64 lowercase hex digits (SHA3-256) or null, got %s", quote(s))
	}
	return nil
}

// checkConst returns the check of a field whose value is always want.
func checkConst(want string) func(string, any) *Error {
	return func(path string, v any) *Error {
		if s := v.(string); s != want {
			return invalid(path, "must be %s, got %s", strconv.Quote(want), quote(s))
		}
		return nil
	}
}

// checkTimestamp checks trigger.timestamp: a date and time with its UTC
// offset. A naive timestamp (no offset) is invalid, as in the reference's
// validation, although the reference seals one when an application passes
// a naive datetime (and such a capsule still verifies: the hash covers the
// text as stored).
func checkTimestamp(path string, v any) *Error {
	s := v.(string)
	if !canonical.IsTimestamp(s) {
		return invalid(path, "must be an ISO-8601 date and time like 2026-01-15T12:00:00+00:00, got %s", quote(s))
	}
	if !hasOffset(s) {
		return invalid(path, "must carry its UTC offset (Z or ±HH:MM), like 2026-01-15T12:00:00+00:00; got the naive %s", quote(s))
	}
	return nil
}

// hasOffset reports whether the timestamp s (see isTimestamp) ends with Z
// or a ±HH:MM offset.
func hasOffset(s string) bool {
	return strings.HasSuffix(s, "Z") || len(s) >= 25 && (s[len(s)-6] == '+' || s[len(s)-6] == '-') && s[len(s)-3] == ':'
}

func checkUnitInterval(path string, v any) *Error {
	f, ok := float(v)
	if !ok || math.IsNaN(f) || f < 0 || f > 1 {
		return invalid(path, "must be between 0.0 and 1.0, got %s", numberText(v))
	}
	return nil
}

// hasType reports whether v is of JSON type t.
func hasType(v any, t jtype) bool {
	switch t {
	case tString:
		_, ok := v.(string)
		return ok
	case tInteger:
		return isInteger(v)
	case tNumber:
		return isNumber(v)
	case tBool:
		_, ok := v.(bool)
		return ok
	case tObject:
		switch v.(type) {
		case map[string]any, map[string]string:
			return true
		}
	case tArray:
		switch v.(type) {
		case []any, []string:
			return true
		}
	case tAny:
		return true
	}
	return false
}

// asObject returns v (an object per hasType) as a map[string]any.
func asObject(v any) map[string]any {
	switch v := v.(type) {
	case map[string]any:
		return v
	case map[string]string:
		m := make(map[string]any, len(v))
		for k, s := range v {
			m[k] = s
		}
		return m
	}
	return nil
}

// asArray returns v (an array per hasType) as a []any.
func asArray(v any) []any {
	switch v := v.(type) {
	case []any:
		return v
	case []string:
		a := make([]any, len(v))
		for i, s := range v {
			a[i] = s
		}
		return a
	}
	return nil
}

// isNumber reports whether v is a JSON number.
func isNumber(v any) bool {
	switch v := v.(type) {
	case canonical.Number, json.Number, canonical.Float, float64, float32,
		int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return true
	case *big.Int:
		return v != nil
	}
	return false
}

// isInteger reports whether v is an integer: a JSON number literal with no
// fraction or exponent, or a Go integer.
func isInteger(v any) bool {
	switch v := v.(type) {
	case canonical.Number:
		return isIntegerLiteral(string(v))
	case json.Number:
		return isIntegerLiteral(string(v))
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return true
	case *big.Int:
		return v != nil
	}
	return false
}

// isIntegerLiteral reports whether s is a JSON integer: -?(0|[1-9][0-9]*).
func isIntegerLiteral(s string) bool {
	s = strings.TrimPrefix(s, "-")
	if s == "" || (s[0] == '0' && len(s) > 1) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// integer returns the value of an integer (per isInteger) when it fits an
// int64.
func integer(v any) (int64, bool) {
	switch v := v.(type) {
	case canonical.Number:
		n, err := strconv.ParseInt(string(v), 10, 64)
		return n, err == nil
	case json.Number:
		n, err := strconv.ParseInt(string(v), 10, 64)
		return n, err == nil
	case int:
		return int64(v), true
	case int8:
		return int64(v), true
	case int16:
		return int64(v), true
	case int32:
		return int64(v), true
	case int64:
		return v, true
	case uint:
		return int64(v), uint64(v) <= math.MaxInt64
	case uint8:
		return int64(v), true
	case uint16:
		return int64(v), true
	case uint32:
		return int64(v), true
	case uint64:
		return int64(v), v <= math.MaxInt64
	case *big.Int:
		return v.Int64(), v.IsInt64()
	}
	return 0, false
}

// float returns the value of a number (per isNumber) as a float64.
func float(v any) (float64, bool) {
	switch v := v.(type) {
	case canonical.Number:
		f, err := strconv.ParseFloat(string(v), 64)
		return f, err == nil
	case json.Number:
		f, err := strconv.ParseFloat(string(v), 64)
		return f, err == nil
	case canonical.Float:
		return float64(v), true
	case float64:
		return v, true
	case float32:
		return float64(v), true
	case *big.Int:
		f, _ := new(big.Float).SetInt(v).Float64()
		return f, true
	}
	if n, ok := integer(v); ok {
		return float64(n), true
	}
	if u, ok := v.(uint64); ok {
		return float64(u), true
	}
	if u, ok := v.(uint); ok {
		return float64(u), true
	}
	return 0, false
}

func numberText(v any) string {
	switch v := v.(type) {
	case canonical.Number:
		return string(v)
	case json.Number:
		return string(v)
	}
	return fmt.Sprint(v)
}

// kindName names the JSON type of v for messages.
func kindName(v any) string {
	switch {
	case v == nil:
		return "null"
	case hasType(v, tString):
		return "string"
	case hasType(v, tInteger):
		return "integer"
	case hasType(v, tNumber):
		return "number"
	case hasType(v, tBool):
		return "boolean"
	case hasType(v, tObject):
		return "object"
	case hasType(v, tArray):
		return "array"
	}
	return fmt.Sprintf("Go value of type %T", v)
}

func missing(path string) *Error {
	return &Error{Category: MissingField, Field: path, Message: "required field is missing"}
}

func wrongType(path, want string, got any) *Error {
	return &Error{Category: WrongType, Field: path, Message: "must be " + want + ", got " + kindName(got)}
}

func invalid(path, format string, args ...any) *Error {
	return &Error{Category: InvalidValue, Field: path, Message: fmt.Sprintf(format, args...)}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// quote quotes s for a message, shortened when long.
func quote(s string) string {
	if len(s) > 80 {
		return strconv.Quote(s[:80]) + "..."
	}
	return strconv.Quote(s)
}
