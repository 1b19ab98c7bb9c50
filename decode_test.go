package capsule

import (
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/capsule-go/capsule/protocol/canonical"
)

// direct is ParseContent's direct path alone: the Capsule, or false where
// ParseContent would read the text again through the map path.
func direct(data []byte) (*Capsule, bool) {
	var d decoder
	c := New(TypeAgent)
	d.Reset(data)
	d.decodeCapsule(c)
	d.End()
	return c, d.Err() == nil
}

// agree checks that ParseContent and the map path accept and refuse the
// same text, with the same error or an equal Capsule, and that the direct
// path alone accepts exactly what the map path accepts (ParseContent's
// fallback only ever reports an error).
func agree(t *testing.T, data []byte) {
	t.Helper()
	want, wantErr := fromText(data) // the map path
	got, err := ParseContent(data)
	fast, ok := direct(data)
	if (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
		t.Fatalf("ParseContent(%s):\n got error %v\nwant error %v", data, err, wantErr)
	}
	if ok != (wantErr == nil) {
		t.Fatalf("direct path of %s: ok %v, map path's error %v", data, ok, wantErr)
	}
	if wantErr != nil {
		return
	}
	for _, c := range []*Capsule{got, fast} {
		// Missing keys take fresh defaults (an id, the time): take the
		// map path's where the text left them out.
		v, _ := canonical.Parse(data)
		m := v.(map[string]any)
		if _, ok := m["id"]; !ok {
			c.ID = want.ID
		}
		if tr, _ := m["trigger"].(map[string]any); tr == nil || tr["timestamp"] == nil || tr["timestamp"] == "" {
			c.Trigger.Timestamp = want.Trigger.Timestamp
		}
		if !reflect.DeepEqual(c, want) {
			t.Fatalf("ParseContent(%s):\n got %#v\nwant %#v", data, c, want)
		}
	}
}

// contentCorpus returns capsule content texts: the content of every
// conformance vector under testdata/conformance (valid, invalid, stored
// documents), and hand-written texts for what the map path refuses.
func contentCorpus(t testing.TB) [][]byte {
	t.Helper()
	var corpus [][]byte
	for _, name := range []string{"fixtures.json", "invalid-fixtures.json", "stored-document-fixtures.json"} {
		b, err := os.ReadFile("testdata/conformance/" + name)
		if err != nil {
			t.Fatal(err)
		}
		var f struct {
			Fixtures []map[string]json.RawMessage
		}
		if err := json.Unmarshal(b, &f); err != nil {
			t.Fatal(err)
		}
		for _, fx := range f.Fixtures {
			for _, k := range []string{"capsule_dict", "stored_document", "model_document"} {
				if raw, ok := fx[k]; ok {
					corpus = append(corpus, raw)
				}
			}
		}
	}
	if len(corpus) < 30 {
		t.Fatalf("%d conformance documents", len(corpus))
	}
	for _, s := range []string{
		``, ` `, `null`, `[]`, `"x"`, `1`, `{}`, ` { } `, `{}x`, `{} {}`, `{`, `{"type"}`, `{"type":}`, `{"type":"tool",}`,
		`{"type":"tool"`, `{"type":"tool" "domain":"d"}`, `{,}`, `{"a":1}`,
		`{"type":"tool","type":"tool"}`, `{"trigger":{"source":"a","source":"b"}}`,
		`{"context":{"environment":{"k":1,"k":2}}}`, `{"typ\u0065":"tool"}`, `{"trigger":{"sourc\u0065":"s\u00e9"}}`,
		`{"type":""}`, `{"type":"Tool"}`, `{"type":1}`, `{"type":null}`, `{"outcome":{"status":""}}`, `{"outcome":{"status":"nope"}}`,
		`{"id":"0d9c6e0e-3c33-4b1e-9a55-6f7d1f0f6f01"}`, `{"id":"0D9C6E0E-3C33-4B1E-9A55-6F7D1F0F6F01"}`, `{"id":null}`, `{"id":""}`,
		`{"parent_id":null}`, `{"parent_id":"x"}`, `{"parent_id":1}`,
		`{"sequence":0}`, `{"sequence":-1}`, `{"sequence":1.0}`, `{"sequence":1e2}`, `{"sequence":99999999999999999999}`, `{"sequence":"1"}`,
		`{"spec_version":"1.0"}`, `{"spec_version":1.0}`, `{"spec_version":"1.1"}`, `{"spec_version":null}`, `{"spec_version":"1\u002e0"}`,
		`{"previous_hash":null}`, `{"previous_hash":"abc"}`, `{"previous_hash":false}`,
		`{"trigger":{"timestamp":"2026-01-15T12:00:00+00:00"}}`, `{"trigger":{"timestamp":"2026-01-15T12:00:00Z"}}`,
		`{"trigger":{"timestamp":"2026-01-15 12:00:00.5"}}`, `{"trigger":{"timestamp":"2026-01-15T12:00:00.1234567Z"}}`,
		`{"trigger":{"timestamp":"2026-01-15T12:00:00+01:00"}}`, `{"trigger":{"timestamp":"2026-01-15T12:00:00-00:00"}}`,
		`{"trigger":{"timestamp":"2026-02-30T12:00:00Z"}}`, `{"trigger":{"timestamp":""}}`, `{"trigger":{"timestamp":"yesterday"}}`,
		`{"trigger":{"timestamp":1}}`, `{"trigger":null}`, `{"trigger":[]}`, `{"trigger":{"user_id":null,"correlation_id":"c"}}`,
		`{"context":{"environment":null}}`, `{"context":{"environment":[]}}`, `{"context":{"environment":{"n":1.0,"big":123456789012345678901234567890,"s":"\ud83d\ude00"}}}`,
		`{"context":{"session_id":"0123456789012345678901234567890123456789"}}`, `{"domain":"` + strings.Repeat("d", 60) + `"}`,
		`{"reasoning":{"confidence":0.5}}`, `{"reasoning":{"confidence":7}}`, `{"reasoning":{"confidence":"0.5"}}`, `{"reasoning":{"confidence":1e400}}`,
		`{"reasoning":{"confidence":1e-400}}`, `{"reasoning":{"confidence":-0.0}}`, `{"reasoning":{"confidence":` + strings.Repeat("9", 400) + `}}`,
		`{"reasoning":{"options_considered":["a","b"]}}`, `{"reasoning":{"options":[{"description":"a"},{"description":"b"}],"options_considered":["a","b"]}}`,
		`{"reasoning":{"options":[{"description":"a"},{"description":"b"}],"options_considered":["b","a"]}}`,
		`{"reasoning":{"options":[{"description":"a"}],"options_considered":[]}}`, `{"reasoning":{"options":[],"options_considered":["a"]}}`,
		`{"reasoning":{"options":[{"feasibility":2,"selected":true,"pros":[],"estimated_impact":{"x":[1,{"y":null}]}}]}}`,
		`{"reasoning":{"options":[{"selected":"yes"}]}}`, `{"reasoning":{"options":[{"pros":["a",1]}]}}`, `{"reasoning":{"options":[1]}}`,
		`{"reasoning":{"options":[{"bogus":1}]}}`, `{"reasoning":{"options":{}}}`, `{"reasoning":{"options":[{"id":"a","id":"b"}]}}`,
		`{"authority":{"chain":[]}}`, `{"authority":{"chain":[{"who":"a"},{}]}}`, `{"authority":{"chain":[1]}}`, `{"authority":{"chain":null}}`,
		`{"execution":{"tool_calls":[{"tool":"t","arguments":{},"result":null,"success":false,"duration_ms":-5,"error":"e"}],"duration_ms":3}}`,
		`{"execution":{"tool_calls":[{"result":[1,"2",{"3":true}]}]}}`, `{"execution":{"duration_ms":1.5}}`, `{"execution":{"resources_used":1}}`,
		`{"outcome":{"result":"r","side_effects":["s"],"metrics":{"m":0.0042},"error":null,"summary":"x"}}`, `{"outcome":{"side_effects":null}}`,
		`{"hash":"x"}`, `{"signature":""}`, `{"type":"tool","bogus":1}`, `{"trigger":{"bogus":1}}`,
		`{"trigger":{"request":"\xff"}}`, `{"trigger":{"request":"\ud800"}}`, `{"trigger":{"request":"a` + "\x01" + `"}}`, `{"trigger":{"request":"\q"}}`,
		"{\n  \"type\" : \"tool\" ,\n\t\"trigger\" : { \"source\" : \"cron\" }\n}\n",
		"{\"trigger\":{\"request\":\"\xff\"}}", "{\"trigger\":{\"request\":\"\xed\xa0\x80\"}}",
		// The deepest nesting canonical.Parse accepts is 512: the content
		// is at depth 1, the environment at 3.
		`{"context":{"environment":` + strings.Repeat(`[`, 510) + strings.Repeat(`]`, 510) + `}}`,
		`{"context":{"environment":` + strings.Repeat(`[`, 511) + strings.Repeat(`]`, 511) + `}}`,
		`{"context":{"environment":{"a":` + strings.Repeat(`[`, 509) + strings.Repeat(`]`, 509) + `}}}`,
		`{"context":{"environment":{"a":` + strings.Repeat(`[`, 510) + strings.Repeat(`]`, 510) + `}}}`,
	} {
		corpus = append(corpus, []byte(s))
	}
	return corpus
}

// mutants returns variants of the content text data: each member of its
// objects (to the depth of an element's fields) removed, or its value
// replaced by one of a set of values of every type, and an unknown key
// added to each object.
func mutants(t testing.TB, data []byte) [][]byte {
	v, err := canonical.Parse(data)
	m, ok := v.(map[string]any)
	if err != nil || !ok {
		return nil
	}
	values := []any{nil, true, "", "x", canonical.Number("1"), canonical.Number("-1"), canonical.Number("0.5"),
		canonical.Number("2.0"), []any{}, []any{"a"}, map[string]any{}, map[string]any{"k": canonical.Number("1")}, []any{map[string]any{}}}
	var out [][]byte
	emit := func() {
		b, err := canonical.Append(nil, m)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	var walk func(obj map[string]any, depth int)
	walk = func(obj map[string]any, depth int) {
		obj["zz_unknown"] = true
		emit()
		delete(obj, "zz_unknown")
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range obj {
				if !yield(k) {
					return
				}
			}
		}) {
			old := obj[k]
			delete(obj, k)
			emit()
			for _, x := range values {
				obj[k] = x
				emit()
			}
			obj[k] = old
			if depth < 3 {
				switch x := old.(type) {
				case map[string]any:
					walk(x, depth+1)
				case []any:
					for _, e := range x {
						if em, ok := e.(map[string]any); ok {
							walk(em, depth+1)
						}
					}
				}
			}
		}
	}
	walk(m, 0)
	return out
}

// ParseContent agrees with canonical.Parse and FromContent on the
// conformance vectors, hand-written texts and mutants of both.
func TestParseContentAgrees(t *testing.T) {
	n := 0
	for _, data := range contentCorpus(t) {
		agree(t, data)
		n++
		for _, m := range mutants(t, data) {
			agree(t, m)
			n++
		}
	}
	t.Logf("%d texts", n)
}

// FuzzParseContent checks ParseContent against the map path on any text.
func FuzzParseContent(f *testing.F) {
	for _, data := range contentCorpus(f) {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		agree(t, data)
	})
}

// BenchmarkParseContent measures ParseContent on the "full" fixture's
// content, beside the map path it replaces (canonical.Parse, then
// FromContent).
func BenchmarkParseContent(b *testing.B) {
	data := []byte(loadFixtures(b)[1].CanonicalJSON) // "full", as sealed
	for name, read := range map[string]func([]byte) (*Capsule, error){"direct": ParseContent, "map": fromText} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := read(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
