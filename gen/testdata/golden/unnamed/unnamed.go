// Package unnamed audits functions with unnamed and blank parameters.
package unnamed

import "context"

// Unnamed has no parameter names at all.
//
//capsule:audit type=tool
func Unnamed(context.Context, string, int) error { return nil }

// Blank has blank parameters, one of them the context.
//
//capsule:audit type=tool trigger_from=1
func Blank(_ context.Context, _ string, p1 int, _ bool) {}

// Results has unnamed parameters and named results.
//
//capsule:audit type=tool
func Results(string, ...int) (n int, err error) { return 0, nil }
