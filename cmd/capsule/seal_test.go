package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/capsule-go/capsule"
	"github.com/capsule-go/capsule/internal/bench"
	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/protocol/canonical"
)

// sealedLines checks seal's output: one sealed capsule per line whose hash
// is that of its content, chained from prev at sequence first.
func sealedLines(t *testing.T, out string, first int64, prev string) []string {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if out == "" {
		return nil
	}
	for i, line := range lines {
		v, err := canonical.Parse([]byte(line))
		if err != nil {
			t.Fatalf("line %d: %v: %s", i, err, line)
		}
		rec, err := protocol.ParseSealed(v.(map[string]any), "")
		if err != nil {
			t.Fatal(err)
		}
		if err := protocol.CheckHash(&rec); err != nil {
			t.Errorf("line %d: %v", i, err)
		}
		if rec.Sequence != first+int64(i) || rec.PreviousHash != prev {
			t.Errorf("line %d: sequence %d previous_hash %q, want %d %q", i, rec.Sequence, rec.PreviousHash, first+int64(i), prev)
		}
		// Seal prints canonical sealed dicts, exactly as export does.
		if c, _ := canonical.Canonicalize([]byte(line)); string(c) != line {
			t.Errorf("line %d is not canonical: %s", i, line)
		}
		prev = rec.Hash
	}
	return lines
}

func exportOf(lines []string) string {
	if len(lines) == 0 {
		return "[]\n"
	}
	return "[\n" + strings.Join(lines, ",\n") + "\n]\n"
}

func TestSealExportVerify(t *testing.T) {
	dataDir := emptyDataDir(t)
	db := filepath.Join(t.TempDir(), "capsules.db")

	// JSON lines, then an array from a file, then one object.
	jsonl := `{"type":"tool","trigger":{"source":"cron","request":"nightly <backup> & more"}}
{"type":"agent","reasoning":{"confidence":0.5,"model":"m"},"context":{"environment":{"n":1.0,"big":123456789012345678901234567890}}}
`
	r := capsuleCmd(t, jsonl, "seal", "--db", db).want(t, 0)
	lines := sealedLines(t, r.stdout, 0, "")
	if len(lines) != 2 {
		t.Fatalf("%d lines", len(lines))
	}
	if !strings.Contains(lines[0], `"request":"nightly <backup> & more"`) || !strings.Contains(lines[1], `"big":123456789012345678901234567890`) ||
		!strings.Contains(lines[1], `"n":1.0`) {
		t.Errorf("content not kept as given: %s", r.stdout)
	}
	// The key was created in the data directory on first use.
	if _, err := os.Stat(filepath.Join(dataDir, "key")); err != nil {
		t.Fatal(err)
	}
	arr := writeFile(t, filepath.Join(t.TempDir(), "in.json"), []byte(`[{"type":"chat","id":"0d9c6e0e-3c33-4b1e-9a55-6f7d1f0f6f01"},
	 {"type":"vault","outcome":{"status":"success","result":{"ok":true}}}]`))
	r = capsuleCmd(t, "", "seal", arr, "--db", db).want(t, 0)
	prevHash := func(line string) string {
		v, _ := canonical.Parse([]byte(line))
		return v.(map[string]any)["hash"].(string)
	}
	more := sealedLines(t, r.stdout, 2, prevHash(lines[1]))
	if !strings.Contains(more[0], `"id":"0d9c6e0e-3c33-4b1e-9a55-6f7d1f0f6f01"`) {
		t.Errorf("id not kept: %s", more[0])
	}
	lines = append(lines, more...)
	r = capsuleCmd(t, `{"type":"system"}`, "seal", "-", "--db", db).want(t, 0)
	lines = append(lines, sealedLines(t, r.stdout, 4, prevHash(lines[3]))...)

	// Export prints the very lines seal printed.
	r = capsuleCmd(t, "", "export", "--db", db).want(t, 0)
	if r.stdout != exportOf(lines) {
		t.Errorf("export:\n%s\nwant\n%s", r.stdout, exportOf(lines))
	}
	out := filepath.Join(t.TempDir(), "export.json")
	capsuleCmd(t, "", "export", "--db", db, "-o", out).want(t, 0)
	if got := string(readFile(t, out)); got != exportOf(lines) {
		t.Errorf("export -o:\n%s", got)
	}
	// Re-exporting the export gives the same bytes.
	if r := capsuleCmd(t, "", "export", out).want(t, 0); r.stdout != exportOf(lines) {
		t.Errorf("export of the export differs:\n%s", r.stdout)
	}

	want := `{"valid":true,"level":"signatures","capsules_verified":5,"total_capsules":5,"errors":[]}` + "\n"
	for _, src := range [][]string{{out}, {"--db", db}} {
		if r := capsuleCmd(t, "", append([]string{"verify", "--signatures", "--json"}, src...)...).want(t, 0); r.stdout != want {
			t.Errorf("verify %v: %s", src, r.stdout)
		}
	}
	pub := strings.TrimSpace(capsuleCmd(t, "", "keys", "export-public").want(t, 0).stdout)
	capsuleCmd(t, "", "verify", "--public-key", pub, out).want(t, 0)

	// Another tenant has its own chain, from sequence 0.
	r = capsuleCmd(t, `{"type":"auth"}`, "seal", "--db", db, "--tenant", "site-7").want(t, 0)
	tenantLines := sealedLines(t, r.stdout, 0, "")
	if r := capsuleCmd(t, "", "export", "--db", db, "--tenant", "site-7").want(t, 0); r.stdout != exportOf(tenantLines) {
		t.Errorf("tenant export: %s", r.stdout)
	}
	if r := capsuleCmd(t, "", "verify", "--db", db, "--tenant", "site-7", "--signatures").want(t, 0); r.stdout != "✓ chain valid: 1 capsule verified (signatures)\n" {
		t.Errorf("tenant verify: %q", r.stdout)
	}
	if r := capsuleCmd(t, "", "export", "--db", db).want(t, 0); r.stdout != exportOf(lines) {
		t.Errorf("null tenant changed: %s", r.stdout)
	}

	// Bad input stops at the element, naming it and the field; the
	// capsules before it stay sealed.
	r = capsuleCmd(t, `[{"type":"tool"},{"type":"tool","reasoning":{"confidence":"high"}},{"type":"tool"}]`, "seal", "--db", db).want(t, exitInvalid)
	lines = append(lines, sealedLines(t, r.stdout, 5, prevHash(lines[4]))...)
	if len(lines) != 6 || !strings.HasPrefix(r.stderr, "capsule seal: standard input: element 1: reasoning.confidence: ") {
		t.Errorf("bad element: %d lines, stderr %q", len(lines), r.stderr)
	}
	if r := capsuleCmd(t, "", "export", "--db", db).want(t, 0); r.stdout != exportOf(lines) {
		t.Errorf("after bad input: %s", r.stdout)
	}
	for _, c := range []struct {
		in, msg string
		code    int
	}{
		{`{"type":"bogus"}`, "element 0: type: unknown capsule type bogus", exitInvalid},
		{`{"type":"tool","colour":"red"}`, "element 0: colour: ", exitInvalid},
		{`[1]`, "element 0: capsule content must be a JSON object", exitInvalid},
		{`{"a":1,"a":2}`, `element 0: canonical: a: duplicate key "a"`, exitInvalid},
		{`{"type":"agent","reasoning":{"confidence":7}}`, "element 0: reasoning.confidence: must be between 0.0 and 1.0", exitInvalid},
		{`{"type":"tool"} {"type":`, "element 1: unexpected end of input", exitError},
		{``, "empty input", exitError},
		{lines[0], "element 0: hash: the input is a sealed capsule", exitInvalid},
	} {
		r := capsuleCmd(t, c.in, "seal", "--db", db).want(t, c.code)
		if !strings.Contains(r.stderr, c.msg) {
			t.Errorf("%s: stderr %q lacks %q", c.in, r.stderr, c.msg)
		}
	}
	// The chain is intact after all of this, with the one capsule sealed
	// before the truncated input.
	r = capsuleCmd(t, "", "verify", "--json", "--signatures", "--db", db).want(t, 0)
	if want := fmt.Sprintf(`"capsules_verified":%d,"total_capsules":%d`, len(lines)+1, len(lines)+1); !strings.Contains(r.stdout, want) {
		t.Errorf("final verify: %s, want %s", r.stdout, want)
	}
}

func TestExportEmptyAndFailures(t *testing.T) {
	pythonDataDir(t)
	r := capsuleCmd(t, "", "export", writeFile(t, filepath.Join(t.TempDir(), "e.json"), []byte("[]"))).want(t, 0)
	if r.stdout != "[]\n" {
		t.Errorf("empty export %q", r.stdout)
	}
	// A failed export to a file leaves no file behind.
	bad := writeFile(t, filepath.Join(t.TempDir(), "bad.json"), []byte(`[`+string(chainElements(t)[0])+`, {"id":`))
	out := filepath.Join(t.TempDir(), "out.json")
	r = capsuleCmd(t, "", "export", bad, "-o", out).want(t, 2)
	if !strings.Contains(r.stderr, "element 1") {
		t.Errorf("stderr %q", r.stderr)
	}
	if entries, _ := os.ReadDir(filepath.Dir(out)); len(entries) != 0 {
		t.Errorf("files left behind: %v", entries)
	}
}

// seal refuses what validate refuses, naming the element and the field,
// and stores nothing of the refused element.
func TestSealRefusesInvalid(t *testing.T) {
	emptyDataDir(t)
	for _, tt := range []struct{ in, msg string }{
		{`{"reasoning":{"confidence":1.5}}`, "element 0: reasoning.confidence: must be between 0.0 and 1.0, got 1.5"},
		{`{"reasoning":{"options":[{"feasibility":-1}]}}`, "element 0: reasoning.options[0].feasibility: must be between 0.0 and 1.0"},
		{`{"execution":{"duration_ms":-3}}`, "element 0: execution.duration_ms: must be >= 0, got -3"},
		{`{"execution":{"tool_calls":[{"tool":"t","duration_ms":-1}]}}`, "element 0: execution.tool_calls[0].duration_ms: must be >= 0"},
		{`{"outcome":{"status":"done"}}`, `element 0: outcome.status: must be one of pending, success, failure, partial, blocked; got "done"`},
		{`{"domain":"` + strings.Repeat("d", 51) + `"}`, "element 0: domain: is 51 characters long, more than the 50"},
		{`{"context":{"session_id":"` + strings.Repeat("s", 37) + `"}}`, "element 0: context.session_id: is 37 characters long, more than the 36"},
	} {
		db := filepath.Join(t.TempDir(), "capsules.db")
		r := capsuleCmd(t, tt.in, "seal", "--db", db).want(t, exitInvalid)
		if !strings.Contains(r.stderr, tt.msg) || r.stdout != "" {
			t.Errorf("%s: stdout %q, stderr %q, want %q", tt.in, r.stdout, r.stderr, tt.msg)
		}
		if r := capsuleCmd(t, "", "export", "--db", db); r.stdout != "[]\n" {
			t.Errorf("%s: stored %q", tt.in, r.stdout)
		}
	}
	// The capsules before a refused element stay stored, none after it.
	db := filepath.Join(t.TempDir(), "capsules.db")
	capsuleCmd(t, `{"type":"tool"}`+"\n"+`{"reasoning":{"confidence":2}}`+"\n"+`{"type":"chat"}`, "seal", "--db", db).want(t, exitInvalid)
	r := capsuleCmd(t, "", "verify", "--json", "--db", db).want(t, 0)
	if !strings.Contains(r.stdout, `"capsules_verified":1`) {
		t.Errorf("after a refused second element: %s", r.stdout)
	}
}

// TestSealManyGroups seals more lines than one group holds, so that groups
// are queued while the ones before them commit: every line is printed in
// input order, chained, and a refused element deep in the input leaves
// exactly the elements before it stored.
func TestSealManyGroups(t *testing.T) {
	db := filepath.Join(t.TempDir(), "capsules.db")
	var in strings.Builder
	for i := range 3*sealGroup + 100 {
		fmt.Fprintf(&in, `{"type":"tool","trigger":{"request":"r%d"}}`+"\n", i)
	}
	r := capsuleCmd(t, in.String(), "seal", "--db", db).want(t, 0)
	lines := sealedLines(t, r.stdout, 0, "")
	if len(lines) != 3*sealGroup+100 {
		t.Fatalf("%d lines printed", len(lines))
	}
	for i, line := range lines {
		if !strings.Contains(line, fmt.Sprintf(`"request":"r%d"`, i)) {
			t.Fatalf("line %d holds another element: %s", i, line)
		}
	}

	refused := 2*sealGroup + 7
	in.Reset()
	for i := range 3 * sealGroup {
		if i == refused {
			in.WriteString(`{"type":"tool","reasoning":{"confidence":2}}` + "\n")
			continue
		}
		fmt.Fprintf(&in, `{"type":"tool","trigger":{"request":"s%d"}}`+"\n", i)
	}
	r = capsuleCmd(t, in.String(), "seal", "--db", db).want(t, exitInvalid)
	if want := fmt.Sprintf("element %d: reasoning.confidence", refused); !strings.Contains(r.stderr, want) {
		t.Errorf("stderr %q, want %q", r.stderr, want)
	}
	sealedLines(t, r.stdout, int64(len(lines)), lastHash(t, lines[len(lines)-1]))
	if n := strings.Count(r.stdout, "\n"); n != refused {
		t.Errorf("%d lines printed before the refused element %d", n, refused)
	}
	r = capsuleCmd(t, "", "verify", "--json", "--db", db).want(t, 0)
	if want := fmt.Sprintf(`"capsules_verified":%d`, len(lines)+refused); !strings.Contains(r.stdout, want) {
		t.Errorf("after a refused element %d: %s, want %s", refused, r.stdout, want)
	}
}

// lastHash returns the hash of one printed sealed capsule.
func lastHash(t *testing.T, line string) string {
	t.Helper()
	v, err := canonical.Parse([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := protocol.ParseSealed(v.(map[string]any), "")
	if err != nil {
		t.Fatal(err)
	}
	return rec.Hash
}

// sealInputs returns seal's inputs for the differential test: the content
// of every conformance vector, a typical capsule, and variants that each
// check of the map path refuses.
func sealInputs(t *testing.T) [][]byte {
	t.Helper()
	var in [][]byte
	for _, name := range []string{"fixtures.json", "invalid-fixtures.json", "stored-document-fixtures.json"} {
		v, err := canonical.Parse(readFile(t, filepath.Join("..", "..", "testdata", "conformance", name)))
		if err != nil {
			t.Fatal(err)
		}
		for _, fx := range v.(map[string]any)["fixtures"].([]any) {
			for _, k := range []string{"capsule_dict", "stored_document"} {
				if doc, ok := fx.(map[string]any)[k]; ok {
					b, err := canonical.Append(nil, doc)
					if err != nil {
						t.Fatal(err)
					}
					in = append(in, b)
				}
			}
		}
	}
	if len(in) < 30 {
		t.Fatalf("%d conformance documents", len(in))
	}
	in = append(in, typicalLine(t))
	for _, s := range []string{
		`{"type":"tool","trigger":{"source":"cron","request":"nightly backup"}}`,
		`not json`, `[1]`, `"x"`, `{"type":"tool"} x`, `{"type":"tool","type":"chat"}`,
		`{"hash":"x"}`, `{"bogus":1,"signature":"s"}`, `{"signed_by":1}`, `{"type":"tool","bogus":1}`,
		`{"type":"nope"}`, `{"type":""}`, `{"outcome":{"status":"done"}}`, `{"outcome":{"status":""}}`,
		`{"reasoning":{"confidence":1.5}}`, `{"reasoning":{"confidence":"x"}}`, `{"reasoning":{"options":[{"feasibility":-1}]}}`,
		`{"execution":{"duration_ms":-3}}`, `{"execution":{"tool_calls":[{"tool":"t","duration_ms":-1}]}}`,
		`{"domain":"` + strings.Repeat("d", 51) + `"}`, `{"context":{"session_id":"` + strings.Repeat("s", 37) + `"}}`,
		`{"id":"not-a-uuid"}`, `{"parent_id":"not-a-uuid"}`, `{"trigger":{"timestamp":"2026-01-15T12:00:00+02:00"}}`,
		`{"context":{"environment":{"n":1.0,"big":123456789012345678901234567890}}}`, `{"reasoning":{"confidence":1e400}}`,
		`{"trigger":{"request":"\ud800"}}`, `{"context":{"environment":{"k":1,"k":2}}}`,
	} {
		in = append(in, []byte(s))
	}
	return in
}

// typicalLine is the content of bench.Typical, as a line of seal's input.
func typicalLine(t testing.TB) []byte {
	t.Helper()
	b, err := bench.Typical().Canonical()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// seal's input path (capsule.ParseContent) accepts and refuses what the
// map path (canonical.Parse, capsule.FromContent) does, with the same
// message or an equal capsule.
func TestContentCapsuleAgreesWithMapPath(t *testing.T) {
	for _, raw := range sealInputs(t) {
		got, err := contentCapsule(raw)
		want, wantErr := contentCapsuleMap(raw)
		if (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
			t.Errorf("%s:\n got error %v\nwant error %v", raw, err, wantErr)
			continue
		}
		if err != nil {
			continue
		}
		if !bytes.Contains(raw, []byte(`"id"`)) {
			got.ID = want.ID // a fresh default id each
		}
		if !bytes.Contains(raw, []byte(`"timestamp"`)) {
			got.Trigger.Timestamp = want.Trigger.Timestamp
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %#v\nwant %#v", raw, got, want)
		}
	}
}

// BenchmarkContentCapsule measures seal's input path on a typical line
// (bench.Typical's content), beside the map path it replaced.
func BenchmarkContentCapsule(b *testing.B) {
	line := typicalLine(b)
	for _, bm := range []struct {
		name string
		read func([]byte) (*capsule.Capsule, error)
	}{{"direct", contentCapsule}, {"map", contentCapsuleMap}} {
		b.Run(bm.name, func(b *testing.B) {
			b.SetBytes(int64(len(line)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bm.read(line); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSeal runs capsule seal on 20,000 typical lines into a new
// SQLite file per iteration, reporting lines per second.
func BenchmarkSeal(b *testing.B) {
	emptyDataDir(b)
	const n = 20000
	var in bytes.Buffer
	for range n {
		in.Write(typicalLine(b))
		in.WriteByte('\n')
	}
	dir := b.TempDir()
	i := 0
	for b.Loop() {
		i++
		db := filepath.Join(dir, fmt.Sprintf("%d.db", i))
		var errb bytes.Buffer
		if code := run(b.Context(), []string{"seal", "--db", db}, bytes.NewReader(in.Bytes()), io.Discard, &errb); code != 0 {
			b.Fatal(errb.String())
		}
		b.StopTimer()
		for _, suffix := range []string{"", "-wal", "-shm"} {
			os.Remove(db + suffix)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "lines/s")
}
