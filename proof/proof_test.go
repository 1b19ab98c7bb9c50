package proof

import (
	"bytes"
	"testing"
)

const sample = "c2sp.org/tlog-proof@v1\nextra eyJhIjoxfQ==\nindex 3\n" +
	"gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=\nB95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=\n\n" +
	"example.com/log\n12\nsFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=\n\n— example.com/log AAAA\n"

func TestParseRoundTrip(t *testing.T) {
	p, err := Parse([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	if p.Index != 3 || len(p.Inclusion) != 2 || string(p.Extra) != `{"a":1}` {
		t.Fatalf("parsed %+v", p)
	}
	if got := p.Marshal(); !bytes.Equal(got, []byte(sample)) {
		t.Fatalf("Marshal:\n%s", got)
	}
	for _, bad := range []string{"", "c2sp.org/tlog-proof@v1\nindex 1\n", "x\nindex 1\n\ncp\n",
		"c2sp.org/tlog-proof@v1\nindex 01\n\ncp\n", "c2sp.org/tlog-proof@v1\nindex -1\n\ncp\n",
		"c2sp.org/tlog-proof@v1\nextra !!\nindex 1\n\ncp\n", "c2sp.org/tlog-proof@v1\nindex 1\nAAAA\n\ncp\n"} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

// FuzzParse: Parse never panics, and what it accepts marshals back to
// the same bytes (the format has one spelling).
func FuzzParse(f *testing.F) {
	f.Add([]byte(sample))
	f.Add([]byte("c2sp.org/tlog-proof@v1\nindex 0\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse(b)
		if err != nil {
			return
		}
		if got := p.Marshal(); !bytes.Equal(got, b) {
			t.Fatalf("Parse then Marshal changed the proof:\n%q\n%q", b, got)
		}
	})
}
