//go:build feature

package plat

// Feature is built with -tags feature only.
//
//capsule:audit type=workflow
func Feature(step string) error { return nil }
