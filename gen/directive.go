package gen

import (
	"fmt"
	"go/token"
	"strconv"
	"strings"
)

// directivePrefix starts every directive comment.
const directivePrefix = "//capsule:audit"

// Directive keys.
const (
	keyType          = "type"
	keyTenantFrom    = "tenant_from"
	keyTenantID      = "tenant_id"
	keyTenantFunc    = "tenant_func"
	keyTriggerFrom   = "trigger_from"
	keySource        = "source"
	keyDomain        = "domain"
	keySwallowErrors = "swallow_errors"
	keyCapsules      = "capsules"
)

// keyList lists the directive keys for messages, in the order the
// documentation gives them.
const keyList = "type, tenant_from, tenant_id, tenant_func, trigger_from, source, domain, swallow_errors, capsules"

// isKnownKey reports whether key is a directive key.
func isKnownKey(key string) bool {
	switch key {
	case keyType, keyTenantFrom, keyTenantID, keyTenantFunc, keyTriggerFrom,
		keySource, keyDomain, keySwallowErrors, keyCapsules:
		return true
	}
	return false
}

// isDirective reports whether the text of a comment is a capsule directive:
// "//capsule:audit" alone or followed by a space or a tab.
func isDirective(text string) bool {
	rest, ok := strings.CutPrefix(text, directivePrefix)
	return ok && (rest == "" || rest[0] == ' ' || rest[0] == '\t')
}

// directive is one parsed //capsule:audit comment.
type directive struct {
	pos  token.Pos // the "//" of the comment
	args []arg     // in source order, keys unique
}

// arg is one key=value pair of a directive.
type arg struct {
	key    string
	value  string    // unquoted
	keyPos token.Pos // first byte of the key
	valPos token.Pos // first byte of the value (its quote, when quoted)
}

// lookup returns the argument with the given key.
func (d *directive) lookup(key string) (arg, bool) {
	for _, a := range d.args {
		if a.key == key {
			return a, true
		}
	}
	return arg{}, false
}

// posError is an error at a position of the file set being processed.
type posError struct {
	pos token.Pos
	msg string
}

// parseDirective parses the text of a directive comment that starts at pos.
// It reports every malformed, unknown or duplicate key it finds.
func parseDirective(text string, pos token.Pos) (*directive, []posError) {
	d := &directive{pos: pos}
	var errs []posError
	at := func(i int) token.Pos { return pos + token.Pos(i) }
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' }
	seen := make(map[string]bool)
	i := len(directivePrefix)
	for {
		for i < len(text) && isSpace(text[i]) {
			i++
		}
		if i == len(text) {
			break
		}
		start := i
		for i < len(text) && !isSpace(text[i]) && text[i] != '=' {
			i++
		}
		key := text[start:i]
		if i == len(text) || text[i] != '=' || key == "" {
			end := start
			for end < len(text) && !isSpace(text[end]) {
				end++
			}
			errs = append(errs, posError{at(start), fmt.Sprintf("malformed directive: want key=value, found %q", text[start:end])})
			i = end
			continue
		}
		i++ // '='
		valStart := i
		var value string
		if i < len(text) && text[i] == '"' {
			j := i + 1
			for j < len(text) && text[j] != '"' {
				if text[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(text) {
				errs = append(errs, posError{at(valStart), fmt.Sprintf("malformed directive: unterminated quoted value for key %q", key)})
				break
			}
			v, err := strconv.Unquote(text[i : j+1])
			if err != nil {
				errs = append(errs, posError{at(valStart), fmt.Sprintf("malformed directive: invalid quoted value %s for key %q", text[i:j+1], key)})
			}
			value = v
			i = j + 1
			if i < len(text) && !isSpace(text[i]) {
				errs = append(errs, posError{at(i), fmt.Sprintf("malformed directive: want a space after the quoted value of key %q", key)})
				for i < len(text) && !isSpace(text[i]) {
					i++
				}
				continue
			}
			if err != nil {
				continue
			}
		} else {
			for i < len(text) && !isSpace(text[i]) {
				i++
			}
			value = text[valStart:i]
			if q := strings.IndexByte(value, '"'); q >= 0 {
				errs = append(errs, posError{at(valStart + q), fmt.Sprintf("malformed directive: unexpected quote in the value of key %q (quote the whole value)", key)})
				continue
			}
			if value == "" {
				errs = append(errs, posError{at(start), fmt.Sprintf("missing value for key %q", key)})
				continue
			}
		}
		switch {
		case !isKnownKey(key):
			errs = append(errs, posError{at(start), fmt.Sprintf("unknown key %q (known keys: %s)", key, keyList)})
		case seen[key]:
			errs = append(errs, posError{at(start), fmt.Sprintf("duplicate key %q", key)})
		default:
			seen[key] = true
			d.args = append(d.args, arg{key: key, value: value, keyPos: at(start), valPos: at(valStart)})
		}
	}
	return d, errs
}
