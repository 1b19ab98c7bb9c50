package gen

import (
	"errors"
	"fmt"
	"go/token"
	"go/types"
	"strconv"
	"strings"

	"github.com/dave/jennifer/jen"
)

// typeRenderer turns go/types types back into source code for the file
// being generated: packages are referenced through jen.Qual (the emitter
// chooses their import names), type parameters through their possibly
// renamed names.
type typeRenderer struct {
	pkg     *types.Package              // the package the code is generated into
	tparams map[*types.TypeParam]string // type parameter names in the wrapper
	used    map[string]*types.Package   // packages referenced, by path
	err     error                       // the first type that cannot be written
}

// code returns the source of t.
func (r *typeRenderer) code(t types.Type) jen.Code {
	switch t := t.(type) {
	case *types.Basic:
		switch t.Kind() {
		case types.Invalid:
			r.fail("invalid type")
			return jen.Id("invalid")
		case types.UnsafePointer:
			return r.qual(types.Unsafe, "Pointer")
		}
		return jen.Id(t.Name())
	case *types.Alias:
		obj := t.Obj()
		if obj.Pkg() == nil {
			return jen.Id(obj.Name()) // any
		}
		if !obj.Exported() && obj.Pkg() != r.pkg {
			return r.code(types.Unalias(t))
		}
		return r.withArgs(r.qual(obj.Pkg(), obj.Name()), t.TypeArgs())
	case *types.Named:
		obj := t.Obj()
		if obj.Pkg() == nil {
			return jen.Id(obj.Name()) // error, comparable
		}
		if !obj.Exported() && obj.Pkg() != r.pkg {
			r.fail(fmt.Sprintf("type %s.%s is not exported by package %s", obj.Pkg().Name(), obj.Name(), obj.Pkg().Path()))
		}
		return r.withArgs(r.qual(obj.Pkg(), obj.Name()), t.TypeArgs())
	case *types.TypeParam:
		if name, ok := r.tparams[t]; ok {
			return jen.Id(name)
		}
		return jen.Id(t.Obj().Name())
	case *types.Pointer:
		return jen.Op("*").Add(r.code(t.Elem()))
	case *types.Slice:
		return jen.Index().Add(r.code(t.Elem()))
	case *types.Array:
		return jen.Index(jen.Lit(int(t.Len()))).Add(r.code(t.Elem()))
	case *types.Map:
		return jen.Map(r.code(t.Key())).Add(r.code(t.Elem()))
	case *types.Chan:
		elem := r.code(t.Elem())
		switch t.Dir() {
		case types.SendOnly:
			return jen.Chan().Op("<-").Add(elem)
		case types.RecvOnly:
			return jen.Op("<-").Chan().Add(elem)
		}
		if e, ok := t.Elem().(*types.Chan); ok && e.Dir() == types.RecvOnly {
			return jen.Chan().Parens(elem)
		}
		return jen.Chan().Add(elem)
	case *types.Signature:
		return jen.Func().Add(r.signature(t))
	case *types.Struct:
		fields := make([]jen.Code, t.NumFields())
		for i := range t.NumFields() {
			f := t.Field(i)
			var c *jen.Statement
			if f.Embedded() {
				c = jen.Add(r.code(f.Type()))
			} else {
				if !f.Exported() && f.Pkg() != r.pkg {
					r.fail(fmt.Sprintf("struct field %s is not exported by package %s", f.Name(), f.Pkg().Path()))
				}
				c = jen.Id(f.Name()).Add(r.code(f.Type()))
			}
			if tag := t.Tag(i); tag != "" {
				c.Op(quoteTag(tag))
			}
			fields[i] = c
		}
		return jen.Struct(fields...)
	case *types.Interface:
		if t.IsImplicit() && t.NumExplicitMethods() == 0 && t.NumEmbeddeds() == 1 {
			return r.code(t.EmbeddedType(0)) // a constraint written as a bare union
		}
		var elems []jen.Code
		for i := range t.NumEmbeddeds() {
			elems = append(elems, r.code(t.EmbeddedType(i)))
		}
		for i := range t.NumExplicitMethods() {
			m := t.ExplicitMethod(i)
			if !m.Exported() && m.Pkg() != r.pkg {
				r.fail(fmt.Sprintf("interface method %s is not exported by package %s", m.Name(), m.Pkg().Path()))
			}
			elems = append(elems, jen.Id(m.Name()).Add(r.signature(m.Signature())))
		}
		return jen.Interface(elems...)
	case *types.Union:
		s := jen.Empty()
		for i := range t.Len() {
			term := t.Term(i)
			if i > 0 {
				s.Op("|")
			}
			if term.Tilde() {
				s.Op("~")
			}
			s.Add(r.code(term.Type()))
		}
		return s
	}
	r.fail(fmt.Sprintf("unsupported type %s", t))
	return jen.Id("invalid")
}

// signature returns the parameters and results of sig, without "func".
func (r *typeRenderer) signature(sig *types.Signature) jen.Code {
	params := make([]jen.Code, sig.Params().Len())
	for i := range sig.Params().Len() {
		t := sig.Params().At(i).Type()
		if sig.Variadic() && i == sig.Params().Len()-1 {
			params[i] = jen.Op("...").Add(r.code(t.(*types.Slice).Elem()))
			continue
		}
		params[i] = r.code(t)
	}
	s := jen.Params(params...)
	switch res := sig.Results(); res.Len() {
	case 0:
	case 1:
		s.Add(r.code(res.At(0).Type()))
	default:
		results := make([]jen.Code, res.Len())
		for i := range res.Len() {
			results[i] = r.code(res.At(i).Type())
		}
		s.Params(results...)
	}
	return s
}

// withArgs appends type arguments to an instantiated type's name.
func (r *typeRenderer) withArgs(name *jen.Statement, args *types.TypeList) jen.Code {
	if args.Len() == 0 {
		return name
	}
	list := make([]jen.Code, args.Len())
	for i := range args.Len() {
		list[i] = r.code(args.At(i))
	}
	return name.Types(list...)
}

// qual references the package-level name in pkg.
func (r *typeRenderer) qual(pkg *types.Package, name string) *jen.Statement {
	if pkg == r.pkg {
		return jen.Id(name)
	}
	r.used[pkg.Path()] = pkg
	return jen.Qual(pkg.Path(), name)
}

func (r *typeRenderer) fail(msg string) {
	if r.err == nil {
		r.err = errors.New(msg)
	}
}

// quoteTag writes a struct tag as a raw string literal when it can be one.
func quoteTag(tag string) string {
	if !strings.Contains(tag, "`") && !strings.ContainsAny(tag, "\r") {
		return "`" + tag + "`"
	}
	return strconv.Quote(tag)
}

// isContext reports whether t is context.Context.
func isContext(t types.Type) bool {
	return isNamed(t, "context", "Context")
}

// isNamed reports whether t (aliases resolved) is the named type path.name.
func isNamed(t types.Type, path, name string) bool {
	n, ok := types.Unalias(t).(*types.Named)
	if !ok {
		return false
	}
	obj := n.Obj()
	return obj.Pkg() != nil && obj.Pkg().Path() == path && obj.Name() == name
}

// isError reports whether t is the predeclared error type.
func isError(t types.Type) bool {
	return types.Identical(t, types.Universe.Lookup("error").Type())
}

// isNilableError reports whether t implements error and can be nil: a
// pointer or an interface type (not a type parameter, which cannot be
// compared with nil). Such a last result is the error result.
func isNilableError(t types.Type) bool {
	if _, ok := types.Unalias(t).(*types.TypeParam); ok {
		return false
	}
	switch t.Underlying().(type) {
	case *types.Pointer, *types.Interface:
		return types.Implements(t, types.Universe.Lookup("error").Type().Underlying().(*types.Interface))
	}
	return false
}

// posString formats pos for messages: file:line:col.
func posString(p token.Position) string {
	return fmt.Sprintf("%s:%d:%d", p.Filename, p.Line, p.Column)
}
