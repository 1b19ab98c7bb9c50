package plat

import "context"

func useWindows() (string, error) { return AuditedOnlyWindows(context.Background(), "x") }

func openWindows() error { return AuditedOpen(`C:\`) }
