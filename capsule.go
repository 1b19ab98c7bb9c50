// Package capsule records tamper-evident audit capsules: one sealed record
// per action, with six sections (trigger, context, reasoning, authority,
// execution, outcome), chained by hash per tenant, sealed with SHA3-256 and
// Ed25519, and stored in SQLite or PostgreSQL. The records are
// byte-compatible with the Python and TypeScript implementations of the
// Capsule Protocol (CPS 1.0).
//
// Import it as
//
//	import "github.com/capsule-go/capsule"
//
// The package is the API people use:
//
//   - the capsule model: [Capsule], [New], its six sections, and [Current]
//     and [FromContext] inside an audited call;
//   - [Capsules], a store with its chains and signing key: [Open],
//     [Capsules.Append], [Capsules.Verify], [Capsules.Checkpoint],
//     [Capsules.Close], and the process default ([Default], [SetDefault]);
//   - sealing and verification of records: [SealWith], [Sealed],
//     [VerifyChain].
//
// Most programs never call it beyond Current: capsulegen writes Audited*
// wrappers that call package github.com/capsule-go/capsule/runtime, which
// builds on this one. The protocol's facts and wire format (the sealed
// record's codec, its hash and signature checks, canonical JSON,
// validation, capsule:// URIs) are in package
// github.com/capsule-go/capsule/protocol and its sub-packages.
package capsule

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/capsule-go/capsule/protocol"
)

// SpecVersion is the protocol version this package writes.
const SpecVersion = protocol.SpecVersion

// Type is a capsule type: one of the eight the protocol defines.
type Type string

// The capsule types.
const (
	TypeAgent    Type = "agent"
	TypeTool     Type = "tool"
	TypeSystem   Type = "system"
	TypeKill     Type = "kill"
	TypeWorkflow Type = "workflow"
	TypeChat     Type = "chat"
	TypeVault    Type = "vault"
	TypeAuth     Type = "auth"
)

// Valid reports whether t is one of the eight capsule types.
func (t Type) Valid() bool { return protocol.IsType(string(t)) }

// Status is an outcome status.
type Status string

// The outcome statuses.
const (
	StatusPending Status = "pending"
	StatusSuccess Status = "success"
	StatusFailure Status = "failure"
	StatusPartial Status = "partial"
	StatusBlocked Status = "blocked"
)

// Valid reports whether s is one of the five outcome statuses.
func (s Status) Valid() bool {
	switch s {
	case StatusPending, StatusSuccess, StatusFailure, StatusPartial, StatusBlocked:
		return true
	}
	return false
}

// Trigger types used by the reference implementation.
const (
	TriggerUserRequest = "user_request"
	TriggerScheduled   = "scheduled"
	TriggerSystem      = "system"
	TriggerAgent       = "agent"
)

// Authority types used by the reference implementation.
const (
	AuthorityAutonomous    = "autonomous"
	AuthorityHumanApproved = "human_approved"
	AuthorityPolicy        = "policy"
	AuthorityEscalated     = "escalated"
)

// Capsule is the content of one record: what is hashed and signed.
//
// For the fields whose protocol default is null (ParentID, PreviousHash,
// Trigger.CorrelationID, Trigger.UserID, Context.SessionID, Reasoning.Model,
// Reasoning.PromptHash, Authority.Approver, Authority.PolicyReference,
// Authority.EscalationReason, ToolCall.Error, Outcome.Error) the empty string
// stands for null. Free-form values (Environment, Result, Metrics, …) may
// hold nil, bool, string, any Go integer or float type, json.Number,
// canonical.Number, []any, []string, map[string]any and map[string]string.
//
// A Capsule is not safe for concurrent use.
type Capsule struct {
	ID           string // UUID v4, lowercase and hyphenated
	Type         Type
	Domain       string
	ParentID     string
	Sequence     int64 // set by the chain on append
	PreviousHash string
	Trigger      Trigger
	Context      Context
	Reasoning    Reasoning
	Authority    Authority
	Execution    Execution
	Outcome      Outcome
}

// Trigger says what started the action.
type Trigger struct {
	Type          string
	Source        string
	Timestamp     time.Time // written in UTC with microsecond precision
	Request       string
	CorrelationID string
	UserID        string
}

// Context says who acted and where.
type Context struct {
	AgentID     string
	SessionID   string
	Environment map[string]any
}

// Reasoning says why the action was taken.
type Reasoning struct {
	Analysis string
	Options  []Option
	// OptionsConsidered is the list of the options' descriptions. When
	// Options is empty, the sealer writes one option per description, as
	// the Python reference does (id "opt_<i>", selected when it equals
	// SelectedOption): content with descriptions but no options would not
	// verify there.
	OptionsConsidered []string
	SelectedOption    string
	Reasoning         string
	Confidence        float64 // 0.0 to 1.0
	Model             string
	PromptHash        string
}

// Option is one alternative considered while reasoning.
type Option struct {
	ID              string
	Description     string
	Pros            []string
	Cons            []string
	EstimatedImpact map[string]any
	Feasibility     float64
	Risks           []string
	Selected        bool
	RejectionReason string
}

// Authority says who allowed the action.
type Authority struct {
	Type             string
	Approver         string
	PolicyReference  string
	Chain            []map[string]any
	EscalationReason string
}

// Execution says what was done.
type Execution struct {
	ToolCalls     []ToolCall
	DurationMS    int64
	ResourcesUsed map[string]any
}

// ToolCall is one tool invocation during execution.
type ToolCall struct {
	Tool       string
	Arguments  map[string]any
	Result     any
	Success    bool
	DurationMS int64
	Error      string
}

// Outcome says how the action ended.
type Outcome struct {
	Status      Status
	Result      any
	Summary     string
	Error       string
	SideEffects []string
	Metrics     map[string]any
}

// New returns a fresh capsule of type t with the reference defaults: a new
// time-ordered id ([NewID]), domain "agents", trigger type "user_request" stamped now (UTC),
// authority "autonomous" and outcome "pending".
func New(t Type) *Capsule {
	return &Capsule{
		ID:        NewID(),
		Type:      t,
		Domain:    "agents",
		Trigger:   Trigger{Type: TriggerUserRequest, Timestamp: time.Now().UTC()},
		Authority: Authority{Type: AuthorityAutonomous},
		Outcome:   Outcome{Status: StatusPending},
	}
}

// NewID returns a new time-ordered UUID (version 7, RFC 9562 section 5.7)
// in its lowercase hyphenated form: 48 bits of Unix milliseconds, then 12
// bits of the sub-millisecond fraction (section 6.2, method 3), then 62
// random bits. Ids taken one after another sort in the order they were
// taken (to about a quarter of a microsecond), so a database index on the
// id grows at its right edge instead of splitting random pages. An id
// reveals the time it was taken, which the capsule's trigger timestamp
// carries anyway.
func NewID() string { return newIDAt(time.Now()) }

// newIDAt returns a UUID v7 for the time t.
func newIDAt(t time.Time) string {
	var b [16]byte
	rand.Read(b[8:]) // never fails (crypto/rand, Go 1.24+)
	ns := t.UnixNano()
	ms := uint64(ns / 1e6)
	frac := uint64(ns%1e6) * 4096 / 1e6 // 12 bits of the millisecond
	binary.BigEndian.PutUint64(b[:8], ms<<16|0x7000|frac)
	b[8] = b[8]&0x3f | 0x80
	const hexdig = "0123456789abcdef"
	var s [36]byte
	j := 0
	for i, x := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			s[j] = '-'
			j++
		}
		s[j], s[j+1] = hexdig[x>>4], hexdig[x&0x0f]
		j += 2
	}
	return string(s[:])
}

// Check reports the first field of c that package validate would refuse in
// its sealed content, or that the reference's tables cannot hold, as a
// [*FieldError] naming the field: an id or parent_id that is not a
// lowercase UUID, an unknown type or outcome status, a confidence or an
// option's feasibility outside 0.0..1.0 (or not finite), a negative
// duration_ms, a domain longer than [protocol.MaxDomainLen] characters or a
// session_id longer than [protocol.MaxSessionIDLen]. Sealing calls it before a
// capsule is queued, so a capsule it refuses is never stored.
func (c *Capsule) Check() error {
	fail := func(field, format string, args ...any) error {
		return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	switch {
	case !protocol.IsUUID(c.ID):
		return fail("id", "must be a lowercase hyphenated UUID, got %q", c.ID)
	case !c.Type.Valid():
		return fail("type", "must be one of agent, tool, system, kill, workflow, chat, vault, auth; got %q", c.Type)
	case utf8.RuneCountInString(c.Domain) > protocol.MaxDomainLen:
		return fail("domain", "is %d characters long, more than the %d the reference's tables hold", utf8.RuneCountInString(c.Domain), protocol.MaxDomainLen)
	case c.ParentID != "" && !protocol.IsUUID(c.ParentID):
		return fail("parent_id", "must be a lowercase hyphenated UUID or null, got %q", c.ParentID)
	case utf8.RuneCountInString(c.Context.SessionID) > protocol.MaxSessionIDLen:
		return fail("context.session_id", "is %d characters long, more than the %d the reference's tables hold", utf8.RuneCountInString(c.Context.SessionID), protocol.MaxSessionIDLen)
	case !unitInterval(c.Reasoning.Confidence):
		return fail("reasoning.confidence", "must be between 0.0 and 1.0, got %v", c.Reasoning.Confidence)
	case c.Execution.DurationMS < 0:
		return fail("execution.duration_ms", "must be >= 0, got %d", c.Execution.DurationMS)
	case !c.Outcome.Status.Valid():
		return fail("outcome.status", "must be one of pending, success, failure, partial, blocked; got %q", c.Outcome.Status)
	}
	for i, o := range c.Reasoning.Options {
		if !unitInterval(o.Feasibility) {
			return fail(fmt.Sprintf("reasoning.options[%d].feasibility", i), "must be between 0.0 and 1.0, got %v", o.Feasibility)
		}
	}
	for i, tc := range c.Execution.ToolCalls {
		if tc.DurationMS < 0 {
			return fail(fmt.Sprintf("execution.tool_calls[%d].duration_ms", i), "must be >= 0, got %d", tc.DurationMS)
		}
	}
	return nil
}

// unitInterval reports whether f is in 0.0..1.0 (NaN is not).
func unitInterval(f float64) bool { return f >= 0 && f <= 1 }
