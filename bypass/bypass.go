// Package bypass defines an Analyzer that reports calls bypassing the
// audit: a call of a function or method annotated with //capsule:audit
// instead of its generated Audited wrapper, which records nothing.
//
// # Analyzer capsulevet
//
// capsulevet: report calls of audited functions outside their wrapper
//
// A function annotated with //capsule:audit is audited only when it is
// called through the wrapper capsulegen generates for it (AuditedRun for
// Run). The analyzer reports every call of an annotated function or
// method, and every use of one as a function value (f := app.Run, a
// method value or a method expression), in the package that declares it
// and in every package that imports it:
//
//	app/app.go:12:9: call AuditedRun instead: this call is not audited
//
// with a suggested fix that names the wrapper instead. Which functions are
// annotated is read from the directives themselves, in the package that
// declares them (generated files included: capsulegen wraps their
// functions too), and carried to importing packages as analysis facts.
//
// Generated files (a "// Code generated ... DO NOT EDIT." header), the
// wrapper among them, are never reported; cgo's rewrite of a file that
// imports "C" is read as that file. A //capsule:direct comment on the
// line of the call, or alone on the line above it, allows one direct call
// deliberately, the first on that line; a second call there is reported:
//
//	v := app.Run(ctx, t) //capsule:direct the replay tool must not record again
//
// A generic function, or a method of a generic type, that calls a method
// through a type parameter (t.Run() where t has type T) is recorded as a
// [Dispatches] fact, also when it instantiates other generic code with its
// own type parameter; each instantiation with a type argument whose method
// is audited is reported where it is written, without a fix:
//
//	app/app.go:14:2: Do[*app.Agent] calls (*app.Agent).Run through its type parameter T: that call is not audited (AuditedRun is)
//
// Test files are reported too unless -testfiles=false. What cannot be
// seen statically is not reported: calls through an interface value that
// an audited method satisfies (generic code instantiated with an
// interface type among them), and calls through reflection
// (reflect.Value.MethodByName, Method, Call).
package bypass

import (
	"flag"
	"fmt"
	"go/ast"
	"go/types"
	"strings"

	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/analysis/passes/inspect"
	"golang.org/x/tools/go/ast/inspector"

	"github.com/capsule-go/capsule/internal/directive"
)

// Analyzer is the analyzer with the default flags (test files reported).
var Analyzer = New()

// New returns a new analyzer with its own flags; [Analyzer] is the one
// the capsulevet command runs.
func New() *analysis.Analyzer {
	cfg := &config{testFiles: true}
	a := &analysis.Analyzer{
		Name:      "capsulevet",
		Doc:       "report calls of audited functions outside their wrapper\n\nA call of a function annotated with //capsule:audit, instead of its generated Audited wrapper, records nothing. The analyzer reports such calls and uses as function values, allowing one with a //capsule:direct comment on its line or the line above.",
		URL:       "https://pkg.go.dev/github.com/capsule-go/capsule/bypass",
		Requires:  []*analysis.Analyzer{inspect.Analyzer},
		FactTypes: []analysis.Fact{new(Audited), new(Dispatches)},
		Run:       cfg.run,
	}
	a.Flags.Init(a.Name, flag.ContinueOnError)
	a.Flags.BoolVar(&cfg.testFiles, "testfiles", true, "report calls in _test.go files too")
	return a
}

// Audited is the fact that a function or method is annotated with
// //capsule:audit, and so has a generated wrapper.
type Audited struct {
	// Wrapper is the name of the generated wrapper (AuditedRun for Run),
	// declared in the same package, on the same receiver for a method.
	Wrapper string
}

// AFact marks Audited as an analysis fact.
func (*Audited) AFact() {}

// String describes the fact in analysistest's fact expectations.
func (f *Audited) String() string { return "audited by " + f.Wrapper }

// config holds an analyzer's flags.
type config struct {
	testFiles bool
}

func (cfg *config) run(pass *analysis.Pass) (any, error) {
	exportFacts(pass)
	exportDispatches(pass)
	if len(pass.AllObjectFacts()) == 0 {
		return nil, nil // nothing audited here or in what the package imports
	}
	insp := pass.ResultOf[inspect.Analyzer].(*inspector.Inspector)
	for fileCur := range insp.Root().Children() {
		file := fileCur.Node().(*ast.File)
		name := pass.Fset.Position(file.Package).Filename
		if generated(file) || (!cfg.testFiles && strings.HasSuffix(name, "_test.go")) {
			continue
		}
		allowed, err := directLines(pass, file)
		if err != nil {
			return nil, err
		}
		for cur := range fileCur.Preorder((*ast.Ident)(nil)) {
			check(pass, cur, allowed)
			checkInstance(pass, cur, allowed)
		}
	}
	return nil, nil
}

// cgoHeader starts the files cgo writes for a Go file that imports "C":
// they are that file, rewritten, and the analyzer reads them as it.
const cgoHeader = "// Code generated by cmd/cgo; DO NOT EDIT."

// generated reports whether file is generated, and not cgo's rewrite of a
// file of the package.
func generated(file *ast.File) bool {
	return ast.IsGenerated(file) && !(len(file.Comments) > 0 && file.Comments[0].List[0].Text == cgoHeader)
}

// exportFacts exports an [Audited] fact for every function and method of
// the package whose doc comment has a //capsule:audit directive, in
// generated files too (capsulegen wraps those functions as well). Test
// files are left out: capsulegen generates no wrappers for them.
func exportFacts(pass *analysis.Pass) {
	for _, file := range pass.Files {
		if strings.HasSuffix(pass.Fset.File(file.Pos()).Name(), "_test.go") {
			continue
		}
		for _, decl := range file.Decls {
			fd, ok := decl.(*ast.FuncDecl)
			if !ok || directive.Audit(fd.Doc) == nil {
				continue
			}
			if fn, ok := pass.TypesInfo.Defs[fd.Name].(*types.Func); ok {
				pass.ExportObjectFact(fn, &Audited{Wrapper: directive.WrapperName(fn.Name())})
			}
		}
	}
}

// direct tracks the //capsule:direct comments of a file: how many
// references each line may still have, and the references they allowed.
type direct struct {
	left    map[int]int // by line
	allowed map[*ast.Ident]bool
}

// allow reports whether a //capsule:direct comment allows the reference
// id, using up that comment: each allows one reference, the first on its
// line (reported for any number of reasons).
func (d *direct) allow(pass *analysis.Pass, id *ast.Ident) bool {
	if d.allowed[id] {
		return true
	}
	line := pass.Fset.PositionFor(id.Pos(), false).Line
	if d.left[line] == 0 {
		return false
	}
	d.left[line]--
	d.allowed[id] = true
	return true
}

// directLines returns the //capsule:direct comments of file: each allows
// one call on its line or, when it stands alone on its line, the next.
// Lines are those of the file as parsed, not as //line directives (cgo's
// among them) adjust them.
func directLines(pass *analysis.Pass, file *ast.File) (*direct, error) {
	var src []byte
	lines := make(map[int]int)
	for _, group := range file.Comments {
		for _, c := range group.List {
			if !directive.IsDirect(c.Text) {
				continue
			}
			pos := pass.Fset.PositionFor(c.Slash, false)
			if src == nil {
				var err error
				if src, err = pass.ReadFile(pos.Filename); err != nil {
					return nil, fmt.Errorf("capsulevet: %w", err)
				}
			}
			if pos.Offset <= len(src) && strings.TrimLeft(string(src[pos.Offset-pos.Column+1:pos.Offset]), " \t") == "" {
				lines[pos.Line+1]++
			} else {
				lines[pos.Line]++
			}
		}
	}
	return &direct{left: lines, allowed: make(map[*ast.Ident]bool)}, nil
}

// check reports the identifier at cur when it refers to an audited
// function outside its wrapper and its line is not allowed by a
// //capsule:direct comment.
func check(pass *analysis.Pass, cur inspector.Cursor, allowed *direct) {
	id := cur.Node().(*ast.Ident)
	fn, ok := pass.TypesInfo.Uses[id].(*types.Func)
	if !ok {
		return
	}
	fn = fn.Origin()
	var fact Audited
	if !pass.ImportObjectFact(fn, &fact) {
		return
	}
	if inWrapper(pass, cur, fn, fact.Wrapper) || allowed.allow(pass, id) {
		return
	}
	msg := fmt.Sprintf("call %s instead: this call is not audited", fact.Wrapper)
	fix := "Call " + fact.Wrapper
	if !isCallee(cur) {
		msg = fmt.Sprintf("use %s instead: calls through this function value are not audited", fact.Wrapper)
		fix = "Use " + fact.Wrapper
	}
	pass.Report(analysis.Diagnostic{
		Pos:     id.Pos(),
		End:     id.End(),
		Message: msg,
		SuggestedFixes: []analysis.SuggestedFix{{
			Message:   fix,
			TextEdits: []analysis.TextEdit{{Pos: id.Pos(), End: id.End(), NewText: []byte(fact.Wrapper)}},
		}},
	})
}

// isCallee reports whether the identifier at cur is the function called
// by a call expression: f(), pkg.F(), x.M(), F[int]() or (F)().
func isCallee(cur inspector.Cursor) bool {
	n := cur.Node()
	for p := cur.Parent(); p.Node() != nil; p = p.Parent() {
		switch parent := p.Node().(type) {
		case *ast.SelectorExpr:
			if parent.Sel != n {
				return false
			}
		case *ast.IndexExpr:
			if parent.X != n {
				return false
			}
		case *ast.IndexListExpr:
			if parent.X != n {
				return false
			}
		case *ast.ParenExpr:
		case *ast.CallExpr:
			return parent.Fun == n
		default:
			return false
		}
		n = p.Node()
	}
	return false
}

// inWrapper reports whether cur is inside the declaration of fn's wrapper:
// a function named wrapper in fn's package, on the same receiver type for
// a method.
func inWrapper(pass *analysis.Pass, cur inspector.Cursor, fn *types.Func, wrapper string) bool {
	for encl := range cur.Enclosing((*ast.FuncDecl)(nil)) {
		decl := encl.Node().(*ast.FuncDecl)
		if decl.Name.Name != wrapper {
			return false
		}
		w, ok := pass.TypesInfo.Defs[decl.Name].(*types.Func)
		return ok && w.Pkg() == fn.Pkg() && sameReceiver(w, fn)
	}
	return false
}

// sameReceiver reports whether two functions have the same receiver base
// type, or are both plain functions.
func sameReceiver(a, b *types.Func) bool {
	ra, rb := a.Signature().Recv(), b.Signature().Recv()
	if ra == nil || rb == nil {
		return ra == nil && rb == nil
	}
	return baseName(ra.Type()) == baseName(rb.Type())
}

// baseName returns the type name of a receiver type, through a pointer.
func baseName(t types.Type) *types.TypeName {
	if p, ok := types.Unalias(t).(*types.Pointer); ok {
		t = p.Elem()
	}
	if n, ok := types.Unalias(t).(*types.Named); ok {
		return n.Origin().Obj()
	}
	return nil
}
