package plat

// OnlyLinux is built on Linux only.
//
//capsule:audit type=tool tenant_from=a.Site
func (a *Agent) OnlyLinux(task string) string { return task }

// Open has a Linux and a Windows version.
//
//capsule:audit type=system
func Open(path string) error { return nil }
