// Package protocol is the single home of the Capsule Protocol's facts: the
// capsule types, the outcome statuses, the keys a seal adds to a capsule,
// and the forms of ids and hashes. It holds the sealed record ([Sealed])
// with its wire codec ([AppendSealed], [MarshalSealed], [ParseSealed]) and
// its checks: the content hash ([Hash], [CheckHash]) and the signatures
// over it ([CheckSignature], [CheckPQSignature]). Its sub-packages
// implement the rest of the wire format: canonical (canonical JSON),
// validate (a capsule against the protocol) and uri (capsule:// URIs). The
// package and its sub-packages import nothing else of this module.
package protocol

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/capsule-go/capsule/protocol/schema"
)

// SpecVersion is the protocol version this module writes and reads.
const SpecVersion = schema.SpecVersion

// contentFields are the top-level fields of capsule content, in the
// protocol's order.
var contentFields = func() []string {
	keys := make([]string, len(schema.Content))
	for i, f := range schema.Content {
		keys[i] = f.Key
	}
	return keys
}()

// ContentFields returns the top-level fields of capsule content, in the
// protocol's order: the six sections and the fields around them.
func ContentFields() []string { return slices.Clone(contentFields) }

// addedDefaults are the content fields that joined the canonical content
// after records had been sealed without them, each with the value the
// reference's model fills in when a stored document lacks it (its
// ADDED_CONTENT_DEFAULTS, qp-capsule 1.5.4). spec_version joined in
// qp-capsule 1.5.3: every record sealed by 1.5.2 or earlier lacks it.
var addedDefaults = func() map[string]string {
	m := map[string]string{}
	for _, f := range schema.Content {
		if f.Added {
			m[f.Key] = f.Value
		}
	}
	return m
}()

// IsAddedField reports whether k is a content field that a sealed record
// may lack because it was sealed before the field existed (spec_version).
// Such a record's hash covers its stored document without the field, so
// verification hashes the document as stored and never fills the field in
// (CPS section 3.5); new content still has it.
func IsAddedField(k string) bool {
	_, ok := addedDefaults[k]
	return ok
}

// types are the eight capsule types, in the protocol's order.
var types = schema.Types

// Types returns the eight capsule types, in the protocol's order.
func Types() []string { return slices.Clone(types) }

// IsType reports whether s is one of the capsule types.
func IsType(s string) bool { return slices.Contains(types, s) }

// statuses are the outcome statuses.
var statuses = schema.Statuses

// Statuses returns the outcome statuses.
func Statuses() []string { return slices.Clone(statuses) }

// IsStatus reports whether s is an outcome status.
func IsStatus(s string) bool { return slices.Contains(statuses, s) }

// sealKeys are the keys a sealed capsule has beyond its content.
var sealKeys = slices.Sorted(slices.Values(schema.Seal))

// SealKeys returns the keys a sealed capsule has beyond its content, in
// sorted order.
func SealKeys() []string { return slices.Clone(sealKeys) }

// IsSealKey reports whether k is one of the seal's keys.
func IsSealKey(k string) bool { return slices.Contains(sealKeys, k) }

// Lengths in hex digits of the protocol's hex fields.
const (
	HashHexLen      = 64  // a SHA3-256 hash
	SignatureHexLen = 128 // an Ed25519 signature
	PublicKeyHexLen = 64  // an Ed25519 public key
)

// Column limits of the reference's tables (qp_capsule/storage.py and
// storage_pg.py), in characters: longer values cannot be stored there.
const (
	MaxDomainLen    = schema.MaxDomainLen    // quantumpipes_capsules.domain VARCHAR(50)
	MaxSessionIDLen = schema.MaxSessionIDLen // session_id VARCHAR(36)
	MaxTenantLen    = 36                     // quantumpipes_capsules.tenant_id VARCHAR(36), PostgreSQL only
)

// MaxTenantBytes bounds a tenant id on every backend, in bytes: longer
// ids are refused on the write path and by the HTTP routes alike.
const MaxTenantBytes = 1024

// Problems [CheckTenant] reports.
var (
	ErrTenantTooLong = fmt.Errorf("is longer than %d bytes", MaxTenantBytes)
	ErrTenantUTF8    = errors.New("is not valid UTF-8")
	ErrTenantNUL     = errors.New("contains a NUL character")
)

// CheckTenant reports why no backend can hold tenant as a tenant id: one
// of [ErrTenantTooLong], [ErrTenantUTF8] or [ErrTenantNUL] (PostgreSQL
// refuses the last two in any text value, even a query's parameter), or
// nil. The null tenant "" is valid. PostgreSQL's column holds at most
// [MaxTenantLen] characters besides.
func CheckTenant(tenant string) error {
	switch {
	case len(tenant) > MaxTenantBytes:
		return ErrTenantTooLong
	case !utf8.ValidString(tenant):
		return ErrTenantUTF8
	case strings.IndexByte(tenant, 0) >= 0:
		return ErrTenantNUL
	}
	return nil
}

// IsHexDigit reports whether c is a lowercase hex digit, the only form the
// protocol writes.
func IsHexDigit(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' }

// IsLowerHex reports whether s is n lowercase hex digits; n < 0 accepts
// any length.
func IsLowerHex(s string, n int) bool {
	if n >= 0 && len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !IsHexDigit(s[i]) {
			return false
		}
	}
	return true
}

// IsUUID reports whether s is a UUID in lowercase hyphenated form
// (8-4-4-4-12 hex digits, any version), as the protocol writes ids.
func IsUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		if IsUUIDHyphen(i) {
			if s[i] != '-' {
				return false
			}
		} else if !IsHexDigit(s[i]) {
			return false
		}
	}
	return true
}

// IsUUIDHyphen reports whether position i (from 0) of a hyphenated UUID
// holds a hyphen.
func IsUUIDHyphen(i int) bool { return i == 8 || i == 13 || i == 18 || i == 23 }
