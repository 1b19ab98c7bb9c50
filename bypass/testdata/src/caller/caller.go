// Package caller imports app and calls its audited functions.
package caller

import "app"

// Embeds promotes Run.
type Embeds struct{ *app.Agent }

// Runner is satisfied by *app.Agent; calls through it are not seen.
type Runner interface{ Run(string) string }

func calls(a *app.Agent, e Embeds, r Runner) {
	app.Search("x")          // want `call AuditedSearch instead: this call is not audited`
	a.Run("y")               // want `call AuditedRun instead: this call is not audited`
	e.Run("promoted")        // want `call AuditedRun instead: this call is not audited`
	app.Map([]int{1})        // want `call AuditedMap instead: this call is not audited`
	run := a.Run             // want `use AuditedRun instead: calls through this function value are not audited`
	expr := (*app.Agent).Run // want `use AuditedRun instead: calls through this function value are not audited`
	apply(app.Search)        // want `use AuditedSearch instead: calls through this function value are not audited`
	_, _ = run, expr
	r.Run("interface")
	app.Search("direct") //capsule:direct
	app.AuditedSearch("ok")
	a.AuditedRun("ok")
	app.Plain("ok")
}

func apply(f func(string) string) string { return f("v") }
