package canonical

import "errors"

// errNotObject is Members' error for input that is not a JSON object.
var errNotObject = errors.New("canonical: not a JSON object")

// Members calls f with the raw key (between its quotes, still escaped) and
// the raw value text of each member of the top-level JSON object in data,
// in order, until f returns false. It tolerates whitespace anywhere JSON
// allows it and decodes nothing, so it reads a stored capsule's top-level
// fields (id, sequence, domain …) far more cheaply than Parse; it checks
// only the structure it walks, not that every value is valid JSON.
func Members(data []byte, f func(key, value []byte) bool) error {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return errNotObject
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return nil
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return syntaxError(i, "want a member name")
		}
		kEnd, _, err := scanString(data, i)
		if err != nil {
			return err
		}
		key := data[i+1 : kEnd-1]
		i = skipSpace(data, kEnd)
		if i >= len(data) || data[i] != ':' {
			return syntaxError(i, "want ':' after a member name")
		}
		i = skipSpace(data, i+1)
		start, depth := i, 0
	value:
		for ; i < len(data); i++ {
			switch data[i] {
			case '"':
				end, _, err := scanString(data, i)
				if err != nil {
					return err
				}
				i = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth == 0 {
					break value
				}
				depth--
			case ',':
				if depth == 0 {
					break value
				}
			}
		}
		end := i
		for end > start && isSpace(data[end-1]) {
			end--
		}
		if end == start {
			return syntaxError(i, "want a value")
		}
		if !f(key, data[start:end]) {
			return nil
		}
		if i >= len(data) {
			return syntaxError(i, "unterminated object")
		}
		if data[i] == '}' {
			return nil
		}
		i = skipSpace(data, i+1)
	}
}
