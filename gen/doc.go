// Package gen is capsulegen's generator: it finds //capsule:audit
// directives, checks them against the types of the functions they annotate
// and writes, for each, a wrapper that runs the function unchanged and
// records the call as a capsule through package
// github.com/capsule-go/capsule. The command
// github.com/capsule-go/capsule/cmd/capsulegen is a thin front end to
// [Generate].
//
// # The directive
//
// A directive is a line of a function's or method's doc comment:
//
//	// RunAgent runs an agent for a site.
//	//
//	//capsule:audit type=agent tenant_from=siteID
//	func RunAgent(ctx context.Context, task string, siteID string) (string, error)
//
// It is a list of key=value pairs separated by spaces or tabs. A value is
// either bare (no spaces, no quotes) or a Go double-quoted string literal
// with its escapes: source="writer \"v2\"". The keys:
//
//	type            capsule type: agent, tool, system, kill, workflow, chat, vault or auth (required)
//	tenant_from     parameter name, or dotted path into a parameter (req.Site.ID), holding the tenant
//	tenant_id       a static tenant
//	tenant_func     a package-level function returning the tenant: func(context.Context) string,
//	                or one taking the audited function's own parameters and returning string
//	trigger_from    parameter name, dotted path or position filling trigger.request (default 0)
//	source          trigger.source (default: the qualified function name)
//	domain          capsule domain (default "agents")
//	swallow_errors  true: audit failures are logged only; false: they are returned (default true)
//	capsules        a package-level *capsule.Capsules variable to record into (default: the process default)
//
// At most one of tenant_from, tenant_id and tenant_func may be given;
// without any the call goes to the null tenant's chain. tenant_from and
// trigger_from may also name the method receiver. Positions count the
// parameters after a leading context.Context, so trigger_from=0 (the
// default) is the first parameter after the context. The trigger, the
// default one included, must be string-like: a first parameter that is not
// (a struct, a generic type parameter, a variadic parameter) is an error,
// and trigger_from="" records an empty trigger.request deliberately. With
// no parameter after the context, trigger.request is "".
//
// tenant_func is called before the call starts, with the function's
// context (context.Background() when it has none) or, when it takes the
// audited function's own parameters (not the receiver, same types in the
// same order, variadic alike), with the arguments of the call. capsules is read on every call,
// so the variable may be assigned after package initialization.
//
// Everything that can be checked is checked when generating: unknown and
// duplicate keys, malformed values, a missing or unknown type, parameters
// and fields that do not exist or are not string-like, conflicting tenant
// keys, positions out of range, tenant_func and capsules of the wrong
// kind or type, swallow_errors=false on a function without an error
// result, directives that are not in a function's doc comment, and
// wrapper names that are already taken. Each problem is reported as
// file:line:col: message, pointing at the key (or at the directive when no
// key is at fault).
// Every mistake of a directive is reported, not only the first, and a
// misspelled key or type comes with the nearest known one ("did you mean
// tenant_from?").
//
// Comments that look like directives but would be ignored get a warning
// (Result.Warnings; capsulegen prints file:line:col: warning: message and
// keeps its exit code): "// capsule:audit" and "//capsule: audit" with a
// space, a word other than audit or direct after "//capsule:" ("did you
// mean audit?"), "//capsule:audit" run into what follows, and a directive
// written as a block comment ("/*capsule:audit type=tool*/"), which is
// never one.
//
// # String-like values
//
// The tenant and the trigger's request are read statically: generated code
// selects the parameter's fields directly, with no reflection, and checks
// every pointer on the way for nil; a nil pointer anywhere yields "". The
// final value is converted as follows, first rule first:
//
//   - a type with an Error() string method (error included): x.Error();
//   - a type with a String() string method (fmt.Stringer): x.String();
//   - a pointer: dereferenced, then converted by these rules;
//   - a string type, named or not: string(x);
//   - signed integers: strconv.FormatInt; unsigned integers: strconv.FormatUint;
//   - bools: strconv.FormatBool;
//   - floats, for trigger_from only: strconv.FormatFloat(x, 'g', -1, bits);
//   - a type parameter whose type set holds only types of one of these
//     basic kinds: converted as that kind.
//
// Error and String methods are called only on non-nil pointers and
// interfaces, and through a helper that turns a panic into "": reading
// the tenant or the request never changes what the audited call does.
// Anything else (structs, slices, maps, floats as tenants, …) is an
// error at generate time.
//
// # The wrapper
//
// For a function Name the generator writes AuditedName (auditedName, with
// the first letter of Name capitalized, when Name is not exported) with
// the same type parameters, parameters and results; methods get theirs on
// the same receiver. Blank and unnamed parameters get generated names.
// The wrapper is short and reads like hand-written code (package
// github.com/capsule-go/capsule/runtime is what it calls):
//
//	ctx, call := runtime.Start(ctx, capsuleSiteName, tenant, request)
//	defer call.Guard()
//	r0, err := Name(ctx, …)
//	return r0, call.Finish(r0, err)
//
// Start creates the capsule and returns the context the function gets (so
// capsule.Current works inside). Finish records the first non-error
// result and the error result (below), seals and stores the capsule, and returns the error the wrapper returns:
// the function's own, or with swallow_errors=false, joined with an audit
// failure by errors.Join. The deferred Guard records a panic and re-panics
// with the same value, or records runtime.Goexit.
//
// The error result is the last result when its type is error, or a
// pointer or interface type that implements error (*MyErr, an interface
// embedding error). For the latter the wrapper compares the result with
// nil as it is, before passing it to Finish as an error (a nil *MyErr in
// an error is not nil), and returns it unchanged; swallow_errors=false is
// an error for such a function, as audit failures cannot be returned
// through it. A value type implementing error, and a type parameter, are
// ordinary results: they cannot be compared with nil.
//
// The package-level site variable holds the directive's values, leaving
// out those equal to the runtime's defaults (a source equal to the agent
// id, domain "agents", swallowed audit errors, the process default
// Capsules).
//
// context.agent_id, and trigger.source by default, is the qualified
// name: <import path>.Name, <import path>.(*T).Name for pointer receivers,
// <import path>.T.Name for value receivers (without type arguments).
//
// # The generated files
//
// Each package with directives gets one file, <package name>_capsule.go,
// for the functions declared in files without build constraints, starting
// with [Header], formatted, and identical on every run for the same
// input. It carries the build constraint !capsulegen: the generator
// loads packages with that tag set, so a stale generated file (calling a
// function that was renamed, or of a former package name) never stops
// regeneration, and neither do calls of wrappers not generated yet. Type
// errors elsewhere in a package are ignored; those inside an audited
// function's signature are reported. Files already up to date are left
// untouched; generated files that are no longer needed are removed
// (reported as orphaned by a check). A file with a target name that
// capsulegen did not generate is never overwritten.
//
// # Build constraints
//
// A wrapper is built exactly when its function is. The build constraint
// of a file is its //go:build line (or its // +build lines), the GOOS and
// GOARCH its name implies (x_linux.go, x_windows_amd64.go) and cgo when it
// imports "C". The wrappers of functions in files with the same
// constraint go into one more generated file, named after the constraint
// and carrying it AND-ed with !capsulegen:
//
//	x_linux.go                      -> <package>_linux_capsule.go        //go:build linux && !capsulegen
//	//go:build unix && !linux       -> <package>_unix_not_linux_capsule.go
//	c.go (import "C")               -> <package>_cgo_capsule.go          //go:build cgo && !capsulegen
//	//go:build (linux || darwin) && cgo -> <package>_linux_or_darwin_cgo_3866dc44_capsule.go
//
// The name spells the constraint with _ for &&, or for ||, not_ for !;
// when that spelling could stand for another constraint too (parentheses,
// tags with _ . or capitals) or is long, the first 8 hex digits of the
// SHA-256 of the constraint follow it. Names the generated files declare
// (site variables, the panic guard) differ between files, which may be
// compiled together.
//
// Files the current build configuration excludes are read too: their
// near misses are reported, and a package with directives in them is
// loaded again in a configuration that includes them, found among the
// platforms of "go tool dist list" (the host's first, then the first-class
// ports, the host's GOARCH first), the tags their constraints name (as few
// as possible) and cgo (last, and for another platform only when no
// configuration without it fits, as it needs that platform's C compiler).
// A directive in a file no configuration compiles (//go:build ignore;
// "ignore" is never set) is ignored with a warning. Loading for another
// platform compiles the dependencies' export data for it once; the go
// command caches it.
//
// Directives in _test.go files are not read. A package none of whose files
// the current configuration builds is left out by patterns like ./..., as
// the go command leaves it out; name it (./winonly) to generate its
// wrappers.
package gen
