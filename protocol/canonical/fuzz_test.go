package canonical

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
)

func addSeeds(f *testing.F) {
	for _, fx := range loadFixtures(f) {
		f.Add([]byte(fx.CapsuleDict))
		f.Add([]byte(fx.CanonicalJSON))
	}
	for _, s := range []string{
		`{"a":1,"a":2}`, `"\ud800"`, `"\ud83d\ude00"`, `[1e400]`, `-0`, `1E5`, `4.0e-05`, `{"b":[],"a":{}}`,
		`{"reasoning":{"confidence":1,"options":[{"feasibility":0}]},"trigger":{"timestamp":"2026-01-15T12:00:00Z"}}`,
		"\"\x7f\u2028</script>&\"", `{"\u00e9":1,"e":2,"\n":3}`, `[[[[]]]]`, ` null `, `123456789012345678901234567890`,
	} {
		f.Add([]byte(s))
	}
}

// checkError checks the shape of an error from this package.
func checkError(t *testing.T, err error, data []byte) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is %T, not *Error", err, err)
	}
	if e.Offset < -1 || e.Offset > int64(len(data)) {
		t.Fatalf("offset %d out of range [-1, %d]: %v", e.Offset, len(data), e)
	}
}

// FuzzCanonicalize checks that Canonicalize never panics, agrees with
// Parse+Append (same bytes, or both failing), produces valid JSON, and
// that its output is a fixed point; the same for the content variants.
func FuzzCanonicalize(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := Canonicalize(data)
		v, perr := Parse(data)
		if (err == nil) != (perr == nil) {
			t.Fatalf("Canonicalize error %v, Parse error %v", err, perr)
		}
		if err != nil {
			checkError(t, err, data)
			checkError(t, perr, data)
		} else {
			if !json.Valid(out) {
				t.Fatalf("invalid JSON output %q", out)
			}
			if !json.Valid(data) {
				t.Fatalf("accepted input that encoding/json rejects: %q", data)
			}
			again, err := Canonicalize(out)
			if err != nil || !bytes.Equal(again, out) {
				t.Fatalf("not a fixed point:\n%q\n%q, %v", out, again, err)
			}
			tree, err := Append(nil, v)
			if err != nil || !bytes.Equal(tree, out) {
				t.Fatalf("Append(Parse) = %q, %v; Canonicalize = %q", tree, err, out)
			}
		}

		cout, cerr := CanonicalizeContent(data)
		m, isObject := v.(map[string]any)
		if perr != nil || !isObject {
			if cerr == nil {
				t.Fatalf("CanonicalizeContent accepted %q", data)
			}
			checkError(t, cerr, data)
			return
		}
		tree, terr := AppendContent(nil, m)
		if (cerr == nil) != (terr == nil) {
			t.Fatalf("CanonicalizeContent error %v, AppendContent error %v", cerr, terr)
		}
		if cerr != nil {
			checkError(t, cerr, data)
			return
		}
		if !bytes.Equal(cout, tree) {
			t.Fatalf("CanonicalizeContent = %q, AppendContent = %q", cout, tree)
		}
		again, err := CanonicalizeContent(cout)
		if err != nil || !bytes.Equal(again, cout) {
			t.Fatalf("content not a fixed point:\n%q\n%q, %v", cout, again, err)
		}
	})
}

// FuzzParse checks that Parse never panics, reports well-formed errors, and
// that what it accepts can always be written back.
func FuzzParse(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := Parse(data)
		if err != nil {
			checkError(t, err, data)
			// The one-pass canonicalizer fails too, at the same place
			// (of several duplicate keys, each may report another).
			var pe, ce *Error
			_, cerr := Canonicalize(data)
			if errors.As(err, &pe) && errors.As(cerr, &ce) && pe.Path != ce.Path &&
				!strings.HasPrefix(pe.Msg, "duplicate key") && !strings.HasPrefix(ce.Msg, "duplicate key") {
				t.Fatalf("Parse fails at %q, Canonicalize at %q", pe.Path, ce.Path)
			}
			return
		}
		out, err := Append(nil, v)
		if err != nil {
			t.Fatalf("Append of a parsed value: %v", err)
		}
		v2, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse of canonical output %q: %v", out, err)
		}
		out2, err := Append(nil, v2)
		if err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("round trip: %q then %q, %v", out, out2, err)
		}
	})
}

// FuzzNumber checks number literals: the verbatim fast path agrees with
// formatting the float64 value, and the output reads back as the same
// value with no shorter form possible.
func FuzzNumber(f *testing.F) {
	for _, s := range []string{"0.5", "1E5", "-0.0", "4.0e-05", "0.0001", "123456789012345.6", "1e16", "5e-324"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, lit string) {
		out, err := AppendNumber(nil, Number(lit))
		integer, cerr := checkNumber(lit)
		if cerr != nil {
			if err == nil {
				t.Fatalf("accepted %q", lit)
			}
			return
		}
		if integer {
			if err != nil {
				t.Fatalf("%q: %v", lit, err)
			}
			return
		}
		x, perr := strconv.ParseFloat(lit, 64)
		if perr != nil || math.IsInf(x, 0) {
			if err == nil {
				t.Fatalf("%q overflows but gave %s", lit, out)
			}
			return
		}
		want, _ := appendFloat(nil, x)
		if err != nil || string(out) != string(want) {
			t.Fatalf("%q: got %s, %v; want %s", lit, out, err, want)
		}
		back, err := strconv.ParseFloat(string(out), 64)
		if err != nil || math.Float64bits(back) != math.Float64bits(x) {
			t.Fatalf("%q: %s reads back as %v", lit, out, back)
		}
	})
}
