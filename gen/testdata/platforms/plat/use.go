package plat

func use(a *Agent) string { return a.AuditedEverywhere("x") }
