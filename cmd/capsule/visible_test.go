package main

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/capsule-go/capsule/internal/cli"
	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/protocol/canonical"
	"github.com/capsule-go/capsule/storage/sqlite"
)

// hostile holds bidi formatting characters (U+202E, U+2066, U+200F),
// an escape sequence, BEL, DEL, a C1 control (U+0085) and U+2028.
const hostile = "evil\u202egnp.exe\u2066x\u200f\x1b[31mred\x07\x7f\u0085\u2028end"

// checkVisible fails when out holds a rune that is neither printable nor
// a newline: terminal controls and invisible formatting must be escaped.
func checkVisible(t *testing.T, what, out string) {
	t.Helper()
	for i, r := range out {
		if r == utf8.RuneError || r != '\n' && !unicode.IsPrint(r) {
			t.Errorf("%s: raw %U at byte %d: %q", what, r, i, out[max(0, i-20):min(len(out), i+20)])
			return
		}
	}
}

// chains and inspect print bidi formatting and control characters of the
// tenant, the content and the columns escaped, visibly, on terminals
// (colour) and when piped; --json stays exact.
func TestHostileTextEscaped(t *testing.T) {
	emptyDataDir(t)
	db := filepath.Join(t.TempDir(), "c.db")
	content := map[string]any{
		"type":      "tool",
		"trigger":   map[string]any{"request": hostile},
		"reasoning": map[string]any{"analysis": "a" + hostile},
		"outcome":   map[string]any{"result": map[string]any{"k" + hostile: []any{hostile}}},
		"context":   map[string]any{"environment": map[string]any{hostile: 1}},
	}
	in, _ := json.Marshal(content)
	capsuleCmd(t, string(in), "seal", "--db", db, "--tenant", "site").want(t, exitOK)
	// Columns and content rewritten behind the store's back: the tenant,
	// the trigger timestamp chains shows, a seal column.
	raw, err := sql.Open("sqlite3", db)
	if err != nil {
		t.Fatal(err)
	}
	quoted, _ := json.Marshal(hostile)
	exec1(t, raw, `UPDATE capsule_tenant_chains SET tenant_id = ?, signed_by = ?,
		data = replace(data, '"timestamp":"', '"timestamp":"'||?) WHERE tenant_id = 'site'`, hostile, hostile, string(quoted[1:len(quoted)-1]))
	raw.Close()

	r := capsuleCmd(t, "", "chains", "--db", db).want(t, exitOK)
	checkVisible(t, "chains", r.stdout)
	mustHave(t, "chains", r.stdout, `"evil\u202egnp.exe\u2066x\u200f\x1b[31mred\a\x7f\u0085\u2028end"`)

	r = capsuleCmd(t, "", "chains", "--json", "--db", db).want(t, exitOK)
	var out chainsOut
	decodeJSON(t, r.stdout, &out)
	if len(out.Chains) != 1 || out.Chains[0].Tenant == nil || *out.Chains[0].Tenant != hostile ||
		!strings.HasPrefix(out.Chains[0].FirstTimestamp, hostile) {
		t.Errorf("chains --json does not keep the tenant and timestamp exact: %s", r.stdout)
	}

	r = capsuleCmd(t, "", "inspect", "--db", db, "--tenant", hostile, "--seq", "0").want(t, exitOK)
	checkVisible(t, "inspect", r.stdout)
	esc := `evil\u202egnp.exe\u2066x\u200f\u001b[31mred\u0007\u007f\u0085\u2028end`
	mustHave(t, "inspect", r.stdout, `tenant: "`+esc+`"`, `request: "`+esc+`"`, `analysis: "a`+esc+`"`,
		`"k`+esc+`": [`, `"`+esc+`": 1`, `signed_by: "`+esc+`"`)

	r = capsuleCmd(t, "", "inspect", "--json", "--db", db, "--tenant", hostile, "--seq", "0").want(t, exitOK)
	s, err := sqlite.Open(t.Context(), db, sqlite.WithReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rec, err := s.Get(t.Context(), strings.TrimSpace(jsonID(t, r.stdout)), nil)
	if err != nil {
		t.Fatal(err)
	}
	want, err := protocol.AppendSealed(nil, &rec)
	if err != nil {
		t.Fatal(err)
	}
	if r.stdout != string(want)+"\n" {
		t.Errorf("inspect --json is not the sealed dict as stored:\n got %q\nwant %q", r.stdout, want)
	}

	// On a terminal, with colour, the same escapes.
	v, err := canonical.Parse(rec.Data)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	writeCapsule(&b, &rec, v.(map[string]any), cli.Colour{Enabled: true})
	term := colourCodes.ReplaceAllString(b.String(), "")
	if term == b.String() {
		t.Errorf("no colour on a terminal:\n%s", term)
	}
	checkVisible(t, "inspect on a terminal", term)
	mustHave(t, "inspect on a terminal", term, `request: "`+esc+`"`, `"k`+esc+`": [`)
}

func mustHave(t *testing.T, what, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("%s lacks %s:\n%s", what, w, out)
		}
	}
}

// jsonID returns the "id" of a JSON object.
func jsonID(t *testing.T, s string) string {
	t.Helper()
	var v struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
	return v.ID
}

// colourCodes matches the SGR sequences of cli.Colour.
var colourCodes = regexp.MustCompile("\x1b\\[[0-9;]*m")

func TestVisibleQuoting(t *testing.T) {
	for _, c := range []struct {
		in, quoted, goQuoted, shell string
	}{
		{"plain é 😀", `"plain é 😀"`, "plain é 😀", `'plain é 😀'`},
		{"a\u202eb", `"a\u202eb"`, `"a\u202eb"`, `$'a\xe2\x80\xaeb'`},
		{"tag\U000E0001", `"tag\udb40\udc01"`, `"tag\U000e0001"`, `$'tag\xf3\xa0\x80\x81'`},
		{"bad\xffbyte", `"bad\xffbyte"`, `"bad\xffbyte"`, `$'bad\xffbyte'`},
		{"q\"\\'\n\x1b", `"q\"\\'\n\u001b"`, `"q\"\\'\n\x1b"`, `$'q"\\\'\x0a\x1b'`},
	} {
		if got := string(appendQuoted(nil, c.in)); got != c.quoted {
			t.Errorf("appendQuoted(%q) = %s, want %s", c.in, got, c.quoted)
		}
		if got := visible(c.in); got != c.goQuoted {
			t.Errorf("visible(%q) = %s, want %s", c.in, got, c.goQuoted)
		}
		if got := shellQuote(c.in); got != c.shell {
			t.Errorf("shellQuote(%q) = %s, want %s", c.in, got, c.shell)
		}
	}
	// Inside canonical JSON, escaped runes keep it the same JSON value.
	js, err := canonical.Append(nil, map[string]any{"k\u202e": []any{"v\u0085\U000E0001"}})
	if err != nil {
		t.Fatal(err)
	}
	out := appendVisibleJSON(nil, js)
	if want := `{"k\u202e":["v\u0085\udb40\udc01"]}`; string(out) != want {
		t.Errorf("appendVisibleJSON = %s, want %s", out, want)
	}
	var a, b any
	if json.Unmarshal(js, &a) != nil || json.Unmarshal(out, &b) != nil || !reflect.DeepEqual(a, b) {
		t.Errorf("the escaped JSON %s is not the same value as %s", out, js)
	}
}
