package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/capsule-go/capsule/checkpoint"
	"github.com/capsule-go/capsule/internal/cosign"
	"github.com/capsule-go/capsule/keys"
	"github.com/capsule-go/capsule/witness"
)

const witnessUsage = `
Usage: capsule witness (--db PATH | --pg URL) [--tenant T] --origin ORIGIN
                       --url WITNESS_URL [--url ...] --witness-key VKEY [--witness-key ...]
                       [--timeout D] [-v] [-o FILE]

Have a chain's checkpoint cosigned by witnesses (C2SP tlog-witness), so
that whoever holds the database and the signing key can no longer rewrite
the chain unnoticed: a witness cosigns a checkpoint only with a
consistency proof from the last one it cosigned, and refuses a history
that contradicts it.

The command takes a checkpoint of the chain as "capsule checkpoint" does
(origin ORIGIN, signed with the data directory's key), sends it to each
witness with a consistency proof from the size that witness holds (the
add-checkpoint call; on 409 it proves from the size the witness reports),
checks the cosignatures returned against the --witness-key keys
(cosignature/v1 verifier keys, as litewitness prints them), and writes the
checkpoint with the cosignatures to FILE (standard output without -o). It
also keeps it in the database as the chain's latest cosigned checkpoint,
which "capsule prove" uses.

Each witness must know the log first: register ORIGIN and its verifier
key ("capsule keys export-public --note ORIGIN") with its operator, e.g.
witnessctl add-log -origin ORIGIN and witnessctl add-key. --origin has no
default: a witness tells logs apart by origin, so pick one nobody else
uses, such as example.com/audit/TENANT.

Exit codes: 0 every witness cosigned; 1 a witness saw a different history
of this log (a fork: the chain was rewritten or cut since it last
cosigned); 2 usage or I/O error, or a witness that could not be reached or
refused for another reason. The checkpoint is written and kept whenever at
least one witness cosigned it.`

// openLog opens the chain the flags name for a command that signs
// checkpoints of it: the data directory's key, and the database opened for
// writing (the chain's Merkle tree is caught up and checkpoints kept).
func openLog(ctx context.Context, sf *sourceFlags, note io.Writer) (*keys.Signer, *source, error) {
	dir, err := keys.DataDir()
	if err != nil {
		return nil, nil, err
	}
	signer, err := keys.LoadOrCreate(dir)
	if err != nil {
		return nil, nil, err
	}
	src, err := openSourceMode(ctx, sf, nil, nil, note, false)
	if err != nil {
		return nil, nil, err
	}
	return signer, src, nil
}

// stringsFlag is a flag that may be given more than once.
type stringsFlag []string

func (s *stringsFlag) String() string     { return fmt.Sprint(*s) }
func (s *stringsFlag) Set(v string) error { *s = append(*s, v); return nil }

func runWitness(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	f := newFlags("witness", witnessUsage,
		"capsule witness --db capsules.db --origin example.com/audit --url https://witness.example/ --witness-key witness.example+1234abcd+BAs… -o audit.checkpoint")
	var sf sourceFlags
	sf.register(f.FlagSet)
	var urls, vkeys stringsFlag
	f.Var(&urls, "url", "a witness's submission `URL` (add-checkpoint is POSTed under it); repeat for more witnesses")
	f.Var(&vkeys, "witness-key", "a witness's cosignature verifier key `VKEY`; repeat for more witnesses")
	origin := f.String("origin", "", "the log's `ORIGIN` line and key name, as registered with the witnesses")
	out := f.String("o", "", "write the cosigned checkpoint to `FILE` instead of standard output")
	timeout := f.Duration("timeout", 30*time.Second, "give up on the witnesses after `D`")
	verbose := f.Bool("v", false, "log every exchange with a witness (sizes, status, answer) on standard error")
	positional, code, ok := f.parse(args, stdout, stderr)
	if !ok {
		return code
	}
	switch {
	case sf.db == "" && sf.pg == "" || len(positional) > 0:
		return f.usageFail(stderr, "witness reads a database: give --db PATH or --pg URL and no FILE")
	case *origin == "":
		return f.usageFail(stderr, "give the log's origin with --origin, as registered with the witnesses")
	case len(urls) == 0:
		return f.usageFail(stderr, "give at least one witness with --url")
	case len(vkeys) == 0:
		return f.usageFail(stderr, "give the witnesses' verifier keys with --witness-key: cosignatures are checked against them")
	case *timeout <= 0:
		return f.usageFail(stderr, "--timeout must be positive")
	}
	if _, err := checkpoint.VerifierKey(*origin, make(ed25519.PublicKey, ed25519.PublicKeySize)); err != nil {
		return f.usageFail(stderr, fmt.Sprintf("--origin: %v", err))
	}
	var verifiers []note.Verifier
	for _, k := range vkeys {
		v, err := witness.NewVerifier(k)
		if err != nil {
			return f.usageFail(stderr, fmt.Sprintf("--witness-key: %v", err))
		}
		verifiers = append(verifiers, v)
	}
	ws := make([]witness.Witness, len(urls))
	for i, u := range urls {
		ws[i] = witness.Witness{URL: u, Keys: verifiers}
	}
	signer, src, err := openLog(ctx, &sf, stderr)
	if err != nil {
		return f.fail(stderr, err, exitError)
	}
	defer src.Close()
	wctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	log := cosign.Log{Store: src.store, Tenant: sf.tenant, Origin: *origin, Signer: signer}
	client := &witness.Client{}
	if *verbose {
		client.Log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	res, err := cosign.Round(wctx, client, ws, log)
	if err != nil {
		return f.fail(stderr, err, exitError)
	}
	code = exitOK
	for _, werr := range res.Errs {
		if werr == nil {
			continue
		}
		var fork *witness.ForkError
		var ahead *witness.AheadError
		switch {
		case errors.As(werr, &fork):
			code = exitInvalid
		case errors.As(werr, &ahead):
			code = exitInvalid
			werr = fmt.Errorf("witness %s has cosigned size %d of log %s, and the chain has only %d capsules: it lost capsules the witness saw, a different history of this log",
				ahead.URL, ahead.WitnessSize, ahead.Origin, res.Checkpoint.Size)
		case code == exitOK:
			code = exitError
		}
		f.fail(stderr, werr, code)
	}
	if res.Cosigners() == 0 {
		fmt.Fprintf(stderr, "capsule witness: no witness cosigned the checkpoint of size %d; nothing written\n", res.Checkpoint.Size)
		return code
	}
	if *out == "" {
		if _, err := stdout.Write(res.Cosigned); err != nil {
			return f.fail(stderr, err, exitError)
		}
	} else if err := checkpoint.WriteFile(*out, res.Cosigned); err != nil {
		return f.fail(stderr, err, exitError)
	}
	if err := cosign.Save(ctx, log, res.Cosigned); err != nil {
		return f.fail(stderr, err, exitError)
	}
	return code
}
