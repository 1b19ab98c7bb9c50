// Package noctx audits functions without a context, error or results.
package noctx

// Add has no context and no error.
//
//capsule:audit type=tool tenant_id=acme
func Add(a, b int) int { return a + b }

// Tick has no parameters and no results.
//
//capsule:audit type=system
func Tick() {}

// Fail has no context and only an error result.
//
//capsule:audit type=kill tenant_id="tenant with spaces"
func Fail(reason string) error { return nil }
