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
// Its encode method is generated from the declaration of package
// protocol/schema (model_gen.go); the helpers it calls are below.
type parts struct {
	buf           []byte
	prevAt, seqAt int
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
// only used for previous_hash, a hash the chain computed (64 hex digits),
// which cannot fail.
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
