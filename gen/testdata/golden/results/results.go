// Package results audits functions with various results.
package results

import (
	"context"
	"io"
)

// Three has three results and an error.
//
//capsule:audit type=tool
func Three(ctx context.Context) (int, string, []byte, error) { return 0, "", nil, nil }

// NoError has two results and no error.
//
//capsule:audit type=tool
func NoError() (int, bool) { return 0, false }

// ErrorOnly has just an error.
//
//capsule:audit type=tool
func ErrorOnly(ctx context.Context) error { return nil }

// NotLast has an error result that is not last: it is an ordinary result.
//
//capsule:audit type=tool
func NotLast() (error, int) { return nil, 0 }

// Writer returns an interface that is not error.
//
//capsule:audit type=tool
func Writer() io.Writer { return nil }

// Named has named results.
//
//capsule:audit type=tool
func Named(ctx context.Context) (n int, err error) { return 1, nil }
