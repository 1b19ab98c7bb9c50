package gen

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/token"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/rogpeppe/go-internal/diff"
	"golang.org/x/tools/go/packages"
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
	target  string   // the generated file to write, "" for none
	src     []byte   // its contents
	orphans []string // generated files to delete
}

// Generate loads the packages of cfg in one go/packages load, checks their
// directives and writes (or, with Check, compares) one generated file per
// package that has directives, removing generated files left in packages
// that no longer need one. Files already up to date are not touched.
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

	pkgs, err := packages.Load(&packages.Config{
		Context:    ctx,
		Dir:        dir,
		Mode:       loadMode,
		BuildFlags: []string{"-tags=" + buildTags(os.Getenv("GOFLAGS"))},
	}, patterns...)
	if err != nil {
		return Result{}, fmt.Errorf("capsulegen: loading packages: %w", err)
	}
	if len(pkgs) == 0 {
		return Result{}, fmt.Errorf("capsulegen: no packages match %s", strings.Join(patterns, " "))
	}
	slices.SortFunc(pkgs, func(a, b *packages.Package) int { return cmp.Compare(a.PkgPath, b.PkgPath) })

	var loadErrs []string
	var diags, warns []Diagnostic
	var plans []plan
	for _, p := range pkgs {
		pdir := packageDir(p)
		existing, err := generatedFiles(pdir)
		if err != nil {
			loadErrs = append(loadErrs, err.Error())
			continue
		}
		if orphanOnly(p, existing) {
			plans = append(plans, plan{orphans: existing})
			continue
		}
		if errs := fatalErrors(p); len(errs) > 0 {
			loadErrs = append(loadErrs, errs...)
			continue
		}
		c := &checker{pkg: p, fset: p.Fset}
		ws := c.collect()
		warns = append(warns, diagnostics(dir, p.Fset, c.warns)...)
		pl := plan{orphans: slices.Clone(existing)}
		var pdiags []Diagnostic
		if len(c.errs) == 0 && len(ws) > 0 {
			pl.target = filepath.Join(pdir, p.Name+"_capsule.go")
			pl.orphans = slices.DeleteFunc(pl.orphans, func(f string) bool { return f == pl.target })
			if _, err := os.Lstat(pl.target); err == nil && !slices.Contains(existing, pl.target) {
				pdiags = append(pdiags, Diagnostic{
					Pos:     token.Position{Filename: relPath(dir, pl.target), Line: 1, Column: 1},
					Message: "file exists and was not generated by capsulegen; refusing to overwrite it",
				})
			} else {
				pl.src, c.errs = emit(p.Types, ws)
			}
		}
		pdiags = append(pdiags, diagnostics(dir, p.Fset, c.errs)...)
		if len(pdiags) > 0 {
			diags = append(diags, pdiags...)
			continue
		}
		plans = append(plans, pl)
	}
	if len(loadErrs) > 0 {
		return Result{}, fmt.Errorf("capsulegen: loading packages:\n%s", strings.Join(loadErrs, "\n"))
	}

	res := Result{Warnings: sortDiagnostics(warns)}
	diffs := make(map[string]string)
	for _, pl := range plans {
		if pl.target != "" {
			status, err := apply(pl.target, pl.src, cfg.Check)
			if err != nil {
				return res, err
			}
			res.Files = append(res.Files, FileResult{Path: pl.target, Status: status})
			if status == Stale {
				cur, err := os.ReadFile(pl.target)
				if err != nil {
					return res, fmt.Errorf("capsulegen: %w", err)
				}
				name := filepath.ToSlash(relPath(dir, pl.target))
				diffs[pl.target] = string(diff.Diff("a/"+name, cur, "b/"+name, pl.src))
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
	tags := []string{}
	for _, f := range strings.Fields(goflags) {
		for _, prefix := range []string{"-tags=", "--tags="} {
			if v, ok := strings.CutPrefix(f, prefix); ok {
				tags = strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' })
			}
		}
	}
	return strings.Join(append(tags, BuildTag), ",")
}

// relPath returns path relative to dir when it is inside dir.
func relPath(dir, path string) string {
	rel, err := filepath.Rel(dir, path)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return path
	}
	return rel
}
