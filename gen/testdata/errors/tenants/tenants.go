package tenants

import (
	"context"

	"github.com/capsule-go/capsule"
)

var store *capsule.Capsules

var notStore *capsule.Capsule

func tenantOf(ctx context.Context) string { return "" }

func wrongSig(ctx context.Context) (string, error) { return "", nil }

var tenantVar = tenantOf

//capsule:audit type=agent tenant_from=s tenant_id=x tenant_func=tenantOf
func Conflict(s string) {}

//capsule:audit type=agent tenant_func=missing
func MissingFunc() {}

//capsule:audit type=agent tenant_func=wrongSig
func WrongSig() {}

//capsule:audit type=agent tenant_func=tenantVar
func FuncVar() {}

//capsule:audit type=agent capsules=nothing
func MissingStore() {}

//capsule:audit type=agent capsules=notStore
func WrongStore() {}

//capsule:audit type=agent capsules=tenantOf
func StoreIsFunc() {}

//capsule:audit type=agent tenant_id=""
func EmptyTenant() {}

//capsule:audit type=agent capsules=store tenant_func=tenantOf
func Fine(ctx context.Context) {}
