package canonical

import (
	"reflect"
	"strings"
	"testing"
)

// walk rebuilds the value at d's position with the Decoder's token
// methods, refusing duplicate keys as Parse does; free-form values below
// depth 2 are read by Value.
func walk(d *Decoder, depth int) any {
	if depth >= 2 {
		return d.Value()
	}
	switch d.Peek() {
	case '{':
		m := map[string]any{}
		if d.BeginObject() {
			for key, ok := d.Key(); ok; key, ok = d.Key() {
				k := string(key)
				if _, dup := m[k]; dup {
					d.Fail("duplicate key")
				}
				m[k] = walk(d, depth+1)
			}
		}
		return m
	case '[':
		a := []any{}
		if d.BeginArray() {
			for d.More() {
				a = append(a, walk(d, depth+1))
			}
		}
		return a
	case '"':
		return d.String()
	case '0':
		return d.Number()
	case 't', 'f':
		return d.Bool()
	case 'n':
		d.Null()
		return nil
	}
	return d.Value() // the error
}

// decodeAll reads data with the Decoder as Parse would.
func decodeAll(data []byte) (any, error) {
	var d Decoder
	d.Reset(data)
	v := walk(&d, 0)
	d.End()
	if err := d.Err(); err != nil {
		return nil, err
	}
	return v, nil
}

// The Decoder's token methods accept what Parse accepts, with the same
// values, and refuse what it refuses.
func TestDecoderAgreesWithParse(t *testing.T) {
	var docs []string
	for _, fx := range loadFixtures(t) {
		docs = append(docs, string(fx.CapsuleDict), fx.CanonicalJSON)
	}
	docs = append(docs,
		``, ` `, `{`, `[`, `{}`, `[]`, ` { } `, `[ ]`, `{"a":1,"a":2}`, `{"a":{"b":1,"b":2}}`, `{"a":[{"b":1,"b":2}]}`,
		`{"a":1,}`, `[1,]`, `[1 2]`, `{"a" 1}`, `{"a":1 "b":2}`, `{1:2}`, `{"a":1}x`, `{"a":1} {}`, `"\ud800"`,
		`{"\u0061":1,"a":2}`, `{"a\u00e9":"\ud83d\ude00","b":[true,false,null,-0,1e5,4.0e-05]}`, `[1e400]`, `{"a":[1e400]}`,
		`[`+strings.Repeat("9", 4301)+`]`, "[\"\xff\"]", `[tru]`, `[nul]`, `{"a":-}`, `{"a":01}`, `{"a":1.}`,
		strings.Repeat(`[`, 512)+strings.Repeat(`]`, 512), strings.Repeat(`[`, 513)+strings.Repeat(`]`, 513),
		`{"a":`+strings.Repeat(`[`, 511)+strings.Repeat(`]`, 511)+`}`, `{"a":`+strings.Repeat(`[`, 512)+strings.Repeat(`]`, 512)+`}`,
	)
	for _, doc := range docs {
		want, wantErr := Parse([]byte(doc))
		got, err := decodeAll([]byte(doc))
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("%.80q: Decoder error %v, Parse error %v", doc, err, wantErr)
		}
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%.80q: Decoder read %v, Parse %v", doc, got, want)
		}
		if err != nil {
			checkError(t, err, []byte(doc))
		}
	}
}

// NormalizeTimestamp writes what AppendContent writes for
// trigger.timestamp, and refuses what it refuses.
func TestNormalizeTimestamp(t *testing.T) {
	for _, s := range []string{
		"2026-01-15T12:00:00+00:00", "2026-01-15T12:00:00Z", "2026-01-15 12:00:00.5", "2026-01-15T12:00:00.000000-00:00",
		"2026-01-15T12:00:00+05:30", "2026-02-29T12:00:00Z", "2024-02-29T12:00:00Z", "2026-01-15T12:00:00.1234567Z", "", "x",
	} {
		norm, ok := NormalizeTimestamp(s)
		b, err := AppendContent(nil, map[string]any{"trigger": map[string]any{"timestamp": s}})
		if ok != (err == nil) {
			t.Fatalf("%q: NormalizeTimestamp %v, AppendContent error %v", s, ok, err)
		}
		if want := `{"trigger":{"timestamp":"` + norm + `"}}`; ok && string(b) != want {
			t.Errorf("%q: NormalizeTimestamp %q, AppendContent %s", s, norm, b)
		}
	}
}

// FuzzDecoder checks the Decoder against Parse on any text.
func FuzzDecoder(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		want, wantErr := Parse(data)
		got, err := decodeAll(data)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("Decoder error %v, Parse error %v", err, wantErr)
		}
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("Decoder read %v, Parse %v", got, want)
		}
	})
}
