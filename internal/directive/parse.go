package directive

import (
	"fmt"
	"go/token"
	"slices"
	"strconv"
	"strings"
)

// Comment prefixes of the two directives.
const (
	// AuditPrefix starts a directive that asks for an audited wrapper.
	AuditPrefix = "//capsule:audit"
	// DirectPrefix starts a comment that allows one direct call of an
	// audited function.
	DirectPrefix = "//capsule:direct"
)

// Directive keys.
const (
	KeyType          = "type"
	KeyTenantFrom    = "tenant_from"
	KeyTenantID      = "tenant_id"
	KeyTenantFunc    = "tenant_func"
	KeyTriggerFrom   = "trigger_from"
	KeySource        = "source"
	KeyDomain        = "domain"
	KeySwallowErrors = "swallow_errors"
	KeyCapsules      = "capsules"
)

// Keys lists the directive keys in the order the documentation gives them.
var Keys = []string{KeyType, KeyTenantFrom, KeyTenantID, KeyTenantFunc, KeyTriggerFrom,
	KeySource, KeyDomain, KeySwallowErrors, KeyCapsules}

// IsAudit reports whether the text of a comment is an audit directive:
// "//capsule:audit" alone or followed by a space or a tab.
func IsAudit(text string) bool { return hasWord(text, AuditPrefix) }

// IsDirect reports whether the text of a comment is a //capsule:direct
// comment, alone or followed by a space or a tab (and a reason).
func IsDirect(text string) bool { return hasWord(text, DirectPrefix) }

// hasWord reports whether text is prefix alone or followed by a space or
// a tab.
func hasWord(text, prefix string) bool {
	rest, ok := strings.CutPrefix(text, prefix)
	return ok && (rest == "" || rest[0] == ' ' || rest[0] == '\t')
}

// Directive is one parsed //capsule:audit comment.
type Directive struct {
	Pos  token.Pos // the "//" of the comment
	Args []Arg     // the well-formed arguments, in source order, keys unique
	// Broken lists the known keys whose arguments were dropped as
	// malformed, and the keys suggested for unknown ones, so that checks
	// of a missing key do not repeat a mistake already reported.
	Broken []string
}

// Arg is one key=value pair of a directive.
type Arg struct {
	Key    string
	Value  string    // unquoted
	KeyPos token.Pos // first byte of the key
	ValPos token.Pos // first byte of the value (its quote, when quoted)
}

// Lookup returns the argument with the given key.
func (d *Directive) Lookup(key string) (Arg, bool) {
	for _, a := range d.Args {
		if a.Key == key {
			return a, true
		}
	}
	return Arg{}, false
}

// Mentions reports whether the directive has the key, well-formed or not.
func (d *Directive) Mentions(key string) bool {
	_, ok := d.Lookup(key)
	return ok || slices.Contains(d.Broken, key)
}

// Error is a mistake at a position of the file set being processed.
type Error struct {
	Pos token.Pos
	Msg string
}

// Parse parses the text of an audit directive comment that starts at pos.
// It reports every malformed, unknown or duplicate key it finds, and keeps
// the arguments that are well formed.
func Parse(text string, pos token.Pos) (*Directive, []Error) {
	p := &parser{text: text, pos: pos, d: &Directive{Pos: pos}, seen: make(map[string]bool)}
	i := len(AuditPrefix)
	for {
		i = p.skipSpace(i)
		if i == len(text) {
			break
		}
		next, ok := p.arg(i)
		if !ok {
			break
		}
		i = next
	}
	return p.d, p.errs
}

// parser holds the state of one Parse.
type parser struct {
	text string
	pos  token.Pos
	d    *Directive
	errs []Error
	seen map[string]bool
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' }

// at is the position of the byte at offset i of the text.
func (p *parser) at(i int) token.Pos { return p.pos + token.Pos(i) }

func (p *parser) errorf(i int, format string, args ...any) {
	p.errs = append(p.errs, Error{p.at(i), fmt.Sprintf(format, args...)})
}

func (p *parser) skipSpace(i int) int {
	for i < len(p.text) && isSpace(p.text[i]) {
		i++
	}
	return i
}

func (p *parser) skipWord(i int) int {
	for i < len(p.text) && !isSpace(p.text[i]) {
		i++
	}
	return i
}

// arg parses the key=value pair at offset start and returns the offset
// after it; ok is false when nothing after it can be parsed.
func (p *parser) arg(start int) (next int, ok bool) {
	text := p.text
	i := start
	for i < len(text) && !isSpace(text[i]) && text[i] != '=' {
		i++
	}
	key := text[start:i]
	if i == len(text) || text[i] != '=' || key == "" {
		end := p.skipWord(start)
		p.errorf(start, "malformed directive: want key=value, found %q", text[start:end])
		return end, true
	}
	valStart := i + 1
	value, next, valid, ok := p.value(key, valStart)
	if !valid {
		p.broke(key)
		return next, ok
	}
	if value == "" && (valStart == len(text) || text[valStart] != '"') {
		p.errorf(start, "missing value for key %q", key)
		p.broke(key)
		return next, true
	}
	switch {
	case !slices.Contains(Keys, key):
		p.errorf(start, "%s", unknownKey(key))
		p.broke(key)
	case p.seen[key]:
		p.errorf(start, "duplicate key %q", key)
	default:
		p.seen[key] = true
		p.d.Args = append(p.d.Args, Arg{Key: key, Value: value, KeyPos: p.at(start), ValPos: p.at(valStart)})
	}
	return next, true
}

// value parses the value of key starting at offset i, quoted or bare. valid
// is false when it is malformed (and reported); ok is false when nothing
// after it can be parsed.
func (p *parser) value(key string, i int) (value string, next int, valid, ok bool) {
	text := p.text
	if i == len(text) || text[i] != '"' {
		end := p.skipWord(i)
		value = text[i:end]
		if q := strings.IndexByte(value, '"'); q >= 0 {
			p.errorf(i+q, "malformed directive: unexpected quote in the value of key %q (quote the whole value)", key)
			return "", end, false, true
		}
		return value, end, true, true
	}
	j := i + 1
	for j < len(text) && text[j] != '"' {
		if text[j] == '\\' {
			j++
		}
		j++
	}
	if j >= len(text) {
		p.errorf(i, "malformed directive: unterminated quoted value for key %q", key)
		return "", len(text), false, false
	}
	v, err := strconv.Unquote(text[i : j+1])
	if err != nil {
		p.errorf(i, "malformed directive: invalid quoted value %s for key %q", text[i:j+1], key)
	}
	next = j + 1
	if next < len(text) && !isSpace(text[next]) {
		p.errorf(next, "malformed directive: want a space after the quoted value of key %q", key)
		return "", p.skipWord(next), false, true
	}
	return v, next, err == nil, true
}

// broke records that the argument of key was dropped: the key itself when
// it is known, else the known key it is nearest to.
func (p *parser) broke(key string) {
	if !slices.Contains(Keys, key) {
		key = Nearest(key, Keys)
	}
	if key != "" {
		p.d.Broken = append(p.d.Broken, key)
	}
}
