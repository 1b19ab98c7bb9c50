// Package methods audits methods on value and pointer receivers.
package methods

import "context"

// Agent is an agent with a tenant.
type Agent struct {
	Tenant string
	Name   string
}

// Run has a pointer receiver and takes the tenant from it.
//
//capsule:audit type=agent tenant_from=a.Tenant
func (a *Agent) Run(ctx context.Context, task string) (string, error) {
	return a.Name + task, nil
}

// Describe has a value receiver.
//
//capsule:audit type=chat trigger_from=a.Name
func (a Agent) Describe() string { return a.Name }

// Reset has an unnamed pointer receiver.
//
//capsule:audit type=system
func (*Agent) Reset(ctx context.Context) {}

// Ping has a blank value receiver.
//
//capsule:audit type=system
func (_ Agent) Ping() bool { return true }

// Counter has a method whose receiver name would collide with a local name.
type Counter int

// Add adds to the counter.
//
//capsule:audit type=tool trigger_from=call
func (done *Counter) Add(call int) int {
	*done += Counter(call)
	return int(*done)
}

// unexported is audited by an unexported wrapper.
//
//capsule:audit type=tool
func (a *Agent) unexported(x string) string { return x }
