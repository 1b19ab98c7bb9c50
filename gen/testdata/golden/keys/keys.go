// Package keys uses every directive key.
package keys

import (
	"context"

	"github.com/capsule-go/capsule"
)

// Store is where the audited calls of this package are recorded.
var Store *capsule.Capsules

type tenantKey struct{}

// TenantOf returns the tenant stored in ctx.
func TenantOf(ctx context.Context) string {
	s, _ := ctx.Value(tenantKey{}).(string)
	return s
}

// Everything sets every key but the tenant_from and tenant_id ones.
//
//capsule:audit type=vault tenant_func=TenantOf trigger_from=secret source="vault writer \"v2\"" domain=secrets swallow_errors=false capsules=Store
func Everything(ctx context.Context, path string, secret string) ([]byte, error) {
	return nil, nil
}

// Position takes the trigger by position: positions skip the context.
//
//capsule:audit type=auth trigger_from=1 tenant_id=t1 swallow_errors=true domain=""
func Position(ctx context.Context, user string, token string) error { return nil }

// NoContext uses tenant_func without a context parameter.
//
//capsule:audit	type=workflow	tenant_func=TenantOf	trigger_from=0
func NoContext(step string) {}

// Quoted values may contain anything.
//
//capsule:audit type="chat" source="a \\ b\t\u00e9" tenant_id="x=y z"
func Quoted() {}
