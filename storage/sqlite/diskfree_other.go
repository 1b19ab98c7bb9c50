//go:build !(linux || darwin || freebsd)

package sqlite

// diskFree cannot tell the free space on this system: the store
// checkpoints by WAL size only.
func diskFree(string) (uint64, bool) { return 0, false }
