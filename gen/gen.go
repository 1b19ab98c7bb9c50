package gen

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/build/constraint"
	"go/parser"
	"go/token"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/rogpeppe/go-internal/diff"
	"golang.org/x/tools/go/packages"

	"github.com/capsule-go/capsule/internal/directive"
)

// Config configures one run of [Generate].
type Config struct {
	// Dir is the directory the go command runs in, and the one file names
	// in messages are relative to. Empty means the current directory.
	Dir string
	// Patterns are the packages to process, in the go command's syntax
	// ("./...", an import path, a directory). None means ".".
	Patterns []string
	// Check makes Generate write nothing and report instead, on Stdout,
	// each file that is stale (with a unified diff), missing or orphaned.
	Check bool
	// Verbose reports each file written or removed on Stdout.
	Verbose bool
	// Stdout receives the reports; nil discards them.
	Stdout io.Writer
}

// Status is what a run did, or under [Config.Check] would do, to one
// generated file.
type Status int

const (
	// Unchanged: the file is up to date.
	Unchanged Status = iota
	// Written: the file was created or rewritten.
	Written
	// Removed: the file was orphaned (its package has no directives left,
	// or it is named after a former package name) and was deleted.
	Removed
	// Stale: the file exists with other contents (Check only).
	Stale
	// Missing: the file should exist and does not (Check only).
	Missing
	// Orphaned: the file should not exist (Check only).
	Orphaned
)

// String returns the status as a lower-case word.
func (s Status) String() string {
	switch s {
	case Unchanged:
		return "unchanged"
	case Written:
		return "written"
	case Removed:
		return "removed"
	case Stale:
		return "stale"
	case Missing:
		return "missing"
	case Orphaned:
		return "orphaned"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// FileResult is the outcome for one generated file.
type FileResult struct {
	Path   string // absolute path
	Status Status
}

// Result lists the generated files a run considered, sorted by path, and
// the warnings about comments that look like directives but are not.
type Result struct {
	Files []FileResult
	// Warnings are near-miss directives ("// capsule:audit",
	// "//capsule:audti", ...), which are ignored; they are sorted like
	// [DirectiveError.Diagnostics] and do not stop generation.
	Warnings []Diagnostic
}

// UpToDate reports whether no file is stale, missing or orphaned.
func (r Result) UpToDate() bool {
	for _, f := range r.Files {
		switch f.Status {
		case Stale, Missing, Orphaned:
			return false
		}
	}
	return true
}

// Diagnostic is a problem with a directive or the function it annotates.
type Diagnostic struct {
	// Pos locates the problem; Filename is relative to Config.Dir when
	// the file is inside it.
	Pos     token.Position
	Message string
}

// String formats the diagnostic as file:line:col: message.
func (d Diagnostic) String() string {
	return fmt.Sprintf("%s: %s", posString(d.Pos), d.Message)
}

// DirectiveError is returned by [Generate] when directives have problems.
// No file is written or removed for a package with diagnostics; other
// packages are processed normally.
type DirectiveError struct {
	// Diagnostics are sorted by file, line, column and message.
	Diagnostics []Diagnostic
}

// Error returns the diagnostics, one per line.
func (e *DirectiveError) Error() string {
	lines := make([]string, len(e.Diagnostics))
	for i, d := range e.Diagnostics {
		lines[i] = d.String()
	}
	return strings.Join(lines, "\n")
}

// loadMode is what the generator needs from go/packages: syntax with
// comments and full type information for the named packages only
// (dependencies come from export data).
const loadMode = packages.NeedName | packages.NeedFiles | packages.NeedCompiledGoFiles |
	packages.NeedSyntax | packages.NeedTypes | packages.NeedTypesInfo

// plan is what one package needs on disk.
type plan struct {
	targets []target // the generated files to write
	orphans []string // generated files to delete
}

// target is one generated file and its contents.
type target struct {
	path string
	src  []byte
}

// Generate loads the packages of cfg in one go/packages load, checks their
// directives and writes (or, with Check, compares) the generated files of
// each package that has directives: one per distinct build constraint of
// the files that declare the audited functions, under the same constraint.
// Files the host build excludes are read too: the packages that hold
// directives in such files are loaded again, one more load per
// configuration that includes some of them (another GOOS, GOARCH, cgo
// setting or tags). It removes
// generated files left in packages that no longer need them. Files already
// up to date are not touched.
//
// It returns a *[DirectiveError] when directives have problems, and
// another error when the packages cannot be loaded or a file cannot be
// written; in the latter case nothing was written.
func Generate(ctx context.Context, cfg Config) (Result, error) {
	dir := cfg.Dir
	if dir == "" {
		dir = "."
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return Result{}, fmt.Errorf("capsulegen: %w", err)
	}
	patterns := cfg.Patterns
	if len(patterns) == 0 {
		patterns = []string{"."}
	}
	out := cfg.Stdout
	if out == nil {
		out = io.Discard
	}

	goflags := os.Getenv("GOFLAGS")
	pkgs, err := packages.Load(&packages.Config{
		Context:    ctx,
		Dir:        dir,
		Mode:       loadMode,
		BuildFlags: []string{"-tags=" + buildTags(goflags)},
	}, patterns...)
	if err != nil {
		return Result{}, fmt.Errorf("capsulegen: loading packages: %w", err)
	}
	if len(pkgs) == 0 {
		return Result{}, fmt.Errorf("capsulegen: no packages match %s", strings.Join(patterns, " "))
	}
	slices.SortFunc(pkgs, func(a, b *packages.Package) int { return cmp.Compare(a.PkgPath, b.PkgPath) })

	g := &generation{
		dir:      dir,
		userTags: userTags(goflags),
		byPath:   make(map[string]*pkgGen),
		need:     make(map[string]*otherLoad),
		cons:     make(map[string]constraint.Expr),
	}
	g.search = &configSearch{ctx: ctx, dir: dir, userTags: g.userTags}
	for _, p := range pkgs {
		g.host(p)
	}
	g.loadOthers(ctx)
	plans, diags := g.plans()
	if len(g.loadErrs) > 0 {
		return Result{}, fmt.Errorf("capsulegen: loading packages:\n%s", strings.Join(g.loadErrs, "\n"))
	}

	res := Result{Warnings: sortDiagnostics(g.warns)}
	diffs := make(map[string]string)
	for _, pl := range plans {
		for _, t := range pl.targets {
			status, err := apply(t.path, t.src, cfg.Check)
			if err != nil {
				return res, err
			}
			res.Files = append(res.Files, FileResult{Path: t.path, Status: status})
			if status == Stale {
				cur, err := os.ReadFile(t.path)
				if err != nil {
					return res, fmt.Errorf("capsulegen: %w", err)
				}
				name := filepath.ToSlash(relPath(dir, t.path))
				diffs[t.path] = string(diff.Diff("a/"+name, cur, "b/"+name, t.src))
			}
		}
		for _, o := range pl.orphans {
			status := Orphaned
			if !cfg.Check {
				if err := os.Remove(o); err != nil {
					return res, fmt.Errorf("capsulegen: removing orphaned file: %w", err)
				}
				status = Removed
			}
			res.Files = append(res.Files, FileResult{Path: o, Status: status})
		}
	}
	slices.SortFunc(res.Files, func(a, b FileResult) int { return cmp.Compare(a.Path, b.Path) })
	for _, f := range res.Files {
		switch {
		case f.Status == Stale || f.Status == Missing || f.Status == Orphaned:
			fmt.Fprintf(out, "%s: %s\n%s", f.Status, relPath(dir, f.Path), diffs[f.Path])
		case cfg.Verbose && f.Status == Written:
			fmt.Fprintf(out, "wrote %s\n", relPath(dir, f.Path))
		case cfg.Verbose && f.Status == Removed:
			fmt.Fprintf(out, "removed %s\n", relPath(dir, f.Path))
		}
	}
	if len(diags) > 0 {
		return res, &DirectiveError{Diagnostics: sortDiagnostics(diags)}
	}
	return res, nil
}

// generation is the state of one run of [Generate].
type generation struct {
	dir      string
	userTags []string // the tags of GOFLAGS
	search   *configSearch
	pkgs     []*pkgGen
	byPath   map[string]*pkgGen
	need     map[string]*otherLoad      // by configuration
	cons     map[string]constraint.Expr // build constraints by file name
	loadErrs []string
	warns    []Diagnostic
}

// pkgGen is what the run found for one package.
type pkgGen struct {
	p          *packages.Package // as the host configuration loads it
	dir        string
	existing   []string // its generated files
	orphanOnly bool     // it has nothing but generated files
	wrappers   []*wrapper
	errs       []Diagnostic
}

// otherLoad is a configuration other than the host's that packages must
// be loaded in, for the files the host configuration excludes.
type otherLoad struct {
	cfg   buildConfig
	files map[string]map[string]bool // package path -> file names
}

// host records what the host configuration's load of p holds, and which
// of the files it excludes need another load.
func (g *generation) host(p *packages.Package) {
	pg := &pkgGen{p: p, dir: packageDir(p)}
	existing, err := generatedFiles(pg.dir)
	if err != nil {
		g.loadErrs = append(g.loadErrs, err.Error())
		return
	}
	pg.existing = existing
	g.pkgs = append(g.pkgs, pg)
	g.byPath[p.PkgPath] = pg
	if orphanOnly(p, existing) {
		pg.orphanOnly = true
		return
	}
	// A package whose files are all excluded here (named explicitly: ./...
	// leaves it out) has only the files read below.
	allExcluded := len(p.GoFiles) == 0 && len(p.CompiledGoFiles) == 0 && len(p.IgnoredFiles) > 0
	errs := fatalErrors(p)
	if allExcluded {
		errs = slices.DeleteFunc(errs, func(e string) bool { return strings.Contains(e, "build constraints exclude all Go files") })
	}
	if len(errs) > 0 {
		g.loadErrs = append(g.loadErrs, errs...)
		return
	}
	if !allExcluded {
		c := &checker{pkg: p, fset: p.Fset}
		pg.wrappers = c.collect(nil)
		pg.errs = append(pg.errs, diagnostics(g.dir, p.Fset, c.errs)...)
		g.warns = append(g.warns, diagnostics(g.dir, p.Fset, nearMisses(p.Syntax))...)
	}
	for _, f := range p.IgnoredFiles {
		if strings.HasSuffix(f, ".go") && !strings.HasSuffix(f, "_test.go") && !slices.Contains(existing, f) {
			g.excluded(pg, f)
		}
	}
}

// excluded reads the file path of pg that the host configuration
// excludes: it warns about its near misses and, when it has directives,
// records the configuration to load it in.
func (g *generation) excluded(pg *pkgGen, path string) {
	src, err := os.ReadFile(path)
	if err != nil {
		g.loadErrs = append(g.loadErrs, fmt.Sprintf("reading %s: %v", relPath(g.dir, path), err))
		return
	}
	if !bytes.Contains(src, []byte("capsule")) {
		return
	}
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, path, src, parser.ParseComments)
	if err != nil {
		if bytes.Contains(src, []byte(directive.AuditPrefix)) {
			g.loadErrs = append(g.loadErrs, err.Error())
		}
		return
	}
	if isGeneratedFile(file) {
		return
	}
	g.warns = append(g.warns, diagnostics(g.dir, fset, nearMisses([]*ast.File{file}))...)
	var first *ast.Comment
	for _, group := range file.Comments {
		for _, c := range group.List {
			if first == nil && directive.IsAudit(c.Text) {
				first = c
			}
		}
	}
	if first == nil {
		return
	}
	x, err := g.constraint(path)
	if err != nil {
		g.loadErrs = append(g.loadErrs, err.Error())
		return
	}
	if x == nil {
		return // excluded for another reason than a constraint
	}
	cfg, ok, err := g.search.find(x)
	if err != nil {
		g.loadErrs = append(g.loadErrs, err.Error())
		return
	}
	if !ok {
		g.warns = append(g.warns, diagnostics(g.dir, fset, []posError{{first.Slash,
			fmt.Sprintf("//capsule:audit is ignored: no build configuration compiles %s (//go:build %s)", filepath.Base(path), x)}})...)
		return
	}
	ol := g.need[cfg.String()]
	if ol == nil {
		ol = &otherLoad{cfg: cfg, files: make(map[string]map[string]bool)}
		g.need[cfg.String()] = ol
	}
	if ol.files[pg.p.PkgPath] == nil {
		ol.files[pg.p.PkgPath] = make(map[string]bool)
	}
	ol.files[pg.p.PkgPath][path] = true
}

// loadOthers loads the packages with directives in excluded files in the
// configurations that include those files, one load per configuration,
// and checks the directives of those files.
func (g *generation) loadOthers(ctx context.Context) {
	for _, key := range slices.Sorted(maps.Keys(g.need)) {
		ol := g.need[key]
		tags := append(append(slices.Clone(g.userTags), ol.cfg.tags...), BuildTag)
		pkgs, err := packages.Load(&packages.Config{
			Context:    ctx,
			Dir:        g.dir,
			Mode:       loadMode,
			Env:        ol.cfg.env(),
			BuildFlags: []string{"-tags=" + strings.Join(tags, ",")},
		}, slices.Sorted(maps.Keys(ol.files))...)
		if err != nil {
			g.loadErrs = append(g.loadErrs, fmt.Sprintf("with %s: %v", ol.cfg, err))
			continue
		}
		for _, p := range pkgs {
			pg, files := g.byPath[p.PkgPath], ol.files[p.PkgPath]
			if pg == nil || files == nil {
				continue
			}
			if errs := fatalErrors(p); len(errs) > 0 {
				for _, e := range errs {
					g.loadErrs = append(g.loadErrs, fmt.Sprintf("with %s: %s", ol.cfg, e))
				}
				continue
			}
			c := &checker{pkg: p, fset: p.Fset}
			pg.wrappers = append(pg.wrappers, c.collect(files)...)
			pg.errs = append(pg.errs, diagnostics(g.dir, p.Fset, c.errs)...)
		}
	}
}

// plans returns what each package needs on disk: its wrappers grouped by
// the build constraint of their functions' files, one generated file per
// group, the unconstrained one first; and the diagnostics of the packages
// that get no plan.
func (g *generation) plans() ([]plan, []Diagnostic) {
	var plans []plan
	var diags []Diagnostic
	for _, pg := range g.pkgs {
		if pg.orphanOnly {
			plans = append(plans, plan{orphans: pg.existing})
			continue
		}
		groups := make(map[string][]*wrapper)
		exprs := make(map[string]constraint.Expr)
		for _, w := range pg.wrappers {
			x, err := g.constraint(w.pos.Filename)
			if err != nil {
				g.loadErrs = append(g.loadErrs, err.Error())
				continue
			}
			key := ""
			if x != nil {
				key = x.String()
			}
			groups[key], exprs[key] = append(groups[key], w), x
		}
		// The unconstrained group ("") first, the others by file name.
		keys := slices.SortedFunc(maps.Keys(groups), func(a, b string) int {
			if (a == "") != (b == "") {
				return cmp.Compare(len(a), len(b))
			}
			return cmp.Compare(generatedName("", exprs[a]), generatedName("", exprs[b]))
		})
		pl := plan{orphans: slices.Clone(pg.existing)}
		reserved := make(map[string]bool)
		errs := pg.errs
		for _, key := range keys {
			ws := groups[key]
			sortWrappers(ws)
			pkg := ws[0].fn.Pkg()
			path := filepath.Join(pg.dir, generatedName(pkg.Name(), exprs[key]))
			pl.orphans = slices.DeleteFunc(pl.orphans, func(f string) bool { return f == path })
			if _, err := os.Lstat(path); err == nil && !slices.Contains(pg.existing, path) {
				errs = append(errs, Diagnostic{
					Pos:     token.Position{Filename: relPath(g.dir, path), Line: 1, Column: 1},
					Message: "file exists and was not generated by capsulegen; refusing to overwrite it",
				})
				continue
			}
			src, perrs := emit(pkg, ws, buildLine(exprs[key]), reserved)
			errs = append(errs, diagnostics(g.dir, ws[0].fset, perrs)...)
			pl.targets = append(pl.targets, target{path, src})
		}
		if len(errs) > 0 {
			diags = append(diags, errs...)
			continue
		}
		plans = append(plans, pl)
	}
	return plans, diags
}

// constraint returns the build constraint of the file at path, read once.
func (g *generation) constraint(path string) (constraint.Expr, error) {
	if x, ok := g.cons[path]; ok {
		return x, nil
	}
	x, err := fileConstraint(path)
	if err != nil {
		return nil, err
	}
	g.cons[path] = x
	return x, nil
}

// diagnostics converts problems found in fset into diagnostics with file
// names relative to dir.
func diagnostics(dir string, fset *token.FileSet, errs []posError) []Diagnostic {
	var diags []Diagnostic
	for _, e := range errs {
		pos := fset.Position(e.pos)
		pos.Filename = relPath(dir, pos.Filename)
		diags = append(diags, Diagnostic{Pos: pos, Message: e.msg})
	}
	return diags
}

// sortDiagnostics sorts diags by file, line, column and message.
func sortDiagnostics(diags []Diagnostic) []Diagnostic {
	slices.SortFunc(diags, func(a, b Diagnostic) int {
		return cmp.Or(
			cmp.Compare(a.Pos.Filename, b.Pos.Filename),
			cmp.Compare(a.Pos.Line, b.Pos.Line),
			cmp.Compare(a.Pos.Column, b.Pos.Column),
			cmp.Compare(a.Message, b.Message),
		)
	})
	return diags
}

// apply writes src to path unless it already holds exactly src, or under
// check only compares.
func apply(path string, src []byte, check bool) (Status, error) {
	cur, err := os.ReadFile(path)
	switch {
	case err == nil && bytes.Equal(cur, src):
		return Unchanged, nil
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return 0, fmt.Errorf("capsulegen: %w", err)
	case check && err != nil:
		return Missing, nil
	case check:
		return Stale, nil
	}
	if err := writeFile(path, src); err != nil {
		return 0, fmt.Errorf("capsulegen: writing generated file: %w", err)
	}
	return Written, nil
}

// writeFile replaces path with data atomically: readers see the old file
// or the new one, never a partial write. A new file gets mode 0644; a
// replaced one keeps its permissions.
func writeFile(path string, data []byte) error {
	perm := os.FileMode(0o644)
	if fi, err := os.Stat(path); err == nil {
		perm = fi.Mode().Perm()
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".capsulegen-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename, a no-op
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// packageDir returns the directory of p.
func packageDir(p *packages.Package) string {
	if p.Dir != "" {
		return p.Dir
	}
	for _, files := range [][]string{p.GoFiles, p.IgnoredFiles, p.OtherFiles} {
		if len(files) > 0 {
			return filepath.Dir(files[0])
		}
	}
	return ""
}

// generatedFiles returns the files in dir that capsulegen generated:
// *_capsule.go files that start with [Header].
func generatedFiles(dir string) ([]string, error) {
	if dir == "" {
		return nil, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading package directory: %w", err)
	}
	var files []string
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || !strings.HasSuffix(name, "_capsule.go") || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
			continue
		}
		path := filepath.Join(dir, name)
		ok, err := hasHeader(path)
		if err != nil {
			return nil, err
		}
		if ok {
			files = append(files, path)
		}
	}
	return files, nil
}

// hasHeader reports whether the file at path starts with [Header].
func hasHeader(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, fmt.Errorf("reading generated file: %w", err)
	}
	defer f.Close()
	buf := make([]byte, len(Header)+2)
	n, err := io.ReadFull(f, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return false, fmt.Errorf("reading generated file: %w", err)
	}
	return isGeneratedSource(buf[:n]), nil
}

// isGeneratedSource reports whether src starts with [Header] on its own line.
func isGeneratedSource(src []byte) bool {
	rest, ok := bytes.CutPrefix(src, []byte(Header))
	return ok && (bytes.HasPrefix(rest, []byte("\n")) || bytes.HasPrefix(rest, []byte("\r\n")))
}

// isGeneratedFile reports whether a parsed file was generated by
// capsulegen.
func isGeneratedFile(f *ast.File) bool {
	return len(f.Comments) > 0 && f.Comments[0].Pos() < f.Package && f.Comments[0].List[0].Text == Header
}

// orphanOnly reports whether p consists only of generated files, so that,
// with them excluded, it has no Go files at all: they are orphans.
func orphanOnly(p *packages.Package, generated []string) bool {
	if len(p.GoFiles) > 0 || len(p.CompiledGoFiles) > 0 || len(generated) == 0 {
		return false
	}
	for _, f := range p.IgnoredFiles {
		if !slices.Contains(generated, f) {
			return false
		}
	}
	return true
}

// fatalErrors returns the errors that stop p from being processed. Type
// errors are not among them: the package is loaded without its generated
// file, so calls of wrappers that do not exist yet are expected; the
// checker reports the type errors that touch an audited signature. The
// compiler's errors that go list reports while building export data are
// the same type errors again.
func fatalErrors(p *packages.Package) []string {
	var errs []string
	for _, e := range p.Errors {
		if e.Kind == packages.TypeError || (e.Kind == packages.ListError && strings.HasPrefix(e.Msg, "# ")) {
			continue
		}
		errs = append(errs, e.Error())
	}
	if len(errs) == 0 && (p.Types == nil || p.TypesInfo == nil) {
		errs = append(errs, fmt.Sprintf("%s: no type information", p.PkgPath))
	}
	return errs
}

// buildTags returns the value of the -tags flag for loading: the tags of
// GOFLAGS, if any, and [BuildTag]. A -tags build flag replaces the one in
// GOFLAGS, so the user's tags have to be repeated.
func buildTags(goflags string) string {
	return strings.Join(append(userTags(goflags), BuildTag), ",")
}

// userTags returns the tags of the last -tags flag of GOFLAGS.
func userTags(goflags string) []string {
	tags := []string{}
	for _, f := range strings.Fields(goflags) {
		for _, prefix := range []string{"-tags=", "--tags="} {
			if v, ok := strings.CutPrefix(f, prefix); ok {
				tags = strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' })
			}
		}
	}
	return tags
}

// relPath returns path relative to dir when it is inside dir.
func relPath(dir, path string) string {
	rel, err := filepath.Rel(dir, path)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return path
	}
	return rel
}
