// Package plat has audited functions in files with build constraints: a
// file name's GOOS (x_linux.go, x_windows.go, excluded when generating on
// Linux), a //go:build line (y_unix.go), cgo (c.go) and a tag of its own
// (feature.go). Each wrapper lives in a generated file under the same
// constraint, and use*.go call them under theirs.
package plat

import "fmt"

// Agent has audited methods in several files.
type Agent struct{ Site fmt.Stringer }

// Everywhere is built everywhere.
//
//capsule:audit type=tool tenant_from=a.Site
func (a *Agent) Everywhere(task string) string { return task }
