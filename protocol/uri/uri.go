// Package uri parses and formats capsule:// URIs, the portable references to
// one capsule defined by the Capsule Protocol (CPS 1.0).
//
// Four forms exist, each with an optional fragment:
//
//	capsule://sha3_<64 lowercase hex>          a capsule by hash
//	capsule://<chain>/<sequence>               a capsule by position in a chain
//	capsule://<chain>/sha3_<64 lowercase hex>  a capsule by hash within a chain
//	capsule://<uuid>                           a capsule by id
//	... #<fragment>                            a path into the capsule's sections
//
// The grammar accepted here is strict, so that every accepted URI has exactly
// one spelling and [URI.String] gives it back byte for byte:
//
//   - scheme: exactly "capsule://", lowercase.
//   - chain: 1 to 128 characters from [A-Za-z0-9._-], starting with a letter
//     or a digit (so "." and ".." are never chain names).
//   - sequence: decimal digits, no sign, no leading zeros except "0" itself,
//     at most 9223372036854775807 (int64).
//   - hash: the algorithm prefix "sha3_" (the only one in CPS 1.0) and
//     exactly 64 lowercase hex digits.
//   - uuid: 8-4-4-4-12 lowercase hex digits (any version).
//   - fragment: one or more segments separated by "/", each made of
//     [A-Za-z0-9._~-] and none of them "." or "..". Empty segments,
//     backslashes and percent-encoding are rejected, so a fragment can never
//     express path traversal however it is decoded later.
package uri

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/capsule-go/capsule/protocol"
)

// Scheme is the prefix of every capsule URI.
const Scheme = "capsule://"

// MaxChainLen is the longest chain name accepted, in bytes.
const MaxChainLen = 128

// HashSHA3 is the hash algorithm name of CPS 1.0 ("sha3_" prefix):
// SHA3-256, written as 64 lowercase hex digits.
const HashSHA3 = "sha3"

// Kind tells which reference a URI holds.
type Kind int

// The three kinds of reference. The zero Kind is not valid.
const (
	KindHash     Kind = iota + 1 // by content hash: capsule://[chain/]sha3_<hex>
	KindSequence                 // by chain position: capsule://<chain>/<n>
	KindID                       // by capsule id: capsule://<uuid>
)

// String returns the reference type name used by the conformance vectors:
// "hash", "sequence" or "id" ("" for an invalid Kind).
func (k Kind) String() string {
	switch k {
	case KindHash:
		return "hash"
	case KindSequence:
		return "sequence"
	case KindID:
		return "id"
	}
	return ""
}

// URI is a parsed capsule:// URI. The fields that do not belong to Kind are
// zero. A URI obtained from [Parse] always satisfies the package grammar.
type URI struct {
	// Chain is the chain name; "" when the URI names no chain.
	Chain string
	// Kind is the kind of reference.
	Kind Kind
	// HashAlgorithm is "sha3" when Kind is KindHash, else "".
	HashAlgorithm string
	// Hash is the 64 lowercase hex digits when Kind is KindHash, else "".
	Hash string
	// Sequence is the position in Chain when Kind is KindSequence, else 0.
	Sequence int64
	// ID is the lowercase hyphenated UUID when Kind is KindID, else "".
	ID string
	// Fragment is the path into the capsule after "#", without the "#";
	// "" when there is none (an empty fragment is not accepted).
	Fragment string
}

// Error reports why a string is not a valid capsule URI.
type Error struct {
	Input  string // the string given to Parse
	Reason string // what is wrong, e.g. "hash too short: 63 hex characters instead of 64"
}

// Error implements error.
func (e *Error) Error() string {
	in := e.Input
	if len(in) > 100 {
		in = in[:100] + "..."
	}
	return fmt.Sprintf("invalid capsule URI %q: %s", in, e.Reason)
}

// Parse parses s as a capsule:// URI. Errors are *Error values whose Reason
// says what is wrong.
func Parse(s string) (URI, error) {
	u, reason := parse(s)
	if reason != "" {
		return URI{}, &Error{Input: s, Reason: reason}
	}
	return u, nil
}

func parse(s string) (URI, string) {
	var u URI
	if s == "" {
		return u, "empty URI"
	}
	rest, ok := strings.CutPrefix(s, Scheme)
	if !ok {
		if i := strings.Index(s, "://"); i >= 0 {
			return u, fmt.Sprintf("wrong scheme %q: expected 'capsule'", clip(s[:i]))
		}
		return u, "wrong scheme: expected 'capsule://'"
	}
	if path, frag, has := strings.Cut(rest, "#"); has {
		if reason := checkFragment(frag); reason != "" {
			return u, reason
		}
		u.Fragment = frag
		rest = path
	}
	if rest == "" {
		return u, "missing reference after scheme"
	}
	chain, ref, hasChain := strings.Cut(rest, "/")
	if !hasChain {
		return parseBareRef(u, rest)
	}
	if reason := checkChain(chain); reason != "" {
		return u, reason
	}
	u.Chain = chain
	if ref == "" {
		return u, fmt.Sprintf("missing reference after chain %q", clip(chain))
	}
	if strings.Contains(ref, "/") {
		return u, "too many path segments: expected capsule://<chain>/<sequence or hash>"
	}
	if _, _, ok := algorithmPrefix(ref); ok {
		return parseHash(u, ref)
	}
	if isDigitsOrSign(ref) {
		return parseSequence(u, ref)
	}
	return u, fmt.Sprintf("invalid reference %q after chain: not a sequence number or a hash (sha3_<64 hex>)", clip(ref))
}

// parseBareRef parses the reference of a URI without a chain: a hash or a UUID.
func parseBareRef(u URI, ref string) (URI, string) {
	if _, _, ok := algorithmPrefix(ref); ok {
		return parseHash(u, ref)
	}
	if protocol.IsUUID(ref) {
		u.Kind = KindID
		u.ID = ref
		return u, ""
	}
	if protocol.IsUUID(strings.ToLower(ref)) {
		return u, "UUID contains uppercase characters"
	}
	if isDigitsOrSign(ref) {
		return u, fmt.Sprintf("invalid reference %q: a sequence number needs a chain (capsule://<chain>/<sequence>)", clip(ref))
	}
	return u, fmt.Sprintf("invalid reference %q: not a hash, sequence, or UUID", clip(ref))
}

// algorithmPrefix reports whether ref starts with an "<alnum>+_" algorithm
// prefix, and returns the algorithm and the rest.
func algorithmPrefix(ref string) (alg, value string, ok bool) {
	i := strings.IndexByte(ref, '_')
	if i <= 0 {
		return "", "", false
	}
	for j := 0; j < i; j++ {
		if !isAlnum(ref[j]) {
			return "", "", false
		}
	}
	return ref[:i], ref[i+1:], true
}

func parseHash(u URI, ref string) (URI, string) {
	alg, hex, _ := algorithmPrefix(ref)
	if alg != HashSHA3 {
		return u, fmt.Sprintf("unknown hash algorithm prefix '%s_': only 'sha3_' is defined in CPS 1.0", clip(alg))
	}
	for i := 0; i < len(hex); i++ {
		c := hex[i]
		switch {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f':
		case 'A' <= c && c <= 'F':
			return u, "hash contains uppercase characters: hex must be lowercase"
		default:
			return u, fmt.Sprintf("hash contains non-hex character %s", quoteChar(hex[i:]))
		}
	}
	switch {
	case len(hex) < 64:
		return u, fmt.Sprintf("hash too short: %d hex characters instead of 64", len(hex))
	case len(hex) > 64:
		return u, fmt.Sprintf("hash too long: %d hex characters instead of 64", len(hex))
	}
	u.Kind = KindHash
	u.HashAlgorithm = HashSHA3
	u.Hash = hex
	return u, ""
}

func parseSequence(u URI, ref string) (URI, string) {
	switch {
	case ref[0] == '-':
		return u, fmt.Sprintf("negative sequence number %s: sequences start at 0", clip(ref))
	case ref[0] == '+':
		return u, "sequence number must not carry a sign"
	case len(ref) > 1 && ref[0] == '0':
		return u, fmt.Sprintf("sequence number %s has leading zeros", clip(ref))
	}
	n, err := strconv.ParseInt(ref, 10, 64)
	if err != nil {
		return u, fmt.Sprintf("sequence number %s out of range (max %d)", clip(ref), int64(1<<63-1))
	}
	u.Kind = KindSequence
	u.Sequence = n
	return u, ""
}

// isDigitsOrSign reports whether ref is an optional sign followed by one or
// more decimal digits.
func isDigitsOrSign(ref string) bool {
	if ref != "" && (ref[0] == '-' || ref[0] == '+') {
		ref = ref[1:]
	}
	if ref == "" {
		return false
	}
	for i := 0; i < len(ref); i++ {
		if ref[i] < '0' || ref[i] > '9' {
			return false
		}
	}
	return true
}

func checkChain(chain string) string {
	if chain == "" {
		return "empty chain name"
	}
	if len(chain) > MaxChainLen {
		return fmt.Sprintf("chain name too long: %d characters, at most %d", len(chain), MaxChainLen)
	}
	if !isAlnum(chain[0]) {
		return fmt.Sprintf("chain name %q must start with a letter or digit", clip(chain))
	}
	for i := 0; i < len(chain); i++ {
		c := chain[i]
		if !isAlnum(c) && c != '.' && c != '_' && c != '-' {
			return fmt.Sprintf("invalid character %s in chain name: allowed are letters, digits, '.', '_' and '-'", quoteChar(chain[i:]))
		}
	}
	return ""
}

func checkFragment(frag string) string {
	if frag == "" {
		return "empty fragment after '#'"
	}
	if strings.ContainsRune(frag, '\\') {
		return "fragment contains a backslash (path traversal)"
	}
	for seg := range strings.SplitSeq(frag, "/") {
		switch seg {
		case "":
			return "fragment contains an empty segment"
		case "..", ".":
			return fmt.Sprintf("fragment contains path traversal (%q segment)", seg)
		}
		if strings.ContainsRune(seg, '%') {
			if dec, err := url.PathUnescape(seg); err == nil &&
				(strings.Contains(dec, "..") || strings.ContainsAny(dec, `/\`) || dec == ".") {
				return "fragment contains path traversal (percent-encoded)"
			}
			return "fragment contains percent-encoding, which is not allowed"
		}
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			if !isAlnum(c) && c != '.' && c != '_' && c != '~' && c != '-' {
				return fmt.Sprintf("invalid character %s in fragment: allowed are letters, digits, '.', '_', '~', '-' and '/' between segments", quoteChar(seg[i:]))
			}
		}
	}
	return ""
}

// clip shortens user input quoted in an error reason.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

func isAlnum(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// quoteChar quotes the first character of s (a whole UTF-8 sequence, or one
// invalid byte as "byte 0xff") for an error message, like 'g'.
func quoteChar(s string) string {
	r, size := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError && size <= 1 {
		return fmt.Sprintf("byte 0x%02x", s[0])
	}
	return strconv.QuoteRune(r)
}

// String formats u as a capsule URI. For a URI returned by [Parse] it is the
// parsed string, byte for byte.
func (u URI) String() string {
	var b strings.Builder
	b.WriteString(Scheme)
	if u.Chain != "" {
		b.WriteString(u.Chain)
		b.WriteByte('/')
	}
	switch u.Kind {
	case KindHash:
		b.WriteString(u.HashAlgorithm)
		b.WriteByte('_')
		b.WriteString(u.Hash)
	case KindSequence:
		b.WriteString(strconv.FormatInt(u.Sequence, 10))
	case KindID:
		b.WriteString(u.ID)
	}
	if u.Fragment != "" {
		b.WriteByte('#')
		b.WriteString(u.Fragment)
	}
	return b.String()
}

// FragmentPath returns the segments of the fragment ("reasoning/confidence"
// gives ["reasoning" "confidence"]), or nil when there is no fragment.
func (u URI) FragmentPath() []string {
	if u.Fragment == "" {
		return nil
	}
	return strings.Split(u.Fragment, "/")
}
