package gen

import (
	"cmp"
	"fmt"
	"go/ast"
	"go/token"
	"go/types"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/tools/go/packages"

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
const typeList = "agent, tool, system, kill, workflow, chat, vault, auth"

// defaultDomain is the capsule domain when the directive has no domain key.
const defaultDomain = "agents"

// wrapper is one audited function or method, checked and ready to emit.
type wrapper struct {
	decl     *ast.FuncDecl
	fn       *types.Func
	sig      *types.Signature
	pos      token.Position // of the func keyword, for ordering
	name     string         // the audited function or method
	wrapName string         // Audited<Name>
	recvType string         // receiver base type name, methods only
	recvPtr  bool           // pointer receiver

	params  []*types.Var
	ctx     int // index of the first context.Context parameter, or -1
	results []types.Type
	hasErr  bool // the last result is the error result

	capType     string // e.g. "TypeAgent"
	source      string
	agentID     string
	domain      string
	swallow     bool
	capsulesVar string // "" records into the process default

	tenantKind tenantKind
	tenantID   string  // tenantStatic
	tenantFunc string  // tenantFunc
	tenant     *access // tenantFrom
	trigger    *access // nil: trigger.request is ""
}

// tenantKind says where a wrapper takes the tenant from.
type tenantKind int

const (
	tenantNone   tenantKind = iota // null tenant
	tenantStatic                   // tenant_id
	tenantFunc                     // tenant_func
	tenantFrom                     // tenant_from
)

// access is a static read of a string from a parameter: a chain of field
// selections and pointer dereferences guarded by nil checks, and a final
// conversion to string.
type access struct {
	root  int // parameter index; -1 is the receiver
	steps []step
	conv  conversion
	typ   types.Type // the type the conversion applies to
}

// step is one element of an access path.
type step struct {
	kind  stepKind
	field string // stepField
}

type stepKind int

const (
	stepNilCheck stepKind = iota // the value so far must not be nil
	stepField                    // select a field
	stepDeref                    // dereference a pointer explicitly
)

// conversion is how generated code turns the accessed value into a string.
type conversion int

const (
	convString   conversion = iota // string, or string(x) for other string types
	convInt                        // strconv.FormatInt(int64(x), 10)
	convUint                       // strconv.FormatUint(uint64(x), 10)
	convBool                       // strconv.FormatBool(bool(x))
	convFloat32                    // strconv.FormatFloat(float64(x), 'g', -1, 32)
	convFloat64                    // strconv.FormatFloat(float64(x), 'g', -1, 64)
	convStringer                   // x.String(), guarded against panics
	convError                      // x.Error(), guarded against panics
)

// guarded reports whether the conversion calls user code.
func (c conversion) guarded() bool { return c == convStringer || c == convError }

// checker analyzes the directives of one package.
type checker struct {
	pkg  *packages.Package
	fset *token.FileSet
	errs []posError
}

func (c *checker) errorf(pos token.Pos, format string, args ...any) {
	c.errs = append(c.errs, posError{pos, fmt.Sprintf(format, args...)})
}

// collect finds the directives in the package's files and returns the
// checked wrappers in file and position order. Problems are recorded in
// c.errs.
func (c *checker) collect() []*wrapper {
	var wrappers []*wrapper
	for _, file := range c.pkg.Syntax {
		if isGeneratedFile(file) {
			continue
		}
		docs := make(map[*ast.CommentGroup]*ast.FuncDecl)
		for _, d := range file.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Doc != nil {
				docs[fd.Doc] = fd
			}
		}
		for _, group := range file.Comments {
			var found *ast.Comment
			for _, cm := range group.List {
				if !isDirective(cm.Text) {
					continue
				}
				decl, ok := docs[group]
				switch {
				case !ok:
					c.errorf(cm.Slash, "//capsule:audit must be in the doc comment of a function or method declaration")
				case found != nil:
					c.errorf(cm.Slash, "duplicate //capsule:audit directive for %s (the first is on line %d)", decl.Name.Name, c.fset.Position(found.Slash).Line)
				default:
					found = cm
					d, errs := parseDirective(cm.Text, cm.Slash)
					c.errs = append(c.errs, errs...)
					if len(errs) > 0 {
						continue
					}
					if w := c.check(decl, d); w != nil {
						wrappers = append(wrappers, w)
					}
				}
			}
		}
	}
	sortWrappers(wrappers)
	return wrappers
}

// check checks one directive against the function it annotates.
func (c *checker) check(decl *ast.FuncDecl, d *directive) *wrapper {
	nerrs := len(c.errs)
	fn, _ := c.pkg.TypesInfo.Defs[decl.Name].(*types.Func)
	if fn == nil {
		c.errorf(d.pos, "cannot resolve %s", decl.Name.Name)
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
		name:    fn.Name(),
		ctx:     -1,
		domain:  defaultDomain,
		swallow: true,
	}
	if w.name == "_" || (w.name == "init" && sig.Recv() == nil) {
		c.errorf(d.pos, "cannot audit %s: it cannot be called", w.name)
		return nil
	}
	w.wrapName = wrapperName(w.name)
	pkgPath := c.pkg.Types.Path()
	if recv := sig.Recv(); recv != nil {
		rt := types.Unalias(recv.Type())
		if p, ok := rt.(*types.Pointer); ok {
			w.recvPtr = true
			rt = types.Unalias(p.Elem())
		}
		named, ok := rt.(*types.Named)
		if !ok {
			c.errorf(d.pos, "cannot audit %s: unsupported receiver type %s", w.name, c.typeString(recv.Type()))
			return nil
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
			c.errorf(d.pos, "cannot generate %s.%s: %s already has a field or method %s %s", w.recvType, w.wrapName, w.recvType, w.wrapName, c.where(obj.Pos()))
		}
	} else {
		w.agentID = pkgPath + "." + w.name
		if obj := c.pkg.Types.Scope().Lookup(w.wrapName); obj != nil && !c.inGenerated(obj.Pos()) {
			c.errorf(d.pos, "cannot generate %s: already declared %s", w.wrapName, c.where(obj.Pos()))
		}
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
	w.hasErr = len(w.results) > 0 && isError(w.results[len(w.results)-1])

	var tenantKey *arg
	var swallowArg arg
	for _, a := range d.args {
		switch a.key {
		case keyType:
			name, ok := capsuleTypeConst(a.value)
			if !ok {
				c.errorf(a.keyPos, "unknown type %q (want one of %s)", a.value, typeList)
				continue
			}
			w.capType = name
		case keySource:
			w.source = a.value
		case keyDomain:
			w.domain = a.value
		case keySwallowErrors:
			switch a.value {
			case "true":
				w.swallow = true
			case "false":
				w.swallow = false
				swallowArg = a
			default:
				c.errorf(a.keyPos, "swallow_errors: invalid value %q (want true or false)", a.value)
			}
		case keyCapsules:
			c.checkCapsules(a)
			w.capsulesVar = a.value
		case keyTenantFrom, keyTenantID, keyTenantFunc:
			if tenantKey != nil {
				c.errorf(a.keyPos, "%s conflicts with %s: use only one of tenant_from, tenant_id, tenant_func", a.key, tenantKey.key)
				continue
			}
			tenantKey = &a
			switch a.key {
			case keyTenantID:
				w.tenantKind = tenantStatic
				w.tenantID = a.value
				if a.value == "" {
					c.errorf(a.keyPos, "tenant_id: empty tenant (omit the key for the null tenant)")
				}
			case keyTenantFunc:
				w.tenantKind = tenantFunc
				w.tenantFunc = a.value
				c.checkTenantFunc(a)
			case keyTenantFrom:
				w.tenantKind = tenantFrom
				w.tenant = c.resolve(w, a, a.value, false)
			}
		case keyTriggerFrom:
			w.trigger = c.resolveTrigger(w, a)
		}
	}
	if _, ok := d.lookup(keyType); !ok {
		c.errorf(d.pos, "missing required key %q (one of %s)", keyType, typeList)
	}
	if !w.swallow && !w.hasErr {
		c.errorf(swallowArg.keyPos, "swallow_errors=false: %s has no error result to return audit failures through", w.name)
	}
	if _, ok := d.lookup(keyTriggerFrom); !ok {
		w.trigger = c.defaultTrigger(w)
	}
	if len(c.errs) > nerrs {
		return nil
	}
	return w
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

// checkCapsules checks that a names a package-level *capsule.Capsules
// variable.
func (c *checker) checkCapsules(a arg) {
	obj := c.pkg.Types.Scope().Lookup(a.value)
	v, ok := obj.(*types.Var)
	if !ok {
		if obj == nil {
			c.errorf(a.keyPos, "capsules: no package-level variable named %q", a.value)
		} else {
			c.errorf(a.keyPos, "capsules: %s is not a variable (want a package-level *capsule.Capsules variable)", a.value)
		}
		return
	}
	p, ok := types.Unalias(v.Type()).(*types.Pointer)
	if !ok || !isNamed(p.Elem(), CapsulePath, "Capsules") {
		c.errorf(a.keyPos, "capsules: %s has type %s, want *capsule.Capsules", a.value, c.typeString(v.Type()))
	}
}

// checkTenantFunc checks that a names a package-level function of type
// func(context.Context) string.
func (c *checker) checkTenantFunc(a arg) {
	obj := c.pkg.Types.Scope().Lookup(a.value)
	fn, ok := obj.(*types.Func)
	if !ok {
		if obj == nil {
			c.errorf(a.keyPos, "tenant_func: no package-level function named %q", a.value)
		} else {
			c.errorf(a.keyPos, "tenant_func: %s is not a function (want a package-level func(context.Context) string)", a.value)
		}
		return
	}
	sig := fn.Signature()
	if sig.TypeParams().Len() != 0 || sig.Variadic() ||
		sig.Params().Len() != 1 || !isContext(sig.Params().At(0).Type()) ||
		sig.Results().Len() != 1 || !types.Identical(sig.Results().At(0).Type(), types.Typ[types.String]) {
		c.errorf(a.keyPos, "tenant_func: %s has type %s, want func(context.Context) string", a.value, c.typeString(sig))
	}
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

// leading returns the number of leading context parameters positions skip.
func (w *wrapper) leading() int {
	if len(w.params) > 0 && isContext(w.params[0].Type()) && !(w.sig.Variadic() && len(w.params) == 1) {
		return 1
	}
	return 0
}

// resolveTrigger resolves an explicit trigger_from: a position or a path.
func (c *checker) resolveTrigger(w *wrapper, a arg) *access {
	if a.value != "" && strings.Trim(a.value, "0123456789") == "" {
		n, err := strconv.Atoi(a.value)
		skip := w.leading()
		count := len(w.params) - skip
		if err != nil || n >= count {
			what := "parameters"
			if count == 1 {
				what = "parameter"
			}
			after := ""
			if skip > 0 {
				after = " after its context"
			}
			c.errorf(a.keyPos, "trigger_from: position %s is out of range: %s has %d %s%s", a.value, w.name, count, what, after)
			return nil
		}
		return c.resolveParam(w, a, skip+n, true)
	}
	return c.resolve(w, a, a.value, true)
}

// defaultTrigger is the trigger when the directive has no trigger_from: the
// first parameter after a leading context when it is string-like, else
// nothing.
func (c *checker) defaultTrigger(w *wrapper) *access {
	i := w.leading()
	if i >= len(w.params) || (w.sig.Variadic() && i == len(w.params)-1) {
		return nil
	}
	ac := &access{root: i}
	if !c.convert(ac, w.params[i].Type(), true) {
		return nil
	}
	return ac
}

// resolveParam resolves the parameter at index i (a trigger position).
func (c *checker) resolveParam(w *wrapper, a arg, i int, allowFloat bool) *access {
	v := w.params[i]
	ac := &access{root: i}
	if !c.convert(ac, v.Type(), allowFloat) {
		desc := fmt.Sprintf("parameter %d", i-w.leading())
		if v.Name() != "" && v.Name() != "_" {
			desc = fmt.Sprintf("parameter %q", v.Name())
		}
		c.notStringLike(a, desc, v.Type(), allowFloat)
		return nil
	}
	return ac
}

// resolve resolves a parameter name or a dotted path into a parameter (or
// the receiver) for the key a.
func (c *checker) resolve(w *wrapper, a arg, path string, allowFloat bool) *access {
	segs := strings.Split(path, ".")
	for _, s := range segs {
		if !token.IsIdentifier(s) || s == "_" {
			c.errorf(a.keyPos, "%s: invalid parameter name or field path %q", a.key, path)
			return nil
		}
	}
	ac := &access{root: -2}
	var t types.Type
	for i, p := range w.params {
		if p.Name() == segs[0] {
			ac.root, t = i, p.Type()
			break
		}
	}
	if recv := w.sig.Recv(); ac.root == -2 && recv != nil && recv.Name() == segs[0] {
		ac.root, t = -1, recv.Type()
	}
	if ac.root == -2 {
		c.errorf(a.keyPos, "%s: %s has no parameter named %q", a.key, w.name, segs[0])
		return nil
	}
	if len(segs) == 1 {
		if !c.convert(ac, t, allowFloat) {
			c.notStringLike(a, fmt.Sprintf("parameter %q", segs[0]), t, allowFloat)
			return nil
		}
		return ac
	}
	for i, seg := range segs[1:] {
		sofar := strings.Join(segs[:i+1], ".")
		t = ac.derefToOne(t)
		obj, index, _ := types.LookupFieldOrMethod(t, true, c.pkg.Types, seg)
		switch obj.(type) {
		case nil:
			if index != nil {
				c.errorf(a.keyPos, "%s: %s.%s is ambiguous", a.key, sofar, seg)
			} else {
				c.errorf(a.keyPos, "%s: %s (type %s) has no field %s", a.key, sofar, c.typeString(t), seg)
			}
			return nil
		case *types.Func:
			c.errorf(a.keyPos, "%s: %s.%s is a method, not a field", a.key, sofar, seg)
			return nil
		case *types.Var:
			// Walk the embedding chain explicitly so that every pointer on
			// the way gets a nil check.
			cur := t
			for j, idx := range index {
				if j > 0 {
					cur = ac.derefToOne(cur)
				}
				if p, ok := pointer(cur); ok {
					ac.steps = append(ac.steps, step{kind: stepNilCheck})
					cur = p.Elem()
				}
				st, ok := cur.Underlying().(*types.Struct)
				if !ok {
					c.errorf(a.keyPos, "%s: %s (type %s) has no field %s", a.key, sofar, c.typeString(cur), seg)
					return nil
				}
				f := st.Field(idx)
				last := j == len(index)-1
				if !last && !f.Exported() && f.Pkg() != c.pkg.Types {
					// An unexported embedded field of another package
					// cannot be named here; rely on promotion when it is
					// not a pointer.
					if _, ptr := pointer(f.Type()); ptr {
						c.errorf(a.keyPos, "%s: %s.%s is promoted through the unexported embedded pointer %s, which generated code cannot check for nil", a.key, sofar, seg, f.Name())
						return nil
					}
					cur = f.Type()
					continue
				}
				ac.steps = append(ac.steps, step{kind: stepField, field: f.Name()})
				cur = f.Type()
			}
			t = cur
		}
	}
	if !c.convert(ac, t, allowFloat) {
		c.notStringLike(a, path, t, allowFloat)
		return nil
	}
	return ac
}

// derefToOne adds nil checks and explicit dereferences until t is at most
// one pointer away from a non-pointer type, as a selector needs.
func (ac *access) derefToOne(t types.Type) types.Type {
	for {
		p, ok := pointer(t)
		if !ok {
			return t
		}
		if _, ok := pointer(p.Elem()); !ok {
			return t
		}
		ac.steps = append(ac.steps, step{kind: stepNilCheck}, step{kind: stepDeref})
		t = p.Elem()
	}
}

func (c *checker) notStringLike(a arg, desc string, t types.Type, allowFloat bool) {
	want := "strings, integers, bools, fmt.Stringer, error, named types over them and pointers to them"
	if allowFloat {
		want = "strings, integers, floats, bools, fmt.Stringer, error, named types over them and pointers to them"
	}
	c.errorf(a.keyPos, "%s: %s has type %s, which is not string-like (want %s)", a.key, desc, c.typeString(t), want)
}

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

// wrapperName returns the name of the wrapper of the function name: Audited
// followed by the name, or audited followed by the capitalized name when
// the name is not exported.
func wrapperName(name string) string {
	if ast.IsExported(name) {
		return "Audited" + name
	}
	return "audited" + upperFirst(name)
}

// upperFirst capitalizes the first letter of s.
func upperFirst(s string) string {
	if s == "" {
		return ""
	}
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[n:]
}

// sortWrappers orders wrappers by file name and position.
func sortWrappers(ws []*wrapper) {
	slices.SortFunc(ws, func(a, b *wrapper) int {
		return cmp.Or(cmp.Compare(a.pos.Filename, b.pos.Filename), cmp.Compare(a.pos.Offset, b.pos.Offset))
	})
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
