// Package overwrite has a hand-written file with the name capsulegen wants.
package overwrite

// Helper is hand-written.
func Helper() {}
