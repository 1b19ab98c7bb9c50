// Package collisions has names that collide with the names generated code
// would use.
package collisions

import (
	capsulerun "github.com/capsule-go/capsule"
)

// capsule is a package-level name: the runtime import needs another name.
var capsule = "not the runtime"

// strconv is a package-level name, too.
func strconv() string { return capsule }

// capsuleSiteRun is taken: the site variable of Run gets another name.
var capsuleSiteRun = 1

// Current uses the runtime under another import name.
func Current() *capsulerun.Capsule { return nil }

//capsule:audit type=tool tenant_from=call trigger_from=r0
func Run(call string, done int, err string, r0 uint, p bool, aerr string, tenant, request string) (string, error) {
	return "", nil
}

//capsule:audit type=tool tenant_from=context trigger_from=errors
func Shadow(context string, errors int, string string, recover, panic, nil bool) {}

//capsule:audit type=tool
func Self(Self int) int { return Self }

//capsule:audit type=tool swallow_errors=false
func Errs(errors, err, aerr error) error { return nil }

//capsule:audit type=tool tenant_from=capsuleString
func helper(capsuleString fmt) {}

type fmt struct{}

func (fmt) String() string { return strconv() }
