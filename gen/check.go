package gen

import (
	"fmt"
	"go/ast"
	"go/token"
	"go/types"
	"strings"

	"golang.org/x/tools/go/packages"

	"github.com/capsule-go/capsule/internal/directive"
	"github.com/capsule-go/capsule/protocol"
)

// Import paths of the packages generated code uses.
const (
	CapsulePath = "github.com/capsule-go/capsule"         // the capsule model and Capsules
	RuntimePath = "github.com/capsule-go/capsule/runtime" // what generated code calls
)

// capsuleTypeConst returns the name of the runtime's capsule.Type constant
// for a directive's type value.
func capsuleTypeConst(value string) (string, bool) {
	if !protocol.IsType(value) {
		return "", false
	}
	return "Type" + upperFirst(value), true
}

// typeList is the list of capsule types for messages.
var typeList = strings.Join(protocol.Types(), ", ")

// defaultDomain is the capsule domain when the directive has no domain key.
const defaultDomain = "agents"

// checker analyzes the directives of one package.
type checker struct {
	pkg  *packages.Package
	fset *token.FileSet
	errs []posError
}

// posError is a problem at a position of the file set being processed.
type posError struct {
	pos token.Pos
	msg string
}

func (c *checker) errorf(pos token.Pos, format string, args ...any) {
	c.errs = append(c.errs, posError{pos, fmt.Sprintf(format, args...)})
}

// collect finds the directives in the package's files, or in those of
// them whose (line-directive adjusted) name is in only when only is not
// nil, and returns the checked wrappers in file and position order.
// Problems are recorded in c.errs.
func (c *checker) collect(only map[string]bool) []*wrapper {
	var wrappers []*wrapper
	for _, file := range c.pkg.Syntax {
		if isGeneratedFile(file) || (only != nil && !only[c.fset.Position(file.Package).Filename]) {
			continue
		}
		docs := make(map[*ast.CommentGroup]*ast.FuncDecl)
		for _, d := range file.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Doc != nil {
				docs[fd.Doc] = fd
			}
		}
		for _, group := range file.Comments {
			wrappers = append(wrappers, c.group(group, docs[group])...)
		}
	}
	sortWrappers(wrappers)
	return wrappers
}

// nearMisses returns a warning for each comment of files that looks like
// a directive but is ignored.
func nearMisses(files []*ast.File) []posError {
	var warns []posError
	for _, file := range files {
		if isGeneratedFile(file) {
			continue
		}
		for _, group := range file.Comments {
			for _, cm := range group.List {
				if msg := directive.NearMiss(cm.Text); msg != "" {
					warns = append(warns, posError{cm.Slash, msg})
				}
			}
		}
	}
	return warns
}

// group checks the directives of one comment group, the doc comment of
// decl when decl is not nil.
func (c *checker) group(group *ast.CommentGroup, decl *ast.FuncDecl) []*wrapper {
	var wrappers []*wrapper
	var found *ast.Comment
	for _, cm := range group.List {
		if !directive.IsAudit(cm.Text) {
			continue
		}
		switch {
		case decl == nil:
			c.errorf(cm.Slash, "//capsule:audit must be in the doc comment of a function or method declaration")
		case found != nil:
			c.errorf(cm.Slash, "duplicate //capsule:audit directive for %s (the first is on line %d)", decl.Name.Name, c.fset.Position(found.Slash).Line)
		default:
			found = cm
			d, errs := directive.Parse(cm.Text, cm.Slash)
			for _, e := range errs {
				c.errs = append(c.errs, posError{e.Pos, e.Msg})
			}
			// The well-formed arguments are checked too, so that every
			// mistake of the directive is reported at once.
			if w := c.check(decl, d); w != nil && len(errs) == 0 {
				wrappers = append(wrappers, w)
			}
		}
	}
	return wrappers
}

// check checks one directive against the function it annotates.
func (c *checker) check(decl *ast.FuncDecl, d *directive.Directive) *wrapper {
	nerrs := len(c.errs)
	w := c.target(decl, d)
	if w == nil {
		return nil
	}
	c.applyArgs(w, d)
	if len(c.errs) > nerrs {
		return nil
	}
	return w
}

// target checks the function or method decl that d annotates and returns
// its wrapper without the directive's arguments, or nil.
func (c *checker) target(decl *ast.FuncDecl, d *directive.Directive) *wrapper {
	nerrs := len(c.errs)
	fn, _ := c.pkg.TypesInfo.Defs[decl.Name].(*types.Func)
	if fn == nil {
		c.errorf(d.Pos, "cannot resolve %s", decl.Name.Name)
		return nil
	}
	// Type errors in the signature make it unusable; report them where
	// they are. Errors elsewhere (for example a call of a wrapper that is
	// not generated yet) do not matter to the generator.
	for _, te := range c.pkg.TypeErrors {
		if te.Fset == c.fset && te.Pos >= decl.Type.Pos() && te.Pos < decl.Type.End() {
			c.errorf(te.Pos, "%s", te.Msg)
		}
	}
	if len(c.errs) > nerrs {
		return nil
	}
	sig := fn.Signature()
	w := &wrapper{
		decl:    decl,
		fn:      fn,
		sig:     sig,
		pos:     c.fset.Position(decl.Pos()),
		fset:    c.fset,
		name:    fn.Name(),
		ctx:     -1,
		domain:  defaultDomain,
		swallow: true,
	}
	if w.name == "_" || (w.name == "init" && sig.Recv() == nil) {
		c.errorf(d.Pos, "cannot audit %s: it cannot be called", w.name)
		return nil
	}
	w.wrapName = directive.WrapperName(w.name)
	if !c.receiver(w, d.Pos) {
		return nil
	}
	w.source = w.agentID
	for i := range sig.Params().Len() {
		v := sig.Params().At(i)
		w.params = append(w.params, v)
		if w.ctx < 0 && isContext(v.Type()) && !(sig.Variadic() && i == sig.Params().Len()-1) {
			w.ctx = i
		}
	}
	for i := range sig.Results().Len() {
		w.results = append(w.results, sig.Results().At(i).Type())
	}
	if n := len(w.results); n > 0 {
		last := w.results[n-1]
		w.hasErr = isError(last)
		w.errOther = !w.hasErr && isNilableError(last)
		w.hasErr = w.hasErr || w.errOther
	}
	return w
}

// receiver sets the receiver and agent ID of w and checks that the
// wrapper's name is free; it reports false when the function cannot be
// audited. pos is the directive's.
func (c *checker) receiver(w *wrapper, pos token.Pos) bool {
	pkgPath := c.pkg.Types.Path()
	recv := w.sig.Recv()
	if recv == nil {
		w.agentID = pkgPath + "." + w.name
		if obj := c.pkg.Types.Scope().Lookup(w.wrapName); obj != nil && !c.inGenerated(obj.Pos()) {
			c.errorf(pos, "cannot generate %s: already declared %s", w.wrapName, c.where(obj.Pos()))
		}
		return true
	}
	rt := types.Unalias(recv.Type())
	if p, ok := rt.(*types.Pointer); ok {
		w.recvPtr = true
		rt = types.Unalias(p.Elem())
	}
	named, ok := rt.(*types.Named)
	if !ok {
		c.errorf(pos, "cannot audit %s: unsupported receiver type %s", w.name, c.typeString(recv.Type()))
		return false
	}
	w.recvType = named.Obj().Name()
	if w.recvPtr {
		w.agentID = fmt.Sprintf("%s.(*%s).%s", pkgPath, w.recvType, w.name)
	} else {
		w.agentID = fmt.Sprintf("%s.%s.%s", pkgPath, w.recvType, w.name)
	}
	// A field or method promoted from an embedded type is shadowed by
	// the wrapper, which is legal; only direct ones conflict.
	if obj, index, _ := types.LookupFieldOrMethod(types.NewPointer(named.Origin()), true, c.pkg.Types, w.wrapName); obj != nil && len(index) == 1 && !c.inGenerated(obj.Pos()) {
		c.errorf(pos, "cannot generate %s.%s: %s already has a field or method %s %s", w.recvType, w.wrapName, w.recvType, w.wrapName, c.where(obj.Pos()))
	}
	return true
}

// inGenerated reports whether pos is in a file capsulegen generated (one
// that lost its build constraint): its declarations are about to be
// replaced, so they conflict with nothing.
func (c *checker) inGenerated(pos token.Pos) bool {
	for _, f := range c.pkg.Syntax {
		if f.FileStart <= pos && pos <= f.FileEnd {
			return isGeneratedFile(f)
		}
	}
	return false
}

// where describes a declaration's position for messages.
func (c *checker) where(pos token.Pos) string {
	if !pos.IsValid() {
		return "in another package"
	}
	p := c.fset.Position(pos)
	return fmt.Sprintf("at %s:%d:%d", shortFile(p.Filename), p.Line, p.Column)
}

// shortFile is the base name of a file, for messages that point into the
// package being generated.
func shortFile(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		return name[i+1:]
	}
	return name
}

// typeString formats t for messages, qualifying names from other packages.
func (c *checker) typeString(t types.Type) string {
	return types.TypeString(t, func(p *types.Package) string {
		if p == c.pkg.Types {
			return ""
		}
		return p.Name()
	})
}
