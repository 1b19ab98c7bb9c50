package canonical

import (
	"strconv"
	"time"
)

// AppendTimestamp appends t in UTC as the protocol writes timestamps
// (rule 4, also used for signed_at): "YYYY-MM-DDTHH:MM:SS+00:00", with
// ".ffffff" only when the microseconds are non-zero. Sub-microsecond digits
// are dropped, as Python's datetime has none. Years outside 0..9999, which
// Python cannot represent either, are written in full with their sign.
func AppendTimestamp(dst []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	hour, minute, sec := t.Clock()
	if year >= 0 && year <= 9999 {
		dst = append(dst, byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10))
	} else {
		dst = strconv.AppendInt(dst, int64(year), 10)
	}
	dst = append(dst, '-',
		byte('0'+month/10), byte('0'+month%10), '-',
		byte('0'+day/10), byte('0'+day%10), 'T',
		byte('0'+hour/10), byte('0'+hour%10), ':',
		byte('0'+minute/10), byte('0'+minute%10), ':',
		byte('0'+sec/10), byte('0'+sec%10))
	if us := t.Nanosecond() / 1000; us != 0 {
		dst = append(dst, '.')
		for d := 100000; d > 0; d /= 10 {
			dst = append(dst, byte('0'+us/d%10))
		}
	}
	return append(dst, "+00:00"...)
}

// appendTimestampText appends the quoted normalization of the timestamp s
// (trigger.timestamp), as Python's datetime.fromisoformat(s).isoformat()
// writes it, with a missing offset taken as UTC:
//
//	YYYY-MM-DD(T| )HH:MM:SS[.f{1,6}][Z|±HH:MM]  →  YYYY-MM-DDTHH:MM:SS[.ffffff](+00:00|±HH:MM)
//
// Fractional seconds are padded to six digits and left out when zero; "Z"
// and "-00:00" become "+00:00"; any other offset is kept. It reports false
// when s is not such a timestamp or names an impossible date or time.
func appendTimestampText[S ~string | ~[]byte](dst []byte, s S) ([]byte, bool) {
	if len(s) < 19 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ') || s[13] != ':' || s[16] != ':' {
		return dst, false
	}
	year, ok1 := digits(s, 0, 4)
	month, ok2 := digits(s, 5, 2)
	day, ok3 := digits(s, 8, 2)
	hour, ok4 := digits(s, 11, 2)
	minute, ok5 := digits(s, 14, 2)
	sec, ok6 := digits(s, 17, 2)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) ||
		year < 1 || month < 1 || month > 12 || day < 1 || day > daysIn(year, month) ||
		hour > 23 || minute > 59 || sec > 59 {
		return dst, false
	}
	i := 19
	var frac [6]byte
	nonzero := false
	if i < len(s) && s[i] == '.' {
		i++
		n := 0
		for i < len(s) && isDigit(s[i]) {
			if n == len(frac) {
				return dst, false // more than microseconds
			}
			frac[n] = s[i]
			nonzero = nonzero || s[i] != '0'
			n++
			i++
		}
		if n == 0 {
			return dst, false
		}
		for ; n < len(frac); n++ {
			frac[n] = '0'
		}
	}
	utc := true
	switch {
	case i == len(s):
	case s[i] == 'Z' && i+1 == len(s):
	case (s[i] == '+' || s[i] == '-') && i+6 == len(s) && s[i+3] == ':':
		oh, ok1 := digits(s, i+1, 2)
		om, ok2 := digits(s, i+4, 2)
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return dst, false
		}
		utc = oh == 0 && om == 0
	default:
		return dst, false
	}
	dst = append(dst, '"')
	dst = append(dst, s[:10]...)
	dst = append(dst, 'T')
	dst = append(dst, s[11:19]...)
	if nonzero {
		dst = append(dst, '.')
		dst = append(dst, frac[:]...)
	}
	if utc {
		dst = append(dst, "+00:00"...)
	} else {
		dst = append(dst, s[i:]...)
	}
	return append(dst, '"'), true
}

// IsTimestamp reports whether s is a timestamp the canonical form accepts
// for trigger.timestamp: YYYY-MM-DD(T| )HH:MM:SS[.f{1,6}][Z|±HH:MM], with
// a real date and time.
func IsTimestamp(s string) bool {
	var buf [48]byte
	_, ok := appendTimestampText(buf[:0], s)
	return ok
}

// NormalizeTimestamp returns the timestamp s as the canonical form writes
// trigger.timestamp (without its quotes), false when s is not a timestamp
// [IsTimestamp] accepts.
func NormalizeTimestamp(s string) (string, bool) {
	var buf [48]byte
	b, ok := appendTimestampText(buf[:0], s)
	if !ok {
		return "", false
	}
	return string(b[1 : len(b)-1]), true
}

// digits decodes the n decimal digits at s[i:].
func digits[S ~string | ~[]byte](s S, i, n int) (int, bool) {
	v := 0
	for j := i; j < i+n; j++ {
		if !isDigit(s[j]) {
			return 0, false
		}
		v = v*10 + int(s[j]-'0')
	}
	return v, true
}

func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
