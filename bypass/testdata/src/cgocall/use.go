package cgocall

func use() int { return Abs(-1) } // want `call AuditedAbs instead: this call is not audited`
