package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/protocol/canonical"
)

const canonicalUsage = `
Usage: capsule canonical [--hash] [FILE | -]

Print the canonical JSON of a capsule's content (keys in code-point order,
no whitespace, numbers and timestamps written as the protocol requires),
or with --hash its SHA3-256: the value a capsule's hash must equal. The
input (FILE, default standard input) is one capsule, its content or a
sealed capsule; the seal keys (hash, signature, signature_pq, signed_at,
signed_by) are not part of the content and are left out. Compare the
output with another implementation's to find why two hashes differ.

Exit code 1 when the input is JSON that cannot be canonicalized (not an
object, duplicate keys, nesting deeper than 512 levels …), 2 when it
cannot be read or is not JSON at all.`

func runCanonical(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	f := newFlags("canonical", canonicalUsage, "capsule canonical --hash capsule.json")
	hash := f.Bool("hash", false, "print the SHA3-256 of the canonical JSON instead")
	positional, code, ok := f.parse(args, stdout, stderr)
	if !ok {
		return code
	}
	data, name, err := readInput(positional, stdin)
	if err != nil {
		return f.fail(stderr, err, exitError)
	}
	out, err := canonicalContent(data)
	if err != nil {
		return f.fail(stderr, fmt.Errorf("%s: %w", name, err), inputCode(data))
	}
	if *hash {
		out = []byte(protocol.Hash(out))
	}
	if _, err := stdout.Write(append(out, '\n')); err != nil {
		return f.fail(stderr, err, exitError)
	}
	return exitOK
}

// canonicalContent returns the canonical JSON of the content of the
// capsule in data, leaving out the seal keys of a sealed capsule.
func canonicalContent(data []byte) ([]byte, error) {
	v, err := canonical.Parse(data)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("capsule content must be a JSON object")
	}
	sealed := false
	for _, k := range protocol.SealKeys() {
		if _, ok := m[k]; ok {
			delete(m, k)
			sealed = true
		}
	}
	if !sealed {
		return canonical.CanonicalizeContent(data)
	}
	return canonical.AppendContent(nil, m)
}

// readInput reads the one input file of a command: the single positional
// argument, or standard input when there is none or it is "-". It refuses
// inputs larger than protocol.MaxCapsuleBytes.
func readInput(positional []string, stdin io.Reader) (data []byte, name string, err error) {
	if len(positional) > 1 {
		return nil, "", usageError(fmt.Sprintf("too many arguments: %q (want one FILE, or - for standard input)", positional))
	}
	r, name := stdin, "standard input"
	if len(positional) == 1 && positional[0] != "-" {
		f, err := os.Open(positional[0])
		if err != nil {
			return nil, "", fmt.Errorf("open %s: %w", positional[0], unwrapPathError(err))
		}
		defer f.Close()
		r, name = f, positional[0]
	}
	data, err = io.ReadAll(io.LimitReader(r, protocol.MaxCapsuleBytes+1))
	if err != nil {
		return nil, "", fmt.Errorf("read %s: %w", name, err)
	}
	if len(data) > protocol.MaxCapsuleBytes {
		return nil, "", fmt.Errorf("%s: larger than %d bytes, the size limit of a capsule", name, protocol.MaxCapsuleBytes)
	}
	return data, name, nil
}
