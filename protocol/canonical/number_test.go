package canonical

import (
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"strings"
	"testing"
)

func TestNumberLiterals(t *testing.T) {
	tests := []struct{ in, want string }{
		// Integers: written in full, any size; -0 becomes 0.
		{"0", "0"},
		{"-0", "0"},
		{"42", "42"},
		{"-7", "-7"},
		{"9223372036854775807", "9223372036854775807"},
		{"9223372036854775808", "9223372036854775808"},
		{"-9223372036854775809", "-9223372036854775809"},
		{"123456789012345678901234567890", "123456789012345678901234567890"},
		{"-123456789012345678901234567890123456789", "-123456789012345678901234567890123456789"},
		// Floats, positional range.
		{"0.0", "0.0"},
		{"-0.0", "-0.0"},
		{"0.00", "0.0"},
		{"-0.0e10", "-0.0"},
		{"5.0", "5.0"},
		{"5.00", "5.0"},
		{"0.5", "0.5"},
		{"0.95", "0.95"},
		{"0.10", "0.1"},
		{"1E5", "100000.0"},
		{"1e5", "100000.0"},
		{"1.0e5", "100000.0"},
		{"1.0E+5", "100000.0"},
		{"0.0001", "0.0001"},
		{"1e-4", "0.0001"},
		{"0.000123", "0.000123"},
		{"123456.789", "123456.789"},
		{"1000000000000000.0", "1000000000000000.0"},
		{"1e15", "1000000000000000.0"},
		{"9999999999999998.0", "9999999999999998.0"},
		{"0.30000000000000004", "0.30000000000000004"},
		{"0.3333333333333333", "0.3333333333333333"},
		{"0.33333333333333333333", "0.3333333333333333"},
		{"123456789012345.6", "123456789012345.6"},
		{"1234567890123456.7", "1234567890123456.8"},
		{"2.5", "2.5"},
		{"-2.5", "-2.5"},
		// Floats, exponent range.
		{"4e-05", "4e-05"},
		{"4.0e-05", "4e-05"},
		{"0.00004", "4e-05"},
		{"0.00001", "1e-05"},
		{"1e-6", "1e-06"},
		{"1.5e-7", "1.5e-07"},
		{"0.00000015", "1.5e-07"},
		{"1e16", "1e+16"},
		{"10000000000000000.0", "1e+16"},
		{"1e22", "1e+22"},
		{"1E+22", "1e+22"},
		{"1e-300", "1e-300"},
		{"1e300", "1e+300"},
		{"123456789012345678.0", "1.2345678901234568e+17"},
		{"1.7976931348623157e308", "1.7976931348623157e+308"},
		{"5e-324", "5e-324"},
		{"4.9e-324", "5e-324"},
		{"2.2250738585072014e-308", "2.2250738585072014e-308"},
		// Underflow reads as zero, as in Python.
		{"1e-400", "0.0"},
		{"-1e-400", "-0.0"},
		{"-1.5E-07", "-1.5e-07"},
	}
	for _, tt := range tests {
		got, err := AppendNumber([]byte("x"), Number(tt.in))
		if err != nil || string(got) != "x"+tt.want {
			t.Errorf("AppendNumber(%s) = %s, %v; want x%s", tt.in, got, err, tt.want)
		}
		c, err := Canonicalize([]byte(tt.in))
		if err != nil || string(c) != tt.want {
			t.Errorf("Canonicalize(%s) = %s, %v; want %s", tt.in, c, err, tt.want)
		}
		v, err := Parse([]byte(" " + tt.in + "\n"))
		if err != nil || v != Number(tt.in) {
			t.Errorf("Parse(%s) = %#v, %v", tt.in, v, err)
		}
	}
}

func TestNumberErrors(t *testing.T) {
	for _, in := range []string{"1e400", "-1e400", "1E309", "1.8e308", strings.Repeat("9", 400) + ".0"} {
		for name, f := range map[string]func() error{
			"AppendNumber": func() error { _, err := AppendNumber(nil, Number(in)); return err },
			"Canonicalize": func() error { _, err := Canonicalize([]byte(in)); return err },
			"Parse":        func() error { _, err := Parse([]byte(in)); return err },
		} {
			err := f()
			var e *Error
			if !errors.As(err, &e) || !strings.Contains(e.Msg, "overflows float64") {
				t.Errorf("%s(%.20s): got %v, want overflow", name, in, err)
			}
		}
	}
	// Overflow inside a document names the path.
	_, err := Canonicalize([]byte(`{"a":[0,{"b":1e999}]}`))
	wantError(t, err, "a[1].b", 13)
	_, err = Parse([]byte(`{"a":[0,{"b":1e999}]}`))
	wantError(t, err, "a[1].b", 13)
	// Huge integers are not floats: no overflow.
	if got, err := Canonicalize([]byte(strings.Repeat("9", 400))); err != nil || len(got) != 400 {
		t.Errorf("400-digit integer: %d bytes, %v", len(got), err)
	}

	// Integers are limited to the 4300 digits that Python's json.loads reads.
	for _, in := range []string{strings.Repeat("9", 4300), "-" + strings.Repeat("9", 4300)} {
		if got, err := Canonicalize([]byte(in)); err != nil || string(got) != in {
			t.Errorf("%d-byte integer: %v", len(in), err)
		}
		if _, err := Parse([]byte(in)); err != nil {
			t.Error(err)
		}
		if _, err := AppendNumber(nil, Number(in)); err != nil {
			t.Error(err)
		}
	}
	long := strings.Repeat("9", 4301)
	for _, in := range []string{long, "-" + long} {
		_, err := Canonicalize([]byte("[" + in + "]"))
		e := wantError(t, err, "[0]", 1)
		if !strings.Contains(e.Msg, "4301 digits") {
			t.Errorf("message %q", e.Msg)
		}
		_, err = Parse([]byte("[" + in + "]"))
		wantError(t, err, "[0]", 1)
		_, err = AppendNumber(nil, Number(in))
		wantError(t, err, "", -1)
		_, err = CanonicalizeContent([]byte(`{"reasoning":{"confidence":` + in + `}}`))
		wantError(t, err, "reasoning.confidence", 27)
		b, _ := new(big.Int).SetString(in, 10)
		_, err = Append(nil, map[string]any{"n": b})
		wantError(t, err, "n", -1)
	}
	// A long fraction is a float, not an integer.
	if got, err := Canonicalize([]byte("0." + long)); err != nil || string(got) != "1.0" {
		t.Errorf("long fraction: %s, %v", got, err)
	}

	for _, in := range []Number{"", "-", "01", "1.", ".5", "1e", "1e+", "+1", "0x10", "1 ", "NaN", "Infinity", "1.5.5", "--1"} {
		if got, err := AppendNumber(nil, in); err == nil {
			t.Errorf("AppendNumber(%q) = %s, want error", in, got)
		}
		if got, err := Append(nil, []any{in}); err == nil {
			t.Errorf("Append(%q) = %s, want error", in, got)
		} else {
			wantError(t, err, "[0]", -1)
		}
	}
	for _, in := range []string{"01", "1.", ".5", "1e", "-", "+1", "NaN", "Infinity", "-Infinity", "0x1", "1.e5"} {
		if got, err := Canonicalize([]byte(in)); err == nil {
			t.Errorf("Canonicalize(%q) = %s, want error", in, got)
		}
	}
}

func TestAppendFloat(t *testing.T) {
	third, sum := 1.0, 0.1
	third /= 3
	sum += 0.2
	tests := []struct {
		in   float64
		want string
	}{
		{0.00004, "4e-05"},
		{1e-05, "1e-05"},
		{5.0, "5.0"},
		{1e16, "1e+16"},
		{third, "0.3333333333333333"},
		{sum, "0.30000000000000004"},
		{1e-4, "0.0001"},
		{9999999999999998.0, "9999999999999998.0"},
		{math.MaxFloat64, "1.7976931348623157e+308"},
		{5e-324, "5e-324"},
		{-5e-324, "-5e-324"},
		{math.SmallestNonzeroFloat64, "5e-324"},
		{0, "0.0"},
		{math.Copysign(0, -1), "-0.0"},
		{1, "1.0"},
		{-1, "-1.0"},
		{100000, "100000.0"},
		{123456.789, "123456.789"},
		{1e15, "1000000000000000.0"},
		{1e22, "1e+22"},
		{1e-300, "1e-300"},
		{1.5e-07, "1.5e-07"},
		{0.95, "0.95"},
		{123456789012345678, "1.2345678901234568e+17"},
		{math.Nextafter(1e-4, 0), "9.999999999999999e-05"},
		{math.Nextafter(1e16, 0), "9999999999999998.0"},
	}
	for _, tt := range tests {
		got, err := AppendFloat([]byte("x"), tt.in)
		if err != nil || string(got) != "x"+tt.want {
			t.Errorf("AppendFloat(%v) = %s, %v; want x%s", tt.in, got, err, tt.want)
		}
		got, err = Append(nil, tt.in)
		if err != nil || string(got) != tt.want {
			t.Errorf("Append(float64 %v) = %s, %v; want %s", tt.in, got, err, tt.want)
		}
		got, err = Append(nil, Float(tt.in))
		if err != nil || string(got) != tt.want {
			t.Errorf("Append(Float %v) = %s, %v; want %s", tt.in, got, err, tt.want)
		}
	}
	if got, err := Append(nil, float32(0.1)); err != nil || string(got) != "0.10000000149011612" {
		t.Errorf("Append(float32(0.1)) = %s, %v", got, err)
	}
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if got, err := AppendFloat([]byte("x"), f); err == nil || string(got) != "x" {
			t.Errorf("AppendFloat(%v) = %s, %v; want error and dst unchanged", f, got, err)
		}
	}
	_, err := Append(nil, map[string]any{"m": map[string]any{"nan": math.NaN()}})
	wantError(t, err, "m.nan", -1)
	_, err = Append(nil, []any{1, Float(math.Inf(-1))})
	wantError(t, err, "[1]", -1)
}

// TestReprFastPath checks that literals copied verbatim by isRepr are
// exactly what formatting their float64 value gives.
func TestReprFastPath(t *testing.T) {
	lits := []string{"0.5", "5.0", "0.0", "-0.0", "0.0001", "0.00012", "123456789012345.0", "12345678901234.5",
		"0.123456789012345", "-99.99", "1.5", "100.25", "0.001", "0.000999999999999999"}
	for _, lit := range lits {
		checkRepr(t, lit)
	}
	// Near misses must take the slow path and still be right.
	for _, lit := range []string{"0.00001", "1234567890123456.0", "0.1234567890123456", "1.50", "0.000010"} {
		if isRepr(lit) {
			t.Errorf("isRepr(%s) = true", lit)
		}
	}
}

func checkRepr(t *testing.T, lit string) {
	t.Helper()
	f, err := parseFloat(lit)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := appendFloat(nil, f)
	got, _ := appendNumberLit(nil, lit, false)
	if string(got) != string(want) {
		t.Errorf("literal %s: fast path %s, value %s", lit, got, want)
	}
}

func TestAppendIntegers(t *testing.T) {
	big1, _ := new(big.Int).SetString("-123456789012345678901234567890", 10)
	tests := []struct {
		in   any
		want string
	}{
		{int(-1), "-1"},
		{int8(-128), "-128"},
		{int16(32767), "32767"},
		{int32(-5), "-5"},
		{int64(math.MinInt64), "-9223372036854775808"},
		{uint(7), "7"},
		{uint8(255), "255"},
		{uint16(65535), "65535"},
		{uint32(4294967295), "4294967295"},
		{uint64(math.MaxUint64), "18446744073709551615"},
		{big1, "-123456789012345678901234567890"},
		{Number("-0"), "0"},
		{Number("1E5"), "100000.0"},
	}
	for _, tt := range tests {
		got, err := Append(nil, tt.in)
		if err != nil || string(got) != tt.want {
			t.Errorf("Append(%T %v) = %s, %v; want %s", tt.in, tt.in, got, err, tt.want)
		}
	}
}

func TestInt(t *testing.T) {
	tests := []struct {
		in   any
		want int64
		ok   bool
	}{
		{Number("42"), 42, true},
		{Number("-9223372036854775808"), math.MinInt64, true},
		{Number("9223372036854775808"), 0, false}, // out of range
		{Number("1.0"), 0, false},                 // written as a float
		{json.Number("7"), 7, true},
		{json.Number("7.5"), 0, false},
		{3, 3, true},
		{int64(-3), -3, true},
		{3.0, 0, false}, // a float64 is not an integer value here
		{"3", 0, false},
		{nil, 0, false},
	}
	for _, tt := range tests {
		got, ok := Int(tt.in)
		if ok != tt.ok || ok && got != tt.want {
			t.Errorf("Int(%#v) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
