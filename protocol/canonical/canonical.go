// Package canonical implements the canonical JSON of the Capsule Protocol
// (CPS 1.0): keys sorted by code point, no whitespace, minimal string
// escaping, and numbers written by value exactly as the Python reference
// writes them. It reads JSON with its own token-level parser, so that
// duplicate keys, invalid UTF-8 and lone surrogates are errors, and numbers
// keep their full text until they are canonicalized.
//
// The canonical bytes of a capsule are what its SHA3-256 hash covers, so
// they must equal, byte for byte, what Python computes with
//
//	json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
//
// after reading the content with json.loads.
//
// There are two ways in:
//
//   - JSON text: [Canonicalize] and [CanonicalizeContent] (and their
//     append forms [AppendCanonical] and [AppendCanonicalContent])
//     canonicalize in one pass over the input, without building a tree;
//     with a reused buffer they typically do not allocate.
//   - Go values: [Append] and [AppendContent] write trees of maps, slices
//     and scalars, such as those returned by [Parse] or built by the
//     runtime; [AppendString], [AppendFloat], [AppendNumber] and
//     [AppendTimestamp] write single values.
//
// The Content forms add the capsule rules (float-typed fields and
// trigger.timestamp) to the generic ones. All errors are [*Error] values
// naming the field path of the problem.
package canonical

import "strconv"

// Number is a JSON number kept as its literal text, as read by [Parse].
// It is canonicalized by value when encoded: an integer literal (no '.',
// 'e' or 'E') is written in full at any size, any other literal as the
// shortest float64 in Python's repr style.
type Number string

// MaxDepth is the deepest nesting of objects and arrays that [Parse],
// [Canonicalize] and [Append] accept; the top-level value is at depth 1.
// Deeper input is an error, never a stack overflow.
const MaxDepth = 512

// Float is a number that is always written as a float, with a decimal
// point even when integral (1 is written "1.0"), as the protocol's
// float-typed fields require (rule 3). A plain float64 is written the same
// way; Float documents the intent in hand-built content.
type Float float64

// Error is the error of every function in this package. It names the
// field path of the problem in the document, such as
// "context.environment.x" or "reasoning.options[1].feasibility" ("" for
// the top-level value).
type Error struct {
	Path   string // field path; "" for the root
	Offset int64  // byte offset in the input, or -1 when not applicable
	Msg    string // what is wrong
}

// Error formats e as "canonical: <path>: <msg>", leaving out the path of
// the root.
// The message shortens a path longer than maxShownPath (deep nesting) to
// its start and end; the Path field keeps it whole.
func (e *Error) Error() string {
	if e.Path == "" {
		return "canonical: " + e.Msg
	}
	path := e.Path
	if len(path) > maxShownPath {
		path = path[:maxShownPath/2] + "…" + path[len(path)-maxShownPath/4:]
	}
	return "canonical: " + path + ": " + e.Msg
}

// maxShownPath bounds the path an error message shows.
const maxShownPath = 120

func newError(offset int, msg string) *Error {
	return &Error{Offset: int64(offset), Msg: msg}
}

// syntaxError reports malformed JSON at byte offset off.
func syntaxError(off int, msg string) *Error {
	return newError(off, "syntax error at offset "+strconv.Itoa(off)+": "+msg)
}

// atError reports a well-formed but unacceptable input at byte offset off.
func atError(off int, msg string) *Error {
	return newError(off, msg+" at offset "+strconv.Itoa(off))
}

// inKey returns e with its path placed under the object key key.
func (e *Error) inKey(key string) *Error {
	switch {
	case e.Path == "":
		e.Path = key
	case e.Path[0] == '[':
		e.Path = key + e.Path
	default:
		e.Path = key + "." + e.Path
	}
	return e
}

// inIndex returns e with its path placed under the array index i.
func (e *Error) inIndex(i int) *Error {
	switch {
	case e.Path == "":
		e.Path = "[" + strconv.Itoa(i) + "]"
	case e.Path[0] == '[':
		e.Path = "[" + strconv.Itoa(i) + "]" + e.Path
	default:
		e.Path = "[" + strconv.Itoa(i) + "]." + e.Path
	}
	return e
}
