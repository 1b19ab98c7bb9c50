package capsule

import (
	"fmt"
	"strconv"

	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/protocol/canonical"
)

// AppendCanonical appends the canonical JSON of c's content (PROTOCOL.md,
// "Canonical JSON") to dst. It writes the struct directly, in code-point key
// order, without building maps.
func (c *Capsule) AppendCanonical(dst []byte) ([]byte, error) {
	var p parts
	if err := p.encode(c); err != nil {
		return dst, err
	}
	return p.assemble(dst, c.PreviousHash, c.Sequence), nil
}

// Canonical returns the canonical JSON of c's content.
func (c *Capsule) Canonical() ([]byte, error) { return c.AppendCanonical(nil) }

// parts is a capsule's canonical JSON with the two chain fields left out, so
// the chain can fill them in (and hash the result) without re-encoding:
// buf[:prevAt] + previous_hash + buf[prevAt:seqAt] + sequence + buf[seqAt:].
type parts struct {
	buf           []byte
	prevAt, seqAt int
}

// encode writes c's content except previous_hash and sequence into p.buf.
// Keys are written in code-point order; see PROTOCOL.md for the layout.
func (p *parts) encode(c *Capsule) (err error) {
	b := p.buf[:0]
	e := encoder{}

	b = append(b, `{"authority":{"approver":`...)
	b = appendNullable(b, c.Authority.Approver)
	b = append(b, `,"chain":[`...)
	for i, link := range c.Authority.Chain {
		if i > 0 {
			b = append(b, ',')
		}
		b = e.value(b, link, "authority.chain", i)
	}
	b = append(b, `],"escalation_reason":`...)
	b = appendNullable(b, c.Authority.EscalationReason)
	b = append(b, `,"policy_reference":`...)
	b = appendNullable(b, c.Authority.PolicyReference)
	b = append(b, `,"type":`...)
	b = e.str(b, c.Authority.Type, "authority.type")

	b = append(b, `},"context":{"agent_id":`...)
	b = e.str(b, c.Context.AgentID, "context.agent_id")
	b = append(b, `,"environment":`...)
	b = e.object(b, c.Context.Environment, "context.environment")
	b = append(b, `,"session_id":`...)
	b = appendNullable(b, c.Context.SessionID)

	b = append(b, `},"domain":`...)
	b = e.str(b, c.Domain, "domain")

	b = append(b, `,"execution":{"duration_ms":`...)
	b = strconv.AppendInt(b, c.Execution.DurationMS, 10)
	b = append(b, `,"resources_used":`...)
	b = e.object(b, c.Execution.ResourcesUsed, "execution.resources_used")
	b = append(b, `,"tool_calls":[`...)
	for i := range c.Execution.ToolCalls {
		tc := &c.Execution.ToolCalls[i]
		if i > 0 {
			b = append(b, ',')
		}
		path := "execution.tool_calls"
		b = append(b, `{"arguments":`...)
		b = e.object(b, tc.Arguments, path)
		b = append(b, `,"duration_ms":`...)
		b = strconv.AppendInt(b, tc.DurationMS, 10)
		b = append(b, `,"error":`...)
		b = e.nullable(b, tc.Error, path)
		b = append(b, `,"result":`...)
		b = e.value(b, tc.Result, path, i)
		b = append(b, `,"success":`...)
		b = strconv.AppendBool(b, tc.Success)
		b = append(b, `,"tool":`...)
		b = e.str(b, tc.Tool, path)
		b = append(b, '}')
	}

	b = append(b, `]},"id":`...)
	b = e.str(b, c.ID, "id")

	b = append(b, `,"outcome":{"error":`...)
	b = e.nullable(b, c.Outcome.Error, "outcome.error")
	b = append(b, `,"metrics":`...)
	b = e.object(b, c.Outcome.Metrics, "outcome.metrics")
	b = append(b, `,"result":`...)
	b = e.value(b, c.Outcome.Result, "outcome.result", -1)
	b = append(b, `,"side_effects":`...)
	b = e.strings(b, c.Outcome.SideEffects, "outcome.side_effects")
	b = append(b, `,"status":`...)
	b = e.str(b, string(c.Outcome.Status), "outcome.status")
	b = append(b, `,"summary":`...)
	b = e.str(b, c.Outcome.Summary, "outcome.summary")

	b = append(b, `},"parent_id":`...)
	b = e.nullable(b, c.ParentID, "parent_id")
	b = append(b, `,"previous_hash":`...)
	p.prevAt = len(b)

	r := &c.Reasoning
	b = append(b, `,"reasoning":{"analysis":`...)
	b = e.str(b, r.Analysis, "reasoning.analysis")
	b = append(b, `,"confidence":`...)
	b = e.float(b, r.Confidence, "reasoning.confidence")
	b = append(b, `,"model":`...)
	b = e.nullable(b, r.Model, "reasoning.model")
	b = append(b, `,"options":[`...)
	opts := r.Options
	if len(opts) == 0 && len(r.OptionsConsidered) > 0 {
		opts = legacyOptions(r)
	}
	for i := range opts {
		o := &opts[i]
		if i > 0 {
			b = append(b, ',')
		}
		path := "reasoning.options"
		b = append(b, `{"cons":`...)
		b = e.strings(b, o.Cons, path)
		b = append(b, `,"description":`...)
		b = e.str(b, o.Description, path)
		b = append(b, `,"estimated_impact":`...)
		b = e.object(b, o.EstimatedImpact, path)
		b = append(b, `,"feasibility":`...)
		b = e.float(b, o.Feasibility, path)
		b = append(b, `,"id":`...)
		b = e.str(b, o.ID, path)
		b = append(b, `,"pros":`...)
		b = e.strings(b, o.Pros, path)
		b = append(b, `,"rejection_reason":`...)
		b = e.str(b, o.RejectionReason, path)
		b = append(b, `,"risks":`...)
		b = e.strings(b, o.Risks, path)
		b = append(b, `,"selected":`...)
		b = strconv.AppendBool(b, o.Selected)
		b = append(b, '}')
	}
	b = append(b, `],"options_considered":[`...)
	for i := range opts {
		if i > 0 {
			b = append(b, ',')
		}
		b = e.str(b, opts[i].Description, "reasoning.options_considered")
	}
	b = append(b, `],"prompt_hash":`...)
	b = e.nullable(b, r.PromptHash, "reasoning.prompt_hash")
	b = append(b, `,"reasoning":`...)
	b = e.str(b, r.Reasoning, "reasoning.reasoning")
	b = append(b, `,"selected_option":`...)
	b = e.str(b, r.SelectedOption, "reasoning.selected_option")
	b = append(b, `},"sequence":`...)
	p.seqAt = len(b)

	t := &c.Trigger
	b = append(b, `,"spec_version":"1.0","trigger":{"correlation_id":`...)
	b = e.nullable(b, t.CorrelationID, "trigger.correlation_id")
	b = append(b, `,"request":`...)
	b = e.str(b, t.Request, "trigger.request")
	b = append(b, `,"source":`...)
	b = e.str(b, t.Source, "trigger.source")
	b = append(b, `,"timestamp":"`...)
	b = canonical.AppendTimestamp(b, t.Timestamp)
	b = append(b, `","type":`...)
	b = e.str(b, t.Type, "trigger.type")
	b = append(b, `,"user_id":`...)
	b = e.nullable(b, t.UserID, "trigger.user_id")
	b = append(b, `},"type":`...)
	b = e.str(b, string(c.Type), "type")
	b = append(b, '}')

	p.buf = b
	return e.err
}

// legacyOptions returns the options the Python reference builds from
// options_considered alone (ReasoningSection.__post_init__): one per
// description, with id "opt_<i>", selected when it is the selected option,
// and every other field at its default. Its verifier rebuilds them the same
// way, so content sealed with options_considered but no options would
// never verify there.
func legacyOptions(r *Reasoning) []Option {
	opts := make([]Option, len(r.OptionsConsidered))
	for i, d := range r.OptionsConsidered {
		opts[i] = Option{ID: "opt_" + strconv.Itoa(i), Description: d, Selected: d == r.SelectedOption}
	}
	return opts
}

// maxChainFields is the most that previous_hash and sequence, which
// assemble fills in, add to parts.buf: a quoted 64-digit hash and the 19
// digits of the largest int64.
const maxChainFields = 2 + protocol.HashHexLen + 19

// checkSize returns an error wrapping protocol.ErrTooLarge when the
// capsule's content, with previous_hash and sequence at their longest,
// could not be sealed within protocol.MaxCapsuleBytes.
func (p *parts) checkSize() error {
	return protocol.CheckContentSize(len(p.buf) + maxChainFields)
}

// assemble appends the whole canonical JSON to dst, with previous_hash and
// sequence filled in.
func (p *parts) assemble(dst []byte, prev string, seq int64) []byte {
	dst = append(dst, p.buf[:p.prevAt]...)
	dst = appendNullable(dst, prev)
	dst = append(dst, p.buf[p.prevAt:p.seqAt]...)
	dst = strconv.AppendInt(dst, seq, 10)
	return append(dst, p.buf[p.seqAt:]...)
}

// appendNullable appends s as a JSON string, or null when s is empty. It is
// only used for values known to need no escaping (hex, UUIDs) or whose
// errors are reported by encoder.nullable.
func appendNullable(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	b, _ = canonical.AppendString(b, s)
	return b
}

// encoder keeps the first error of an encoding so the straight-line code in
// parts.encode reads well; later calls after an error still append but the
// result is discarded.
type encoder struct{ err error }

func (e *encoder) fail(path string, err error) {
	if e.err == nil {
		e.err = fmt.Errorf("capsule: %s: %w", path, err)
	}
}

func (e *encoder) str(b []byte, s, path string) []byte {
	b, err := canonical.AppendString(b, s)
	if err != nil {
		e.fail(path, err)
	}
	return b
}

func (e *encoder) nullable(b []byte, s, path string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return e.str(b, s, path)
}

func (e *encoder) float(b []byte, f float64, path string) []byte {
	b, err := canonical.AppendFloat(b, f)
	if err != nil {
		e.fail(path, err)
	}
	return b
}

func (e *encoder) strings(b []byte, ss []string, path string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = e.str(b, s, path)
	}
	return append(b, ']')
}

// object writes a free-form object; nil is written as {} (the protocol
// default for these fields).
func (e *encoder) object(b []byte, m map[string]any, path string) []byte {
	if len(m) == 0 {
		return append(b, "{}"...)
	}
	b, err := canonical.Append(b, m)
	if err != nil {
		e.fail(path, err)
	}
	return b
}

func (e *encoder) value(b []byte, v any, path string, index int) []byte {
	b, err := canonical.Append(b, v)
	if err != nil {
		if index >= 0 {
			path = path + "[" + strconv.Itoa(index) + "]"
		}
		e.fail(path, err)
	}
	return b
}
