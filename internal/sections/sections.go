// Package sections is the order in which people read a capsule, shared by
// the capsule command's inspect and the HTTP explorer: the identity
// fields, the six sections with their keys in the protocol's order, and
// any other keys sorted after them. It is derived from the declaration of
// package schema.
package sections

import (
	"slices"

	"github.com/capsule-go/capsule/protocol/schema"
)

// Identity lists the top-level fields shown above the sections, in the
// order of their schema.Field.Header.
var Identity = func() []string {
	var fs []schema.Field
	for _, f := range schema.Content {
		if f.Header > 0 {
			fs = append(fs, f)
		}
	}
	slices.SortFunc(fs, func(a, b schema.Field) int { return a.Header - b.Header })
	keys := make([]string, len(fs))
	for i, f := range fs {
		keys[i] = f.Key
	}
	return keys
}()

// Order lists each section's name followed by its keys in the protocol's
// order.
var Order = func() [][]string {
	var order [][]string
	for _, f := range schema.Content {
		if f.IsSection() {
			keys := []string{f.Key}
			for _, k := range f.Fields {
				keys = append(keys, k.Key)
			}
			order = append(order, keys)
		}
	}
	return order
}()

// Seal lists the keys a seal adds to content, in the order people read
// them.
var Seal = slices.Clone(schema.Seal)

// Keys returns m's keys: first those of order that m has, in that order,
// then the others sorted.
func Keys(m map[string]any, order []string) []string {
	var out, rest []string
	for _, k := range order {
		if _, ok := m[k]; ok {
			out = append(out, k)
		}
	}
	for k := range m {
		if !slices.Contains(order, k) {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	return append(out, rest...)
}
