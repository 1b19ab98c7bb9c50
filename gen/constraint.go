package gen

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"go/build/constraint"
	"go/parser"
	"go/token"
	"go/version"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
)

// fileConstraint returns the build constraint of the Go file at path: its
// //go:build line (or its // +build lines), the GOOS and GOARCH its name
// implies (x_linux.go, x_windows_amd64.go) and cgo when it imports "C",
// AND-ed in that order; nil when the file has none.
func fileConstraint(path string) (constraint.Expr, error) {
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly|parser.ParseComments)
	if err != nil {
		return nil, fmt.Errorf("reading the build constraint: %w", err)
	}
	var goBuild constraint.Expr
	var plusBuild []constraint.Expr
	for _, g := range f.Comments {
		if g.Pos() >= f.Package {
			break
		}
		for _, c := range g.List {
			switch {
			case constraint.IsGoBuild(c.Text) && goBuild == nil:
				if goBuild, err = constraint.Parse(c.Text); err != nil {
					return nil, fmt.Errorf("%s: %w", path, err)
				}
			case constraint.IsPlusBuild(c.Text):
				x, err := constraint.Parse(c.Text)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", path, err)
				}
				plusBuild = append(plusBuild, x)
			}
		}
	}
	var terms []constraint.Expr
	switch {
	case goBuild != nil:
		terms = append(terms, goBuild)
	default:
		terms = append(terms, plusBuild...)
	}
	terms = append(terms, nameConstraint(filepath.Base(path))...)
	for _, imp := range f.Imports {
		if imp.Path.Value == `"C"` {
			terms = append(terms, tag("cgo"))
			break
		}
	}
	return and(terms...), nil
}

// nameConstraint returns the GOOS and GOARCH terms a file name implies, as
// go/build reads them: *_GOOS, *_GOARCH or *_GOOS_GOARCH before .go (and
// before _test), never the first element of the name.
func nameConstraint(name string) []constraint.Expr {
	name = strings.TrimSuffix(name, ".go")
	i := strings.Index(name, "_")
	if i < 0 {
		return nil
	}
	l := strings.Split(name[i:], "_")
	if n := len(l); n > 0 && l[n-1] == "test" {
		l = l[:n-1]
	}
	n := len(l)
	switch {
	case n >= 2 && knownOS[l[n-2]] && knownArch[l[n-1]]:
		return []constraint.Expr{tag(l[n-2]), tag(l[n-1])}
	case n >= 1 && (knownOS[l[n-1]] || knownArch[l[n-1]]):
		return []constraint.Expr{tag(l[n-1])}
	}
	return nil
}

func tag(name string) constraint.Expr { return &constraint.TagExpr{Tag: name} }

// and returns the conjunction of terms, nil for none.
func and(terms ...constraint.Expr) constraint.Expr {
	var x constraint.Expr
	for _, t := range terms {
		if x == nil {
			x = t
		} else {
			x = &constraint.AndExpr{X: x, Y: t}
		}
	}
	return x
}

// generatedName returns the name of the generated file for the wrappers
// of package pkg whose functions are in files with the build constraint
// x: <pkg>_capsule.go when x is nil, else <pkg>_<x>_capsule.go with x
// spelled in the characters of a file name (linux && amd64 is
// linux_amd64, !windows is not_windows, a || b is a_or_b). When that
// spelling could stand for another expression too (parentheses lost, tags
// with _ . or capitals, a tag named "or" or "not") or is long, it is
// followed by the first 8 hex digits of the SHA-256 of the expression, so
// that distinct constraints never share a file. The name never ends in a
// GOOS, GOARCH or _test element, so it implies no constraint itself.
func generatedName(pkg string, x constraint.Expr) string {
	if x == nil {
		return pkg + "_capsule.go"
	}
	spelled, exact := spell(x, false)
	if !exact || len(spelled) > 48 {
		sum := sha256.Sum256([]byte(x.String()))
		if len(spelled) > 40 {
			spelled = strings.TrimRight(spelled[:40], "_")
		}
		spelled += "_" + hex.EncodeToString(sum[:4])
	}
	return pkg + "_" + spelled + "_capsule.go"
}

// spell spells x for a file name; exact is false when the spelling is
// ambiguous. underAnd says x is an operand of && (where an || would need
// parentheses).
func spell(x constraint.Expr, underAnd bool) (s string, exact bool) {
	switch x := x.(type) {
	case *constraint.TagExpr:
		exact = x.Tag != "or" && x.Tag != "not" && strings.Trim(x.Tag, "abcdefghijklmnopqrstuvwxyz0123456789") == ""
		return strings.Map(func(r rune) rune {
			if r == '.' {
				return '_'
			}
			return r
		}, x.Tag), exact
	case *constraint.NotExpr:
		s, exact = spell(x.X, true)
		_, isTag := x.X.(*constraint.TagExpr)
		return "not_" + s, exact && isTag
	case *constraint.AndExpr:
		a, ea := spell(x.X, true)
		b, eb := spell(x.Y, true)
		return a + "_" + b, ea && eb
	case *constraint.OrExpr:
		a, ea := spell(x.X, false)
		b, eb := spell(x.Y, false)
		return a + "_or_" + b, ea && eb && !underAnd
	}
	return "", false
}

// buildLine returns the //go:build line of a generated file for functions
// in files with the constraint x (nil for none): x AND-ed with
// !capsulegen.
func buildLine(x constraint.Expr) string {
	not := &constraint.NotExpr{X: tag(BuildTag)}
	if x == nil {
		return "//go:build " + not.String()
	}
	return "//go:build " + (&constraint.AndExpr{X: x, Y: not}).String()
}

// buildConfig is a build configuration a package can be loaded in.
type buildConfig struct {
	goos, goarch string
	cgo          bool
	tags         []string // set besides the user's and BuildTag
}

// String describes the configuration for messages.
func (b buildConfig) String() string {
	s := fmt.Sprintf("GOOS=%s GOARCH=%s CGO_ENABLED=%s", b.goos, b.goarch, cgoEnabled(b.cgo))
	if len(b.tags) > 0 {
		s += " -tags=" + strings.Join(b.tags, ",")
	}
	return s
}

// platform is a GOOS/GOARCH pair the go command supports, as
// "go tool dist list -json" describes it.
type platform struct {
	GOOS, GOARCH string
	CgoSupported bool
	FirstClass   bool
}

// configSearch finds a build configuration that satisfies a constraint,
// for files the host configuration excludes. It asks the go command for
// the host configuration and the supported platforms the first time it is
// needed.
type configSearch struct {
	ctx      context.Context
	dir      string
	userTags []string // the tags of GOFLAGS
	loaded   bool
	host     buildConfig
	plats    []platform // host first, then first-class ports, then the rest
}

// find returns the first configuration that satisfies x, trying, for each
// set of the constraint's own tags (fewest first), the host platform, then
// the other first-class platforms (the host's GOARCH first), then the
// rest; cgo only after every configuration without it failed for a
// platform other than the host's. ok is false when none does.
func (s *configSearch) find(x constraint.Expr) (cfg buildConfig, ok bool, err error) {
	if err := s.load(); err != nil {
		return buildConfig{}, false, err
	}
	var custom []string
	seen := make(map[string]bool)
	var walk func(constraint.Expr)
	walk = func(x constraint.Expr) {
		switch x := x.(type) {
		case *constraint.TagExpr:
			if !seen[x.Tag] && s.isCustom(x.Tag) {
				seen[x.Tag] = true
				custom = append(custom, x.Tag)
			}
		case *constraint.NotExpr:
			walk(x.X)
		case *constraint.AndExpr:
			walk(x.X)
			walk(x.Y)
		case *constraint.OrExpr:
			walk(x.X)
			walk(x.Y)
		}
	}
	walk(x)
	slices.Sort(custom)
	if len(custom) > 8 {
		custom = custom[:8] // 256 sets of tags are plenty
	}
	for size := 0; size <= len(custom); size++ {
		for _, set := range subsets(custom, size) {
			for _, withCgo := range []bool{false, true} {
				for _, p := range s.plats {
					host := p.GOOS == s.host.goos && p.GOARCH == s.host.goarch
					cgo := withCgo
					if host && !withCgo {
						cgo = s.host.cgo
					}
					if withCgo && (!p.CgoSupported || (host && s.host.cgo)) {
						continue
					}
					c := buildConfig{goos: p.GOOS, goarch: p.GOARCH, cgo: cgo, tags: set}
					if x.Eval(s.has(c)) {
						return c, true, nil
					}
				}
			}
		}
	}
	return buildConfig{}, false, nil
}

// isCustom reports whether a tag is one a configuration sets by choice:
// not a GOOS, GOARCH, "unix", "cgo", a compiler, a Go release, BuildTag,
// a tag of GOFLAGS, nor "ignore", which by convention no build sets.
func (s *configSearch) isCustom(t string) bool {
	switch {
	case knownOS[t], knownArch[t], t == "unix", t == "cgo", t == "gc", t == "gccgo", t == BuildTag, t == "ignore":
		return false
	case strings.HasPrefix(t, "go1.") || slices.Contains(s.userTags, t):
		return false
	}
	for a := range knownArch {
		if strings.HasPrefix(t, a+".") {
			return false // an architecture feature level, amd64.v2
		}
	}
	return true
}

// has returns the tag test of configuration c, as the go command sets
// tags: GOOS (android also sets linux, ios darwin, illumos solaris),
// "unix" on Unix systems, GOARCH, cgo, gc, the release tags up to the
// running Go version, the user's tags, c's tags and BuildTag.
func (s *configSearch) has(c buildConfig) func(string) bool {
	return func(t string) bool {
		switch t {
		case c.goos, c.goarch, "gc", BuildTag:
			return true
		case "unix":
			return unixOS[c.goos]
		case "cgo":
			return c.cgo
		case "linux":
			return c.goos == "android"
		case "darwin":
			return c.goos == "ios"
		case "solaris":
			return c.goos == "illumos"
		}
		if strings.HasPrefix(t, "go1.") {
			return version.IsValid(t) && version.Compare(t, version.Lang(goruntime.Version())) <= 0
		}
		return slices.Contains(s.userTags, t) || slices.Contains(c.tags, t)
	}
}

// load asks the go command, once, for the host configuration and the
// supported platforms.
func (s *configSearch) load() error {
	if s.loaded {
		return nil
	}
	env, err := s.goCmd("env", "-json", "GOOS", "GOARCH", "CGO_ENABLED")
	if err != nil {
		return err
	}
	var e struct{ GOOS, GOARCH, CGO_ENABLED string }
	if err := json.Unmarshal(env, &e); err != nil {
		return fmt.Errorf("reading go env: %w", err)
	}
	s.host = buildConfig{goos: e.GOOS, goarch: e.GOARCH, cgo: e.CGO_ENABLED == "1"}
	list, err := s.goCmd("tool", "dist", "list", "-json")
	if err != nil {
		return err
	}
	if err := json.Unmarshal(list, &s.plats); err != nil {
		return fmt.Errorf("reading go tool dist list: %w", err)
	}
	rank := func(p platform) int {
		switch {
		case p.GOOS == s.host.goos && p.GOARCH == s.host.goarch:
			return 0
		case p.FirstClass && p.GOARCH == s.host.goarch:
			return 1
		case p.FirstClass:
			return 2
		case p.GOARCH == s.host.goarch:
			return 3
		}
		return 4
	}
	slices.SortStableFunc(s.plats, func(a, b platform) int {
		return cmp.Or(cmp.Compare(rank(a), rank(b)), cmp.Compare(a.GOOS, b.GOOS), cmp.Compare(a.GOARCH, b.GOARCH))
	})
	s.loaded = true
	return nil
}

// goCmd runs the go command in the search's directory and returns its
// standard output.
func (s *configSearch) goCmd(args ...string) ([]byte, error) {
	cmd := exec.CommandContext(s.ctx, "go", args...)
	cmd.Dir = s.dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// env returns the environment of the go command for configuration c.
func (c buildConfig) env() []string {
	return append(os.Environ(), "GOOS="+c.goos, "GOARCH="+c.goarch, "CGO_ENABLED="+cgoEnabled(c.cgo))
}

// cgoEnabled is the value of CGO_ENABLED for cgo on or off.
func cgoEnabled(on bool) string {
	if on {
		return "1"
	}
	return "0"
}

// subsets returns the subsets of set with n elements, in lexical order.
func subsets(set []string, n int) [][]string {
	if n == 0 {
		return [][]string{nil}
	}
	var out [][]string
	for i := range set {
		for _, rest := range subsets(set[i+1:], n-1) {
			out = append(out, append([]string{set[i]}, rest...))
		}
	}
	return out
}

// knownOS, unixOS and knownArch are go/build's lists (internal/syslist):
// the GOOS and GOARCH values file names and tags are matched against.
var (
	knownOS = setOf("aix", "android", "darwin", "dragonfly", "freebsd", "hurd", "illumos", "ios", "js",
		"linux", "nacl", "netbsd", "openbsd", "plan9", "solaris", "wasip1", "windows", "zos")
	unixOS = setOf("aix", "android", "darwin", "dragonfly", "freebsd", "hurd", "illumos", "ios",
		"linux", "netbsd", "openbsd", "solaris")
	knownArch = setOf("386", "amd64", "amd64p32", "arm", "armbe", "arm64", "arm64be", "loong64", "mips",
		"mipsle", "mips64", "mips64le", "mips64p32", "mips64p32le", "ppc", "ppc64", "ppc64le", "riscv",
		"riscv64", "s390", "s390x", "sparc", "sparc64", "wasm")
)

func setOf(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}
