//go:build feature

package plat

func useFeature() error { return AuditedFeature("x") }
