// Command capsulegen writes the audited wrappers of functions annotated
// with //capsule:audit directives.
//
// Usage:
//
//	capsulegen [-check] [-v] [packages]
//
// It writes one <package>_capsule.go file per package that has directives
// (packages default to ".", the package go generate runs it in), and one
// more, under the same build constraint, per distinct constraint of the
// files that declare audited functions (<package>_linux_capsule.go for
// x_linux.go, also when generating on another system), and removes
// generated files that are no longer needed. With -check it writes
// nothing, prints each stale file with a unified diff and each missing or
// orphaned one, and exits 1 when there is any: the CI check for generated
// code that was not regenerated.
//
// In a package, run it through go generate:
//
//	//go:generate go run github.com/capsule-go/capsule/cmd/capsulegen
//
// Exit codes: 0 success (and, with -check, everything up to date); 1 a
// directive has problems (each printed as file:line:col: message) or, with
// -check, a generated file is stale, missing or orphaned; 2 usage errors
// and packages that cannot be loaded. Comments that look like directives
// but are not ("// capsule:audit", "//capsule:audti", "/*capsule:audit*/")
// are ignored with a warning (file:line:col: warning: message) that leaves
// the exit code as it is. See package
// github.com/capsule-go/capsule/gen for the directive.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/capsule-go/capsule/gen"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the command with its exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("capsulegen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	check := fs.Bool("check", false, "write nothing; report stale, missing and orphaned generated files and exit 1 if there are any")
	verbose := fs.Bool("v", false, "report each file written or removed")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: capsulegen [-check] [-v] [packages]\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	res, err := gen.Generate(ctx, gen.Config{
		Patterns: fs.Args(),
		Check:    *check,
		Verbose:  *verbose,
		Stdout:   stdout,
	})
	for _, w := range res.Warnings {
		w.Message = "warning: " + w.Message
		fmt.Fprintln(stderr, w)
	}
	var derr *gen.DirectiveError
	switch {
	case errors.As(err, &derr):
		for _, d := range derr.Diagnostics {
			fmt.Fprintln(stderr, d)
		}
		return 1
	case err != nil:
		fmt.Fprintln(stderr, err)
		return 2
	case *check && !res.UpToDate():
		return 1
	}
	return 0
}
