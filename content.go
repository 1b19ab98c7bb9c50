package capsule

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/protocol/canonical"
)

// FieldError reports a content field that cannot be read into a Capsule
// (or, from [protocol.ParseSealed], a seal key that is not a string).
type FieldError = protocol.FieldError

// FromContent builds a Capsule from a content dict as read by
// canonical.Parse (or built from the same types). Missing keys take the
// defaults of [New] (a fresh id and the current time included); present keys
// must have the protocol's types, or a *FieldError names the field. Keys the
// model does not know are rejected, since they could not be sealed.
//
// A stored document sealed before spec_version existed (qp-capsule 1.5.2
// and earlier) reads without error. The Capsule is a model: encoded again
// (Canonical, sealing) it has spec_version, so its hash is not the stored
// one. Verification hashes the stored document ([Sealed].Data), never a
// Capsule read from it.
func FromContent(m map[string]any) (*Capsule, error) {
	c := New(TypeAgent)
	r := reader{m: m}
	if v, ok := m["type"]; ok {
		s, _ := v.(string)
		if !Type(s).Valid() {
			return nil, &FieldError{Field: "type", Msg: fmt.Sprintf("unknown capsule type %v (want one of agent, tool, system, kill, workflow, chat, vault, auth)", v)}
		}
		c.Type = Type(s)
	}
	r.str("id", &c.ID)
	if r.err == nil && !protocol.IsUUID(c.ID) {
		return nil, &FieldError{Field: "id", Msg: "not a lowercase hyphenated UUID"}
	}
	r.str("domain", &c.Domain)
	r.nullable("parent_id", &c.ParentID)
	r.int("sequence", &c.Sequence)
	r.nullable("previous_hash", &c.PreviousHash)
	if v, ok := m["spec_version"]; ok && v != SpecVersion {
		return nil, &FieldError{Field: "spec_version", Msg: fmt.Sprintf("unsupported spec version %v (want %q)", v, SpecVersion)}
	}
	if t := r.section("trigger"); t != nil {
		t.str("trigger.type", &c.Trigger.Type)
		t.str("trigger.source", &c.Trigger.Source)
		t.time("trigger.timestamp", &c.Trigger.Timestamp)
		t.str("trigger.request", &c.Trigger.Request)
		t.nullable("trigger.correlation_id", &c.Trigger.CorrelationID)
		t.nullable("trigger.user_id", &c.Trigger.UserID)
		t.done("trigger")
	}
	if x := r.section("context"); x != nil {
		x.str("context.agent_id", &c.Context.AgentID)
		x.nullable("context.session_id", &c.Context.SessionID)
		x.object("context.environment", &c.Context.Environment)
		x.done("context")
	}
	if x := r.section("reasoning"); x != nil {
		rs := &c.Reasoning
		x.str("reasoning.analysis", &rs.Analysis)
		x.list("reasoning.options", func(i int, v any) {
			om, ok := v.(map[string]any)
			if !ok {
				x.fail(fmt.Sprintf("reasoning.options[%d]", i), "not an object")
				return
			}
			var o Option
			p := fmt.Sprintf("reasoning.options[%d].", i)
			or := &reader{m: om, prefix: p}
			or.str(p+"id", &o.ID)
			or.str(p+"description", &o.Description)
			or.strs(p+"pros", &o.Pros)
			or.strs(p+"cons", &o.Cons)
			or.object(p+"estimated_impact", &o.EstimatedImpact)
			or.float(p+"feasibility", &o.Feasibility)
			or.strs(p+"risks", &o.Risks)
			or.bool(p+"selected", &o.Selected)
			or.str(p+"rejection_reason", &o.RejectionReason)
			or.done(p[:len(p)-1])
			if or.err != nil && x.err == nil {
				x.err = or.err
			}
			rs.Options = append(rs.Options, o)
		})
		x.strs("reasoning.options_considered", &rs.OptionsConsidered)
		x.str("reasoning.selected_option", &rs.SelectedOption)
		x.str("reasoning.reasoning", &rs.Reasoning)
		x.float("reasoning.confidence", &rs.Confidence)
		x.nullable("reasoning.model", &rs.Model)
		x.nullable("reasoning.prompt_hash", &rs.PromptHash)
		x.done("reasoning")
		if x.err == nil && len(rs.Options) > 0 && rs.OptionsConsidered != nil {
			if len(rs.OptionsConsidered) != len(rs.Options) {
				x.fail("reasoning.options_considered", "must list the descriptions of reasoning.options")
			} else {
				for i, d := range rs.OptionsConsidered {
					if d != rs.Options[i].Description {
						x.fail(fmt.Sprintf("reasoning.options_considered[%d]", i), "must equal reasoning.options[].description")
						break
					}
				}
			}
		}
	}
	if x := r.section("authority"); x != nil {
		a := &c.Authority
		x.str("authority.type", &a.Type)
		x.nullable("authority.approver", &a.Approver)
		x.nullable("authority.policy_reference", &a.PolicyReference)
		x.list("authority.chain", func(i int, v any) {
			lm, ok := v.(map[string]any)
			if !ok {
				x.fail(fmt.Sprintf("authority.chain[%d]", i), "not an object")
				return
			}
			a.Chain = append(a.Chain, lm)
		})
		x.nullable("authority.escalation_reason", &a.EscalationReason)
		x.done("authority")
	}
	if x := r.section("execution"); x != nil {
		ex := &c.Execution
		x.list("execution.tool_calls", func(i int, v any) {
			tm, ok := v.(map[string]any)
			if !ok {
				x.fail(fmt.Sprintf("execution.tool_calls[%d]", i), "not an object")
				return
			}
			var tc ToolCall
			p := fmt.Sprintf("execution.tool_calls[%d].", i)
			tr := &reader{m: tm, prefix: p}
			tr.str(p+"tool", &tc.Tool)
			tr.object(p+"arguments", &tc.Arguments)
			tc.Result = tm["result"]
			tr.bool(p+"success", &tc.Success)
			tr.int(p+"duration_ms", &tc.DurationMS)
			tr.nullable(p+"error", &tc.Error)
			tr.seen["result"] = true
			tr.done(p[:len(p)-1])
			if tr.err != nil && x.err == nil {
				x.err = tr.err
			}
			ex.ToolCalls = append(ex.ToolCalls, tc)
		})
		x.int("execution.duration_ms", &ex.DurationMS)
		x.object("execution.resources_used", &ex.ResourcesUsed)
		x.done("execution")
	}
	if x := r.section("outcome"); x != nil {
		o := &c.Outcome
		var st string
		x.str("outcome.status", &st)
		if st != "" {
			o.Status = Status(st)
		}
		o.Result = x.m["result"]
		x.seen["result"] = true
		x.str("outcome.summary", &o.Summary)
		x.nullable("outcome.error", &o.Error)
		x.strs("outcome.side_effects", &o.SideEffects)
		x.object("outcome.metrics", &o.Metrics)
		x.done("outcome")
	}
	r.done("")
	if r.err != nil {
		return nil, r.err
	}
	return c, nil
}

// reader reads typed fields out of one JSON object, remembering the first
// error and which keys it consumed.
type reader struct {
	m      map[string]any
	prefix string
	seen   map[string]bool
	err    error
	parent *reader
}

func (r *reader) fail(field, msg string) {
	for r.parent != nil {
		r = r.parent
	}
	if r.err == nil {
		r.err = &FieldError{Field: field, Msg: msg}
	}
}

func (r *reader) get(field string) (any, bool) {
	key := field[strings.LastIndexByte(field, '.')+1:]
	if r.seen == nil {
		r.seen = make(map[string]bool, len(r.m))
	}
	r.seen[key] = true
	v, ok := r.m[key]
	return v, ok
}

// done reports the first key of the object that no field read consumed.
func (r *reader) done(path string) {
	if r.seen == nil {
		r.seen = map[string]bool{}
	}
	for _, k := range sortedKeys(r.m) {
		if !r.seen[k] && !(path == "" && isSectionOrTop(k)) {
			p := k
			if path != "" {
				p = path + "." + k
			}
			r.fail(p, "unknown field")
			return
		}
	}
}

func isSectionOrTop(k string) bool {
	switch k {
	case "id", "type", "domain", "parent_id", "sequence", "previous_hash", "spec_version",
		"trigger", "context", "reasoning", "authority", "execution", "outcome":
		return true
	}
	return false
}

func (r *reader) section(name string) *reader {
	v, ok := r.get(name)
	if !ok {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		r.fail(name, "not an object")
		return nil
	}
	return &reader{m: m, parent: r}
}

func (r *reader) str(field string, dst *string) {
	v, ok := r.get(field)
	if !ok {
		return
	}
	s, ok := v.(string)
	if !ok {
		r.fail(field, fmt.Sprintf("want a string, got %s", jsonType(v)))
		return
	}
	*dst = s
}

func (r *reader) nullable(field string, dst *string) {
	if v, ok := r.m[field[strings.LastIndexByte(field, '.')+1:]]; ok && v == nil {
		r.get(field)
		*dst = ""
		return
	}
	r.str(field, dst)
}

func (r *reader) bool(field string, dst *bool) {
	v, ok := r.get(field)
	if !ok {
		return
	}
	b, ok := v.(bool)
	if !ok {
		r.fail(field, fmt.Sprintf("want a boolean, got %s", jsonType(v)))
		return
	}
	*dst = b
}

func (r *reader) int(field string, dst *int64) {
	v, ok := r.get(field)
	if !ok {
		return
	}
	n, ok := canonical.Int(v)
	if !ok {
		r.fail(field, fmt.Sprintf("want an integer, got %s", jsonType(v)))
		return
	}
	*dst = n
}

func (r *reader) float(field string, dst *float64) {
	v, ok := r.get(field)
	if !ok {
		return
	}
	f, ok := toFloat(v)
	if !ok {
		r.fail(field, fmt.Sprintf("want a number, got %s", jsonType(v)))
		return
	}
	*dst = f
}

func (r *reader) time(field string, dst *time.Time) {
	var s string
	r.str(field, &s)
	if s == "" {
		return
	}
	b, err := canonical.AppendContent(nil, map[string]any{"trigger": map[string]any{"timestamp": s}})
	if err != nil {
		r.fail(field, "not an ISO-8601 timestamp: "+s)
		return
	}
	// b is {"trigger":{"timestamp":"<normalized>"}}
	norm := string(b[len(`{"trigger":{"timestamp":"`) : len(b)-3])
	t, err := time.Parse("2006-01-02T15:04:05.999999-07:00", norm)
	if err != nil {
		r.fail(field, "not an ISO-8601 timestamp: "+s)
		return
	}
	if _, off := t.Zone(); off != 0 {
		r.fail(field, "timestamp must be UTC (+00:00): "+s)
		return
	}
	*dst = t.UTC()
}

func (r *reader) object(field string, dst *map[string]any) {
	v, ok := r.get(field)
	if !ok {
		return
	}
	m, ok := v.(map[string]any)
	if !ok {
		r.fail(field, fmt.Sprintf("want an object, got %s", jsonType(v)))
		return
	}
	*dst = m
}

func (r *reader) strs(field string, dst *[]string) {
	out := []string{}
	ok := r.list(field, func(i int, v any) {
		s, ok := v.(string)
		if !ok {
			r.fail(fmt.Sprintf("%s[%d]", field, i), fmt.Sprintf("want a string, got %s", jsonType(v)))
			return
		}
		out = append(out, s)
	})
	if ok {
		*dst = out
	}
}

func (r *reader) list(field string, each func(int, any)) bool {
	v, ok := r.get(field)
	if !ok {
		return false
	}
	l, ok := v.([]any)
	if !ok {
		r.fail(field, fmt.Sprintf("want an array, got %s", jsonType(v)))
		return false
	}
	for i, x := range l {
		each(i, x)
	}
	return true
}

func toFloat(v any) (float64, bool) {
	var f float64
	switch n := v.(type) {
	case canonical.Number:
		x, err := strconv.ParseFloat(string(n), 64)
		if err != nil {
			return 0, false
		}
		f = x
	case json.Number:
		x, err := strconv.ParseFloat(string(n), 64)
		if err != nil {
			return 0, false
		}
		f = x
	case float64:
		f = n
	case int:
		f = float64(n)
	case int64:
		f = float64(n)
	default:
		return 0, false
	}
	return f, !math.IsNaN(f) && !math.IsInf(f, 0)
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case canonical.Number, json.Number, int, int64, float64:
		return "a number"
	}
	return fmt.Sprintf("%T", v)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
