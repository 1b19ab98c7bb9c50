// Package generics audits generic functions and methods of generic types.
package generics

import (
	"context"
	"fmt"
)

// Number is a constraint with a union.
type Number interface {
	~int | ~int64 | ~float64
}

// Map applies f to each element.
//
//capsule:audit type=tool trigger_from=""
func Map[T any, U comparable](xs []T, f func(T) U) []U {
	out := make([]U, 0, len(xs))
	for _, x := range xs {
		out = append(out, f(x))
	}
	return out
}

// Sum has a named constraint and an inline union constraint.
//
//capsule:audit type=tool trigger_from=""
func Sum[N Number, K ~string | ~[]byte](ctx context.Context, key K, ns ...N) (N, error) {
	var s N
	for _, n := range ns {
		s += n
	}
	return s, nil
}

// Tenant reads the tenant from a type parameter over strings.
//
//capsule:audit type=agent tenant_from=id trigger_from=n
func Tenant[S ~string, I ~int | ~int32](id S, n I) string { return string(id) }

// Show reads the tenant through a type parameter constrained by fmt.Stringer.
//
//capsule:audit type=agent tenant_from=s
func Show[T fmt.Stringer](s T) string { return s.String() }

// Blank has a blank type parameter.
//
//capsule:audit type=system trigger_from=""
func Blank[_ any, V any](v V) V { return v }

// Box is a generic container.
type Box[T any] struct {
	Items []T
	Owner string
}

// Put has a pointer receiver on a generic type.
//
//capsule:audit type=tool tenant_from=b.Owner trigger_from=""
func (b *Box[T]) Put(ctx context.Context, item T) error {
	b.Items = append(b.Items, item)
	return nil
}

// Len has a value receiver on a generic type.
//
//capsule:audit type=tool
func (b Box[T]) Len() int { return len(b.Items) }

// Pair has two type parameters.
type Pair[K comparable, V any] struct {
	Key K
	Val V
}

// Swap has a receiver with renamed type parameters.
//
//capsule:audit type=tool trigger_from=""
func (p Pair[A, B]) Swap(m map[A]B) (Pair[A, B], bool) { return p, true }
