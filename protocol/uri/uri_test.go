package uri

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

type uriFixtures struct {
	Valid []struct {
		Name     string         `json:"name"`
		URI      string         `json:"uri"`
		Expected map[string]any `json:"expected"`
	} `json:"valid"`
	Invalid []struct {
		Name   string `json:"name"`
		URI    string `json:"uri"`
		Reason string `json:"reason"`
	} `json:"invalid"`
}

func loadFixtures(t *testing.T) uriFixtures {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "conformance", "uri-fixtures.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f uriFixtures
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.UseNumber()
	if err := dec.Decode(&f); err != nil {
		t.Fatal(err)
	}
	if len(f.Valid) != 10 || len(f.Invalid) != 11 {
		t.Fatalf("fixture file has %d valid and %d invalid vectors, want 10 and 11", len(f.Valid), len(f.Invalid))
	}
	return f
}

// fields renders u the way the conformance vectors describe a parse result.
func fields(u URI) map[string]any {
	m := map[string]any{
		"scheme":         "capsule",
		"chain":          nil,
		"reference_type": u.Kind.String(),
		"hash_algorithm": nil,
		"hash_value":     nil,
		"sequence":       nil,
		"id":             nil,
		"fragment":       nil,
	}
	if u.Chain != "" {
		m["chain"] = u.Chain
	}
	switch u.Kind {
	case KindHash:
		m["hash_algorithm"] = u.HashAlgorithm
		m["hash_value"] = u.Hash
	case KindSequence:
		m["sequence"] = json.Number(fmtInt(u.Sequence))
	case KindID:
		m["id"] = u.ID
	}
	if u.Fragment != "" {
		m["fragment"] = u.Fragment
	}
	return m
}

func fmtInt(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestConformanceValid(t *testing.T) {
	for _, f := range loadFixtures(t).Valid {
		t.Run(f.Name, func(t *testing.T) {
			u, err := Parse(f.URI)
			if err != nil {
				t.Fatalf("Parse(%q): %v", f.URI, err)
			}
			got := fields(u)
			if len(f.Expected) != len(got) {
				t.Errorf("expected has %d keys, parse result %d", len(f.Expected), len(got))
			}
			for k, want := range f.Expected {
				if !reflect.DeepEqual(got[k], want) {
					t.Errorf("%s = %#v, want %#v", k, got[k], want)
				}
			}
			if s := u.String(); s != f.URI {
				t.Errorf("String() = %q, want %q", s, f.URI)
			}
		})
	}
}

func TestConformanceInvalid(t *testing.T) {
	// The words each error message must contain, per fixture.
	want := map[string][]string{
		"wrong_scheme":           {"wrong scheme", `"http"`, "'capsule'"},
		"hash_too_short":         {"hash too short", "63 hex characters instead of 64"},
		"hash_too_long":          {"hash too long", "65 hex characters instead of 64"},
		"hash_uppercase":         {"uppercase"},
		"hash_non_hex":           {"non-hex character 'g'"},
		"unknown_hash_algorithm": {"unknown hash algorithm prefix 'md5_'"},
		"empty_uri":              {"empty URI"},
		"scheme_only":            {"missing reference after scheme"},
		"invalid_uuid":           {"not a hash, sequence, or UUID"},
		"fragment_traversal":     {"path traversal"},
		"negative_sequence":      {"negative sequence number -1"},
	}
	for _, f := range loadFixtures(t).Invalid {
		t.Run(f.Name, func(t *testing.T) {
			words, ok := want[f.Name]
			if !ok {
				t.Fatalf("no expectation for fixture %q (reason %q)", f.Name, f.Reason)
			}
			u, err := Parse(f.URI)
			if err == nil {
				t.Fatalf("Parse(%q) = %+v, want error (%s)", f.URI, u, f.Reason)
			}
			var e *Error
			if !errors.As(err, &e) || e.Input != f.URI {
				t.Fatalf("error %v is not an *Error for the input", err)
			}
			if u != (URI{}) {
				t.Errorf("Parse returned %+v with its error, want the zero URI", u)
			}
			for _, w := range words {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q (fixture reason: %s)", err, w, f.Reason)
				}
			}
		})
	}
}

const h64 = "8c71e187dfbffca067265f576d9fb72ee8a223c3dff801dd7c5dd8fcb915f2cd"

func TestParseValid(t *testing.T) {
	tests := []struct {
		in   string
		want URI
	}{
		{"capsule://a/0", URI{Chain: "a", Kind: KindSequence}},
		{"capsule://A9/9223372036854775807", URI{Chain: "A9", Kind: KindSequence, Sequence: 9223372036854775807}},
		{"capsule://x.y_z-1/sha3_" + h64 + "#outcome/metrics/cost.usd", URI{Chain: "x.y_z-1", Kind: KindHash, HashAlgorithm: "sha3", Hash: h64, Fragment: "outcome/metrics/cost.usd"}},
		{"capsule://1chain/7#a~1b", URI{Chain: "1chain", Kind: KindSequence, Sequence: 7, Fragment: "a~1b"}},
		{"capsule://00000000-0000-4000-8000-000000000000", URI{Kind: KindID, ID: "00000000-0000-4000-8000-000000000000"}},
		{"capsule://" + strings.Repeat("c", MaxChainLen) + "/1", URI{Chain: strings.Repeat("c", MaxChainLen), Kind: KindSequence, Sequence: 1}},
		{"capsule://sha3_" + h64 + "#..a/b..", URI{Kind: KindHash, HashAlgorithm: "sha3", Hash: h64, Fragment: "..a/b.."}},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("Parse(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
		if s := got.String(); s != tt.in {
			t.Errorf("String() = %q, want %q", s, tt.in)
		}
	}
}

func TestParseInvalid(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"capsule:/sha3_" + h64, "wrong scheme"},
		{"CAPSULE://sha3_" + h64, `wrong scheme "CAPSULE"`},
		{"sha3_" + h64, "wrong scheme"},
		{"capsule://#reasoning", "missing reference after scheme"},
		{"capsule://chain/", `missing reference after chain "chain"`},
		{"capsule:///5", "empty chain name"},
		{"capsule://-chain/5", "must start with a letter or digit"},
		{"capsule://.hidden/5", "must start with a letter or digit"},
		{"capsule://..//5", "must start with a letter or digit"},
		{"capsule://ch ain/5", "invalid character ' ' in chain name"},
		{"capsule://ch\xffain/5", "invalid character byte 0xff in chain name"},
		{"capsule://chäin/5", "invalid character 'ä' in chain name"},
		{"capsule://" + strings.Repeat("c", MaxChainLen+1) + "/1", "chain name too long: 129 characters, at most 128"},
		{"capsule://a/b/5", "too many path segments"},
		{"capsule://a/+5", "must not carry a sign"},
		{"capsule://a/007", "leading zeros"},
		{"capsule://a/00", "leading zeros"},
		{"capsule://a/-0", "negative sequence number -0"},
		{"capsule://a/9223372036854775808", "out of range"},
		{"capsule://a/5x", `invalid reference "5x" after chain`},
		{"capsule://a/a1b2c3d4-e5f6-7890-abcd-ef1234567890", "not a sequence number or a hash"},
		{"capsule://42", "a sequence number needs a chain"},
		{"capsule://deploy-bot", "not a hash, sequence, or UUID"},
		{"capsule://A1B2C3D4-E5F6-7890-ABCD-EF1234567890", "UUID contains uppercase characters"},
		{"capsule://a1b2c3d4e5f6-7890-abcd-ef1234567890a", "not a hash, sequence, or UUID"},
		{"capsule://SHA3_" + h64, "unknown hash algorithm prefix 'SHA3_'"},
		{"capsule://sha256_" + h64, "unknown hash algorithm prefix 'sha256_'"},
		{"capsule://a/md5_" + h64, "unknown hash algorithm prefix 'md5_'"},
		{"capsule://sha3_", "hash too short: 0 hex characters instead of 64"},
		{"capsule://sha3_" + h64[:63] + "Z", "non-hex character 'Z'"},
		{"capsule://sha3_" + h64[:63] + "é", "non-hex character 'é'"},
		{"capsule://sha3_" + h64 + "#", "empty fragment"},
		{"capsule://sha3_" + h64 + "#/reasoning", "empty segment"},
		{"capsule://sha3_" + h64 + "#reasoning/", "empty segment"},
		{"capsule://sha3_" + h64 + "#a//b", "empty segment"},
		{"capsule://sha3_" + h64 + "#reasoning/..", "path traversal"},
		{"capsule://sha3_" + h64 + "#./reasoning", "path traversal"},
		{"capsule://sha3_" + h64 + "#%2e%2e/etc", "path traversal (percent-encoded)"},
		{"capsule://sha3_" + h64 + "#%2E%2E", "path traversal (percent-encoded)"},
		{"capsule://sha3_" + h64 + "#a%2fb", "path traversal (percent-encoded)"},
		{"capsule://sha3_" + h64 + "#a%5c", "path traversal (percent-encoded)"},
		{"capsule://sha3_" + h64 + "#a%20b", "percent-encoding, which is not allowed"},
		{"capsule://sha3_" + h64 + "#a%zz", "percent-encoding, which is not allowed"},
		{"capsule://sha3_" + h64 + `#..\..\etc`, "backslash"},
		{"capsule://sha3_" + h64 + "#a#b", "invalid character '#' in fragment"},
		{"capsule://sha3_" + h64 + "#a?b", "invalid character '?' in fragment"},
		{"capsule://sha3_" + h64 + "?x=1", "non-hex character '?'"},
	}
	for _, tt := range tests {
		u, err := Parse(tt.in)
		if err == nil {
			t.Errorf("Parse(%q) = %+v, want error containing %q", tt.in, u, tt.want)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) error = %q, want it to contain %q", tt.in, err, tt.want)
		}
	}
}

func TestErrorTruncatesLongInput(t *testing.T) {
	in := "capsule://" + strings.Repeat("x", 500)
	_, err := Parse(in)
	if err == nil {
		t.Fatal("no error")
	}
	if len(err.Error()) > 250 {
		t.Errorf("error message is %d bytes long: %q", len(err.Error()), err)
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{0: "", KindHash: "hash", KindSequence: "sequence", KindID: "id", 9: ""} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", int(k), got, want)
		}
	}
}

func TestFragmentPath(t *testing.T) {
	u, err := Parse("capsule://sha3_" + h64 + "#execution/tool_calls/0")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := u.FragmentPath(), []string{"execution", "tool_calls", "0"}; !reflect.DeepEqual(got, want) {
		t.Errorf("FragmentPath() = %q, want %q", got, want)
	}
	u.Fragment = ""
	if got := u.FragmentPath(); got != nil {
		t.Errorf("FragmentPath() without fragment = %q, want nil", got)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("capsule://sha3_" + h64)
	f.Add("capsule://deploy-bot/42#reasoning/confidence")
	f.Add("capsule://org.team_deploy.v2/sha3_" + h64 + "#execution/tool_calls/0")
	f.Add("capsule://a1b2c3d4-e5f6-7890-abcd-ef1234567890#authority")
	f.Add("capsule://my-chain/-1")
	f.Add("capsule://sha3_" + h64 + "#../../etc/passwd")
	f.Add("capsule://sha3_" + h64 + "#%2e%2e")
	f.Add("capsule://md5_abc")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		u, err := Parse(s)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Reason == "" {
				t.Fatalf("Parse(%q) error %v is not an *Error with a reason", s, err)
			}
			return
		}
		out := u.String()
		if out != s {
			t.Fatalf("Parse(%q).String() = %q", s, out)
		}
		again, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(%q) accepted, but re-parsing its String %q fails: %v", s, out, err)
		}
		if again != u {
			t.Fatalf("round trip of %q: %+v != %+v", s, again, u)
		}
		for _, seg := range u.FragmentPath() {
			if seg == "" || seg == "." || seg == ".." || strings.ContainsAny(seg, `%\`) {
				t.Fatalf("accepted fragment segment %q in %q", seg, s)
			}
		}
	})
}
