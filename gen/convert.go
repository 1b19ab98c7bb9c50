package gen

import (
	"go/token"
	"go/types"
)

// convert chooses how to turn a value of type t into a string, adding the
// nil checks and dereferences it needs to ac. It reports false when t is
// not string-like. The accessed value is always addressable (a parameter,
// or a field of one), so methods with pointer receivers are callable.
func (c *checker) convert(ac *access, t types.Type, allowFloat bool) bool {
	for {
		nilable := false
		switch types.Unalias(t).Underlying().(type) {
		case *types.Pointer, *types.Interface:
			_, isTP := types.Unalias(t).(*types.TypeParam)
			nilable = !isTP
		}
		callable := func(iface *types.Interface) bool {
			if types.Implements(t, iface) {
				return true
			}
			if _, isTP := types.Unalias(t).(*types.TypeParam); isTP || nilable {
				return false
			}
			return types.Implements(types.NewPointer(t), iface)
		}
		for _, m := range []struct {
			name string
			conv conversion
		}{{"Error", convError}, {"String", convStringer}} {
			if callable(stringMethodIface(m.name)) {
				if nilable {
					ac.steps = append(ac.steps, step{kind: stepNilCheck})
				}
				ac.conv, ac.typ = m.conv, t
				return true
			}
		}
		if p, ok := pointer(t); ok {
			ac.steps = append(ac.steps, step{kind: stepNilCheck}, step{kind: stepDeref})
			t = p.Elem()
			continue
		}
		conv, ok := basicConversion(t, allowFloat)
		if !ok {
			return false
		}
		ac.conv, ac.typ = conv, t
		return true
	}
}

// stringMethodIface returns interface{ <name>() string }.
func stringMethodIface(name string) *types.Interface {
	sig := types.NewSignatureType(nil, nil, nil, nil,
		types.NewTuple(types.NewVar(token.NoPos, nil, "", types.Typ[types.String])), false)
	iface := types.NewInterfaceType([]*types.Func{types.NewFunc(token.NoPos, nil, name, sig)}, nil)
	iface.Complete()
	return iface
}

// basicConversion returns the conversion for a type whose underlying type
// is a basic string, integer, bool or (when allowed) float type, or a type
// parameter whose type set holds only types of one of those kinds.
func basicConversion(t types.Type, allowFloat bool) (conversion, bool) {
	if tp, ok := types.Unalias(t).(*types.TypeParam); ok {
		iface, ok := tp.Constraint().Underlying().(*types.Interface)
		if !ok || iface.NumEmbeddeds() == 0 {
			return 0, false
		}
		var conv conversion
		first := true
		for i := range iface.NumEmbeddeds() {
			terms, ok := unionTerms(iface.EmbeddedType(i))
			if !ok {
				return 0, false
			}
			for _, term := range terms {
				c, ok := basicConversion(term, allowFloat)
				if !ok || (!first && c != conv) {
					return 0, false
				}
				conv, first = c, false
			}
		}
		return conv, !first
	}
	b, ok := t.Underlying().(*types.Basic)
	if !ok {
		return 0, false
	}
	info := b.Info()
	switch {
	case info&types.IsString != 0:
		return convString, true
	case info&types.IsInteger != 0 && info&types.IsUnsigned != 0:
		return convUint, true
	case info&types.IsInteger != 0:
		return convInt, true
	case info&types.IsBoolean != 0:
		return convBool, true
	case allowFloat && b.Kind() == types.Float32:
		return convFloat32, true
	case allowFloat && info&types.IsFloat != 0:
		return convFloat64, true
	}
	return 0, false
}

// unionTerms returns the types of a constraint element: the terms of a
// union, or the type itself.
func unionTerms(t types.Type) ([]types.Type, bool) {
	switch u := t.(type) {
	case *types.Union:
		terms := make([]types.Type, u.Len())
		for i := range u.Len() {
			terms[i] = u.Term(i).Type()
		}
		return terms, true
	case *types.Interface:
		return nil, false
	}
	return []types.Type{t}, true
}

// pointer returns the pointer type underlying t: a pointer type literal or
// a defined pointer type, through which selectors dereference too.
func pointer(t types.Type) (*types.Pointer, bool) {
	if _, ok := types.Unalias(t).(*types.TypeParam); ok {
		return nil, false
	}
	p, ok := t.Underlying().(*types.Pointer)
	return p, ok
}
