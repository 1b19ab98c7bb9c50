// Package dispatch calls audited methods through type parameters: the
// calls inside generic code cannot be rewritten, so each instantiation
// with a type whose method is audited is reported.
package dispatch

import (
	"app"
	"reflect"
)

// Runner is satisfied by *app.Agent.
type Runner interface{ Run(string) string }

// Other has a method of the same name that is not audited.
type Other struct{}

// Run is not audited.
func (Other) Run(s string) string { return s }

// Do calls Run through T.
func Do[T Runner](t T) string { return t.Run("x") } // want Do:"calls T.Run"

// Value takes Run as a method value through T.
func Value[T Runner](t T) func(string) string { return t.Run } // want Value:"calls T.Run"

// Via instantiates Do with its own type parameter.
func Via[U Runner](u U) string { return Do(u) } // want Via:"calls U.Run"

// Two has two type parameters; only the second is called through.
func Two[A any, B Runner](a A, b B) string { return b.Run("two") } // want Two:"calls B.Run"

// Box is a generic type whose method calls Run through T.
type Box[T Runner] struct{ t T } // want Box:"calls T.Run"

// Go calls Run.
func (b Box[T]) Go() string { return b.t.Run("b") }

// NewBox instantiates Box with its own type parameter.
func NewBox[T Runner](t T) Box[T] { return Box[T]{t} } // want NewBox:"calls T.Run"

// Plain is generic and calls nothing through its type parameter.
func Plain[T Runner](t T) T { return t }

func uses(a *app.Agent) {
	Do(a)                 // want `Do\[\*app.Agent\] calls \(\*app.Agent\).Run through its type parameter T: that call is not audited \(AuditedRun is\)`
	Do[*app.Agent](a)     // want `Do\[\*app.Agent\] calls \(\*app.Agent\).Run through its type parameter T`
	_ = Value(a)          // want `Value\[\*app.Agent\] calls \(\*app.Agent\).Run through its type parameter T`
	Via(a)                // want `Via\[\*app.Agent\] calls \(\*app.Agent\).Run through its type parameter U`
	Two(1, a)             // want `Two\[int, \*app.Agent\] calls \(\*app.Agent\).Run through its type parameter B`
	_ = Box[*app.Agent]{} // want `Box\[\*app.Agent\] calls \(\*app.Agent\).Run through its type parameter T`
	NewBox(a).Go()        // want `NewBox\[\*app.Agent\] calls \(\*app.Agent\).Run through its type parameter T`
	Do(Other{})           // Other.Run is not audited
	Plain(a)              // Plain calls nothing through T
	Do(a)                 //capsule:direct a deliberate unaudited run
	_ = Do(a) + Do(a)     //capsule:direct allows the first only // want `Do\[\*app.Agent\] calls`

	// Out of reach: an interface type argument is interface dispatch, and
	// reflection is not seen.
	Do[Runner](a)
	reflect.ValueOf(a).MethodByName("Run").Call([]reflect.Value{reflect.ValueOf("r")})
}

// Both is audited and calls Run through T.
//
//capsule:audit type=tool trigger_from=""
func Both[T Runner](t T) string { return t.Run("both") } // want Both:"audited by AuditedBoth" Both:"calls T.Run"

func usesBoth(a *app.Agent) {
	Both(a) // want `call AuditedBoth instead: this call is not audited` `Both\[\*app.Agent\] calls \(\*app.Agent\).Run through its type parameter T`

	Both(a) //capsule:direct one comment allows the call, reported for two reasons
}
