//go:build cgo

package plat

func useCgo() int { return AuditedAbs(-1) }
