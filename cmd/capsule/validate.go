package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/capsule-go/capsule/internal/cli"
	"github.com/capsule-go/capsule/protocol/validate"
)

const validateUsage = `
Usage: capsule validate [--json] [FILE | -]

Check one capsule (FILE, default standard input) against the protocol:
every field present with its type and value, the chain rules one capsule
shows on its own and, for a sealed capsule, that its hash matches its
content. The first problem is reported with its category (missing_field,
wrong_type, invalid_value, chain_violation, integrity_violation) and the
path of the field. --json prints {"ok":true} or
{"ok":false,"category":…,"field":…,"message":…}.

Exit code 0 when valid, 1 when invalid, 2 when the input cannot be read
or is not JSON at all (reported on standard error, as any command's
error).`

func runValidate(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	f := newFlags("validate", validateUsage, "capsule validate --json capsule.json")
	asJSON := f.Bool("json", false, "print the result as one JSON object")
	positional, code, ok := f.parse(args, stdout, stderr)
	if !ok {
		return code
	}
	data, name, err := readInput(positional, stdin)
	if err != nil {
		return f.fail(stderr, err, exitError)
	}
	verr := validate.Document(data)
	code = exitOK
	if verr != nil {
		code = inputCode(data)
	}
	if code == exitError {
		return f.fail(stderr, fmt.Errorf("%s: %w", name, verr), code)
	}
	if *asJSON {
		var out any = struct {
			OK bool `json:"ok"`
		}{true}
		if verr != nil {
			out = struct {
				OK       bool   `json:"ok"`
				Category string `json:"category"`
				Field    string `json:"field"`
				Message  string `json:"message"`
			}{false, string(verr.Category), verr.Field, verr.Message}
		}
		enc := json.NewEncoder(stdout)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(out); err != nil {
			return f.fail(stderr, err, exitError)
		}
		return code
	}
	c := cli.NewColour(stdout, os.Getenv)
	if verr == nil {
		fmt.Fprintf(stdout, "%s %s: valid capsule\n", c.Green("✓"), name)
		return code
	}
	field := verr.Field
	if field == "" {
		field = "(whole capsule)"
	}
	fmt.Fprintf(stdout, "%s %s: %s at %s: %s\n", c.Red("✗"), name, verr.Category, field, verr.Message)
	return code
}
