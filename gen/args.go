package gen

import (
	"go/token"
	"go/types"

	"github.com/capsule-go/capsule/internal/directive"
	"github.com/capsule-go/capsule/protocol"
)

// applyArgs checks the arguments of d and sets them on w, then the
// defaults of the keys d does not have.
func (c *checker) applyArgs(w *wrapper, d *directive.Directive) {
	var tenantKey *directive.Arg
	var swallowArg directive.Arg
	for _, a := range d.Args {
		switch a.Key {
		case directive.KeyType:
			name, ok := capsuleTypeConst(a.Value)
			if !ok {
				c.errorf(a.KeyPos, "unknown type %q (%s)", a.Value, typeHint(a.Value))
				continue
			}
			w.capType = name
		case directive.KeySource:
			w.source = a.Value
		case directive.KeyDomain:
			w.domain = a.Value
		case directive.KeySwallowErrors:
			switch a.Value {
			case "true":
				w.swallow = true
			case "false":
				w.swallow = false
				swallowArg = a
			default:
				c.errorf(a.KeyPos, "swallow_errors: invalid value %q (want true or false)", a.Value)
			}
		case directive.KeyCapsules:
			c.checkCapsules(a)
			w.capsulesVar = a.Value
		case directive.KeyTenantFrom, directive.KeyTenantID, directive.KeyTenantFunc:
			if tenantKey != nil {
				c.errorf(a.KeyPos, "%s conflicts with %s: use only one of tenant_from, tenant_id, tenant_func", a.Key, tenantKey.Key)
				continue
			}
			tenantKey = &a
			c.tenant(w, a)
		case directive.KeyTriggerFrom:
			w.trigger = c.resolveTrigger(w, a)
		}
	}
	if !d.Mentions(directive.KeyType) {
		c.errorf(d.Pos, "missing required key %q (one of %s)", directive.KeyType, typeList)
	}
	switch {
	case !w.swallow && !w.hasErr:
		c.errorf(swallowArg.KeyPos, "swallow_errors=false: %s has no error result to return audit failures through", w.name)
	case !w.swallow && w.errOther:
		c.errorf(swallowArg.KeyPos, "swallow_errors=false: the error result of %s has type %s, which cannot hold audit failures (it must be error)", w.name, c.typeString(w.results[len(w.results)-1]))
	}
	if !d.Mentions(directive.KeyTriggerFrom) {
		w.trigger = c.defaultTrigger(w, d.Pos)
	}
}

// typeHint is the hint for an unknown capsule type: the nearest known
// type, or the list of them.
func typeHint(value string) string {
	if near := directive.Nearest(value, protocol.Types()); near != "" {
		return "did you mean " + near + "?"
	}
	return "want one of " + typeList
}

// tenant sets where w takes the tenant from, for one of the tenant keys.
func (c *checker) tenant(w *wrapper, a directive.Arg) {
	switch a.Key {
	case directive.KeyTenantID:
		w.tenantKind = tenantStatic
		w.tenantID = a.Value
		if a.Value == "" {
			c.errorf(a.KeyPos, "tenant_id: empty tenant (omit the key for the null tenant)")
		}
	case directive.KeyTenantFunc:
		w.tenantKind = tenantFunc
		w.tenantFunc = a.Value
		c.checkTenantFunc(w, a)
	case directive.KeyTenantFrom:
		w.tenantKind = tenantFrom
		w.tenant = c.resolve(w, a, a.Value, false)
	}
}

// checkCapsules checks that a names a package-level *capsule.Capsules
// variable.
func (c *checker) checkCapsules(a directive.Arg) {
	obj := c.pkg.Types.Scope().Lookup(a.Value)
	v, ok := obj.(*types.Var)
	if !ok {
		if obj == nil {
			c.errorf(a.KeyPos, "capsules: no package-level variable named %q", a.Value)
		} else {
			c.errorf(a.KeyPos, "capsules: %s is not a variable (want a package-level *capsule.Capsules variable)", a.Value)
		}
		return
	}
	p, ok := types.Unalias(v.Type()).(*types.Pointer)
	if !ok || !isNamed(p.Elem(), CapsulePath, "Capsules") {
		c.errorf(a.KeyPos, "capsules: %s has type %s, want *capsule.Capsules", a.Value, c.typeString(v.Type()))
	}
}

// checkTenantFunc checks that a names a package-level function of type
// func(context.Context) string, or one taking the parameters of w's
// function and returning string, and records which on w.
func (c *checker) checkTenantFunc(w *wrapper, a directive.Arg) {
	own := types.NewSignatureType(nil, nil, nil, w.sig.Params(),
		types.NewTuple(types.NewParam(token.NoPos, nil, "", types.Typ[types.String])), w.sig.Variadic())
	want := "func(context.Context) string or " + c.typeString(own)
	obj := c.pkg.Types.Scope().Lookup(a.Value)
	fn, ok := obj.(*types.Func)
	if !ok {
		if obj == nil {
			c.errorf(a.KeyPos, "tenant_func: no package-level function named %q", a.Value)
		} else {
			c.errorf(a.KeyPos, "tenant_func: %s is not a function (want a package-level %s)", a.Value, want)
		}
		return
	}
	sig := fn.Signature()
	switch {
	case sig.TypeParams().Len() == 0 && !sig.Variadic() && sig.Params().Len() == 1 &&
		isContext(sig.Params().At(0).Type()) && returnsString(sig):
	case sig.TypeParams().Len() == 0 && sig.Variadic() == own.Variadic() &&
		types.Identical(sig.Params(), own.Params()) && returnsString(sig):
		w.tenantFuncArgs = true
	default:
		c.errorf(a.KeyPos, "tenant_func: %s has type %s, want %s", a.Value, c.typeString(sig), want)
	}
}

// returnsString reports whether sig has a single string result.
func returnsString(sig *types.Signature) bool {
	return sig.Results().Len() == 1 && types.Identical(sig.Results().At(0).Type(), types.Typ[types.String])
}
