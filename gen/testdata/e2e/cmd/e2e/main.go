// Command e2e calls every wrapper of package audited, then prints what the
// calls returned and what the process default store holds, as JSON.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"example.com/m/audited"
	"github.com/capsule-go/capsule"
)

type report struct {
	Obs      map[string]any            `json:"obs"`
	Capsules map[string][]stored       `json:"capsules"` // by tenant
	Verify   map[string]capsule.Result `json:"verify"`
}

type stored struct {
	Sequence int64          `json:"sequence"`
	Data     map[string]any `json:"data"`
}

type marker struct{ n int }

func main() {
	ctx := context.Background()
	obs := make(map[string]any)
	check := func(err error) {
		if err != nil {
			panic(err)
		}
	}

	// The store behind Closed is opened, then closed: audits into it fail.
	closed, err := capsule.Open(ctx, filepath.Join(os.Getenv("QUANTUMPIPES_DATA_DIR"), "closed.db"))
	check(err)
	check(closed.Close())
	audited.Closed = closed

	_, err = capsule.FromContext(ctx)
	obs["outside_no_active"] = errors.Is(err, capsule.ErrNoActiveCapsule)

	s, err := audited.AuditedGreet(ctx, "ada", "site-1")
	obs["greet"] = []any{s, err == nil}
	s, _ = audited.AuditedGreet(ctx, "bob", "site-1")
	obs["greet2"] = s

	check(audited.AuditedSleep(ctx, 30))

	n, err := audited.AuditedFail(ctx, "reasons")
	obs["fail"] = []any{n, err.Error(), errors.Is(err, audited.ErrSentinel)}

	m := &marker{1}
	func() {
		defer func() {
			r := recover()
			obs["panic_same_value"] = r == any(m)
		}()
		audited.AuditedBoom(m)
	}()
	func() {
		defer func() {
			r := recover()
			_, ok := r.(*runtime.PanicNilError)
			obs["panic_nil"] = ok
		}()
		audited.AuditedBoom(nil)
	}()

	var wg sync.WaitGroup
	wg.Add(1)
	exited := true
	go func() {
		defer wg.Done()
		audited.AuditedExit(ctx)
		exited = false
	}()
	wg.Wait()
	obs["goexit"] = exited

	res, err := audited.AuditedEnrich(ctx, "why")
	obs["enrich"] = []any{res, err == nil}

	a := &audited.Agent{Tenant: "acme"}
	n, err = a.AuditedAct(ctx, "work")
	obs["act"] = []any{n, err == nil, a.Calls}
	obs["name"] = audited.Agent{Tenant: "acme"}.AuditedName("co-")

	obs["nested_nil"] = audited.AuditedNested(nil)
	obs["nested_nil_inner"] = audited.AuditedNested(&audited.Request{})
	obs["nested"] = audited.AuditedNested(&audited.Request{Inner: &audited.Inner{Site: "deep"}})

	var bad *audited.Bad
	obs["stringer_panics"] = audited.AuditedStringer(bad)
	obs["stringer"] = audited.AuditedStringer(audited.Bad{Name: "bad-name"})

	obs["numbered"] = audited.AuditedNumbered(7)
	check(audited.AuditedFromFunc(audited.WithTenant(ctx, "from-func"), "step-1"))
	check(audited.AuditedFromArgs(ctx, "b", 2))
	obs["identity"] = audited.AuditedIdentity([]int{1, 2})
	obs["join"] = audited.AuditedJoin("-", "a", "b")

	n, err = audited.AuditedStrict(ctx, false)
	obs["strict_ok"] = []any{n, err != nil, errors.Is(err, capsule.ErrClosed)}
	n, err = audited.AuditedStrict(ctx, true)
	obs["strict_fail"] = []any{n, errors.Is(err, audited.ErrSentinel), errors.Is(err, capsule.ErrClosed)}
	n, err = audited.AuditedLenient(ctx)
	obs["lenient"] = []any{n, err == nil}
	obs["long"] = len(audited.AuditedLong())

	// Error results of other types than error: the same values come back,
	// and a nil one (not a nil *CodeErr in a non-nil error) is success.
	n, cerr := audited.AuditedConcrete(true)
	obs["concrete_fail"] = []any{n, cerr != nil && cerr.N == 7}
	n, cerr = audited.AuditedConcrete(false)
	obs["concrete_ok"] = []any{n, cerr == nil}
	obs["concrete_only"] = []any{audited.AuditedConcreteOnly(true).N, audited.AuditedConcreteOnly(false) == nil}
	s, coded := audited.AuditedIface(true)
	obs["iface_fail"] = []any{s, coded.Code()}
	s, coded = audited.AuditedIface(false)
	obs["iface_ok"] = []any{s, coded == nil}

	// Read back everything the default store holds.
	caps, err := capsule.Default()
	check(err)
	tenants, err := caps.Store().Tenants(ctx)
	check(err)
	rep := report{Obs: obs, Capsules: make(map[string][]stored), Verify: make(map[string]capsule.Result)}
	for _, t := range tenants {
		for rec, err := range caps.Store().Scan(ctx, t, 0) {
			check(err)
			var data map[string]any
			check(json.Unmarshal(rec.Data, &data))
			rep.Capsules[t] = append(rep.Capsules[t], stored{Sequence: rec.Sequence, Data: data})
		}
		v, err := caps.Verify(ctx, t, capsule.Signatures)
		check(err)
		rep.Verify[t] = v
	}
	check(caps.Close())
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	check(enc.Encode(rep))
}
