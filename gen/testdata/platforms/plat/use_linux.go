package plat

func useLinux(a *Agent) string { return a.AuditedOnlyLinux("x") }

func openLinux() error { return AuditedOpen("/") }
