package validate

import (
	"crypto/sha3"
	"encoding/hex"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capsule-go/capsule/protocol/canonical"
)

const testdata = "../../testdata"

// parseFile reads a JSON file of the repository's testdata with the
// canonical parser, so numbers arrive as canonical.Number like in real use.
func parseFile(t testing.TB, rel string) any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testdata, rel))
	if err != nil {
		t.Fatal(err)
	}
	v, err := canonical.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// encode returns the canonical JSON text of a parsed value.
func encode(t testing.TB, v any) []byte {
	t.Helper()
	b, err := canonical.Append(nil, v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sameError(got *Error, cat Category, field string) bool {
	return got != nil && got.Category == cat && got.Field == field
}

func TestInvalidFixtures(t *testing.T) {
	doc := parseFile(t, "conformance/invalid-fixtures.json").(map[string]any)
	fixtures := doc["fixtures"].([]any)
	if len(fixtures) != 16 {
		t.Fatalf("%d invalid fixtures, want 16", len(fixtures))
	}
	for _, f := range fixtures {
		f := f.(map[string]any)
		name := f["name"].(string)
		t.Run(name, func(t *testing.T) {
			m := f["capsule_dict"].(map[string]any)
			cat, field := Category(f["expected_error"].(string)), f["error_field"].(string)
			var got *Error
			if h, ok := f["claimed_hash"]; ok {
				m["hash"] = h
				got = Sealed(m)
			} else {
				got = Content(m)
			}
			if !sameError(got, cat, field) {
				t.Fatalf("got %v, want %s on %q", got, cat, field)
			}
			if got.Message == "" {
				t.Errorf("empty message")
			}
			// The same through the JSON text.
			if got2 := Document(encode(t, m)); *got2 != *got {
				t.Errorf("Document: %v, want %v", got2, got)
			}
		})
	}
}

func TestValidFixtures(t *testing.T) {
	doc := parseFile(t, "conformance/fixtures.json").(map[string]any)
	fixtures := doc["fixtures"].([]any)
	if len(fixtures) != 16 {
		t.Fatalf("%d fixtures, want 16", len(fixtures))
	}
	for _, f := range fixtures {
		f := f.(map[string]any)
		t.Run(f["name"].(string), func(t *testing.T) {
			m := f["capsule_dict"].(map[string]any)
			if err := Content(m); err != nil {
				t.Fatalf("Content: %v", err)
			}
			if err := Document(encode(t, m)); err != nil {
				t.Fatalf("Document: %v", err)
			}
			// Sealed with the fixture's hash (and a well-formed signature).
			m["hash"] = f["sha3_256_hash"]
			m["signature"] = strings.Repeat("ab", 64)
			if err := Sealed(m); err != nil {
				t.Fatalf("Sealed with the fixture hash: %v", err)
			}
		})
	}
}

// The app-style chain the reference sealed (testdata/interop/python-app)
// validates where its content follows the protocol, int confidences
// included (the hash covers the content as stored), and its naive
// timestamps are invalid_value at trigger.timestamp, as in the reference's
// own validation.
func TestPythonAppChain(t *testing.T) {
	chain := parseFile(t, "interop/python-app/chain.json").([]any)
	var valid, naive int
	for i, c := range chain {
		m := c.(map[string]any)
		err := Sealed(m)
		ts := section(m, "trigger")["timestamp"].(string)
		if !strings.ContainsAny(ts[19:], "Z+-") {
			if !sameError(err, InvalidValue, "trigger.timestamp") {
				t.Errorf("capsule %d, naive timestamp %s: %v", i, ts, err)
			}
			naive++
			continue
		}
		if err != nil {
			t.Errorf("capsule %d: %v", i, err)
		}
		valid++
	}
	if valid < 8 || naive < 2 {
		t.Fatalf("%d valid, %d naive capsules", valid, naive)
	}
}

func TestPythonChain(t *testing.T) {
	chain := parseFile(t, "interop/python-reference/chain.json").([]any)
	if len(chain) != 12 {
		t.Fatalf("%d capsules, want 12", len(chain))
	}
	for i, c := range chain {
		m := c.(map[string]any)
		if err := Sealed(m); err != nil {
			t.Errorf("capsule %d: %v", i, err)
		}
		if err := Document(encode(t, m)); err != nil {
			t.Errorf("capsule %d through Document: %v", i, err)
		}
	}
	// Tampering with any capsule's content is an integrity violation.
	m := chain[4].(map[string]any)
	m["outcome"].(map[string]any)["summary"] = "edited"
	if err := Sealed(m); !sameError(err, IntegrityViolation, "hash") {
		t.Errorf("tampered capsule: %v", err)
	}
}

// minimal returns a fresh valid content dict (the "minimal" fixture) parsed
// by the canonical parser.
func minimal(t testing.TB) map[string]any {
	t.Helper()
	const text = `{"id":"a1b2c3d4-e5f6-7890-abcd-ef1234567890","type":"agent","domain":"agents","parent_id":null,
	"sequence":0,"previous_hash":null,"spec_version":"1.0",
	"trigger":{"type":"user_request","source":"","timestamp":"2026-01-15T12:00:00+00:00","request":"","correlation_id":null,"user_id":null},
	"context":{"agent_id":"","session_id":null,"environment":{}},
	"reasoning":{"analysis":"","options":[],"options_considered":[],"selected_option":"","reasoning":"","confidence":0.0,"model":null,"prompt_hash":null},
	"authority":{"type":"autonomous","approver":null,"policy_reference":null,"chain":[],"escalation_reason":null},
	"execution":{"tool_calls":[],"duration_ms":0,"resources_used":{}},
	"outcome":{"status":"pending","result":null,"summary":"","error":null,"side_effects":[],"metrics":{}}}`
	v, err := canonical.Parse([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return v.(map[string]any)
}

func section(m map[string]any, name string) map[string]any { return m[name].(map[string]any) }

func option() map[string]any {
	return map[string]any{
		"id": "opt_0", "description": "Only option", "pros": []any{}, "cons": []any{},
		"estimated_impact": map[string]any{}, "feasibility": canonical.Number("0.5"), "risks": []any{},
		"selected": true, "rejection_reason": "",
	}
}

func toolCall() map[string]any {
	return map[string]any{
		"tool": "t", "arguments": map[string]any{"a": canonical.Number("1")}, "result": []any{"x", nil},
		"success": true, "duration_ms": canonical.Number("3"), "error": nil,
	}
}

const hash64 = "8c71e187dfbffca067265f576d9fb72ee8a223c3dff801dd7c5dd8fcb915f2cd"

func TestContentRules(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(m map[string]any)
		cat   Category // "" = valid
		field string
	}{
		{"valid minimal", func(m map[string]any) {}, "", ""},
		{"empty object", func(m map[string]any) { clear(m) }, MissingField, "id"},
		{"presence before types", func(m map[string]any) { m["id"] = canonical.Number("5"); delete(m, "outcome") }, MissingField, "outcome"},
		{"missing domain", func(m map[string]any) { delete(m, "domain") }, MissingField, "domain"},
		{"missing outcome", func(m map[string]any) { delete(m, "outcome") }, MissingField, "outcome"},
		{"missing trigger.timestamp", func(m map[string]any) { delete(section(m, "trigger"), "timestamp") }, MissingField, "trigger.timestamp"},
		{"missing reasoning.prompt_hash", func(m map[string]any) { delete(section(m, "reasoning"), "prompt_hash") }, MissingField, "reasoning.prompt_hash"},
		{"section keys present before typed", func(m map[string]any) {
			section(m, "context")["agent_id"] = nil
			delete(section(m, "context"), "environment")
		}, MissingField, "context.environment"},

		{"id number", func(m map[string]any) { m["id"] = canonical.Number("5") }, WrongType, "id"},
		{"id null", func(m map[string]any) { m["id"] = nil }, WrongType, "id"},
		{"id uppercase", func(m map[string]any) { m["id"] = "A1B2C3D4-E5F6-7890-ABCD-EF1234567890" }, InvalidValue, "id"},
		{"id not uuid", func(m map[string]any) { m["id"] = "not-a-uuid" }, InvalidValue, "id"},
		{"id without hyphens", func(m map[string]any) { m["id"] = "a1b2c3d4e5f67890abcdef1234567890" }, InvalidValue, "id"},
		{"type unknown", func(m map[string]any) { m["type"] = "Agent" }, InvalidValue, "type"},
		{"type bool", func(m map[string]any) { m["type"] = true }, WrongType, "type"},
		{"type vault", func(m map[string]any) { m["type"] = "vault" }, "", ""},
		{"domain null", func(m map[string]any) { m["domain"] = nil }, WrongType, "domain"},
		{"domain empty", func(m map[string]any) { m["domain"] = "" }, "", ""},
		{"parent_id uuid", func(m map[string]any) { m["parent_id"] = "00000000-0000-4000-8000-000000000000" }, "", ""},
		{"parent_id bad", func(m map[string]any) { m["parent_id"] = "parent" }, InvalidValue, "parent_id"},
		{"parent_id number", func(m map[string]any) { m["parent_id"] = canonical.Number("1") }, WrongType, "parent_id"},

		{"sequence float literal", func(m map[string]any) { m["sequence"] = canonical.Number("0.0") }, WrongType, "sequence"},
		{"sequence exponent", func(m map[string]any) { m["sequence"] = canonical.Number("1e2") }, WrongType, "sequence"},
		{"sequence string", func(m map[string]any) { m["sequence"] = "0" }, WrongType, "sequence"},
		{"sequence go float", func(m map[string]any) { m["sequence"] = 0.0 }, WrongType, "sequence"},
		{"sequence negative", func(m map[string]any) { m["sequence"] = canonical.Number("-1") }, InvalidValue, "sequence"},
		{"sequence huge", func(m map[string]any) {
			m["sequence"] = canonical.Number("123456789012345678901234567890")
			m["previous_hash"] = hash64
		}, InvalidValue, "sequence"},
		{"sequence -0", func(m map[string]any) { m["sequence"] = canonical.Number("-0") }, "", ""},
		{"sequence go int", func(m map[string]any) { m["sequence"] = 7; m["previous_hash"] = hash64 }, "", ""},
		{"sequence uint64 too big", func(m map[string]any) { m["sequence"] = uint64(math.MaxUint64); m["previous_hash"] = hash64 }, InvalidValue, "sequence"},
		{"sequence big.Int", func(m map[string]any) { m["sequence"] = big.NewInt(2); m["previous_hash"] = hash64 }, "", ""},

		{"previous_hash uppercase", func(m map[string]any) {
			m["sequence"] = canonical.Number("1")
			m["previous_hash"] = strings.ToUpper(hash64)
		}, InvalidValue, "previous_hash"},
		{"previous_hash short", func(m map[string]any) { m["sequence"] = canonical.Number("1"); m["previous_hash"] = hash64[:63] }, InvalidValue, "previous_hash"},
		{"previous_hash number", func(m map[string]any) { m["previous_hash"] = canonical.Number("1") }, WrongType, "previous_hash"},
		{"spec_version 1.1", func(m map[string]any) { m["spec_version"] = "1.1" }, InvalidValue, "spec_version"},
		{"spec_version number", func(m map[string]any) { m["spec_version"] = canonical.Number("1.0") }, WrongType, "spec_version"},

		{"trigger array", func(m map[string]any) { m["trigger"] = []any{} }, WrongType, "trigger"},
		{"trigger null", func(m map[string]any) { m["trigger"] = nil }, WrongType, "trigger"},
		{"timestamp text", func(m map[string]any) { section(m, "trigger")["timestamp"] = "yesterday" }, InvalidValue, "trigger.timestamp"},
		{"timestamp impossible date", func(m map[string]any) { section(m, "trigger")["timestamp"] = "2026-02-30T00:00:00+00:00" }, InvalidValue, "trigger.timestamp"},
		{"timestamp 25h", func(m map[string]any) { section(m, "trigger")["timestamp"] = "2026-01-15T25:00:00+00:00" }, InvalidValue, "trigger.timestamp"},
		{"timestamp 7 digits", func(m map[string]any) { section(m, "trigger")["timestamp"] = "2026-01-15T12:00:00.1234567+00:00" }, InvalidValue, "trigger.timestamp"},
		{"timestamp bad offset", func(m map[string]any) { section(m, "trigger")["timestamp"] = "2026-01-15T12:00:00+0000" }, InvalidValue, "trigger.timestamp"},
		{"timestamp number", func(m map[string]any) { section(m, "trigger")["timestamp"] = canonical.Number("1") }, WrongType, "trigger.timestamp"},
		{"timestamp Z", func(m map[string]any) { section(m, "trigger")["timestamp"] = "2026-01-15T12:00:00Z" }, "", ""},
		{"timestamp leap day", func(m map[string]any) { section(m, "trigger")["timestamp"] = "2028-02-29T12:00:00.5Z" }, "", ""},
		{"timestamp naive", func(m map[string]any) { section(m, "trigger")["timestamp"] = "2026-03-01T12:00:01.007919" }, InvalidValue, "trigger.timestamp"},
		{"timestamp naive without fraction", func(m map[string]any) { section(m, "trigger")["timestamp"] = "2026-03-01T12:00:01" }, InvalidValue, "trigger.timestamp"},
		{"timestamp other offset", func(m map[string]any) { section(m, "trigger")["timestamp"] = "2026-03-01T12:00:01.007919+02:00" }, "", ""},
		{"timestamp offset and space", func(m map[string]any) { section(m, "trigger")["timestamp"] = "2026-01-15 12:00:00.123456-05:30" }, "", ""},
		{"correlation_id number", func(m map[string]any) { section(m, "trigger")["correlation_id"] = canonical.Number("1") }, WrongType, "trigger.correlation_id"},
		{"trigger.type null", func(m map[string]any) { section(m, "trigger")["type"] = nil }, WrongType, "trigger.type"},
		{"trigger unknown key", func(m map[string]any) { section(m, "trigger")["extra"] = "" }, InvalidValue, "trigger.extra"},

		{"environment array", func(m map[string]any) { section(m, "context")["environment"] = []any{} }, WrongType, "context.environment"},
		{"environment null", func(m map[string]any) { section(m, "context")["environment"] = nil }, WrongType, "context.environment"},
		{"environment free-form", func(m map[string]any) {
			section(m, "context")["environment"] = map[string]any{"x": []any{nil, true, map[string]any{"y": canonical.Number("1e-7")}}}
		}, "", ""},
		{"session_id string", func(m map[string]any) { section(m, "context")["session_id"] = "s" }, "", ""},

		{"confidence string", func(m map[string]any) { section(m, "reasoning")["confidence"] = "high" }, WrongType, "reasoning.confidence"},
		{"confidence above", func(m map[string]any) { section(m, "reasoning")["confidence"] = canonical.Number("1.0000001") }, InvalidValue, "reasoning.confidence"},
		{"confidence below", func(m map[string]any) { section(m, "reasoning")["confidence"] = canonical.Number("-0.1") }, InvalidValue, "reasoning.confidence"},
		{"confidence NaN", func(m map[string]any) { section(m, "reasoning")["confidence"] = math.NaN() }, InvalidValue, "reasoning.confidence"},
		{"confidence integer 1", func(m map[string]any) { section(m, "reasoning")["confidence"] = canonical.Number("1") }, "", ""},
		{"confidence go float", func(m map[string]any) { section(m, "reasoning")["confidence"] = 0.95 }, "", ""},
		{"confidence null", func(m map[string]any) { section(m, "reasoning")["confidence"] = nil }, WrongType, "reasoning.confidence"},
		{"model number", func(m map[string]any) { section(m, "reasoning")["model"] = canonical.Number("4") }, WrongType, "reasoning.model"},
		{"options not array", func(m map[string]any) { section(m, "reasoning")["options"] = map[string]any{} }, WrongType, "reasoning.options"},
		{"option not object", func(m map[string]any) { section(m, "reasoning")["options"] = []any{"x"} }, WrongType, "reasoning.options[0]"},
		{"option valid", func(m map[string]any) {
			r := section(m, "reasoning")
			r["options"] = []any{option(), option()}
			r["options_considered"] = []any{"Only option", "Only option"}
		}, "", ""},
		{"option missing feasibility", func(m map[string]any) {
			o := option()
			delete(o, "feasibility")
			section(m, "reasoning")["options"] = []any{option(), o}
		}, MissingField, "reasoning.options[1].feasibility"},
		{"option feasibility string", func(m map[string]any) {
			o := option()
			o["feasibility"] = "high"
			section(m, "reasoning")["options"] = []any{o}
		}, WrongType, "reasoning.options[0].feasibility"},
		{"option feasibility above 1", func(m map[string]any) {
			o := option()
			o["feasibility"] = canonical.Number("1.5")
			section(m, "reasoning")["options"] = []any{option(), o}
			section(m, "reasoning")["options_considered"] = []any{"Only option", "Only option"}
		}, InvalidValue, "reasoning.options[1].feasibility"},
		{"option feasibility integer 1", func(m map[string]any) {
			o := option()
			o["feasibility"] = canonical.Number("1")
			section(m, "reasoning")["options"] = []any{o}
			section(m, "reasoning")["options_considered"] = []any{"Only option"}
		}, "", ""},
		{"option pros not strings", func(m map[string]any) {
			o := option()
			o["pros"] = []any{"a", canonical.Number("1")}
			section(m, "reasoning")["options"] = []any{o}
		}, WrongType, "reasoning.options[0].pros[1]"},
		{"option selected string", func(m map[string]any) {
			o := option()
			o["selected"] = "yes"
			section(m, "reasoning")["options"] = []any{o}
		}, WrongType, "reasoning.options[0].selected"},
		{"option unknown key", func(m map[string]any) {
			o := option()
			o["score"] = canonical.Number("1")
			section(m, "reasoning")["options"] = []any{o}
		}, InvalidValue, "reasoning.options[0].score"},
		{"options_considered mismatch", func(m map[string]any) {
			r := section(m, "reasoning")
			r["options"] = []any{option()}
			r["options_considered"] = []any{"Another"}
		}, InvalidValue, "reasoning.options_considered"},
		{"options_considered missing entries", func(m map[string]any) {
			section(m, "reasoning")["options"] = []any{option()}
		}, InvalidValue, "reasoning.options_considered"},
		{"options_considered not strings", func(m map[string]any) {
			section(m, "reasoning")["options_considered"] = []any{canonical.Number("1")}
		}, WrongType, "reasoning.options_considered[0]"},

		{"authority.chain entry not object", func(m map[string]any) { section(m, "authority")["chain"] = []any{map[string]any{}, "x"} }, WrongType, "authority.chain[1]"},
		{"authority.type null", func(m map[string]any) { section(m, "authority")["type"] = nil }, WrongType, "authority.type"},
		{"approver string", func(m map[string]any) { section(m, "authority")["approver"] = "alice" }, "", ""},

		{"duration negative", func(m map[string]any) { section(m, "execution")["duration_ms"] = canonical.Number("-5") }, InvalidValue, "execution.duration_ms"},
		{"duration float", func(m map[string]any) { section(m, "execution")["duration_ms"] = canonical.Number("1.5") }, WrongType, "execution.duration_ms"},
		{"tool call valid", func(m map[string]any) { section(m, "execution")["tool_calls"] = []any{toolCall()} }, "", ""},
		{"tool call missing success", func(m map[string]any) {
			c := toolCall()
			delete(c, "success")
			section(m, "execution")["tool_calls"] = []any{c}
		}, MissingField, "execution.tool_calls[0].success"},
		{"tool call error number", func(m map[string]any) {
			c := toolCall()
			c["error"] = canonical.Number("1")
			section(m, "execution")["tool_calls"] = []any{c}
		}, WrongType, "execution.tool_calls[0].error"},
		{"tool call arguments null", func(m map[string]any) {
			c := toolCall()
			c["arguments"] = nil
			section(m, "execution")["tool_calls"] = []any{c}
		}, WrongType, "execution.tool_calls[0].arguments"},
		{"tool call duration float", func(m map[string]any) {
			c := toolCall()
			c["duration_ms"] = canonical.Number("2.0")
			section(m, "execution")["tool_calls"] = []any{c}
		}, WrongType, "execution.tool_calls[0].duration_ms"},
		{"tool call not object", func(m map[string]any) { section(m, "execution")["tool_calls"] = []any{nil} }, WrongType, "execution.tool_calls[0]"},

		{"status unknown", func(m map[string]any) { section(m, "outcome")["status"] = "done" }, InvalidValue, "outcome.status"},
		{"status blocked", func(m map[string]any) { section(m, "outcome")["status"] = "blocked" }, "", ""},
		{"status partial", func(m map[string]any) { section(m, "outcome")["status"] = "partial" }, "", ""},
		{"status uppercase", func(m map[string]any) { section(m, "outcome")["status"] = "SUCCESS" }, InvalidValue, "outcome.status"},
		{"side_effects not strings", func(m map[string]any) { section(m, "outcome")["side_effects"] = []any{"a", nil} }, WrongType, "outcome.side_effects[1]"},
		{"metrics null", func(m map[string]any) { section(m, "outcome")["metrics"] = nil }, WrongType, "outcome.metrics"},
		{"outcome.result any", func(m map[string]any) { section(m, "outcome")["result"] = []any{canonical.Number("1"), "x"} }, "", ""},
		{"outcome.error string", func(m map[string]any) { section(m, "outcome")["error"] = "boom" }, "", ""},

		{"unknown top-level keys sorted", func(m map[string]any) { m["zeta"] = nil; m["alpha"] = nil }, InvalidValue, "alpha"},
		{"seal field in content", func(m map[string]any) { m["hash"] = hash64 }, InvalidValue, "hash"},

		{"genesis with previous_hash", func(m map[string]any) { m["previous_hash"] = hash64 }, ChainViolation, "previous_hash"},
		{"non-genesis without previous_hash", func(m map[string]any) { m["sequence"] = canonical.Number("3") }, ChainViolation, "previous_hash"},
		{"linked", func(m map[string]any) { m["sequence"] = canonical.Number("3"); m["previous_hash"] = hash64 }, "", ""},
		{"field errors before chain rules", func(m map[string]any) {
			m["previous_hash"] = hash64
			section(m, "outcome")["status"] = "done"
		}, InvalidValue, "outcome.status"},

		{"invalid UTF-8 in free-form data", func(m map[string]any) {
			section(m, "context")["environment"] = map[string]any{"k": "a\xffb"}
		}, InvalidValue, "context.environment.k"},
		{"NaN in metrics", func(m map[string]any) {
			section(m, "outcome")["metrics"] = map[string]any{"x": math.Inf(1)}
		}, InvalidValue, "outcome.metrics.x"},
		{"Go types", func(m map[string]any) {
			section(m, "context")["environment"] = map[string]string{"os": "linux"}
			section(m, "outcome")["side_effects"] = []string{"a", "b"}
			section(m, "execution")["duration_ms"] = int64(12)
			section(m, "reasoning")["confidence"] = canonical.Float(1)
		}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := minimal(t)
			tt.edit(m)
			err := Content(m)
			if tt.cat == "" {
				if err != nil {
					t.Fatalf("Content: %v, want valid", err)
				}
				return
			}
			if !sameError(err, tt.cat, tt.field) {
				t.Fatalf("Content: %v, want %s on %q", err, tt.cat, tt.field)
			}
			if err.Message == "" {
				t.Errorf("empty message")
			}
		})
	}
}

func TestContentNil(t *testing.T) {
	if err := Content(nil); !sameError(err, WrongType, "") {
		t.Errorf("Content(nil) = %v", err)
	}
}

func TestMessages(t *testing.T) {
	m := minimal(t)
	section(m, "reasoning")["confidence"] = canonical.Number("1.5")
	if got, want := Content(m).Error(), "invalid_value reasoning.confidence: must be between 0.0 and 1.0, got 1.5"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	m = minimal(t)
	m["sequence"] = "zero"
	if got, want := Content(m).Error(), "wrong_type sequence: must be an integer, got string"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	m = minimal(t)
	m["parent_id"] = canonical.Number("1")
	if got, want := Content(m).Error(), "wrong_type parent_id: must be a string or null, got integer"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	m = minimal(t)
	m["type"] = "banana"
	if got, want := Content(m).Error(), `invalid_value type: must be one of agent, tool, system, kill, workflow, chat, vault, auth; got "banana"`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if got, want := Content(map[string]any{}).Error(), "missing_field id: required field is missing"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if got, want := Document([]byte("[]")).Error(), "wrong_type: a capsule must be a JSON object, got array"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

// sealedMinimal returns the minimal content sealed with its real hash and a
// well-formed signature.
func sealedMinimal(t *testing.T) map[string]any {
	m := minimal(t)
	c, err := canonical.AppendContent(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha3.Sum256(c)
	if got := hex.EncodeToString(sum[:]); got != hash64 {
		t.Fatalf("minimal hash %s, want the fixture's %s", got, hash64)
	}
	m["hash"] = hash64
	m["signature"] = strings.Repeat("0f", 64)
	m["signature_pq"] = ""
	m["signed_at"] = "2026-01-15T12:00:00.000001+00:00"
	m["signed_by"] = "qp_key_ceef"
	return m
}

func TestSealedRules(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(m map[string]any)
		cat   Category
		field string
	}{
		{"valid", func(m map[string]any) {}, "", ""},
		{"only hash and signature", func(m map[string]any) {
			delete(m, "signature_pq")
			delete(m, "signed_at")
			delete(m, "signed_by")
		}, "", ""},
		{"content first", func(m map[string]any) { delete(m, "hash"); delete(m, "trigger") }, MissingField, "trigger"},
		{"missing hash", func(m map[string]any) { delete(m, "hash") }, MissingField, "hash"},
		{"hash number", func(m map[string]any) { m["hash"] = canonical.Number("1") }, WrongType, "hash"},
		{"hash null", func(m map[string]any) { m["hash"] = nil }, WrongType, "hash"},
		{"hash uppercase", func(m map[string]any) { m["hash"] = strings.ToUpper(hash64) }, InvalidValue, "hash"},
		{"hash short", func(m map[string]any) { m["hash"] = hash64[:62] }, InvalidValue, "hash"},
		{"hash of other content", func(m map[string]any) { m["hash"] = strings.Repeat("a", 64) }, IntegrityViolation, "hash"},
		{"content changed", func(m map[string]any) { section(m, "trigger")["request"] = "x" }, IntegrityViolation, "hash"},
		{"integrity before signature", func(m map[string]any) { m["domain"] = "tampered"; delete(m, "signature") }, IntegrityViolation, "hash"},
		{"missing signature", func(m map[string]any) { delete(m, "signature") }, MissingField, "signature"},
		{"signature null", func(m map[string]any) { m["signature"] = nil }, WrongType, "signature"},
		{"signature short", func(m map[string]any) { m["signature"] = strings.Repeat("0f", 63) }, InvalidValue, "signature"},
		{"signature uppercase", func(m map[string]any) { m["signature"] = strings.Repeat("0F", 64) }, InvalidValue, "signature"},
		{"signature_pq non-hex", func(m map[string]any) { m["signature_pq"] = "xyz" }, InvalidValue, "signature_pq"},
		{"signature_pq odd", func(m map[string]any) { m["signature_pq"] = "abc" }, InvalidValue, "signature_pq"},
		{"signature_pq hex", func(m map[string]any) { m["signature_pq"] = "ab01" }, "", ""},
		{"signature_pq null", func(m map[string]any) { m["signature_pq"] = nil }, WrongType, "signature_pq"},
		{"signed_at bad", func(m map[string]any) { m["signed_at"] = "now" }, InvalidValue, "signed_at"},
		{"signed_by number", func(m map[string]any) { m["signed_by"] = canonical.Number("1") }, WrongType, "signed_by"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := sealedMinimal(t)
			tt.edit(m)
			err := Sealed(m)
			if tt.cat == "" {
				if err != nil {
					t.Fatalf("Sealed: %v, want valid", err)
				}
				return
			}
			if !sameError(err, tt.cat, tt.field) {
				t.Fatalf("Sealed: %v, want %s on %q", err, tt.cat, tt.field)
			}
		})
	}
	// Sealed leaves its argument alone.
	m := sealedMinimal(t)
	if Sealed(m); len(m) != 18 {
		t.Errorf("Sealed changed the map: %d keys", len(m))
	}
}

func TestDocument(t *testing.T) {
	minimalText := string(encode(t, minimal(t)))
	sealedText := string(encode(t, sealedMinimal(t)))
	tests := []struct {
		name, in string
		cat      Category
		field    string
	}{
		{"content", minimalText, "", ""},
		{"content with whitespace", " \n" + minimalText + "\n", "", ""},
		{"sealed", sealedText, "", ""},
		{"signature without hash", strings.Replace(minimalText, `{`, `{"signature":"00",`, 1), MissingField, "hash"},
		{"signed_by only", strings.Replace(minimalText, `{`, `{"signed_by":"x",`, 1), MissingField, "hash"},
		{"not JSON", "not json", InvalidValue, ""},
		{"empty", "", InvalidValue, ""},
		{"trailing data", minimalText + "{}", InvalidValue, ""},
		{"duplicate key", strings.Replace(minimalText, `"domain":"agents"`, `"domain":"agents","domain":"x"`, 1), InvalidValue, "domain"},
		{"invalid UTF-8", strings.Replace(minimalText, `"request":""`, "\"request\":\"\xff\"", 1), InvalidValue, "trigger.request"},
		{"lone surrogate", strings.Replace(minimalText, `"summary":""`, `"summary":"\ud800"`, 1), InvalidValue, "outcome.summary"},
		{"array", "[" + minimalText + "]", WrongType, ""},
		{"string", `"capsule"`, WrongType, ""},
		{"null", `null`, WrongType, ""},
		{"float sequence", strings.Replace(minimalText, `"sequence":0`, `"sequence":0.0`, 1), WrongType, "sequence"},
		{"overflow in nested arrays", strings.Replace(minimalText, `"environment":{}`, `"environment":{"a":[[1,2],[3,1e400]]}`, 1), InvalidValue, "context.environment.a[1][1]"},
		{"overflow deeper", strings.Replace(minimalText, `"environment":{}`, `"environment":{"a":[[1,[2,3]],[[4],[5,6,1e400]]]}`, 1), InvalidValue, "context.environment.a[1][1][2]"},
		{"tampered sealed", strings.Replace(sealedText, `"domain":"agents"`, `"domain":"agentz"`, 1), IntegrityViolation, "hash"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Document([]byte(tt.in))
			if tt.cat == "" {
				if err != nil {
					t.Fatalf("Document: %v, want valid", err)
				}
				return
			}
			if !sameError(err, tt.cat, tt.field) {
				t.Fatalf("Document: %v, want %s on %q", err, tt.cat, tt.field)
			}
		})
	}
}

func FuzzDocument(f *testing.F) {
	f.Add(encode(f, minimal(f)))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"hash":"00","id":1}`))
	for _, rel := range []string{"conformance/fixtures.json", "conformance/invalid-fixtures.json"} {
		doc := parseFile(f, rel).(map[string]any)
		for _, fx := range doc["fixtures"].([]any) {
			f.Add(encode(f, fx.(map[string]any)["capsule_dict"]))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		err := Document(data)
		if again := Document(data); (err == nil) != (again == nil) || (err != nil && *err != *again) {
			t.Fatalf("not deterministic: %v then %v", err, again)
		}
		if err != nil {
			if err.Category == "" || err.Message == "" {
				t.Fatalf("incomplete error %#v", err)
			}
			return
		}
		// Valid content always canonicalizes.
		if _, cerr := canonical.CanonicalizeContent(data); cerr != nil {
			v, _ := canonical.Parse(data)
			if _, sealed := v.(map[string]any)["hash"]; !sealed {
				t.Fatalf("valid content does not canonicalize: %v", cerr)
			}
		}
	})
}

// A record sealed before spec_version existed is a valid sealed capsule
// (its hash covers its stored document without the field); content to
// seal now still needs spec_version, and a sealed record that has one
// still needs the right one.
func TestSealedBeforeSpecVersion(t *testing.T) {
	f := parseFile(t, "conformance/stored-document-fixtures.json").(map[string]any)["fixtures"].([]any)[0].(map[string]any)
	rec := f["sealed_record"].(map[string]any)
	if err := Sealed(rec); err != nil {
		t.Errorf("Sealed: %v", err)
	}
	if err := Document(encode(t, rec)); err != nil {
		t.Errorf("Document: %v", err)
	}
	if err := Content(f["stored_document"].(map[string]any)); !sameError(err, MissingField, "spec_version") {
		t.Errorf("Content of the stored document: %v, want spec_version missing", err)
	}
	rec["spec_version"] = "2.0"
	if err := Sealed(rec); !sameError(err, InvalidValue, "spec_version") {
		t.Errorf("Sealed with spec_version 2.0: %v", err)
	}
	// The legacy chain of the reference: valid but for its naive timestamps.
	for i, c := range parseFile(t, "interop/python-legacy/chain.json").([]any) {
		m := c.(map[string]any)
		if err := Sealed(m); err != nil && !sameError(err, InvalidValue, "trigger.timestamp") {
			t.Errorf("legacy capsule %d: %v", i, err)
		}
	}
}
