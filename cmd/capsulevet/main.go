// Command capsulevet reports calls that bypass the audit: a call of a
// function or method annotated with //capsule:audit instead of its
// generated Audited wrapper, or a use of one as a function value. See
// package github.com/capsule-go/capsule/bypass for what it reports and how
// to allow a call with //capsule:direct.
//
// Run it standalone, as a go vet tool, or as a module tool:
//
//	capsulevet ./...
//	go vet -vettool=$(which capsulevet) ./...
//	go get -tool github.com/capsule-go/capsule/cmd/capsulevet && go tool capsulevet ./...
//
// Each finding is printed as file:line:col: message; the exit code is 0
// when there is none, 3 (standalone) or 1 (go vet) when there are, and 1
// when packages cannot be loaded. -fix applies the suggested fixes
// (standalone only); -testfiles=false leaves _test.go files alone.
package main

import (
	"golang.org/x/tools/go/analysis/singlechecker"

	"github.com/capsule-go/capsule/bypass"
)

func main() { singlechecker.Main(bypass.Analyzer) }
