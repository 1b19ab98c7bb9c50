package cli

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func TestParseArgs(t *testing.T) {
	cases := []struct {
		args       []string
		positional []string
		name       string
		verbose    bool
		n          int
	}{
		{[]string{"a", "-name", "x", "b"}, []string{"a", "b"}, "x", false, 0},
		{[]string{"a", "--name=x", "-v", "b", "--n", "3"}, []string{"a", "b"}, "x", true, 3},
		{[]string{"--v=false", "a", "-"}, []string{"a", "-"}, "", false, 0},
		{[]string{"-v", "--", "-name", "x"}, []string{"-name", "x"}, "", true, 0},
		{[]string{"file", "-v"}, []string{"file"}, "", true, 0},
		{nil, nil, "", false, 0},
	}
	for _, c := range cases {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		name := fs.String("name", "", "")
		v := fs.Bool("v", false, "")
		n := fs.Int("n", 0, "")
		pos, err := ParseArgs(fs, c.args)
		if err != nil {
			t.Errorf("%q: %v", c.args, err)
			continue
		}
		if !slices.Equal(pos, c.positional) || *name != c.name || *v != c.verbose || *n != c.n {
			t.Errorf("%q: positional %q name %q v %v n %d", c.args, pos, *name, *v, *n)
		}
	}
	for _, c := range []struct {
		args []string
		err  string
	}{
		{[]string{"a", "-bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"a", "-name"}, "flag needs an argument: -name"},
		{[]string{"-n", "x"}, `invalid value "x" for flag -n`},
		{[]string{"a", "--help"}, flag.ErrHelp.Error()},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		fs.String("name", "", "")
		fs.Int("n", 0, "")
		if _, err := ParseArgs(fs, c.args); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%q: error %v, want %q", c.args, err, c.err)
		}
	}
}

// values reads every value of in with a limit.
func values(in string, limit int) ([]string, bool, error) {
	vr := NewValueReader(strings.NewReader(in), limit)
	var out []string
	for {
		v, err := vr.Next()
		if err == io.EOF {
			return out, vr.Array(), nil
		}
		if err != nil {
			return out, vr.Array(), err
		}
		if vr.Index() != len(out) {
			return out, vr.Array(), errors.New("bad index")
		}
		out = append(out, string(v))
	}
}

func TestValueReader(t *testing.T) {
	cases := []struct {
		in    string
		want  []string
		array bool
	}{
		{`[{"a":1}, {"b":"\u00e9 ]\"}"} ,[1,2],"x",-1.5e3 , true,null]`, []string{`{"a":1}`, `{"b":"\u00e9 ]\"}"}`, `[1,2]`, `"x"`, `-1.5e3`, `true`, `null`}, true},
		{"42", []string{"42"}, false},
		{"1 2\n\"x\"", []string{"1", "2", `"x"`}, false},
		{"  \n[]\n", nil, true},
		{`{"a": 1.50}`, []string{`{"a": 1.50}`}, false},
		{"{\"a\":1}\n{\"a\":2}\n\n{\"a\":3}", []string{`{"a":1}`, `{"a":2}`, `{"a":3}`}, false},
		// Bytes are kept as written, duplicate keys included: the
		// caller's stricter parser judges them.
		{`[{"a":1,"a":2}]`, []string{`{"a":1,"a":2}`}, true},
	}
	for _, c := range cases {
		got, array, err := values(c.in, 1<<20)
		if err != nil || !slices.Equal(got, c.want) || array != c.array {
			t.Errorf("%q: %q array %v err %v, want %q", c.in, got, array, err, c.want)
		}
	}
	for _, c := range []struct {
		in, err string
		n       int // values read before the error
	}{
		{``, "empty input: want a JSON array or object", 0},
		{"  \n ", "empty input", 0},
		{`[{"a":1}`, "element 1: unexpected end of input (the array is not closed)", 1},
		{`[{"a":1},`, "element 1: unexpected end of input (the array is not closed)", 1},
		{`[`, "element 0: unexpected end of input (the array is not closed)", 0},
		{`[{"a":"x`, "element 0: unexpected end of input (the array is not closed)", 0},
		{`[{"a":1},]`, "element 1: invalid JSON at byte 9: a ] follows a comma", 1},
		{`[{"a":1} {"a":2}]`, `element 1: invalid JSON at byte 9: want a comma or ] after element 0, found '{'`, 1},
		{`[,1]`, `element 0: invalid JSON at byte 1: unexpected ','`, 0},
		{`}`, `element 0: invalid JSON at byte 0: unexpected '}'`, 0},
		{`[{"a":1}] x`, "unexpected data after the closing ] of the array at byte 10: 'x'", 1},
		{`[1] [2]`, "unexpected data after the closing ] of the array", 1},
		{`{"a":1} {"a"`, "element 1: unexpected end of input", 1},
		{`[1, "` + strings.Repeat("x", 100) + `"]`, "element 1: longer than 64 bytes: value too large", 1},
		{`{"a":"` + strings.Repeat("x", 200_000) + `"}`, "element 0: longer than 64 bytes", 0},
	} {
		got, _, err := values(c.in, 64)
		if err == nil || err.Error() != c.err && !strings.HasPrefix(err.Error(), c.err) || len(got) != c.n {
			t.Errorf("%.40q: %d values, error %v, want %q", c.in, len(got), err, c.err)
		}
	}
	// Malformed values are delimited, not judged: the strict parser of
	// the caller reports them.
	if got, _, err := values(`[{"a":}, {"b":[1,]}, tru, "s\"]"]`, 64); err != nil || !slices.Equal(got, []string{`{"a":}`, `{"b":[1,]}`, `tru`, `"s\"]"`}) {
		t.Errorf("malformed values: %q, %v", got, err)
	}
	// Values of exactly the limit pass.
	if got, _, err := values(`["`+strings.Repeat("x", 62)+`"]`, 64); err != nil || len(got) != 1 {
		t.Errorf("value at the limit: %v", err)
	}
	// Read errors are reported, wrapped.
	boom := errors.New("boom")
	vr := NewValueReader(io.MultiReader(strings.NewReader(`[{"a":1},`), iotest.ErrReader(boom)), 1<<20)
	vr.Next()
	if _, err := vr.Next(); !errors.Is(err, boom) {
		t.Errorf("read error: %v", err)
	}
}

// Values read from a reader that returns one byte at a time (a buffer
// chunk per byte, strings split anywhere) are those read in one piece.
func TestValueReaderByteByByte(t *testing.T) {
	for _, in := range []string{
		`[{"a":"x\\"}, {"b":"\u00e9 ]\"}\\\""} ,[1,"2"],"x\"y",-1.5e3 , true,null]`,
		"{\"a\":\"" + strings.Repeat("long string ", 20000) + "\\\"\"}\n{\"b\":\"\\\\\"}",
		`{"a":1} {"b":"\\"} "s" 3`, `[{"a":"x]`, `["\`,
	} {
		want, _, wantErr := values(in, 1<<20)
		var got []string
		vr := NewValueReader(iotest.OneByteReader(strings.NewReader(in)), 1<<20)
		var err error
		for {
			var v []byte
			if v, err = vr.Next(); err != nil {
				break
			}
			got = append(got, string(v))
		}
		if err == io.EOF {
			err = nil
		}
		if !slices.Equal(got, want) || (err == nil) != (wantErr == nil) {
			t.Errorf("%.40q: byte by byte %.60q %v, in one piece %.60q %v", in, got, err, want, wantErr)
		}
	}
}

// BenchmarkValueReader delimits lines of typical capsule content, as
// capsule seal reads them.
func BenchmarkValueReader(b *testing.B) {
	line := `{"authority":{"approver":null,"chain":[],"escalation_reason":null,"policy_reference":null,"type":"autonomous"},` +
		`"context":{"agent_id":"example.com/agents.Deploy","environment":{"cwd":"/workspace","os":"linux","region":"eu-west-1"},"session_id":"sess_def456"},` +
		`"domain":"agents","id":"01a23c0e-f8bd-7928-8014-4ffe8c121e01","trigger":{"request":"Deploy service v2.4 to production after the canary stays healthy for ten minutes",` +
		`"source":"scheduler","timestamp":"2026-12-03T13:18:30.123456+00:00","type":"user_request"},"type":"agent"}` + "\n"
	in := []byte(strings.Repeat(line, 1000))
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		vr := NewValueReader(bytes.NewReader(in), 1<<20)
		for {
			if _, err := vr.Next(); err != nil {
				break
			}
		}
	}
}

func TestValueReaderBoundedMemory(t *testing.T) {
	// A huge value is refused after reading about the limit, not all of
	// it.
	huge := io.MultiReader(strings.NewReader(`[{"a":"`), endless{})
	vr := NewValueReader(huge, 1<<20)
	if _, err := vr.Next(); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("error %v", err)
	}
	if vr.read > 1+1<<20 || cap(vr.buf) > 2<<20 { // the opening bracket and the limit
		t.Errorf("read %d bytes, buffer %d, for a limit of %d", vr.read, cap(vr.buf), 1<<20)
	}
}

type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

func TestProgress(t *testing.T) {
	var b bytes.Buffer
	now := time.Unix(1000, 0)
	p := NewProgress(&b, "verified", true)
	p.now = func() time.Time { return now }
	p.Update(0)
	now = now.Add(50 * time.Millisecond)
	p.Update(10) // too soon after the start
	if b.Len() != 0 {
		t.Fatalf("drawn too soon: %q", b.String())
	}
	now = now.Add(950 * time.Millisecond)
	p.Update(85000)
	now = now.Add(10 * time.Millisecond)
	p.Update(90000) // too soon after the last redraw
	p.Done()
	want := "\r\x1b[Kverified 85000 capsules (85000/s)\r\x1b[K"
	if b.String() != want {
		t.Errorf("%q, want %q", b.String(), want)
	}

	// Disabled and nil progress write nothing.
	b.Reset()
	d := NewProgress(&b, "x", false)
	d.Update(1)
	d.Done()
	var n *Progress
	n.Update(1)
	n.Done()
	if b.Len() != 0 {
		t.Errorf("disabled progress wrote %q", b.String())
	}
}

func TestColour(t *testing.T) {
	on := Colour{Enabled: true}
	if got := on.Red("x"); got != "\x1b[31mx\x1b[0m" {
		t.Errorf("%q", got)
	}
	if got := (Colour{}).Bold("x"); got != "x" {
		t.Errorf("%q", got)
	}
	// Not a terminal: no colour whatever NO_COLOR says.
	if NewColour(&bytes.Buffer{}, func(string) string { return "" }).Enabled {
		t.Error("colour enabled on a buffer")
	}
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if IsTerminal(f) || NewColour(f, func(string) string { return "" }).Enabled {
		t.Error("a regular file is not a terminal")
	}
}
