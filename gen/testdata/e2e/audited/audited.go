// Package audited is the end-to-end test's annotated package: one function
// per behaviour the wrappers must have.
package audited

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/capsule-go/capsule"
)

// ErrSentinel is returned (wrapped) by Fail.
var ErrSentinel = errors.New("sentinel")

// Closed is a *Capsules whose store has been closed: every audit fails.
var Closed *capsule.Capsules

//capsule:audit type=agent tenant_from=siteID
func Greet(ctx context.Context, name string, siteID string) (string, error) {
	return "hello " + name, nil
}

//capsule:audit type=tool trigger_from=ms
func Sleep(ctx context.Context, ms int) error {
	time.Sleep(time.Duration(ms) * time.Millisecond)
	return nil
}

//capsule:audit type=tool tenant_id=errors
func Fail(ctx context.Context, reason string) (int, error) {
	return 7, fmt.Errorf("failing because %s: %w", reason, ErrSentinel)
}

//capsule:audit type=kill tenant_id=panics trigger_from=""
func Boom(v any) int {
	panic(v)
}

//capsule:audit type=system tenant_id=panics
func Exit(ctx context.Context) {
	runtime.Goexit()
}

//capsule:audit type=chat tenant_id=enrich domain=conversations
func Enrich(ctx context.Context, prompt string) (map[string]any, error) {
	c, err := capsule.FromContext(ctx)
	if err != nil {
		return nil, err
	}
	c.Reasoning.Model = "model-x"
	c.Reasoning.Confidence = 0.75
	return map[string]any{"answer": strings.ToUpper(prompt), "n": 3}, nil
}

// Agent has audited methods.
type Agent struct {
	Tenant string
	Calls  int
}

//capsule:audit type=agent tenant_from=a.Tenant source="agent runner"
func (a *Agent) Act(ctx context.Context, task string) (int, error) {
	a.Calls++
	return a.Calls, nil
}

//capsule:audit type=agent tenant_id=values
func (a Agent) Name(prefix string) string { return prefix + a.Tenant }

// Request has nested tenant fields.
type Request struct {
	Inner *Inner
}

// Inner holds the site.
type Inner struct {
	Site string
}

//capsule:audit type=agent tenant_from=req.Inner.Site trigger_from=req.Inner.Site
func Nested(req *Request) bool { return req == nil }

// Bad has a String method that panics on a nil pointer.
type Bad struct{ Name string }

// String dereferences b.
func (b Bad) String() string { return b.Name }

//capsule:audit type=agent tenant_from=s
func Stringer(s fmt.Stringer) string { return "called" }

//capsule:audit type=agent tenant_from=n
func Numbered(n int) int { return n * 2 }

type tenantKey struct{}

// WithTenant stores a tenant in ctx for TenantOf.
func WithTenant(ctx context.Context, t string) context.Context {
	return context.WithValue(ctx, tenantKey{}, t)
}

// TenantOf reads the tenant stored by WithTenant.
func TenantOf(ctx context.Context) string {
	t, _ := ctx.Value(tenantKey{}).(string)
	return t
}

//capsule:audit type=workflow tenant_func=TenantOf
func FromFunc(ctx context.Context, step string) error { return nil }

// SiteOf takes FromArgs's own parameters and names its tenant.
func SiteOf(ctx context.Context, site string, step int) string { return "site-" + site }

//capsule:audit type=workflow tenant_func=SiteOf trigger_from=step
func FromArgs(ctx context.Context, site string, step int) error { return nil }

//capsule:audit type=tool tenant_id=generic trigger_from=""
func Identity[T any](v T) T { return v }

//capsule:audit type=tool tenant_id=generic trigger_from=sep
func Join(sep string, parts ...string) string { return strings.Join(parts, sep) }

//capsule:audit type=vault capsules=Closed swallow_errors=false
func Strict(ctx context.Context, fail bool) (int, error) {
	if fail {
		return 0, ErrSentinel
	}
	return 42, nil
}

//capsule:audit type=vault capsules=Closed
func Lenient(ctx context.Context) (int, error) { return 43, nil }

//capsule:audit type=tool tenant_id=long
func Long() string { return strings.Repeat("x", 600) }

// CodeErr is an error of a concrete type, returned as *CodeErr.
type CodeErr struct{ N int }

// Error returns the code.
func (e *CodeErr) Error() string { return "code " + strconv.Itoa(e.N) }

// Code returns the code.
func (e *CodeErr) Code() int { return e.N }

// Coded is an error interface other than error.
type Coded interface {
	error
	Code() int
}

//capsule:audit type=tool tenant_id=errtypes
func Concrete(fail bool) (int, *CodeErr) {
	if fail {
		return 0, &CodeErr{N: 7}
	}
	return 1, nil
}

//capsule:audit type=tool tenant_id=errtypes
func ConcreteOnly(fail bool) *CodeErr {
	if fail {
		return &CodeErr{N: 9}
	}
	return nil
}

//capsule:audit type=tool tenant_id=errtypes
func Iface(fail bool) (string, Coded) {
	if fail {
		return "", &CodeErr{N: 8}
	}
	return "ok", nil
}
