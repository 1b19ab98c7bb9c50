package conflicts

type Agent struct {
	AuditedField int
}

//capsule:audit type=agent
func Run() {}

func AuditedRun() {}

//capsule:audit type=agent
func (a *Agent) Do() {}

func (a Agent) AuditedDo() {}

//capsule:audit type=agent
func (a Agent) Field() {}

// Base has a method that Outer promotes.
type Base struct{}

func (Base) AuditedPing() {}

// Outer embeds Base: its own AuditedPing shadows the promoted one.
type Outer struct{ Base }

//capsule:audit type=agent
func (o Outer) Ping() {}
