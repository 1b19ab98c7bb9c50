//go:build unix && !linux

package plat

// OtherUnix is built on Unix systems other than Linux.
//
//capsule:audit type=system
func OtherUnix(n int) int { return n }
