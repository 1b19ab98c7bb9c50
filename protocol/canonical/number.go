package canonical

import (
	"encoding/json"
	"math"
	"strconv"
)

// Int returns v as an int64 when it is an integer value as [Parse] yields
// it (a [Number]) or as a caller builds one by hand (a json.Number, an int
// or an int64); ok is false for anything else, a fractional or
// out-of-range number included.
func Int(v any) (n int64, ok bool) {
	switch x := v.(type) {
	case Number:
		i, err := strconv.ParseInt(string(x), 10, 64)
		return i, err == nil
	case json.Number:
		i, err := strconv.ParseInt(string(x), 10, 64)
		return i, err == nil
	case int:
		return int64(x), true
	case int64:
		return x, true
	}
	return 0, false
}

// AppendFloat appends f as Python's repr(float) writes it (rule 6): the
// shortest digits that read back as f, positional with at least one digit
// after the point when 1e-4 <= |f| < 1e16 ("5.0", "0.0001",
// "1000000000000000.0"), exponent form otherwise ("4e-05", "1e+16",
// "1.5e-07"); zero is "0.0" or "-0.0". NaN and infinities are an error.
func AppendFloat(dst []byte, f float64) ([]byte, error) {
	dst, err := appendFloat(dst, f)
	if err != nil {
		return dst, err
	}
	return dst, nil
}

// AppendNumber appends n canonicalized by value (rule 6): an integer
// literal in full ("-0" becomes "0"), any other literal as the float64 it
// denotes, written by [AppendFloat]. n must be a JSON number literal; a
// float literal that overflows float64 (1e400) is an error.
func AppendNumber(dst []byte, n Number) ([]byte, error) {
	dst, err := appendNumber(dst, string(n))
	if err != nil {
		return dst, err
	}
	return dst, nil
}

func appendFloat(dst []byte, f float64) ([]byte, *Error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return dst, newError(-1, "cannot encode "+strconv.FormatFloat(f, 'g', -1, 64)+": NaN and infinities are not allowed")
	}
	if f == 0 {
		if math.Signbit(f) {
			return append(dst, "-0.0"...), nil
		}
		return append(dst, "0.0"...), nil
	}
	if a := math.Abs(f); a >= 1e-4 && a < 1e16 {
		// Exactly the values whose shortest repr has a decimal exponent
		// in Python's positional range: 1e-4 and 1e16 sit on the
		// boundaries and 1e16 is exact, so comparing the value decides.
		n := len(dst)
		dst = strconv.AppendFloat(dst, f, 'f', -1, 64)
		for _, c := range dst[n:] {
			if c == '.' {
				return dst, nil
			}
		}
		return append(dst, '.', '0'), nil
	}
	// Go's shortest 'e' format is Python's: "4e-05", "1.5e-07", "1e+16".
	return strconv.AppendFloat(dst, f, 'e', -1, 64), nil
}

// appendNumber validates the literal lit and appends its canonical form.
func appendNumber(dst []byte, lit string) ([]byte, *Error) {
	integer, err := checkNumber(lit)
	if err != nil {
		return dst, err
	}
	return appendNumberLit(dst, lit, integer)
}

// checkNumber checks that lit is a JSON number literal (of at most
// maxIntDigits digits if an integer) and reports whether it is an integer
// literal.
func checkNumber(lit string) (integer bool, err *Error) {
	// Small literals are scanned without copying them to the heap.
	var buf [64]byte
	var b []byte
	if len(lit) <= len(buf) {
		b = append(buf[:0], lit...)
	} else {
		b = []byte(lit)
	}
	end, integer, e := scanNumber(b, 0)
	if e != nil || end != len(b) {
		return false, newError(-1, "invalid number literal "+strconv.Quote(truncate(lit)))
	}
	if integer {
		return true, checkIntDigits(lit)
	}
	return false, nil
}

// appendNumberLit appends the canonical form of lit, a number literal that
// [scanNumber] has accepted.
func appendNumberLit[S ~string | ~[]byte](dst []byte, lit S, integer bool) ([]byte, *Error) {
	if integer {
		if len(lit) == 2 && lit[0] == '-' && lit[1] == '0' {
			return append(dst, '0'), nil
		}
		return append(dst, lit...), nil
	}
	if isRepr(lit) {
		return append(dst, lit...), nil
	}
	f, err := parseFloat(lit)
	if err != nil {
		return dst, err
	}
	return appendFloat(dst, f)
}

// appendFloatLit appends the number literal lit as a float-typed field
// (rule 3): integer literals too are written as the float they denote.
func appendFloatLit[S ~string | ~[]byte](dst []byte, lit S, integer bool) ([]byte, *Error) {
	if integer {
		digits := len(lit)
		if lit[0] == '-' {
			digits--
		}
		if digits <= 15 { // exact in float64 and below 1e16: digits + ".0"
			if len(lit) == 2 && lit[0] == '-' && lit[1] == '0' {
				return append(dst, "0.0"...), nil // Python: float(int("-0")) == 0.0
			}
			dst = append(dst, lit...)
			return append(dst, '.', '0'), nil
		}
		f, err := parseFloat(lit)
		if err != nil {
			return dst, err
		}
		return appendFloat(dst, f)
	}
	return appendNumberLit(dst, lit, false)
}

// parseFloat converts a validated literal to float64; overflow to an
// infinity is an error.
func parseFloat[S ~string | ~[]byte](lit S) (float64, *Error) {
	f, err := strconv.ParseFloat(string(lit), 64)
	if err != nil || math.IsInf(f, 0) {
		return 0, newError(-1, "number "+truncate(string(lit))+" overflows float64")
	}
	return f, nil
}

// mayOverflow reports whether the float literal lit could exceed float64:
// only literals with an exponent or with hundreds of digits can.
func mayOverflow(lit []byte) bool {
	if len(lit) >= 300 {
		return true
	}
	for _, c := range lit {
		if c == 'e' || c == 'E' {
			return true
		}
	}
	return false
}

// isRepr reports whether the float literal lit (accepted by [scanNumber],
// not an integer) is already exactly what Python's repr writes for its
// value, so it can be copied as is. That holds for a plain decimal
// "-?I.F" with at most 15 significant digits, no trailing zero in F (other
// than F == "0") and a value in the positional range: distinct decimals of
// at most 15 significant digits are distinct float64 values, so no shorter
// or equally short decimal reads back as the same float.
func isRepr[S ~string | ~[]byte](lit S) bool {
	i := 0
	if lit[0] == '-' {
		i = 1
	}
	dot := i
	for dot < len(lit) && isDigit(lit[dot]) {
		dot++
	}
	if dot == len(lit) || lit[dot] != '.' {
		return false
	}
	frac := len(lit) - dot - 1
	for j := dot + 1; j < len(lit); j++ {
		if !isDigit(lit[j]) {
			return false // exponent
		}
	}
	if lit[len(lit)-1] == '0' {
		return frac == 1 && dot-i <= 15 // "5.0", "0.0", "-0.0"
	}
	if dot-i == 1 && lit[i] == '0' { // 0.F: count leading zeros of F
		z := 0
		for lit[dot+1+z] == '0' {
			z++
		}
		return z < 4 && frac-z <= 15
	}
	return dot-i+frac <= 15
}

// truncate shortens s for an error message.
func truncate(s string) string {
	const max = 40
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
