package canonical

import (
	"encoding/json"
	"math/big"
	"strings"
	"testing"
	"time"
)

func TestTimestampNormalization(t *testing.T) {
	tests := []struct{ in, want string }{
		{"2026-01-15T12:00:00+00:00", "2026-01-15T12:00:00+00:00"},
		{"2026-01-15T12:00:00Z", "2026-01-15T12:00:00+00:00"},
		{"2026-01-15T12:00:00", "2026-01-15T12:00:00+00:00"},
		{"2026-01-15 12:00:00+00:00", "2026-01-15T12:00:00+00:00"},
		{"2026-01-15T12:00:00-00:00", "2026-01-15T12:00:00+00:00"},
		{"2026-06-15T08:30:45.123456+00:00", "2026-06-15T08:30:45.123456+00:00"},
		{"2026-06-15T08:30:45.1Z", "2026-06-15T08:30:45.100000+00:00"},
		{"2026-06-15T08:30:45.12345", "2026-06-15T08:30:45.123450+00:00"},
		{"2026-06-15T08:30:45.000001Z", "2026-06-15T08:30:45.000001+00:00"},
		{"2026-06-15T08:30:45.000+00:00", "2026-06-15T08:30:45+00:00"},
		{"2026-06-15T08:30:45.0Z", "2026-06-15T08:30:45+00:00"},
		{"2026-01-15T12:00:00+02:00", "2026-01-15T12:00:00+02:00"},
		{"2026-01-15T12:00:00.5-05:30", "2026-01-15T12:00:00.500000-05:30"},
		{"2024-02-29T23:59:59Z", "2024-02-29T23:59:59+00:00"},
		{"2000-02-29T00:00:00Z", "2000-02-29T00:00:00+00:00"},
		{"0001-01-01T00:00:00Z", "0001-01-01T00:00:00+00:00"},
		{"9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59.999999+00:00"},
	}
	for _, tt := range tests {
		content := `{"trigger":{"timestamp":"` + tt.in + `","type":"user_request"}}`
		want := `{"trigger":{"timestamp":"` + tt.want + `","type":"user_request"}}`
		got, err := CanonicalizeContent([]byte(content))
		if err != nil || string(got) != want {
			t.Errorf("CanonicalizeContent(%s):\n got %s, %v\nwant %s", tt.in, got, err, want)
		}
		got, err = AppendContent(nil, map[string]any{"trigger": map[string]any{"timestamp": tt.in, "type": "user_request"}})
		if err != nil || string(got) != want {
			t.Errorf("AppendContent(%s):\n got %s, %v\nwant %s", tt.in, got, err, want)
		}
		got, err = AppendContent(nil, map[string]any{"trigger": map[string]string{"timestamp": tt.in, "type": "user_request"}})
		if err != nil || string(got) != want {
			t.Errorf("AppendContent(map[string]string %s):\n got %s, %v\nwant %s", tt.in, got, err, want)
		}
	}
	// An escaped timestamp is read after unescaping.
	got, err := CanonicalizeContent([]byte(`{"trigger":{"timestamp":"2026-01-15T12:00:00\u005a"}}`))
	if want := `{"trigger":{"timestamp":"2026-01-15T12:00:00+00:00"}}`; err != nil || string(got) != want {
		t.Errorf("escaped: %s, %v", got, err)
	}
	// Outside trigger.timestamp, timestamps are plain strings.
	got, err = CanonicalizeContent([]byte(`{"timestamp":"2026-01-15T12:00:00Z","outcome":{"timestamp":"x"}}`))
	if want := `{"outcome":{"timestamp":"x"},"timestamp":"2026-01-15T12:00:00Z"}`; err != nil || string(got) != want {
		t.Errorf("other timestamps: %s, %v", got, err)
	}

	bad := []string{
		"", "2026-01-15", "2026-01-15T12:00", "2026-01-15T12:00:00.1234567Z", "2026-01-15T12:00:00.Z",
		"2026-13-01T00:00:00Z", "2026-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2026-04-31T00:00:00Z",
		"2026-01-00T00:00:00Z", "0000-01-01T00:00:00Z", "2026-01-15T24:00:00Z", "2026-01-15T12:60:00Z",
		"2026-01-15T12:00:60Z", "2026-01-15T12:00:00+24:00", "2026-01-15T12:00:00+02:60", "2026-01-15T12:00:00+0200",
		"2026-01-15T12:00:00z", "2026-01-15T12:00:00ZZ", "2026-01-15X12:00:00Z", "2026/01/15T12:00:00Z",
		"2026-1-15T12:00:00Z", "yesterday", "2026-01-15T12:00:00 +00:00", "２026-01-15T12:00:00Z",
	}
	for _, in := range bad {
		inJSON, _ := json.Marshal(in)
		_, err := CanonicalizeContent([]byte(`{"trigger":{"timestamp":` + string(inJSON) + `}}`))
		e := wantError(t, err, "trigger.timestamp", 24)
		if !strings.Contains(e.Msg, "unparseable timestamp") {
			t.Errorf("%q: %v", in, e)
		}
		_, err = AppendContent(nil, map[string]any{"trigger": map[string]any{"timestamp": in}})
		wantError(t, err, "trigger.timestamp", -1)
	}
	for _, in := range []string{`null`, `1`, `{}`, `[]`, `true`} {
		_, err := CanonicalizeContent([]byte(`{"trigger":{"timestamp":` + in + `}}`))
		wantError(t, err, "trigger.timestamp", 24)
	}
	_, err = AppendContent(nil, map[string]any{"trigger": map[string]any{"timestamp": time.Now()}})
	wantError(t, err, "trigger.timestamp", -1)
	_, err = AppendContent(nil, map[string]any{"trigger": map[string]any{"timestamp": nil}})
	wantError(t, err, "trigger.timestamp", -1)
}

func TestAppendTimestamp(t *testing.T) {
	tests := []struct {
		t    time.Time
		want string
	}{
		{time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC), "2026-01-15T12:00:00+00:00"},
		{time.Date(2026, 6, 15, 8, 30, 45, 123456789, time.UTC), "2026-06-15T08:30:45.123456+00:00"},
		{time.Date(2026, 6, 15, 8, 30, 45, 999, time.UTC), "2026-06-15T08:30:45+00:00"},
		{time.Date(2026, 6, 15, 8, 30, 45, 1000, time.UTC), "2026-06-15T08:30:45.000001+00:00"},
		{time.Date(2026, 1, 1, 1, 0, 0, 500000000, time.FixedZone("x", 2*3600)), "2025-12-31T23:00:00.500000+00:00"},
		{time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), "0001-01-01T00:00:00+00:00"},
		{time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), "9999-12-31T23:59:59+00:00"},
		{time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), "10000-01-01T00:00:00+00:00"},
	}
	for _, tt := range tests {
		got := AppendTimestamp([]byte("x"), tt.t)
		if string(got) != "x"+tt.want {
			t.Errorf("AppendTimestamp(%v) = %s, want x%s", tt.t, got, tt.want)
		}
		// What the runtime writes is a fixed point of the normalization.
		if tt.t.Year() <= 9999 {
			n, ok := appendTimestampText(nil, tt.want)
			if !ok || string(n) != `"`+tt.want+`"` {
				t.Errorf("normalize(%s) = %s, %v", tt.want, n, ok)
			}
		}
	}
	if n := testing.AllocsPerRun(100, func() { AppendTimestamp(make([]byte, 0, 64), time.Now()) }); n > 1 {
		t.Errorf("AppendTimestamp: %v allocs", n)
	}
}

func TestFloatFields(t *testing.T) {
	tests := []struct{ in, want string }{
		{"0", "0.0"},
		{"-0", "0.0"},
		{"1", "1.0"},
		{"0.0", "0.0"},
		{"-0.0", "-0.0"},
		{"1.0", "1.0"},
		{"0.95", "0.95"},
		{"1E0", "1.0"},
		{"100", "100.0"},
		{"123456789012345", "123456789012345.0"},
		{"1234567890123456", "1234567890123456.0"},
		{"12345678901234567", "1.2345678901234568e+16"},
		{"123456789012345678901234567890", "1.2345678901234568e+29"},
		{"4e-05", "4e-05"},
	}
	for _, tt := range tests {
		in := `{"reasoning":{"confidence":` + tt.in + `,"options":[{"feasibility":` + tt.in + `,"x":` + tt.in + `},{"id":"b"}]},"confidence":` + tt.in + `}`
		generic, _ := Canonicalize([]byte(tt.in))
		want := `{"confidence":` + string(generic) + `,"reasoning":{"confidence":` + tt.want + `,"options":[{"feasibility":` + tt.want + `,"x":` + string(generic) + `},{"id":"b"}]}}`
		got, err := CanonicalizeContent([]byte(in))
		if err != nil || string(got) != want {
			t.Errorf("CanonicalizeContent(%s):\n got %s, %v\nwant %s", tt.in, got, err, want)
		}
		v, err := Parse([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		got, err = AppendContent(nil, v.(map[string]any))
		if err != nil || string(got) != want {
			t.Errorf("AppendContent(%s):\n got %s, %v\nwant %s", tt.in, got, err, want)
		}
	}

	// Go values in float fields.
	huge, _ := new(big.Int).SetString("123456789012345678901234567890", 10)
	for _, tt := range []struct {
		v    any
		want string
	}{
		{1, "1.0"}, {int8(0), "0.0"}, {int16(2), "2.0"}, {int32(-3), "-3.0"}, {int64(1 << 53), "9007199254740992.0"},
		{uint(1), "1.0"}, {uint8(1), "1.0"}, {uint16(1), "1.0"}, {uint32(1), "1.0"}, {uint64(1 << 63), "9.223372036854776e+18"},
		{0.5, "0.5"}, {float32(0.5), "0.5"}, {Float(1), "1.0"}, {Number("1"), "1.0"}, {json.Number("0.25"), "0.25"},
		{huge, "1.2345678901234568e+29"},
	} {
		c := map[string]any{"reasoning": map[string]any{"confidence": tt.v, "options": []any{map[string]any{"feasibility": tt.v}}}}
		want := `{"reasoning":{"confidence":` + tt.want + `,"options":[{"feasibility":` + tt.want + `}]}}`
		got, err := AppendContent(nil, c)
		if err != nil || string(got) != want {
			t.Errorf("AppendContent(%T %v) = %s, %v; want %s", tt.v, tt.v, got, err, want)
		}
	}

	// Non-numbers and bad numbers in float fields are errors naming the path.
	for _, in := range []string{`"0.5"`, `null`, `true`, `{}`, `[]`, `1e400`, `1` + strings.Repeat("0", 400)} {
		_, err := CanonicalizeContent([]byte(`{"reasoning":{"confidence":` + in + `}}`))
		wantError(t, err, "reasoning.confidence", 27)
		_, err = CanonicalizeContent([]byte(`{"reasoning":{"options":[{},{"feasibility":` + in + `}]}}`))
		wantError(t, err, "reasoning.options[1].feasibility", 43)
		v, err := Parse([]byte(`{"reasoning":{"options":[{},{"feasibility":` + in + `}]}}`))
		if err == nil {
			_, err = AppendContent(nil, v.(map[string]any))
			wantError(t, err, "reasoning.options[1].feasibility", -1)
		}
	}
	tooBig := new(big.Int).Lsh(big.NewInt(1), 1100)
	for _, v := range []any{"0.5", nil, true, Number("x"), Number("1e400"), tooBig, map[string]any{}} {
		_, err := AppendContent(nil, map[string]any{"reasoning": map[string]any{"confidence": v}})
		wantError(t, err, "reasoning.confidence", -1)
	}
	_, err := AppendContent(nil, map[string]any{"reasoning": map[string]string{"confidence": "1"}})
	wantError(t, err, "reasoning.confidence", -1)

	// Sections of another shape are written generically.
	for _, in := range []string{
		`{"reasoning":null,"trigger":"x"}`,
		`{"reasoning":{"options":{"feasibility":1}},"trigger":[{"timestamp":1}]}`,
		`{"reasoning":{"options":[1,"x",[{"feasibility":1}]]}}`,
		`{"context":{"confidence":1,"timestamp":2}}`,
	} {
		want, err := Canonicalize([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		got, err := CanonicalizeContent([]byte(in))
		if err != nil || string(got) != string(want) {
			t.Errorf("CanonicalizeContent(%s) = %s, %v; want %s", in, got, err, want)
		}
	}
}

func TestContentMustBeObject(t *testing.T) {
	for _, in := range []string{`[]`, `"x"`, `1`, `null`, ` `} {
		if _, err := CanonicalizeContent([]byte(in)); err == nil {
			t.Errorf("CanonicalizeContent(%q) succeeded", in)
		}
	}
	_, err := CanonicalizeContent([]byte(`[1,]`))
	wantError(t, err, "[1]", 3) // the syntax error comes first
	got, err := AppendCanonicalContent([]byte("keep"), []byte(`{"b":1,"a":{"b":2,"a":1}}`))
	if err != nil || string(got) != `keep{"a":{"a":1,"b":2},"b":1}` {
		t.Errorf("AppendCanonicalContent: %s, %v", got, err)
	}
	got, err = AppendCanonicalContent([]byte("keep"), []byte(`{"b":1,"a":{"b":2,"a":1}`))
	if err == nil || string(got) != "keep" {
		t.Errorf("AppendCanonicalContent on error: %s, %v", got, err)
	}
}
