package llm

import "bytes"

// sseParser splits a text/event-stream into events as its bytes come, as
// the HTML standard's event stream interpretation does: lines end with
// CRLF, LF or CR; "event:" names the event, "data:" lines are joined with
// LF, a blank line dispatches it, lines starting with ":" are comments.
// An event longer than maxEvent is dropped.
type sseParser struct {
	onEvent func(name string, data []byte)
	line    []byte
	long    bool // the current line is past maxEvent
	cr      bool // the last byte was a CR: skip an LF right after it
	name    string
	data    []byte
	hasData bool
	drop    bool // the current event is past maxEvent
}

func (p *sseParser) write(b []byte) {
	for len(b) > 0 {
		if p.cr {
			p.cr = false
			if b[0] == '\n' {
				b = b[1:]
				continue
			}
		}
		i := bytes.IndexAny(b, "\r\n")
		if i < 0 {
			p.add(b)
			return
		}
		p.add(b[:i])
		p.cr = b[i] == '\r'
		b = b[i+1:]
		p.endLine()
	}
}

// add appends to the current line.
func (p *sseParser) add(b []byte) {
	if len(p.line)+len(b) > maxEvent {
		p.long = true
		return
	}
	p.line = append(p.line, b...)
}

func (p *sseParser) endLine() {
	line, long := p.line, p.long
	p.line, p.long = p.line[:0], false
	switch {
	case long:
		p.drop = true
		return
	case len(line) == 0:
		if p.hasData && !p.drop {
			p.onEvent(p.name, bytes.TrimSuffix(p.data, []byte("\n")))
		}
		p.name, p.data, p.hasData, p.drop = "", p.data[:0], false, false
		return
	case line[0] == ':':
		return
	}
	field, value, _ := bytes.Cut(line, []byte(":"))
	value = bytes.TrimPrefix(value, []byte(" "))
	switch string(field) {
	case "event":
		p.name = string(value)
	case "data":
		if len(p.data)+len(value) >= maxEvent {
			p.drop = true
			return
		}
		p.data = append(append(p.data, value...), '\n')
		p.hasData = true
	}
}
