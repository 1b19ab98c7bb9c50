package protocol

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha3"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/capsule-go/capsule/protocol/canonical"
)

// Sealed is one sealed capsule as stored: the content dict as JSON text plus
// the seal, with the columns the reference layouts index.
type Sealed struct {
	ID           string // UUID, lowercase hyphenated
	Type         string // capsule type
	Domain       string // capsule domain
	Tenant       string // chain; "" is the null tenant
	Sequence     int64  // position in the tenant's chain, from 0
	PreviousHash string // hash of the previous capsule; "" for genesis
	SessionID    string // context.session_id; "" when null
	Data         []byte // content dict as JSON text (canonical when written by this module)
	Hash         string // SHA3-256 of the canonical content, lowercase hex
	Signature    string // Ed25519 over the hex hash, lowercase hex
	SignaturePQ  string // optional ML-DSA-65 signature, hex; "" when absent
	SignedAt     string // ISO-8601 UTC
	SignedBy     string // key fingerprint
}

// MaxCapsuleBytes is the size limit of one capsule: the length of its
// sealed dict as JSON text (its content and the seal's five members, 16
// MiB). It is the one limit for writing and reading: a writer refuses
// content that would seal to more (see [CheckContentSize]), and a reader
// of JSON (a file or input of the capsule command) refuses a longer value,
// so whatever is stored can be exported and read back.
const MaxCapsuleBytes = 16 << 20

// SealReserve is the part of MaxCapsuleBytes kept for the seal's members
// when content is sealed: the hash, the Ed25519 and ML-DSA-65 signatures
// (6,618 hex digits), the time and a signer name of up to 1,200 bytes take
// less.
const SealReserve = 8 << 10

// ErrTooLarge reports a capsule over [MaxCapsuleBytes].
var ErrTooLarge = errors.New("capsule too large")

// CheckContentSize returns an error wrapping ErrTooLarge when capsule
// content whose canonical JSON is n bytes long could not be sealed within
// MaxCapsuleBytes, nil otherwise.
func CheckContentSize(n int) error {
	if n > MaxCapsuleBytes-SealReserve {
		return fmt.Errorf("%w: its content is %d bytes of canonical JSON, more than the %d a capsule may have (a sealed capsule is at most %d bytes, %d of them kept for the seal)",
			ErrTooLarge, n, MaxCapsuleBytes-SealReserve, MaxCapsuleBytes, SealReserve)
	}
	return nil
}

// MissingFieldsError reports a JSON object that lacks members every
// sealed capsule has: it is not a sealed capsule, rather than a capsule
// whose chain is broken.
type MissingFieldsError struct {
	Missing []string // in the protocol's order
}

// Error names the missing fields (the first three and a count when there
// are more than four).
func (e *MissingFieldsError) Error() string {
	q := func(ss []string) string {
		out := make([]string, len(ss))
		for i, s := range ss {
			out[i] = fmt.Sprintf("%q", s)
		}
		return strings.Join(out, ", ")
	}
	switch n := len(e.Missing); {
	case n == 1:
		return fmt.Sprintf("not a sealed capsule: field %q is missing", e.Missing[0])
	case n <= 4:
		return fmt.Sprintf("not a sealed capsule: fields %s are missing", q(e.Missing))
	default:
		return fmt.Sprintf("not a sealed capsule: fields %s and %d others are missing", q(e.Missing[:3]), n-3)
	}
}

// CheckSealedShape returns a *MissingFieldsError naming the members of a
// sealed capsule that m, a sealed dict as read by canonical.Parse, lacks:
// the content's top-level fields and the seal's hash and signature. A
// field that joined the content after records were sealed without it
// ([IsAddedField]: spec_version) is not required, since such a record is
// whole without it. It returns nil when none is missing; the values are
// for verification to check.
func CheckSealedShape(m map[string]any) error {
	var missing []string
	for _, k := range contentFields {
		if _, ok := m[k]; !ok && !IsAddedField(k) {
			missing = append(missing, k)
		}
	}
	for _, k := range []string{"hash", "signature"} {
		if _, ok := m[k]; !ok {
			missing = append(missing, k)
		}
	}
	if missing == nil {
		return nil
	}
	return &MissingFieldsError{missing}
}

// FieldError reports a content field that cannot be read: a seal key of a
// sealed dict that is not a string, or (in package capsule) a content field
// that cannot be read into a Capsule.
type FieldError struct {
	Field string // dotted path, e.g. "reasoning.options[1].feasibility"
	Msg   string
}

// Error returns "capsule: <field>: <message>".
func (e *FieldError) Error() string { return "capsule: " + e.Field + ": " + e.Msg }

// Hash returns the lowercase hex SHA3-256 of canonical content bytes.
func Hash(content []byte) string {
	sum := sha3.Sum256(content)
	return hex.EncodeToString(sum[:])
}

// Reasons a seal check fails; test with errors.Is.
var (
	ErrMissingHash      = errors.New("missing hash")
	ErrMissingSignature = errors.New("missing signature")
	ErrMalformedHex     = errors.New("malformed hex")
	ErrHashMismatch     = errors.New("hash mismatch")
	ErrBadSignature     = errors.New("bad signature")
	ErrUnknownSigner    = errors.New("unknown signer")
	ErrBadPQSignature   = errors.New("bad ML-DSA-65 signature (signature_pq)")
)

// KeyResolver finds the public key that signed a capsule from its
// signed_by value.
type KeyResolver func(signedBy string) (ed25519.PublicKey, error)

// StaticKey returns a KeyResolver that answers pub for every signer: the
// explicit key an operator passes, which overrides signed_by.
func StaticKey(pub ed25519.PublicKey) KeyResolver {
	return func(string) (ed25519.PublicKey, error) { return pub, nil }
}

// CheckHash recomputes the hash of rec's content as stored (PROTOCOL.md
// rule 8: numbers and timestamps as they are written, not re-typed) and
// compares it with the stored hash.
func CheckHash(rec *Sealed) error {
	if rec.Hash == "" {
		return ErrMissingHash
	}
	if !IsLowerHex(rec.Hash, HashHexLen) {
		return fmt.Errorf("hash: %w", ErrMalformedHex)
	}
	content, err := canonical.Canonicalize(rec.Data)
	if err != nil {
		return err
	}
	if got := Hash(content); got != rec.Hash {
		return fmt.Errorf("%w: stored %s, computed %s", ErrHashMismatch, rec.Hash, got)
	}
	return nil
}

// CheckSignature checks rec's Ed25519 signature over its stored hash with
// the key resolve finds for rec.SignedBy.
func CheckSignature(rec *Sealed, resolve KeyResolver) error {
	if rec.Signature == "" {
		return ErrMissingSignature
	}
	var sig [64]byte
	if !decodeLowerHex(sig[:], rec.Signature) {
		return fmt.Errorf("signature: %w", ErrMalformedHex)
	}
	if !IsLowerHex(rec.Hash, HashHexLen) {
		return fmt.Errorf("hash: %w", ErrMalformedHex)
	}
	pub, err := resolve(rec.SignedBy)
	if err != nil {
		return fmt.Errorf("%w %q: %v", ErrUnknownSigner, rec.SignedBy, err)
	}
	if !ed25519.Verify(pub, []byte(rec.Hash), sig[:]) {
		return ErrBadSignature
	}
	return nil
}

// CheckPQSignature checks rec's ML-DSA-65 signature_pq over its stored
// hash with verify, which reports whether the hex signature sigHex is valid
// for hashHex under the caller's public key (keys.VerifyPQ with the key
// bound, for one). A capsule without signature_pq passes.
func CheckPQSignature(rec *Sealed, verify func(hashHex, sigHex string) bool) error {
	if rec.SignaturePQ == "" {
		return nil
	}
	if !verify(rec.Hash, rec.SignaturePQ) {
		return ErrBadPQSignature
	}
	return nil
}

// decodeLowerHex decodes s, which must be exactly 2*len(dst) lowercase hex
// digits, into dst.
func decodeLowerHex(dst []byte, s string) bool {
	if len(s) != 2*len(dst) {
		return false
	}
	for i := range dst {
		hi, ok1 := lowerNibble(s[2*i])
		lo, ok2 := lowerNibble(s[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

func lowerNibble(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// MarshalSealed returns the sealed dict of rec as JSON: its content with
// the five seal keys added (hash, signature, signature_pq, signed_at,
// signed_by), keys in code-point order when the content is canonical.
func MarshalSealed(rec *Sealed) ([]byte, error) {
	return AppendSealed(nil, rec)
}

// AppendSealed appends the sealed dict of rec to dst; see MarshalSealed.
func AppendSealed(dst []byte, rec *Sealed) ([]byte, error) {
	data := bytes.TrimSpace(rec.Data)
	if len(data) < 2 || data[0] != '{' || data[len(data)-1] != '}' {
		return dst, fmt.Errorf("capsule %s: content is not a JSON object", rec.ID)
	}
	// The content in canonical form, streamed rather than parsed into
	// maps; the seal members are then spliced in among its top-level
	// members, in code-point order.
	content, err := canonical.AppendCanonical(nil, data)
	if err != nil {
		return dst, fmt.Errorf("capsule %s: %w", rec.ID, err)
	}
	seal := [...]struct {
		key, value string
		null       bool
	}{
		{"hash", rec.Hash, false},
		{"signature", rec.Signature, false},
		{"signature_pq", rec.SignaturePQ, false},
		{"signed_at", rec.SignedAt, rec.SignedAt == ""},
		{"signed_by", rec.SignedBy, rec.SignedBy == ""},
	}
	out := append(dst, '{')
	next := 0 // the first seal member not yet written
	var ferr error
	// name writes a member's separator and name (in canonical form already).
	name := func(key []byte) {
		if len(out) > len(dst)+1 {
			out = append(out, ',')
		}
		out = append(out, '"')
		out = append(out, key...)
		out = append(out, '"', ':')
	}
	member := func(key string, value string, null bool) {
		name([]byte(key))
		if null {
			out = append(out, "null"...)
			return
		}
		var err error
		if out, err = canonical.AppendString(out, value); err != nil && ferr == nil {
			ferr = &FieldError{key, err.Error()}
		}
	}
	err = canonical.Members(content, func(key, value []byte) bool {
		// Canonical keys escape only '"', '\' and control characters,
		// all of which sort before the seal keys' letters and '_', so
		// comparing the escaped bytes orders them as their code points.
		for next < len(seal) && seal[next].key < string(key) && ferr == nil {
			member(seal[next].key, seal[next].value, seal[next].null)
			next++
		}
		if next < len(seal) && seal[next].key == string(key) {
			ferr = fmt.Errorf("capsule %s: content has seal key %q", rec.ID, key)
			return false
		}
		name(key)
		out = append(out, value...)
		return ferr == nil
	})
	for ; ferr == nil && next < len(seal); next++ {
		member(seal[next].key, seal[next].value, seal[next].null)
	}
	switch {
	case err != nil:
		return dst, fmt.Errorf("capsule %s: %w", rec.ID, err)
	case ferr != nil:
		return dst, ferr
	}
	return append(out, '}'), nil
}

// ParseSealed reads one sealed dict (content plus seal keys), as read by
// canonical.Parse, into a record for the given tenant. A seal key that is
// neither a string nor null is a *FieldError.
func ParseSealed(m map[string]any, tenant string) (Sealed, error) {
	var rec Sealed
	content := make(map[string]any, len(m))
	for k, v := range m {
		if !IsSealKey(k) {
			content[k] = v
		}
	}
	str := func(k string) (string, error) {
		switch v := m[k].(type) {
		case nil:
			return "", nil
		case string:
			return v, nil
		default:
			return "", &FieldError{k, "want a string"}
		}
	}
	var err error
	for _, f := range []struct {
		k   string
		dst *string
	}{{"hash", &rec.Hash}, {"signature", &rec.Signature}, {"signature_pq", &rec.SignaturePQ}, {"signed_at", &rec.SignedAt}, {"signed_by", &rec.SignedBy}} {
		if *f.dst, err = str(f.k); err != nil {
			return rec, err
		}
	}
	// The content is kept as stored, in generic canonical JSON: its hash
	// covers it as it is (PROTOCOL.md rule 8), an integer confidence and a
	// naive timestamp included.
	data, err := canonical.Append(nil, content)
	if err != nil {
		return rec, err
	}
	rec.Data = data
	rec.Tenant = tenant
	rec.ID, _ = content["id"].(string)
	rec.Type, _ = content["type"].(string)
	rec.Domain, _ = content["domain"].(string)
	rec.PreviousHash, _ = content["previous_hash"].(string)
	if n, ok := canonical.Int(content["sequence"]); ok {
		rec.Sequence = n
	} else {
		rec.Sequence = -1
	}
	if ctx, ok := content["context"].(map[string]any); ok {
		rec.SessionID, _ = ctx["session_id"].(string)
	}
	return rec, nil
}
