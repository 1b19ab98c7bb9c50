package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/capsule-go/capsule/internal/cli"
)

// Exit codes.
const (
	exitOK      = 0 // pass: the chain or capsule is valid, the command did its work
	exitInvalid = 1 // the input was read and is invalid or does not verify
	exitError   = 2 // usage or I/O error: the input cannot be read or parsed at all
)

// inputCode is the exit code for input a command read but cannot use: 1
// (invalid) when it is well-formed JSON, 2 when it is not JSON at all and
// so cannot be parsed.
func inputCode(raw []byte) int {
	if json.Valid(raw) {
		return exitInvalid
	}
	return exitError
}

// command is one subcommand of capsule.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int
}

// commands lists the subcommands in the order help shows them.
func commands() []command {
	return []command{
		{"verify", "verify a chain: linkage, hashes, signatures", runVerify},
		{"chains", "list every chain of a database: tenant, length, head, times", runChains},
		{"inspect", "show one capsule's sections and seal", runInspect},
		{"export", "write a chain as a JSON array of sealed capsules", runExport},
		{"seal", "chain, seal and store capsule content from a file or stdin", runSeal},
		{"canonical", "print the canonical JSON (or its hash) of a capsule's content", runCanonical},
		{"validate", "check one capsule against the protocol", runValidate},
		{"keys", "show, rotate or export the signing keys", runKeys},
		{"hash", "print the SHA3-256 of files", runHash},
		{"checkpoint", "write a signed checkpoint (Merkle root) of a chain", runCheckpoint},
		{"witness", "have a chain's checkpoint cosigned by witnesses", runWitness},
		{"prove", "write an offline inclusion proof of one capsule", runProve},
		{"verify-proof", "check an inclusion proof offline", runVerifyProof},
		{"tree", "build or check the Merkle tree kept beside a chain", runTree},
		{"serve", "serve the read-only HTTP routes over a database", runServe},
		{"bench", "measure performance against this machine's limits", runBench},
	}
}

const mainUsage = `Usage: capsule <command> [flags] [arguments]

capsule verifies, inspects, exports and seals tamper-evident audit capsules
(Capsule Protocol 1.0). Flags may come before or after arguments.

Commands:
%s
Exit codes, the same in every command: 0 pass; 1 the input was read and is
invalid or does not verify; 2 usage or I/O error (the input cannot be read,
or is not JSON at all).

Run "capsule <command> --help" for a command's flags, "capsule --version"
for the version. Example:

  capsule chains --db ~/.quantumpipes/capsules.db
  capsule verify --signatures --db ~/.quantumpipes/capsules.db --tenant site-a
`

func writeMainUsage(w io.Writer) {
	var b strings.Builder
	for _, c := range commands() {
		fmt.Fprintf(&b, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, mainUsage, b.String())
}

// run is the whole program: it dispatches args to a command and returns
// the exit code. Tests call it in-process.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		writeMainUsage(stderr)
		return exitError
	}
	name := args[0]
	switch name {
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, version())
		return exitOK
	case "help", "-h", "-help", "--help":
		if len(args) > 1 && name == "help" {
			for _, c := range commands() {
				if c.name == args[1] {
					return c.run(ctx, []string{"--help"}, stdin, stdout, stderr)
				}
			}
			fmt.Fprintf(stderr, "capsule help: unknown command %q\n\n", args[1])
			writeMainUsage(stderr)
			return exitError
		}
		writeMainUsage(stdout)
		return exitOK
	}
	for _, c := range commands() {
		if c.name == name {
			return c.run(ctx, args[1:], stdin, stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "capsule: unknown command %q\n\n", name)
	writeMainUsage(stderr)
	return exitError
}

// cmdFlags is the flag set of one command with its usage text.
type cmdFlags struct {
	*flag.FlagSet
	name    string // "verify", "keys info" …
	usage   string // synopsis and description
	example string
}

// newFlags returns the flag set of a command. usage is the synopsis and
// description shown by --help, example one example command line.
func newFlags(name, usage, example string) *cmdFlags {
	fs := flag.NewFlagSet("capsule "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &cmdFlags{FlagSet: fs, name: name, usage: usage, example: example}
}

// writeUsage writes the command's help: synopsis, description, flags and
// the example.
func (f *cmdFlags) writeUsage(w io.Writer) {
	io.WriteString(w, strings.TrimSpace(f.usage)+"\n")
	hasFlags := false
	f.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		io.WriteString(w, "\nFlags:\n")
		f.SetOutput(w)
		f.PrintDefaults()
		f.SetOutput(io.Discard)
	}
	fmt.Fprintf(w, "\nExample:\n  %s\n", f.example)
}

// parse parses args. When it returns ok false the command is over and
// code is its exit code: 0 after --help (usage on stdout), 2 after a bad
// flag (the problem and the usage on stderr).
func (f *cmdFlags) parse(args []string, stdout, stderr io.Writer) (positional []string, code int, ok bool) {
	positional, err := cli.ParseArgs(f.FlagSet, args)
	if errors.Is(err, flag.ErrHelp) {
		f.writeUsage(stdout)
		return nil, exitOK, false
	}
	if err != nil {
		return nil, f.usageFail(stderr, err.Error()), false
	}
	return positional, 0, true
}

// usageFail reports a usage problem and the usage on stderr and returns
// exit code 2.
func (f *cmdFlags) usageFail(stderr io.Writer, msg string) int {
	fmt.Fprintf(stderr, "capsule %s: %s\n\n", f.name, msg)
	f.writeUsage(stderr)
	return exitError
}

// fail reports err on stderr as one line naming the command and returns
// the exit code: 2 with the usage for a usageError, else code.
func (f *cmdFlags) fail(stderr io.Writer, err error, code int) int {
	var ue usageError
	if errors.As(err, &ue) {
		return f.usageFail(stderr, ue.Error())
	}
	fmt.Fprintf(stderr, "capsule %s: %s\n", f.name, oneLine(err.Error()))
	return code
}

// oneLine keeps an error message on one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}
