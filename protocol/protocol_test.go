package protocol

import (
	"strings"
	"testing"
)

func TestIsUUID(t *testing.T) {
	for s, want := range map[string]bool{
		"5e55e55e-0000-4000-8000-000000000001":  true,
		"00000000-0000-0000-0000-000000000000":  true,
		"5E55E55E-0000-4000-8000-000000000001":  false,
		"5e55e55e00000-4000-8000-000000000001":  false,
		"5e55e55e-0000-4000-8000-00000000001":   false,
		"5e55e55e-0000-4000-8000-0000000000012": false,
		"5e55e55g-0000-4000-8000-000000000001":  false,
	} {
		if IsUUID(s) != want {
			t.Errorf("IsUUID(%q) = %v", s, !want)
		}
	}
}

func TestIsLowerHex(t *testing.T) {
	for _, c := range []struct {
		s    string
		n    int
		want bool
	}{
		{"00ff", 4, true}, {"00FF", 4, false}, {"00ff", 6, false}, {"0g", -1, false}, {"", -1, true}, {"abc", -1, true},
	} {
		if IsLowerHex(c.s, c.n) != c.want {
			t.Errorf("IsLowerHex(%q, %d) = %v", c.s, c.n, !c.want)
		}
	}
}

func TestFacts(t *testing.T) {
	if len(Types()) != 8 || !IsType("vault") || IsType("Agent") {
		t.Errorf("types: %v", Types())
	}
	if !IsStatus("blocked") || IsStatus("done") || !IsSealKey("signature_pq") || IsSealKey("sequence") {
		t.Error("statuses or seal keys")
	}
	ts := Types()
	ts[0] = "changed"
	if Types()[0] != "agent" {
		t.Error("Types returned the package's own slice")
	}
}

func TestCheckTenant(t *testing.T) {
	for s, want := range map[string]error{
		"":                                 nil,
		"acme":                             nil,
		"日本語-テナント":                         nil,
		strings.Repeat("t", 1024):          nil,
		strings.Repeat("t", 1025):          ErrTenantTooLong,
		"a\x00b":                           ErrTenantNUL,
		"bad\xff":                          ErrTenantUTF8,
		"\xc3":                             ErrTenantUTF8,
		"\xed\xa0\x80":                     ErrTenantUTF8, // a surrogate
		strings.Repeat("\x00", 2000):       ErrTenantTooLong,
		"ok\u202e(bidi is text, not ours)": nil,
	} {
		if got := CheckTenant(s); got != want {
			t.Errorf("CheckTenant(%.20q) = %v, want %v", s, got, want)
		}
	}
}
