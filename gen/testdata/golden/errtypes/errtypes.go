// Package errtypes audits functions whose last result implements error
// without being of type error: a pointer to a concrete error type, or
// another interface with error in it. It is the error result, compared
// with nil as it is, before it becomes an error (a nil *MyErr in an error
// is not nil). A value type implementing error cannot be nil, so it is an
// ordinary result, as is a type parameter.
package errtypes

import "context"

// MyErr is a concrete error type.
type MyErr struct{ Code int }

func (e *MyErr) Error() string { return "failed" }

// Coded is an interface with error in it.
type Coded interface {
	error
	Code() int
}

// ValueErr implements error on a value receiver.
type ValueErr struct{}

func (ValueErr) Error() string { return "value" }

// Only returns just a concrete error.
//
//capsule:audit type=tool
func Only(ctx context.Context) *MyErr { return nil }

// Pair returns a result and a concrete error.
//
//capsule:audit type=tool
func Pair(n int) (int, *MyErr) { return n, nil }

// Iface returns an error interface other than error.
//
//capsule:audit type=tool
func Iface(ctx context.Context) (string, Coded) { return "", nil }

// Value returns an error value that cannot be nil: an ordinary result.
//
//capsule:audit type=tool
func Value() ValueErr { return ValueErr{} }

// Param returns a type parameter constrained by error: an ordinary result.
//
//capsule:audit type=tool trigger_from=""
func Param[E error](e E) E { return e }
