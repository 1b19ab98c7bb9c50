//go:build unix && !linux

package plat

func useUnix() int { return AuditedOtherUnix(1) }
