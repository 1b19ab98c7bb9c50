package gen

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/tools/go/packages"

	"github.com/capsule-go/capsule/internal/testmod"
)

// benchModule creates a module with one package of n annotated functions
// of assorted shapes.
func benchModule(b *testing.B, n int) string {
	b.Helper()
	var sb strings.Builder
	sb.WriteString("package many\n\nimport \"context\"\n\n")
	sb.WriteString("type Req struct{ Inner *Inner }\n\ntype Inner struct{ Site string; N int }\n\ntype Agent struct{ Tenant string }\n\n")
	for i := range n {
		switch i % 4 {
		case 0:
			fmt.Fprintf(&sb, "//capsule:audit type=agent tenant_from=site\nfunc F%d(ctx context.Context, task, site string) (string, error) { return task, nil }\n\n", i)
		case 1:
			fmt.Fprintf(&sb, "//capsule:audit type=tool tenant_from=req.Inner.Site trigger_from=req.Inner.N swallow_errors=false\nfunc F%d(ctx context.Context, req *Req) (int, error) { return 0, nil }\n\n", i)
		case 2:
			fmt.Fprintf(&sb, "//capsule:audit type=workflow tenant_from=a.Tenant source=\"bench %d\"\nfunc (a *Agent) M%d(xs ...int) int { return len(xs) }\n\n", i, i)
		case 3:
			fmt.Fprintf(&sb, "//capsule:audit type=system tenant_id=t%d\nfunc G%d[T any, U comparable](xs []T, f func(T) U) []U { return nil }\n\n", i, i)
		}
	}
	return testmod.New(b, map[string]string{"many/many.go": sb.String()})
}

// BenchmarkGenerate200 measures a whole run (go list, type-checking,
// checking and emitting) over a package with 200 annotated functions.
func BenchmarkGenerate200(b *testing.B) {
	dir := benchModule(b, 200)
	ctx := context.Background()
	if _, err := Generate(ctx, Config{Dir: dir, Patterns: []string{"./..."}}); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		res, err := Generate(ctx, Config{Dir: dir, Patterns: []string{"./..."}, Check: true})
		if err != nil || !res.UpToDate() {
			b.Fatalf("%v %+v", err, res)
		}
	}
}

// BenchmarkCheckEmit200 measures the generator's own work on a loaded
// package with 200 annotated functions: directives, checks and the
// formatted file.
func BenchmarkCheckEmit200(b *testing.B) {
	dir := benchModule(b, 200)
	pkgs, err := packages.Load(&packages.Config{Dir: dir, Mode: loadMode, BuildFlags: []string{"-tags=" + BuildTag}}, "./many")
	if err != nil {
		b.Fatal(err)
	}
	p := pkgs[0]
	for b.Loop() {
		c := &checker{pkg: p, fset: p.Fset}
		ws := c.collect(nil)
		if len(c.errs) > 0 || len(ws) != 200 {
			b.Fatalf("%d wrappers, errors %v", len(ws), c.errs)
		}
		src, errs := emit(p.Types, ws, buildLine(nil), make(map[string]bool))
		if len(errs) > 0 || len(src) == 0 {
			b.Fatal(errs)
		}
	}
}
