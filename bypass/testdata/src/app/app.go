// Package app declares audited functions and methods, and uses them.
package app

// Agent has an audited method.
type Agent struct{}

// Run is audited.
//
//capsule:audit type=agent
func (a *Agent) Run(task string) string { return task } // want Run:"audited by AuditedRun"

// Search is audited.
//
//capsule:audit type=tool
func Search(q string) string { return q } // want Search:"audited by AuditedSearch"

// Map is generic and audited.
//
//capsule:audit type=tool trigger_from=""
func Map[T any](xs []T) int { return len(xs) } // want Map:"audited by AuditedMap"

//capsule:audit type=tool
func helper(s string) string { return s } // want helper:"audited by auditedHelper"

// capsule:audit type=tool
func nearMiss(s string) string { return s }

// List is a generic type with an audited method.
type List[T any] struct{ items []T }

// Push is audited.
//
//capsule:audit type=tool trigger_from=""
func (l *List[T]) Push(v T) { l.items = append(l.items, v) } // want Push:"audited by AuditedPush"

// Plain is not audited.
func Plain(s string) string { return s }

func uses(a *Agent, l *List[int]) {
	l.Push(1)       // want `call AuditedPush instead: this call is not audited`
	Search("x")     // want `call AuditedSearch instead: this call is not audited`
	helper("y")     // want `call auditedHelper instead: this call is not audited`
	a.Run("z")      // want `call AuditedRun instead: this call is not audited`
	(Search)("p")   // want `call AuditedSearch instead: this call is not audited`
	Map[int](nil)   // want `call AuditedMap instead: this call is not audited`
	Map([]string{}) // want `call AuditedMap instead: this call is not audited`
	f := Search     // want `use AuditedSearch instead: calls through this function value are not audited`
	_ = f
	Search("allowed")                                    //capsule:direct the test fixture needs it
	Search("the comment above allows only its own line") // want `call AuditedSearch instead: this call is not audited`
	//capsule:direct
	Search("allowed on the line above")
	// capsule:direct is not a directive: the call is reported
	Search("spaced") // want `call AuditedSearch instead: this call is not audited`
	// A //capsule:direct comment allows one call: the first on its line.
	_ = Search("first") + Search("second") //capsule:direct one replay // want `call AuditedSearch instead: this call is not audited`
	//capsule:direct
	_ = Search(Search("inner")) // want `call AuditedSearch instead: this call is not audited`
	//capsule:direct
	_ = Search("two comments") + Search("allow two") //capsule:direct
	nearMiss("n")
	Plain("p")
	AuditedSearch("w")
}

// Search calls itself: the inner call bypasses the audit too.
func recurse(n int) string {
	if n == 0 {
		return Search("r") // want `call AuditedSearch instead: this call is not audited`
	}
	return recurse(n - 1)
}
