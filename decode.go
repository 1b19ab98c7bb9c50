package capsule

import (
	"errors"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/protocol/canonical"
)

// ErrNotObject reports capsule content that is JSON but not a JSON object.
var ErrNotObject = errors.New("capsule content must be a JSON object")

// ParseContent reads capsule content from the JSON text data. Its result
// and errors are those of [canonical.Parse] followed by [FromContent]
// (an [*canonical.Error] for text Parse refuses, [ErrNotObject] for
// another JSON value, a [*FieldError] naming a field the model refuses),
// but it decodes the text straight into the Capsule, building maps only
// for the free-form values (Environment, Result, Metrics, …). The
// Capsule's strings share one copy of data.
//
// Content that the direct path refuses is read again through Parse and
// FromContent, whose first error in the protocol's field order is the
// one returned.
func ParseContent(data []byte) (*Capsule, error) {
	d := decoders.Get().(*decoder)
	c := New(TypeAgent)
	d.Reset(data)
	d.decodeCapsule(c)
	d.End()
	err := d.Err()
	d.Reset(nil) // keep nothing of data alive in the pool
	decoders.Put(d)
	if err == nil {
		return c, nil
	}
	return fromText(data)
}

// fromText is ParseContent through the tree of the text: canonical.Parse,
// then FromContent.
func fromText(data []byte) (*Capsule, error) {
	v, err := canonical.Parse(data)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, ErrNotObject
	}
	return FromContent(m)
}

// decoders holds the decoders of ParseContent, whose parse stacks are
// worth reusing.
var decoders = sync.Pool{New: func() any { return new(decoder) }}

// decoder reads content text into a Capsule for ParseContent. Its
// methods that read one object (decodeCapsule, decodeTrigger, …) are
// generated from the declaration (model_gen.go); they read the members in
// the input's order and stop the decoder, with a canonical.Error, at the
// first member FromContent would refuse. Those errors are never shown:
// ParseContent reports FromContent's.
type decoder struct {
	canonical.Decoder
}

// once marks the member bit of an object read, refusing a key seen
// before (canonical.Parse refuses duplicate keys).
func (d *decoder) once(seen *uint32, bit uint32) {
	if *seen&bit != 0 {
		d.Fail("duplicate key")
	}
	*seen |= bit
}

// unknown refuses a key the model does not know.
func (d *decoder) unknown() { d.Fail("unknown field") }

func (d *decoder) str(dst *string) { *dst = d.String() }

func (d *decoder) nullable(dst *string) {
	if d.Peek() == 'n' {
		d.Null()
		*dst = ""
		return
	}
	*dst = d.String()
}

// uuid reads a required id, a lowercase hyphenated UUID.
func (d *decoder) uuid(dst *string) {
	if *dst = d.String(); !protocol.IsUUID(*dst) {
		d.Fail("not a lowercase hyphenated UUID")
	}
}

// capsuleType reads the capsule's type, which FromContent refuses (the
// empty string included) unless it is one of the eight.
func (d *decoder) capsuleType(dst *Type) {
	if t := Type(d.String()); t.Valid() {
		*dst = t
	} else {
		d.Fail("unknown capsule type")
	}
}

// constant checks a field the model does not hold, whose value is want.
func (d *decoder) constant(want string) {
	if d.String() != want {
		d.Fail("unsupported value")
	}
}

func (d *decoder) int(dst *int64) {
	n, err := strconv.ParseInt(string(d.Number()), 10, 64)
	if err != nil {
		d.Fail("want an integer")
		return
	}
	*dst = n
}

func (d *decoder) float(dst *float64) {
	f, err := strconv.ParseFloat(string(d.Number()), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		d.Fail("want a number")
		return
	}
	*dst = f
}

func (d *decoder) bool(dst *bool) { *dst = d.Bool() }

func (d *decoder) any(dst *any) { *dst = d.Value() }

func (d *decoder) time(dst *time.Time) {
	s := d.String()
	if s == "" {
		return
	}
	t, msg := parseTimestamp(s)
	if msg != "" {
		d.Fail(msg)
		return
	}
	*dst = t
}

// object reads a free-form object.
func (d *decoder) object(dst *map[string]any) {
	if d.Peek() != '{' {
		d.Fail("want an object")
		return
	}
	*dst, _ = d.Value().(map[string]any)
}

// strs reads an array of strings; present, it is never nil.
func (d *decoder) strs(dst *[]string) {
	if !d.BeginArray() {
		return
	}
	out := []string{}
	for d.More() {
		out = append(out, d.String())
	}
	*dst = out
}

// objects reads an array of free-form objects; empty, it stays nil.
func (d *decoder) objects(dst *[]map[string]any) {
	if !d.BeginArray() {
		return
	}
	for d.More() {
		if d.Peek() != '{' {
			d.Fail("not an object")
			return
		}
		m, _ := d.Value().(map[string]any)
		*dst = append(*dst, m)
	}
}

// mirror checks that listed is the key of each of the n elements of an
// array (elem(i) for element i), in order.
func (d *decoder) mirror(listed []string, n int, elem func(int) string) {
	if len(listed) != n {
		d.Fail("does not mirror its array")
		return
	}
	for i, s := range listed {
		if s != elem(i) {
			d.Fail("does not mirror its array")
			return
		}
	}
}
