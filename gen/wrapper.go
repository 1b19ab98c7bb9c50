package gen

import (
	"cmp"
	"go/ast"
	"go/token"
	"go/types"
	"slices"
	"unicode"
	"unicode/utf8"
)

// wrapper is one audited function or method, checked and ready to emit.
type wrapper struct {
	decl     *ast.FuncDecl
	fn       *types.Func
	sig      *types.Signature
	pos      token.Position // of the func keyword, for ordering
	fset     *token.FileSet // of the load that declares it
	name     string         // the audited function or method
	wrapName string         // Audited<Name>
	recvType string         // receiver base type name, methods only
	recvPtr  bool           // pointer receiver

	params  []*types.Var
	ctx     int // index of the first context.Context parameter, or -1
	results []types.Type
	hasErr  bool // the last result is the error result
	// errOther: the error result's type is not error but a pointer or
	// another interface type that implements it (*MyErr), compared with
	// nil before it is passed on as an error.
	errOther bool

	capType     string // e.g. "TypeAgent"
	source      string
	agentID     string
	domain      string
	swallow     bool
	capsulesVar string // "" records into the process default

	tenantKind tenantKind
	tenantID   string // tenantStatic
	tenantFunc string // tenantFunc
	// tenantFuncArgs: tenantFunc takes the function's parameters, not
	// its context.
	tenantFuncArgs bool
	tenant         *access // tenantFrom
	trigger        *access // nil: trigger.request is ""
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

// leading returns the number of leading context parameters positions skip.
func (w *wrapper) leading() int {
	if len(w.params) > 0 && isContext(w.params[0].Type()) && !(w.sig.Variadic() && len(w.params) == 1) {
		return 1
	}
	return 0
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
