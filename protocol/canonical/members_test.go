package canonical

import (
	"strings"
	"testing"
)

func TestMembers(t *testing.T) {
	for _, c := range []struct {
		in   string
		want string // key=value pairs joined by |, or "error"
	}{
		{`{}`, ""},
		{` { } `, ""},
		{`{"a":1}`, "a=1"},
		{`{"a": {"b": [1, "}"]}, "c" : "x\"y" }`, `a={"b": [1, "}"]}|c="x\"y"`},
		{"{\n\t\"id\":\t\"u\",\r\n\"n\":null}", `id="u"|n=null`},
		{`[1]`, "error"},
		{`{"a"}`, "error"},
		{`{"a":}`, "error"},
		{`{"a":"unterminated}`, "error"},
		{`{"a":1`, "error"},
		{``, "error"},
	} {
		var got []string
		err := Members([]byte(c.in), func(k, v []byte) bool {
			got = append(got, string(k)+"="+string(v))
			return true
		})
		s := strings.Join(got, "|")
		if err != nil {
			s = "error"
		}
		if s != c.want {
			t.Errorf("Members(%q) = %q (%v), want %q", c.in, s, err, c.want)
		}
	}
	// f returning false stops the walk.
	n := 0
	Members([]byte(`{"a":1,"b":2}`), func(k, v []byte) bool { n++; return false })
	if n != 1 {
		t.Errorf("walk went on after false: %d calls", n)
	}
}
