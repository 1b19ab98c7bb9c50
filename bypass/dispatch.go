package bypass

import (
	"cmp"
	"fmt"
	"go/ast"
	"go/types"
	"slices"
	"strings"

	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/ast/inspector"
)

// Dispatches is the fact that a generic function, or a method of a
// generic type (the fact is then on the type), calls methods through its
// type parameters: t.Run() where t has type T. Which method that is
// depends on the type arguments, so each instantiation with a type whose
// method is audited is reported where it is written.
type Dispatches struct {
	Calls []TypeParamCall // sorted by index and method
}

// TypeParamCall is one method called through a type parameter.
type TypeParamCall struct {
	Index  int    // of the type parameter, in the function's or type's list
	Param  string // its name, for messages
	Method string
}

// AFact marks Dispatches as an analysis fact.
func (*Dispatches) AFact() {}

// String describes the fact in analysistest's fact expectations.
func (f *Dispatches) String() string {
	calls := make([]string, len(f.Calls))
	for i, c := range f.Calls {
		calls[i] = c.Param + "." + c.Method
	}
	return "calls " + strings.Join(calls, ", ")
}

// genericDecl is a function declaration with type parameters of its own
// or of its receiver, and the object the facts of its calls go to.
type genericDecl struct {
	decl    *ast.FuncDecl
	tparams *types.TypeParamList
	owner   types.Object // the function, or the receiver's type
}

// exportDispatches exports a [Dispatches] fact for each generic function
// and generic type of the package whose code calls methods through its
// type parameters, directly or by instantiating another generic function
// or type that does with them.
func exportDispatches(pass *analysis.Pass) {
	var decls []genericDecl
	for _, file := range pass.Files {
		for _, d := range file.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			fn, ok := pass.TypesInfo.Defs[fd.Name].(*types.Func)
			if !ok {
				continue
			}
			g := genericDecl{decl: fd, tparams: fn.Signature().TypeParams(), owner: fn}
			if recv := fn.Signature().Recv(); recv != nil {
				g.tparams = fn.Signature().RecvTypeParams()
				if tn := baseName(recv.Type()); tn != nil {
					g.owner = tn
				}
			}
			if g.tparams.Len() > 0 {
				decls = append(decls, g)
			}
		}
	}
	// Instantiations of this package's generic code propagate its calls:
	// repeat until nothing is added.
	local := make(map[types.Object]map[TypeParamCall]bool)
	for changed := true; changed; {
		changed = false
		for _, g := range decls {
			if local[g.owner] == nil {
				local[g.owner] = make(map[TypeParamCall]bool)
			}
			for c := range typeParamCalls(pass, g, local) {
				if !local[g.owner][c] {
					local[g.owner][c] = true
					changed = true
				}
			}
		}
	}
	for owner, calls := range local {
		if len(calls) == 0 {
			continue
		}
		f := &Dispatches{}
		for c := range calls {
			f.Calls = append(f.Calls, c)
		}
		slices.SortFunc(f.Calls, func(a, b TypeParamCall) int {
			return cmp.Or(cmp.Compare(a.Index, b.Index), cmp.Compare(a.Method, b.Method))
		})
		pass.ExportObjectFact(owner, f)
	}
}

// typeParamCalls yields the methods g's body calls through g's type
// parameters: selections on values of a type parameter, and the calls of
// generic code it instantiates with one (known from local for this
// package, from facts for others).
func typeParamCalls(pass *analysis.Pass, g genericDecl, local map[types.Object]map[TypeParamCall]bool) func(func(TypeParamCall) bool) {
	own := func(t types.Type) (*types.TypeParam, bool) {
		if p, ok := types.Unalias(t).(*types.Pointer); ok {
			t = p.Elem()
		}
		tp, ok := types.Unalias(t).(*types.TypeParam)
		return tp, ok && tp.Index() < g.tparams.Len() && g.tparams.At(tp.Index()) == tp
	}
	return func(yield func(TypeParamCall) bool) {
		ast.Inspect(g.decl.Body, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.SelectorExpr:
				sel := pass.TypesInfo.Selections[n]
				if sel == nil || sel.Kind() != types.MethodVal {
					return true
				}
				if tp, ok := own(sel.Recv()); ok {
					return yield(TypeParamCall{Index: tp.Index(), Param: tp.Obj().Name(), Method: sel.Obj().Name()})
				}
			case *ast.Ident:
				inst, ok := pass.TypesInfo.Instances[n]
				if !ok {
					return true
				}
				for _, c := range dispatches(pass, pass.TypesInfo.Uses[n], local) {
					if c.Index >= inst.TypeArgs.Len() {
						continue
					}
					if tp, ok := own(inst.TypeArgs.At(c.Index)); ok {
						if !yield(TypeParamCall{Index: tp.Index(), Param: tp.Obj().Name(), Method: c.Method}) {
							return false
						}
					}
				}
			}
			return true
		})
	}
}

// dispatches returns the calls through type parameters of the generic
// function or type obj: from local when obj is of this package, else
// from its fact.
func dispatches(pass *analysis.Pass, obj types.Object, local map[types.Object]map[TypeParamCall]bool) []TypeParamCall {
	if fn, ok := obj.(*types.Func); ok {
		obj = fn.Origin()
	}
	if obj == nil {
		return nil
	}
	if obj.Pkg() == pass.Pkg && local != nil {
		var calls []TypeParamCall
		for c := range local[obj] {
			calls = append(calls, c)
		}
		return calls
	}
	var f Dispatches
	if !pass.ImportObjectFact(obj, &f) {
		return nil
	}
	return f.Calls
}

// checkInstance reports the identifier at cur when it instantiates generic
// code that calls, through a type parameter, a method that is audited for
// the type argument: Do(app) where Do calls t.Run and (*App).Run is
// audited. The call inside Do is not audited and cannot be rewritten, so
// the instantiation is what is reported.
func checkInstance(pass *analysis.Pass, cur inspector.Cursor, allowed *direct) {
	id := cur.Node().(*ast.Ident)
	inst, ok := pass.TypesInfo.Instances[id]
	if !ok {
		return
	}
	for _, c := range dispatches(pass, pass.TypesInfo.Uses[id], nil) {
		if c.Index >= inst.TypeArgs.Len() {
			continue
		}
		arg := inst.TypeArgs.At(c.Index)
		if _, isTP := types.Unalias(arg).(*types.TypeParam); isTP {
			continue // generic code instantiating generic code: its own fact says so
		}
		obj, _, _ := types.LookupFieldOrMethod(arg, true, pass.TypesInfo.Uses[id].Pkg(), c.Method)
		m, ok := obj.(*types.Func)
		if !ok {
			continue
		}
		var fact Audited
		if !pass.ImportObjectFact(m.Origin(), &fact) || allowed.allow(pass, id) {
			continue
		}
		qual := types.RelativeTo(pass.Pkg)
		args := make([]string, inst.TypeArgs.Len())
		for i := range args {
			args[i] = types.TypeString(inst.TypeArgs.At(i), qual)
		}
		pass.Report(analysis.Diagnostic{
			Pos: id.Pos(),
			End: id.End(),
			Message: fmt.Sprintf("%s[%s] calls %s through its type parameter %s: that call is not audited (%s is)",
				id.Name, strings.Join(args, ", "), methodName(m, qual), c.Param, fact.Wrapper),
		})
	}
}

// methodName returns (*T).M or T.M for a method, qualified by qual.
func methodName(m *types.Func, qual types.Qualifier) string {
	recv := m.Signature().Recv()
	if recv == nil {
		return m.Name()
	}
	t := recv.Type()
	if p, ok := types.Unalias(t).(*types.Pointer); ok {
		return "(*" + types.TypeString(p.Elem(), qual) + ")." + m.Name()
	}
	return types.TypeString(t, qual) + "." + m.Name()
}
