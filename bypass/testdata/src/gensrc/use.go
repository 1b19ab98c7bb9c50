package gensrc

func use() string { return Handle("x") } // want `call AuditedHandle instead: this call is not audited`
