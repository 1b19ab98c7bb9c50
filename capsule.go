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
//   - sealing and verification of records: [SealWith], [protocol.Sealed],
//     [VerifyChain].
//
// Most programs never call it beyond Current: capsulegen writes Audited*
// wrappers that call package github.com/capsule-go/capsule/runtime, which
// builds on this one. The protocol's facts and wire format (the sealed
// record's codec, its hash and signature checks, canonical JSON,
// validation, capsule:// URIs) are in package
// github.com/capsule-go/capsule/protocol and its sub-packages.
package capsule

//go:generate go run ./internal/schemagen

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
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
func (s Status) Valid() bool { return protocol.IsStatus(string(s)) }

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

// New returns a fresh capsule of type t with the reference defaults: a new
// time-ordered id ([NewID]), domain "agents", trigger type "user_request" stamped now (UTC),
// authority "autonomous" and outcome "pending".
func New(t Type) *Capsule {
	c := &Capsule{ID: NewID(), Trigger: Trigger{Timestamp: time.Now().UTC()}}
	c.setDefaults()
	c.Type = t
	return c
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
func (c *Capsule) Check() error { return c.check() }

// The messages of the rules of check (generated from the declaration in
// model_gen.go); each returns "" when the value keeps its rule.

func uuidMsg(s string, nullable bool) string {
	switch {
	case nullable && s == "" || protocol.IsUUID(s):
		return ""
	case nullable:
		return fmt.Sprintf("must be a lowercase hyphenated UUID or null, got %q", s)
	}
	return fmt.Sprintf("must be a lowercase hyphenated UUID, got %q", s)
}

func oneOfMsg(s string, values []string) string {
	if slices.Contains(values, s) {
		return ""
	}
	return fmt.Sprintf("must be one of %s; got %q", strings.Join(values, ", "), s)
}

func maxLenMsg(s string, max int) string {
	if len(s) <= max {
		return "" // no more bytes than max, so no more characters
	}
	if n := utf8.RuneCountInString(s); n > max {
		return fmt.Sprintf("is %d characters long, more than the %d the reference's tables hold", n, max)
	}
	return ""
}

// unitMsg checks that f is in 0.0..1.0 (NaN is not).
func unitMsg(f float64) string {
	if f >= 0 && f <= 1 {
		return ""
	}
	return fmt.Sprintf("must be between 0.0 and 1.0, got %v", f)
}

func nonNegativeMsg(n int64) string {
	if n >= 0 {
		return ""
	}
	return fmt.Sprintf("must be >= 0, got %d", n)
}
