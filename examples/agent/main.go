// Command agent is a small agent whose actions are audited: each call of
// an annotated function (see agent.go) goes through its generated wrapper
// (main_capsule.go, written by go generate) and lands as a sealed capsule
// in the zero-config default store, $QUANTUMPIPES_DATA_DIR/capsules.db
// (else ~/.quantumpipes/capsules.db). It then verifies every chain in the
// store, signatures included, and prints a summary.
//
//	QUANTUMPIPES_DATA_DIR=$(mktemp -d) go run ./examples/agent
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/capsule-go/capsule"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "agent:", err)
		os.Exit(1)
	}
}

// run carries out the example's tasks and writes what happened to w.
func run(ctx context.Context, w io.Writer) error {
	agent := &Agent{Model: "example-model-1"}
	tasks := []*Task{
		{SiteID: "site-a", Goal: "summarize the quarterly report"},
		{SiteID: "site-a", Goal: "refund order 1234"},
		{SiteID: "site-b", Goal: "find the unknown document"},
	}
	for _, t := range tasks {
		answer, err := agent.AuditedRun(ctx, t)
		switch {
		case errors.Is(err, ErrDenied):
			fmt.Fprintf(w, "%s: %q: denied: %v\n", t.SiteID, t.Goal, err)
		case err != nil:
			return err
		default:
			fmt.Fprintf(w, "%s: %q: %s\n", t.SiteID, t.Goal, answer)
		}
	}

	caps, err := capsule.Default()
	if err != nil {
		return err
	}
	defer caps.Close()
	url, err := capsule.DefaultURL()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nchains in %s:\n", url)
	tenants, err := caps.Store().Tenants(ctx)
	if err != nil {
		return err
	}
	for _, tenant := range tenants {
		res, err := caps.Verify(ctx, tenant, capsule.Signatures)
		if err != nil {
			return err
		}
		head, err := caps.Store().Head(ctx, tenant)
		if err != nil {
			return err
		}
		name := tenant
		if name == "" {
			name = "(null tenant)"
		}
		status := "valid"
		if !res.Valid {
			status = fmt.Sprintf("BROKEN at %s: %s", res.BrokenAt, res.Error)
		}
		fmt.Fprintf(w, "  %-14s %3d capsules, head %.16s…, %s (%s)\n", name, res.CapsulesVerified, head.Hash, status, res.Level)
		if !res.Valid {
			return fmt.Errorf("chain %q does not verify", name)
		}
	}
	return nil
}
