// Package variadic audits variadic functions.
package variadic

import "context"

// Join has a context and a variadic parameter.
//
//capsule:audit type=tool
func Join(ctx context.Context, sep string, parts ...string) (string, error) {
	return "", nil
}

// Only has only a variadic parameter, so the default trigger is empty.
//
//capsule:audit type=tool trigger_from=""
func Only(xs ...int) int { return len(xs) }

// Funcs has a variadic parameter of function type.
//
//capsule:audit type=tool
func Funcs(name string, fs ...func(int) error) {}
