// Package cli holds the reusable pieces of the capsule command line: flag
// parsing that accepts flags after positional arguments, terminal
// detection, colour, a progress line and a bounded streaming reader of JSON
// values.
package cli

import (
	"flag"
	"strings"
)

// ParseArgs parses args with fs, accepting flags before, between and after
// positional arguments (the flag package alone stops at the first
// positional). It returns the positional arguments in order. "--" ends flag
// parsing; everything after it is positional. A lone "-" is positional (it
// conventionally names standard input).
//
// A flag that takes a value may be written "-name value", "-name=value",
// "--name value" or "--name=value"; boolean flags take no separate value.
// Unknown flags are passed to fs so that it reports them.
func ParseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var flags, positional []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			positional = append(positional, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			positional = append(positional, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		f := fs.Lookup(name)
		if f == nil || isBoolFlag(f) {
			continue
		}
		if i+1 < len(args) {
			i++
			flags = append(flags, args[i])
		}
	}
	if err := fs.Parse(flags); err != nil {
		return nil, err
	}
	// fs.Args() is empty unless a value-taking flag came last without its
	// value, which fs.Parse already reported.
	return append(positional, fs.Args()...), nil
}

// isBoolFlag reports whether f is a boolean flag, which takes no separate
// value argument.
func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}
