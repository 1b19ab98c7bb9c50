package params

import (
	"context"
	"fmt"
)

type Request struct {
	Site  string
	Tags  []string
	Inner *Inner
	inner
}

type Inner struct{ Score float64 }

type inner struct{ Hidden string }

func (Request) Method() string { return "" }

//capsule:audit type=agent tenant_from=site
func NoParam(ctx context.Context, siteID string) {}

//capsule:audit type=agent tenant_from=req.Nope
func NoField(req *Request) {}

//capsule:audit type=agent tenant_from=req.Tags
func SliceTenant(req Request) {}

//capsule:audit type=agent tenant_from=req.Inner.Score
func FloatTenant(req Request) {}

//capsule:audit type=agent tenant_from=req.Method
func MethodTenant(req Request) {}

//capsule:audit type=agent tenant_from=req.Site.Len
func FieldOfString(req Request) {}

//capsule:audit type=agent tenant_from=m
func MapTenant(m map[string]string) {}

//capsule:audit type=agent tenant_from=ctx
func ContextTenant(ctx context.Context) {}

//capsule:audit type=agent trigger_from=2
func OutOfRange(ctx context.Context, a, b string) {}

//capsule:audit type=agent trigger_from=1
func OutOfRangeNoCtx(a string) {}

//capsule:audit type=agent trigger_from=0
func OutOfRangeEmpty() {}

//capsule:audit type=agent trigger_from=req
func TriggerStruct(req Request) {}

//capsule:audit type=agent trigger_from=1
func TriggerVariadic(a string, xs ...string) {}

//capsule:audit type=agent tenant_from=req..Site trigger_from=-1
func BadPath(req Request) {}

//capsule:audit type=agent tenant_from=_
func Blank(_ string) {}

//capsule:audit type=agent tenant_from=x
func AnyTenant(x any) {}

//capsule:audit type=agent tenant_from=x
func TypeParam[T any](x T) {}

//capsule:audit type=agent tenant_from=x
func MixedTypeParam[T ~string | ~int](x T) {}

//capsule:audit type=agent tenant_from=f
func FuncTenant(f fmt.Formatter) {}

//capsule:audit type=agent tenant_from=req.Hidden
func PromotedUnexported(req Request) {}

//capsule:audit type=agent tenant_from=tenent
func (r Request) Receiver(ctx context.Context, tenant string, _ int) {}

//capsule:audit type=agent tenant_from=site
func NoParams() {}
