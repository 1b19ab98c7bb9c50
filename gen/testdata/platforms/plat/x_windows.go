package plat

import "context"

// OnlyWindows is built on Windows only.
//
//capsule:audit type=agent tenant_id=win
func OnlyWindows(ctx context.Context, task string) (string, error) { return task, nil }

// Open has a Linux and a Windows version.
//
//capsule:audit type=system
func Open(path string) error { return nil }
