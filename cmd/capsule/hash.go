package main

import (
	"context"
	"crypto/sha3"
	"encoding/hex"
	"fmt"
	"io"
	"os"
)

const hashUsage = `
Usage: capsule hash [FILE ...]

Print the SHA3-256 (FIPS 202) of each FILE's bytes, as lowercase hex,
in the format of sha256sum: "HEX  FILE". With no FILE, or "-", read
standard input. Files are streamed, whatever their size. To hash a
capsule's content as the protocol does, use "capsule canonical --hash".`

func runHash(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	f := newFlags("hash", hashUsage, "capsule hash export.json")
	positional, code, ok := f.parse(args, stdout, stderr)
	if !ok {
		return code
	}
	if len(positional) == 0 {
		positional = []string{"-"}
	}
	code = exitOK
	for _, name := range positional {
		sum, err := hashFile(name, stdin)
		if err != nil {
			code = f.fail(stderr, err, exitError)
			continue
		}
		fmt.Fprintf(stdout, "%s  %s\n", sum, name)
	}
	return code
}

// hashFile returns the hex SHA3-256 of the file name ("-" is stdin).
func hashFile(name string, stdin io.Reader) (string, error) {
	r := stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return "", fmt.Errorf("open %s: %w", name, unwrapPathError(err))
		}
		defer f.Close()
		r = f
	}
	h := sha3.New256()
	if _, err := io.Copy(h, r); err != nil {
		return "", fmt.Errorf("read %s: %w", name, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
