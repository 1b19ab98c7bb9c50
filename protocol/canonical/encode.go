package canonical

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
)

// Append appends the canonical JSON of v to dst. v may be nil, bool,
// string, [Number], [json.Number], [Float], any signed or unsigned integer
// type, float32, float64, *[big.Int], []any, []string, map[string]any or
// map[string]string, nested in any way. Floats are written as Python's
// repr writes them ([AppendFloat]); map keys are sorted by code point.
//
// Any other type, invalid UTF-8 in a string or key, NaN or an infinity, an
// invalid Number and nesting deeper than [MaxDepth] (such as a map that
// contains itself) are an [*Error] naming the path; dst is then returned
// unchanged.
func Append(dst []byte, v any) ([]byte, error) {
	var e encoder
	out, err := e.value(dst, v, fAny)
	if err != nil {
		return dst, err
	}
	return out, nil
}

// AppendContent appends the canonical JSON of capsule content: a content
// dict as returned by [Parse], or built by hand with the types [Append]
// accepts. On top of the generic rules it applies the capsule rules:
//
//   - reasoning.confidence and every reasoning.options[i].feasibility are
//     float-typed: an integer (Number "1", int 1) is written as the float
//     it denotes ("1.0"); a value that is not a number is an error.
//   - trigger.timestamp must be a string holding an ISO-8601 date and time,
//     and is written as Python's datetime.isoformat() writes it:
//     "YYYY-MM-DDTHH:MM:SS+00:00", with ".ffffff" (six digits) only when
//     the microseconds are non-zero. "Z" becomes "+00:00", a missing offset
//     is taken as UTC, another offset ("+02:00") is kept, and 1 to 6
//     fractional digits are accepted.
//
// Everything else, unknown keys included, is written as by [Append]. On
// error dst is returned unchanged.
func AppendContent(dst []byte, content map[string]any) ([]byte, error) {
	var e encoder
	out, err := e.object(dst, content, fContent)
	if err != nil {
		return dst, err
	}
	return out, nil
}

// AppendString appends s as a canonical JSON string (rule 5): quoted, with
// only '"', '\\' and U+0000..U+001F escaped. Invalid UTF-8 is an error.
func AppendString(dst []byte, s string) ([]byte, error) {
	out, err := appendString(dst, s)
	if err != nil {
		return dst, err
	}
	return out, nil
}

func appendString(dst []byte, s string) ([]byte, *Error) {
	out, at, ok := appendQuotedValid(dst, s)
	if !ok {
		return dst, newError(-1, "invalid UTF-8 at byte "+strconv.Itoa(at)+" of string "+strconv.Quote(truncate(s)))
	}
	return out, nil
}

// encoder writes Go values. Map members are sorted on shared stacks.
type encoder struct {
	members stack[pair]   // of map[string]any
	keys    stack[string] // of map[string]string
	depth   int
}

func (e *encoder) value(dst []byte, v any, f field) ([]byte, *Error) {
	if f >= fFloat {
		return e.special(dst, v, f)
	}
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case string:
		return appendString(dst, v)
	case bool:
		if v {
			return append(dst, "true"...), nil
		}
		return append(dst, "false"...), nil
	case Number:
		return appendNumber(dst, string(v))
	case map[string]any:
		return e.object(dst, v, f)
	case []any:
		if err := e.enter(); err != nil {
			return dst, err
		}
		dst = append(dst, '[')
		elem := f.elem()
		for i, x := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err *Error
			if dst, err = e.value(dst, x, elem); err != nil {
				return dst, err.inIndex(i)
			}
		}
		e.depth--
		return append(dst, ']'), nil
	case float64:
		return appendFloat(dst, v)
	case Float:
		return appendFloat(dst, float64(v))
	case int:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case int64:
		return strconv.AppendInt(dst, v, 10), nil
	case json.Number:
		return appendNumber(dst, string(v))
	case float32:
		return appendFloat(dst, float64(v))
	case int8:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case int16:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case int32:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case uint:
		return strconv.AppendUint(dst, uint64(v), 10), nil
	case uint8:
		return strconv.AppendUint(dst, uint64(v), 10), nil
	case uint16:
		return strconv.AppendUint(dst, uint64(v), 10), nil
	case uint32:
		return strconv.AppendUint(dst, uint64(v), 10), nil
	case uint64:
		return strconv.AppendUint(dst, v, 10), nil
	case *big.Int:
		if v == nil {
			return dst, newError(-1, "nil *big.Int")
		}
		n := len(dst)
		dst = v.Append(dst, 10)
		if err := checkIntDigits(dst[n:]); err != nil {
			return dst[:n], err
		}
		return dst, nil
	case []string:
		dst = append(dst, '[')
		for i, s := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err *Error
			if dst, err = appendString(dst, s); err != nil {
				return dst, err.inIndex(i)
			}
		}
		return append(dst, ']'), nil
	case map[string]string:
		return e.stringMap(dst, v, f)
	}
	return dst, newError(-1, fmt.Sprintf("unsupported type %T", v))
}

func (e *encoder) enter() *Error {
	if e.depth++; e.depth > MaxDepth {
		return newError(-1, "nesting deeper than "+strconv.Itoa(MaxDepth)+" levels (a value that contains itself?)")
	}
	return nil
}

// sortedKeys pushes the keys of m on the key stack, sorted, and returns
// them; the caller pops them by truncating e.keys to the returned base.
func sortedKeys(e *encoder, m map[string]string) (keys []string, base int) {
	base = e.keys.len()
	for k := range m {
		e.keys.push(k)
	}
	keys = e.keys.from(base)
	slices.Sort(keys)
	return keys, base
}

func appendKey(dst []byte, k string) ([]byte, *Error) {
	out, _, ok := appendQuotedValid(dst, k)
	if !ok {
		return dst, newError(-1, "invalid UTF-8 in key "+strconv.Quote(truncate(k)))
	}
	return append(out, ':'), nil
}

func (e *encoder) object(dst []byte, m map[string]any, f field) ([]byte, *Error) {
	if err := e.enter(); err != nil {
		return dst, err
	}
	// Collect the members with their values, so that writing them in key
	// order needs no second map lookup.
	base := e.members.len()
	for k, v := range m {
		e.members.push(pair{k, v})
	}
	ms := e.members.from(base)
	sortPairs(ms)
	dst = append(dst, '{')
	for i := range ms {
		if i > 0 {
			dst = append(dst, ',')
		}
		k := ms[i].k
		var err *Error
		if dst, err = appendKey(dst, k); err != nil {
			return dst, err
		}
		sub := fAny
		if f != fAny {
			sub = child(f, k)
		}
		if dst, err = e.value(dst, ms[i].v, sub); err != nil {
			return dst, err.inKey(k)
		}
	}
	e.members.truncate(base)
	e.depth--
	return append(dst, '}'), nil
}

// pair is one member of a map being written.
type pair struct {
	k string
	v any
}

// sortPairs orders ps by key: bytes of valid UTF-8 compare in code point
// order.
func sortPairs(ps []pair) {
	if len(ps) > 32 {
		slices.SortFunc(ps, func(a, b pair) int { return strings.Compare(a.k, b.k) })
		return
	}
	for i := 1; i < len(ps); i++ {
		p := ps[i]
		j := i
		for ; j > 0 && ps[j-1].k > p.k; j-- {
			ps[j] = ps[j-1]
		}
		ps[j] = p
	}
}

func (e *encoder) stringMap(dst []byte, m map[string]string, f field) ([]byte, *Error) {
	keys, base := sortedKeys(e, m)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		var err *Error
		if dst, err = appendKey(dst, k); err != nil {
			return dst, err
		}
		if f != fAny {
			if c := child(f, k); c >= fFloat {
				// A float field or the timestamp held as a string.
				if dst, err = e.special(dst, m[k], c); err != nil {
					return dst, err.inKey(k)
				}
				continue
			}
		}
		if dst, err = appendString(dst, m[k]); err != nil {
			return dst, err.inKey(k)
		}
	}
	e.keys.truncate(base)
	return append(dst, '}'), nil
}

// special writes the value of a float-typed field or of trigger.timestamp.
func (e *encoder) special(dst []byte, v any, f field) ([]byte, *Error) {
	if f == fTimestamp {
		s, ok := v.(string)
		if !ok {
			return dst, newError(-1, "timestamp must be a string, got "+typeName(v))
		}
		out, ok := appendTimestampText(dst, s)
		if !ok {
			return dst, timestampError(-1, s)
		}
		return out, nil
	}
	var x float64
	switch v := v.(type) {
	case Number:
		return appendFloatNumber(dst, string(v))
	case json.Number:
		return appendFloatNumber(dst, string(v))
	case float64:
		x = v
	case Float:
		x = float64(v)
	case float32:
		x = float64(v)
	case int:
		x = float64(v)
	case int8:
		x = float64(v)
	case int16:
		x = float64(v)
	case int32:
		x = float64(v)
	case int64:
		x = float64(v)
	case uint:
		x = float64(v)
	case uint8:
		x = float64(v)
	case uint16:
		x = float64(v)
	case uint32:
		x = float64(v)
	case uint64:
		x = float64(v)
	case *big.Int:
		if v == nil {
			return dst, newError(-1, "nil *big.Int")
		}
		if x, _ = new(big.Float).SetInt(v).Float64(); math.IsInf(x, 0) {
			return dst, newError(-1, "number "+truncate(v.String())+" overflows float64")
		}
	default:
		return dst, newError(-1, "must be a number, got "+typeName(v))
	}
	return appendFloat(dst, x)
}

func appendFloatNumber(dst []byte, lit string) ([]byte, *Error) {
	integer, err := checkNumber(lit)
	if err != nil {
		return dst, err
	}
	return appendFloatLit(dst, lit, integer)
}

func typeName(v any) string {
	if v == nil {
		return "null"
	}
	return fmt.Sprintf("%T", v)
}
