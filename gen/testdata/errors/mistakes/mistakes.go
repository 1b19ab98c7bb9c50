// Package mistakes has directives with several mistakes each: every one
// is reported, with the nearest key or type for a misspelled one.
package mistakes

type Request struct{ Site string }

//capsule:audit typ=tool tenant_fro=req.Site trigger_from=req.Nope
func Three(req Request) string { return req.Site }

//capsule:audit type=tol tenant_from=site swallow_errors=maybe domain=
func Four(req Request) {}

//capsule:audit type=agent tenant_from=req.Site
func DefaultTrigger[T any](req Request, x T) {}

//capsule:audit type=agent tenant_id=t
func GenericDefault[T any](x T) {}
