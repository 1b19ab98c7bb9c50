package runtime

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/capsule-go/capsule/protocol/canonical"
)

// maxResultString is how many characters of a string result are recorded.
const maxResultString = 500

// JSONSafe returns a copy of v that canonical JSON can encode, the way
// [Call.Finish] records a result; for generated code. The copy has strings
// cut at 500 characters, numbers as they are (NaN and infinities as
// strings), errors and fmt.Stringers as their text, and any other value
// through encoding/json (its JSON re-read), or its %v text when that fails.
//
// A panic in a String, Error or MarshalJSON method is recovered: the value
// is recorded as the text "unrecordable result: <panic>", so recording a
// result never changes the outcome of the call.
func JSONSafe(v any) (out any) {
	defer func() {
		if p := recover(); p != nil {
			out = cut(fmt.Sprintf("unrecordable result: %v", p))
		}
	}()
	switch x := v.(type) {
	case nil, bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, canonical.Number, json.Number:
		return x
	case string:
		return cut(x)
	case float64:
		return safeFloat(x)
	case float32:
		return safeFloat(float64(x))
	case error:
		return cut(x.Error())
	case fmt.Stringer:
		return cut(x.String())
	case []byte:
		return cut(string(x))
	case []string:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = cut(e)
		}
		return out
	}
	b, err := json.Marshal(v)
	if err != nil {
		return cut(fmt.Sprintf("%v", v))
	}
	parsed, err := canonical.Parse(b)
	if err != nil {
		return cut(string(b))
	}
	return cutAll(parsed)
}

func safeFloat(f float64) any {
	if _, err := canonical.AppendFloat(nil, f); err != nil {
		return fmt.Sprint(f)
	}
	return f
}

func cut(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if len(s) <= maxResultString {
		return s
	}
	n := 0
	for i := range s {
		if n == maxResultString {
			return s[:i]
		}
		n++
	}
	return s
}

func cutAll(v any) any {
	switch x := v.(type) {
	case string:
		return cut(x)
	case []any:
		for i := range x {
			x[i] = cutAll(x[i])
		}
	case map[string]any:
		for k, e := range x {
			x[k] = cutAll(e)
		}
	}
	return v
}
