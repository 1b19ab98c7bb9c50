package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/capsule-go/capsule/internal/bench"
)

const benchUsage = `
Usage: capsule bench [--json] [--duration D] [--writers N] [--tenants N] [--chain N] [--pg URL]

Measure, in one run on this machine, capsule's performance beside the
limits it is bounded by: first the raw Ed25519 sign and verify rates (one
core and all cores) and SHA3-256 of a typical capsule, then sealing,
durable appends to a temporary SQLite file with 1 and N concurrent writers
(and to PostgreSQL with --pg, in a scratch schema dropped afterwards), N
writers on 1 chain and spread over --tenants chains, each between two
measurements of the all-core sign limit (the machine may be shared), with
what each stored capsule cost: the bytes written (SQLite: this process's
write bytes from opening the store to closing it, WAL and checkpoints
included; PostgreSQL: the server's WAL bytes, so use a quiet server) and
the process's CPU time, the figures to compare across machines; the
latency of a generated Audited* no-op call over the bare call (in-memory
and SQLite storage), and verification of an N-capsule chain at each level
with the peak heap. Every figure goes through the production code paths.
--json prints one object with every figure, for comparing runs.`

func runBench(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	f := newFlags("bench", benchUsage, "capsule bench --json --duration 3s > bench.json")
	asJSON := f.Bool("json", false, "print every figure as one JSON object")
	dur := f.Duration("duration", 2*time.Second, "how long each throughput figure runs")
	writers := f.Int("writers", 64, "concurrent writers for the N-writer append figures")
	tenants := f.Int("tenants", 0, "chains the spread N-writer figures use (default: --writers)")
	chain := f.Int("chain", 100_000, "capsules in the chain verification runs over")
	pg := f.String("pg", "", "also measure PostgreSQL appends at `URL`")
	positional, code, ok := f.parse(args, stdout, stderr)
	if !ok {
		return code
	}
	switch {
	case len(positional) > 0:
		return f.usageFail(stderr, fmt.Sprintf("bench takes no arguments: %q", positional))
	case *dur <= 0 || *writers <= 0 || *chain <= 0:
		return f.usageFail(stderr, "--duration, --writers and --chain must be positive")
	case *tenants < 0:
		return f.usageFail(stderr, "--tenants must be positive")
	}
	cfg := bench.Config{Duration: *dur, Writers: *writers, Tenants: *tenants, ChainLength: *chain, PostgresURL: *pg}
	if !*asJSON {
		cfg.Progress = func(step string) { fmt.Fprintf(stderr, "measuring %s…\n", step) }
	}
	r, err := bench.Run(ctx, cfg)
	if err != nil {
		return f.fail(stderr, err, exitError)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			return f.fail(stderr, err, exitError)
		}
		return exitOK
	}
	writeBench(stdout, r)
	return exitOK
}

func writeBench(w io.Writer, r *bench.Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	l := r.Limits
	fmt.Fprintf(tw, "machine: %d CPUs, %s, %s\t\t\t\t\n", r.Machine.CPUs, r.Machine.OS, r.Machine.GoVersion)
	fmt.Fprintln(tw, "\t\t\t\t")
	fmt.Fprintln(tw, "limits\tone core\tall cores\t\t")
	fmt.Fprintf(tw, "Ed25519 sign/s\t%.0f\t%.0f\t\t\n", l.SignOneCore, l.SignAllCores)
	fmt.Fprintf(tw, "Ed25519 verify/s\t%.0f\t%.0f\t\t\n", l.VerifyOneCore, l.VerifyAllCores)
	fmt.Fprintf(tw, "SHA3-256 of a %d-byte capsule/s\t%.0f\t\t\t\n", l.SHA3CapsuleBytes, l.SHA3CapsulePerS)
	fmt.Fprintln(tw, "\t\t\t\t")
	fmt.Fprintln(tw, "figure\tvalue\tratio to limit (target)\tper capsule: bytes written, CPU\t")
	rate := func(name string, x bench.Rate) {
		t := ""
		if x.Target > 0 {
			t = fmt.Sprintf(" (>= %.2f)", x.Target)
		}
		cost := ""
		if x.BytesPerCapsule > 0 {
			cost = fmt.Sprintf("%.0f B", x.BytesPerCapsule)
			if x.Bytes == "postgres_wal" {
				cost += " of WAL"
			}
		}
		if x.CPUPerCapsuleUS > 0 {
			cost += fmt.Sprintf(", %.0f µs", x.CPUPerCapsuleUS)
		}
		switch {
		case x.Limit == "":
			fmt.Fprintf(tw, "%s\t%.0f/s\t\t%s\t\n", name, x.PerSecond, cost)
		case x.LimitBefore > 0:
			fmt.Fprintf(tw, "%s\t%.0f/s\t%.2f x %s%s, limit %.0f before, %.0f after\t%s\t\n", name, x.PerSecond, x.Ratio, x.Limit, t, x.LimitBefore, x.LimitAfter, cost)
		default:
			fmt.Fprintf(tw, "%s\t%.0f/s\t%.2f x %s%s\t%s\t\n", name, x.PerSecond, x.Ratio, x.Limit, t, cost)
		}
	}
	rate("seal (canonical+hash+sign), all cores", r.Seal)
	rate("durable SQLite appends, 1 writer", r.SQLiteAppend1)
	rate(fmt.Sprintf("durable SQLite appends, %d writers", r.Writers), r.SQLiteAppendN)
	spread := func(backend string, figures map[string]bench.Rate, prefix string) {
		one, many := figures[prefix+"1_chain"], figures[prefix+fmt.Sprintf("%d_chains", r.Tenants)]
		if one.PerSecond == 0 {
			return
		}
		rate(fmt.Sprintf("%s, %d writers on 1 chain", backend, r.Writers), one)
		if r.Tenants > 1 && many.PerSecond > 0 {
			rate(fmt.Sprintf("%s, %d writers on %d chains (%.2f x 1 chain, >= 0.70)", backend, r.Writers, r.Tenants, many.PerSecond/one.PerSecond), many)
		}
	}
	spread("durable SQLite appends", r.SQLiteChains, "")
	rate(fmt.Sprintf("one producer, %d capsules into SQLite in groups of 512 (as seal)", r.SealCapsules), r.SealPipeline)
	for _, k := range []string{"1_writers", fmt.Sprintf("%d_writers", r.Writers)} {
		if x, ok := r.PostgresAppend[k]; ok {
			rate("durable PostgreSQL appends, "+k[:len(k)-len("_writers")]+" writers", x)
		}
	}
	spread("durable PostgreSQL appends", r.PostgresAppend, fmt.Sprintf("%d_writers_", r.Writers))
	call := func(name string, x bench.Latency) {
		t := ""
		if x.Target > 0 {
			t = fmt.Sprintf(" (<= %.1f)", x.Target)
		}
		fmt.Fprintf(tw, "%s\tp50 %.1fµs p99 %.1fµs\t%.2f x one seal%s\t\t\n", name,
			x.AuditedP50NS/1e3, x.AuditedP99NS/1e3, x.Ratio, t)
	}
	call("audited no-op call, memory storage", r.CallMemory)
	call("audited no-op call, SQLite", r.CallSQLite)
	for _, lv := range []string{"structural", "full", "signatures"} {
		rate(fmt.Sprintf("verify %d capsules, %s (peak heap %.1f MiB)", r.ChainLength, lv, r.VerifyPeakHeap[lv]), r.Verify[lv])
	}
	tw.Flush()
}
