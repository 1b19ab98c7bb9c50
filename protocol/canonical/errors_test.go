package canonical

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
)

// wantError checks that err is an *Error with the given path and offset.
func wantError(t *testing.T, err error, path string, offset int64) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got error %v (%T), want *Error at %q", err, err, path)
	}
	if e.Path != path || e.Offset != offset {
		t.Fatalf("got %q (path %q, offset %d), want path %q, offset %d", e.Error(), e.Path, e.Offset, path, offset)
	}
	return e
}

// bothError runs Parse, Canonicalize and CanonicalizeContent on in and
// checks that each fails at path and offset with a message containing msg.
func bothError(t *testing.T, in, path string, offset int64, msg string) {
	t.Helper()
	_, err := Parse([]byte(in))
	e := wantError(t, err, path, offset)
	if !strings.Contains(e.Msg, msg) {
		t.Errorf("Parse(%q): message %q does not contain %q", in, e.Msg, msg)
	}
	_, err = Canonicalize([]byte(in))
	e = wantError(t, err, path, offset)
	if !strings.Contains(e.Msg, msg) {
		t.Errorf("Canonicalize(%q): message %q does not contain %q", in, e.Msg, msg)
	}
	if strings.HasPrefix(in, "{") {
		_, err = CanonicalizeContent([]byte(in))
		wantError(t, err, path, offset)
	}
}

func TestErrorString(t *testing.T) {
	_, err := Canonicalize([]byte(`{"context":{"environment":{"k":1,"k":2}}}`))
	if got, want := err.Error(), `canonical: context.environment.k: duplicate key "k"`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	_, err = Parse([]byte(`[1,]`))
	if got, want := err.Error(), `canonical: [1]: syntax error at offset 3: unexpected character ']', expected a value`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got, want := (&Error{Msg: "m", Offset: -1}).Error(), "canonical: m"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestDuplicateKeys(t *testing.T) {
	bothError(t, `{"a":1,"a":2}`, "a", 7, `duplicate key "a"`)
	bothError(t, `{"context":{"environment":{"x":1,"k":2,"k":3}}}`, "context.environment.k", 39, `duplicate key "k"`)
	bothError(t, `{"reasoning":{"options":[{},{"id":1,"id":2}]}}`, "reasoning.options[1].id", 36, `duplicate key "id"`)
	// Keys are compared after unescaping.
	bothError(t, `{"a":{"\u0041":1,"A":2}}`, "a.A", 17, `duplicate key "A"`)
	bothError(t, `[{"é":1,"\u00e9":2}]`, "[0].é", 9, `duplicate key "é"`)
}

func TestSurrogatesAndUTF8(t *testing.T) {
	bothError(t, `{"s":"\ud800"}`, "s", 6, "lone high surrogate")
	bothError(t, `{"s":"x\ud800y"}`, "s", 7, "lone high surrogate")
	bothError(t, `{"s":"\ud800\u0041"}`, "s", 6, "lone high surrogate")
	bothError(t, `{"s":"\ud800\ud800"}`, "s", 6, "lone high surrogate")
	bothError(t, `{"s":"\udc00"}`, "s", 6, "lone low surrogate")
	bothError(t, `{"a":{"b":["ok","\uDFFF\ud83d"]}}`, "a.b[1]", 17, "lone low surrogate")
	bothError(t, `{"\ud800":1}`, "", 2, "lone high surrogate")
	// Invalid UTF-8 in a value and in a key (the path is the object's).
	bothError(t, "{\"context\":{\"env\":\"a\xffb\"}}", "context.env", 20, "invalid UTF-8")
	bothError(t, "{\"context\":{\"k\xc3\":1}}", "context", 14, "invalid UTF-8")
	bothError(t, "{\"s\":\"\xed\xa0\x80\"}", "s", 6, "invalid UTF-8") // surrogate encoded in UTF-8
	bothError(t, "{\"s\":\"\xc0\xaf\"}", "s", 6, "invalid UTF-8")     // overlong
	bothError(t, "\"\xf4\x90\x80\x80\"", "", 1, "invalid UTF-8")      // beyond U+10FFFF

	// Surrogate pairs are fine.
	got, err := Canonicalize([]byte(`"\ud83d\ude00 \uD83D\uDE00"`))
	if err != nil || string(got) != `"😀 😀"` {
		t.Errorf("surrogate pair: %s, %v", got, err)
	}

	// Go values: invalid UTF-8 in strings and keys.
	_, err = Append(nil, map[string]any{"a": []any{"ok", "bad\xff"}})
	wantError(t, err, "a[1]", -1)
	_, err = Append(nil, map[string]any{"a": map[string]any{"k\xff": 1}})
	wantError(t, err, "a", -1)
	_, err = Append(nil, map[string]string{"x": "\xfe"})
	wantError(t, err, "x", -1)
	_, err = Append(nil, []string{"a", "\xfe"})
	wantError(t, err, "[1]", -1)
	if _, err := AppendString(nil, "a\xffb"); err == nil {
		t.Error("AppendString accepted invalid UTF-8")
	}
}

// An error inside nested arrays names the element by its index in each
// array, however many elements the inner arrays had.
func TestNestedArrayErrorPath(t *testing.T) {
	bothError(t, `{"a":[[1,2],[3,1e400]]}`, "a[1][1]", 15, "overflows")
	bothError(t, `[[1],[2,[3,4,5],[6,1e400]]]`, "[1][2][1]", 19, "overflows")
	bothError(t, `{"a":[{"b":[1,2,3]},{"b":[1,"\ud800"]}]}`, "a[1].b[1]", 29, "surrogate")
}

func TestSyntaxErrors(t *testing.T) {
	tests := []struct {
		in     string
		path   string
		offset int64
	}{
		{``, "", 0},
		{`   `, "", 3},
		{`{`, "", 1},
		{`{"a"}`, "", 4},
		{`{"a":}`, "a", 5},
		{`{"a":1,}`, "", 7},
		{`{"a":1 "b":2}`, "", 7},
		{`{a:1}`, "", 1},
		{`[1,]`, "[1]", 3},
		{`[1 2]`, "", 3},
		{`{"a":[1,2}`, "a", 9},
		{`"abc`, "", 0},
		{"\"a\tb\"", "", 2},
		{`"\x"`, "", 1},
		{`"\u12g4"`, "", 1},
		{`{"k":tru}`, "k", 5},
		{`nul`, "", 0},
		{`[True]`, "[0]", 1},
		{`{"a":1}x`, "", 7},
		{`{"a":1} {}`, "", 8},
		{`1 2`, "", 2},
		{`[01]`, "", 2},
		{"\xef\xbb\xbf{}", "", 0}, // BOM
		{`{"a":NaN}`, "a", 5},
		{`{"a":-Infinity}`, "a", 6},
		{`'a'`, "", 0},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.in))
		e := wantError(t, err, tt.path, tt.offset)
		if !strings.Contains(e.Msg, "syntax error") {
			t.Errorf("Parse(%q): %v is not a syntax error", tt.in, e)
		}
		_, err = Canonicalize([]byte(tt.in))
		wantError(t, err, tt.path, tt.offset)
	}
	// Trailing whitespace is fine; trailing garbage is not.
	if _, err := Canonicalize([]byte(" {\"a\" : [ 1 , 2 ] } \r\n\t")); err != nil {
		t.Error(err)
	}
}

func TestDepth(t *testing.T) {
	ok := strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth)
	if got, err := Canonicalize([]byte(ok)); err != nil || string(got) != ok {
		t.Errorf("depth %d: %v", MaxDepth, err)
	}
	if _, err := Parse([]byte(ok)); err != nil {
		t.Errorf("depth %d: %v", MaxDepth, err)
	}
	okObj := strings.Repeat(`{"a":`, MaxDepth) + "1" + strings.Repeat("}", MaxDepth)
	if _, err := Canonicalize([]byte(okObj)); err != nil {
		t.Errorf("depth %d: %v", MaxDepth, err)
	}

	for _, n := range []int{MaxDepth + 1, 10000} {
		arr := strings.Repeat("[", n) + strings.Repeat("]", n)
		wantPath := strings.Repeat("[0]", MaxDepth)
		_, err := Parse([]byte(arr))
		e := wantError(t, err, wantPath, MaxDepth)
		if !strings.Contains(e.Msg, "nesting deeper than 512") {
			t.Errorf("message %q", e.Msg)
		}
		_, err = Canonicalize([]byte(arr))
		wantError(t, err, wantPath, MaxDepth)

		obj := strings.Repeat(`{"k":`, n) + "1" + strings.Repeat("}", n)
		wantPath = strings.TrimSuffix(strings.Repeat("k.", MaxDepth), ".")
		_, err = Parse([]byte(obj))
		wantError(t, err, wantPath, 5*MaxDepth)
		_, err = CanonicalizeContent([]byte(obj))
		wantError(t, err, wantPath, 5*MaxDepth)
	}

	// Go values: a map that contains itself is an error, not a crash.
	m := map[string]any{}
	m["self"] = m
	_, err := Append(nil, m)
	var e *Error
	if !errors.As(err, &e) || !strings.Contains(e.Msg, "nesting deeper") {
		t.Errorf("cyclic map: %v", err)
	}
	s := []any{nil}
	s[0] = s
	if _, err := Append(nil, s); err == nil {
		t.Error("cyclic slice accepted")
	}
}

func TestUnsupportedTypes(t *testing.T) {
	type custom struct{}
	tests := []struct {
		v    any
		path string
		typ  string
	}{
		{custom{}, "", "canonical.custom"},
		{map[string]any{"a": []int{1}}, "a", "[]int"},
		{map[string]any{"a": map[string]int{}}, "a", "map[string]int"},
		{[]any{1, struct{}{}}, "[1]", "struct {}"},
		{map[string]any{"p": new(int)}, "p", "*int"},
		{map[string]any{"b": (*big.Int)(nil)}, "b", ""},
		{complex(1, 2), "", "complex128"},
	}
	for _, tt := range tests {
		got, err := Append([]byte("dst"), tt.v)
		if string(got) != "dst" {
			t.Errorf("Append(%#v) changed dst: %q", tt.v, got)
		}
		e := wantError(t, err, tt.path, -1)
		if !strings.Contains(e.Msg, tt.typ) {
			t.Errorf("message %q does not name %s", e.Msg, tt.typ)
		}
	}
}

func TestStrings(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `""`},
		{"plain", `"plain"`},
		{"\x00\x01\x07\x08\x09\x0a\x0b\x0c\x0d\x1b\x1f", `"\u0000\u0001\u0007\b\t\n\u000b\f\r\u001b\u001f"`},
		{`quote " backslash \ slash /`, `"quote \" backslash \\ slash /"`},
		{"</script>&<>", `"</script>&<>"`},
		{"\u2028\u2029", "\"\u2028\u2029\""},
		{"\x7f", "\"\x7f\""},
		{"😀 naïve 日本 \U0010FFFF \uFFFD", "\"😀 naïve 日本 \U0010FFFF \uFFFD\""},
	}
	for _, tt := range tests {
		got, err := AppendString([]byte("x"), tt.in)
		if err != nil || string(got) != "x"+tt.want {
			t.Errorf("AppendString(%q) = %s, %v; want x%s", tt.in, got, err, tt.want)
		}
		// The same string read from JSON, escaped by encoding/json.
		enc, _ := json.Marshal(tt.in)
		c, err := Canonicalize(enc)
		if err != nil || string(c) != tt.want {
			t.Errorf("Canonicalize(%s) = %s, %v; want %s", enc, c, err, tt.want)
		}
		v, err := Parse(enc)
		if err != nil || v != tt.in {
			t.Errorf("Parse(%s) = %q, %v", enc, v, err)
		}
	}
	// Escapes in the input, including the ones that need none in the output.
	c, err := Canonicalize([]byte(`"\/\u003c\u0026\u2028\u007f\u00e9\u001F\uD83D\uDE00\b\f\n\r\t\"\\"`))
	if want := "\"/<&\u2028\x7fé\\u001f😀\\b\\f\\n\\r\\t\\\"\\\\\""; err != nil || string(c) != want {
		t.Errorf("escapes: %s, %v; want %s", c, err, want)
	}
}

func TestKeyOrder(t *testing.T) {
	// Code point order, compared after unescaping; non-BMP sorts after
	// U+FFFF (UTF-16 order would put it before).
	in := `{"b":1,"a":2,"\u00e9":3,"A":4,"\uffff":5,"\ud800\udc00":6,"\n":7,"":8,"aa":9,"\"":10,"a\u0000":11}`
	want := "{\"\":8,\"\\n\":7,\"\\\"\":10,\"A\":4,\"a\":2,\"a\\u0000\":11,\"aa\":9,\"b\":1,\"é\":3,\"\uffff\":5,\"\U00010000\":6}"
	got, err := Canonicalize([]byte(in))
	if err != nil || string(got) != want {
		t.Fatalf("got %s, %v\nwant %s", got, err, want)
	}
	v, err := Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	got, err = Append(nil, v)
	if err != nil || string(got) != want {
		t.Fatalf("Append: got %s, %v", got, err)
	}
	// More members than the insertion sort handles, in reverse order.
	var b strings.Builder
	b.WriteString("{")
	for i := 40; i > 0; i-- {
		if i < 40 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `"k%02d":[%s0]`, i, strings.Repeat(`{"z":0,"y":1},`, i%3))
	}
	b.WriteString("}")
	got, err = Canonicalize([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	v, _ = Parse([]byte(b.String()))
	want2, _ := Append(nil, v)
	if string(got) != string(want2) || !strings.HasPrefix(string(got), `{"k01":[{"y":1,"z":0},0],"k02":[{"y":1,"z":0},{"y":1,"z":0},0],"k03":[0]`) {
		t.Fatalf("40 keys: %s", got)
	}
	var std map[string]any
	if err := json.Unmarshal(got, &std); err != nil || len(std) != 40 {
		t.Fatalf("output does not read back: %v", err)
	}

	// Past the inline stacks: 150 members in reverse order, each with an
	// object of its own, and the same as a Go map.
	b.Reset()
	m := map[string]any{}
	var want3 strings.Builder
	b.WriteString("{")
	want3.WriteString("{")
	for i := 149; i >= 0; i-- {
		k := fmt.Sprintf("k%03d", i)
		fmt.Fprintf(&b, `"%s":{"b":%d,"a":"é"}`, k, i)
		if i > 0 {
			b.WriteString(",")
		}
		m[k] = map[string]any{"b": i, "a": "é"}
	}
	for i := range 150 {
		if i > 0 {
			want3.WriteString(",")
		}
		fmt.Fprintf(&want3, `"k%03d":{"a":"é","b":%d}`, i, i)
	}
	b.WriteString("}")
	want3.WriteString("}")
	got, err = Canonicalize([]byte(b.String()))
	if err != nil || string(got) != want3.String() {
		t.Fatalf("150 members: %v\n%s", err, got)
	}
	got, err = Append(nil, m)
	if err != nil || string(got) != want3.String() {
		t.Fatalf("150-member map: %v\n%s", err, got)
	}
	v, err = Parse([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if got, err = Append(nil, v); err != nil || string(got) != want3.String() {
		t.Fatalf("150 members through Parse: %v\n%s", err, got)
	}
	// A duplicate among many members.
	dup := strings.Replace(b.String(), `"k007"`, `"k100"`, 1)
	_, err = Canonicalize([]byte(dup))
	wantError(t, err, "k100", int64(strings.LastIndex(dup, `"k100"`)))
	_, err = Parse([]byte(dup))
	wantError(t, err, "k100", int64(strings.LastIndex(dup, `"k100"`)))
}

func TestParseTypes(t *testing.T) {
	v, err := Parse([]byte(` {"s":"x\ty","n":-1.5e3,"i":12,"t":true,"f":false,"z":null,"a":[1,"2",[]],"o":{}} `))
	if err != nil {
		t.Fatal(err)
	}
	m := v.(map[string]any)
	if m["s"] != "x\ty" || m["n"] != Number("-1.5e3") || m["i"] != Number("12") || m["t"] != true ||
		m["f"] != false || m["z"] != nil || len(m["o"].(map[string]any)) != 0 {
		t.Fatalf("got %#v", m)
	}
	if z, ok := m["z"]; !ok || z != nil {
		t.Fatal("null member missing")
	}
	a := m["a"].([]any)
	if len(a) != 3 || a[0] != Number("1") || a[1] != "2" || len(a[2].([]any)) != 0 {
		t.Fatalf("got %#v", a)
	}
	if v, err := Parse([]byte("null")); v != nil || err != nil {
		t.Fatalf("null: %v, %v", v, err)
	}
}

func TestAppendGoValues(t *testing.T) {
	v := map[string]any{
		"z":   []string{"b", "a"},
		"m":   map[string]string{"y": "1", "x": "</>"},
		"n":   nil,
		"f":   0.00004,
		"j":   json.Number("1.0e5"),
		"big": new(big.Int).Lsh(big.NewInt(1), 70),
		"arr": []any{true, false, 3, Number("-0"), Float(2)},
	}
	got, err := Append([]byte("<"), v)
	want := `<{"arr":[true,false,3,0,2.0],"big":1180591620717411303424,"f":4e-05,"j":100000.0,"m":{"x":"</>","y":"1"},"n":null,"z":["b","a"]}`
	if err != nil || string(got) != want {
		t.Fatalf("got %s, %v\nwant %s", got, err, want)
	}
	// Nil containers are written empty.
	got, err = Append(nil, []any{[]any(nil), map[string]any(nil), []string(nil), map[string]string(nil)})
	if err != nil || string(got) != `[[],{},[],{}]` {
		t.Fatalf("nil containers: %s, %v", got, err)
	}
}
