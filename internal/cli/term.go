package cli

import (
	"io"
	"os"

	"golang.org/x/term"
)

// IsTerminal reports whether w is an *os.File attached to a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Colour wraps text in ANSI escape sequences when enabled, and returns it
// unchanged otherwise. The zero value writes no colour.
type Colour struct {
	Enabled bool
}

// NewColour returns a Colour enabled when w is a terminal and the NO_COLOR
// environment variable (https://no-color.org) is unset or empty; getenv
// reads the environment (os.Getenv in production).
func NewColour(w io.Writer, getenv func(string) string) Colour {
	return Colour{Enabled: IsTerminal(w) && getenv("NO_COLOR") == ""}
}

func (c Colour) wrap(code, s string) string {
	if !c.Enabled {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

// Bold returns s in bold.
func (c Colour) Bold(s string) string { return c.wrap("1", s) }

// Dim returns s faint.
func (c Colour) Dim(s string) string { return c.wrap("2", s) }

// Red returns s in red.
func (c Colour) Red(s string) string { return c.wrap("31", s) }

// Green returns s in green.
func (c Colour) Green(s string) string { return c.wrap("32", s) }

// Yellow returns s in yellow.
func (c Colour) Yellow(s string) string { return c.wrap("33", s) }

// Cyan returns s in cyan.
func (c Colour) Cyan(s string) string { return c.wrap("36", s) }
