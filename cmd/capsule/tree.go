package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/capsule-go/capsule/logtree"
)

const treeUsage = `
Usage: capsule tree (build | check) (--db PATH | --pg URL) [--tenant T]

Every chain is a transparency log whose Merkle tree the database keeps
beside the capsules (written in the same transactions as them).
  build  build or catch up the tree of the chain (of every chain without
         --tenant), in batches: a chain written by the Python reference,
         or before trees were kept, has none until a checkpoint or a proof
         needs it, or until this command
  check  re-derive the tree from the chain and compare it with the stored
         one, hash by hash (an fsck); opens the database read-only
Exit code 0 when the tree matches the chain, 1 when it differs (the tree or
the chain was altered, or the chain was cut short), 2 on a usage or I/O
error.`

func runTree(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	f := newFlags("tree", treeUsage, "capsule tree check --db capsules.db")
	if len(args) == 0 || (args[0] != "build" && args[0] != "check") {
		if _, code, ok := f.parse(args, stdout, stderr); !ok {
			return code
		}
		return f.usageFail(stderr, "want a subcommand: build or check")
	}
	build := args[0] == "build"
	var sf sourceFlags
	sf.register(f.FlagSet)
	positional, code, ok := f.parse(args[1:], stdout, stderr)
	if !ok {
		return code
	}
	if sf.db == "" && sf.pg == "" || len(positional) > 0 {
		return f.usageFail(stderr, "tree reads a database: give --db PATH or --pg URL and no FILE")
	}
	src, err := openSourceMode(ctx, &sf, positional, stdin, stderr, !build)
	if err != nil {
		return f.fail(stderr, err, exitError)
	}
	defer src.Close()
	tenants := []string{sf.tenant}
	if !sf.tenantSet {
		if tenants, err = src.store.Tenants(ctx); err != nil {
			return f.fail(stderr, err, exitError)
		}
	}
	code = exitOK
	for _, t := range tenants {
		if build {
			n, err := logtree.Sync(ctx, src.store, t)
			if err != nil {
				return f.fail(stderr, err, exitError)
			}
			fmt.Fprintf(stdout, "tenant %q: tree of %d capsules\n", t, n)
			continue
		}
		rep, err := logtree.Check(ctx, src.store, t)
		switch {
		case errors.Is(err, logtree.ErrMismatch):
			fmt.Fprintf(stdout, "tenant %q: INVALID: %v\n", t, err)
			code = exitInvalid
		case err != nil:
			return f.fail(stderr, err, exitError)
		case rep.TreeSize < rep.ChainSize:
			fmt.Fprintf(stdout, "tenant %q: ok: the stored tree matches the chain's first %d of %d capsules (run \"capsule tree build\" to catch up the rest)\n", t, rep.TreeSize, rep.ChainSize)
		default:
			fmt.Fprintf(stdout, "tenant %q: ok: the stored tree matches the chain's %d capsules\n", t, rep.ChainSize)
		}
	}
	return code
}
