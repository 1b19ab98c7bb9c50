// Command schemagen writes the code that package schema's declaration of
// capsule content determines:
//
//   - model_gen.go (package capsule): the model's structs (Capsule and its
//     sections), their defaults, the canonical encoder (parts.encode), the
//     decoder's body (FromContent) and Capsule.Check's rules;
//   - protocol/canonical/schema_gen.go: the parser's interned keys and
//     values, and where the content rules of canonical JSON apply (the
//     float-typed numbers and the timestamp).
//
// It is run by the //go:generate line in the module's root (go generate
// .), from the module's root. With -check it writes nothing and fails
// when a file on disk differs from what it would write, as make test's
// check-generated does.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	check := flag.Bool("check", false, "report files that differ from what would be generated, write nothing")
	dir := flag.String("dir", ".", "the module's root")
	flag.Parse()
	files, err := generate()
	if err != nil {
		fmt.Fprintln(os.Stderr, "schemagen:", err)
		os.Exit(1)
	}
	stale := false
	for _, f := range files {
		path := filepath.Join(*dir, f.path)
		if *check {
			old, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(old, f.src) {
				fmt.Fprintf(os.Stderr, "schemagen: %s is stale: run go generate . in the module's root\n", f.path)
				stale = true
			}
			continue
		}
		if err := os.WriteFile(path, f.src, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "schemagen:", err)
			os.Exit(1)
		}
	}
	if stale {
		os.Exit(1)
	}
}
