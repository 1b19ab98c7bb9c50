// Package tenants reads tenants and triggers of every supported kind.
package tenants

import (
	"context"
	"fmt"
	"time"
)

// SiteID is a named string type.
type SiteID string

// Level is a named integer with a String method: String wins.
type Level int

// String returns the level's name.
func (l Level) String() string { return fmt.Sprintf("level-%d", int(l)) }

// Ref has a String method on its pointer.
type Ref struct{ ID string }

// String returns the reference.
func (r *Ref) String() string { return "ref:" + r.ID }

// Base is embedded by pointer in Request.
type Base struct {
	Org string
}

// Inner is reached through a pointer field.
type Inner struct {
	Site  SiteID
	Count *int
}

// Request is a request with nested tenant fields.
type Request struct {
	*Base
	Inner   *Inner
	Ptr     **Inner
	Opt     *string
	Value   Inner
	Stamp   time.Duration
	Who     fmt.Stringer
	Problem error
}

//capsule:audit type=agent tenant_from=req.Inner.Site trigger_from=req.Inner.Count
func Path(ctx context.Context, req *Request) error { return nil }

//capsule:audit type=agent tenant_from=req.Org trigger_from=req.Value.Site
func Promoted(req Request) {}

//capsule:audit type=agent tenant_from=req.Ptr.Site trigger_from=req.Opt
func DoublePointer(req *Request) {}

//capsule:audit type=agent tenant_from=req.Who trigger_from=req.Problem
func Interfaces(req *Request) {}

//capsule:audit type=agent tenant_from=req.Stamp trigger_from=err
func Stringers(req Request, err error) {}

//capsule:audit type=agent tenant_from=site trigger_from=level
func Named(site SiteID, level Level) {}

//capsule:audit type=agent tenant_from=ref trigger_from=ptr
func PointerMethods(ref Ref, ptr *Ref) {}

//capsule:audit type=agent tenant_from=n trigger_from=u
func Integers(n int32, u uint8) {}

//capsule:audit type=agent tenant_from=n trigger_from=u
func Integers64(n int64, u uint64) {}

//capsule:audit type=agent tenant_from=b trigger_from=f
func BoolFloat(b bool, f float64) {}

//capsule:audit type=agent tenant_from=p trigger_from=f
func Float32(p *SiteID, f float32) {}

//capsule:audit type=agent trigger_from=""
func DefaultNotStringLike(ctx context.Context, req Request) {}

// InnerPtr is a defined pointer type: selectors through it dereference.
type InnerPtr *Inner

//capsule:audit type=agent tenant_from=p.Site trigger_from=""
func DefinedPointer(p InnerPtr) {}
