package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"

	"golang.org/x/mod/sumdb/note"

	"github.com/capsule-go/capsule"
	"github.com/capsule-go/capsule/checkpoint"
	"github.com/capsule-go/capsule/keys"
	"github.com/capsule-go/capsule/protocol"
)

const checkpointUsage = `
Usage: capsule checkpoint [--db PATH | --pg URL] [--tenant T] [-o FILE]

Write a signed checkpoint of a chain's head: its tenant, its length, the
hash of its last capsule and the time, as a C2SP signed note signed with
the data directory's key ($QUANTUMPIPES_DATA_DIR, else ~/.quantumpipes).

A chain proves nothing was changed inside it, but deleting its newest
capsules leaves a valid chain. Keep checkpoints outside the database's
reach (another machine, a ticket, a colleague's inbox): later,
"capsule verify --checkpoint FILE" fails if the chain became shorter than
the checkpoint or no longer passes through its head. -o writes FILE
atomically; without it the checkpoint goes to standard output.` + "\n\n" + defaultSourceHelp

func runCheckpoint(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	f := newFlags("checkpoint", checkpointUsage, "capsule checkpoint --db capsules.db --tenant acme -o acme.checkpoint")
	var sf sourceFlags
	sf.register(f.FlagSet)
	out := f.String("o", "", "write the checkpoint to `FILE` instead of standard output")
	positional, code, ok := f.parse(args, stdout, stderr)
	if !ok {
		return code
	}
	if sf.db == "" && sf.pg == "" || len(positional) > 0 {
		return f.usageFail(stderr, "checkpoint reads a database: give --db PATH or --pg URL and no FILE")
	}
	dir, err := keys.DataDir()
	if err != nil {
		return f.fail(stderr, err, exitError)
	}
	signer, err := keys.LoadOrCreate(dir)
	if err != nil {
		return f.fail(stderr, err, exitError)
	}
	src, err := openSource(ctx, &sf, positional, nil, stderr)
	if err != nil {
		return f.fail(stderr, err, exitError)
	}
	defer src.Close()
	_, signed, err := checkpoint.Take(ctx, src.store, sf.tenant, signer)
	if err != nil {
		return f.fail(stderr, err, exitError)
	}
	if *out == "" {
		if _, err := stdout.Write(signed); err != nil {
			return f.fail(stderr, err, exitError)
		}
		return exitOK
	}
	if err := checkpoint.WriteFile(*out, signed); err != nil {
		return f.fail(stderr, err, exitError)
	}
	return exitOK
}

// checkpointWatch checks a chain against a checkpoint while verification
// streams it: it notes the chain's length and the capsule at the
// checkpoint's last sequence.
type checkpointWatch struct {
	cp     checkpoint.Checkpoint
	seen   int64  // capsules streamed
	hashAt string // hash of capsule cp.Size-1, once seen
	idAt   string
}

// openCheckpoint reads and authenticates a checkpoint for tenant, with
// the key --public-key gives or the data directory's keyring.
// checkpointCode is the exit code of a checkpoint that openCheckpoint
// refused: 1 when it was read and its signature does not verify (it was
// altered), 2 when it cannot be read or used (missing, malformed, an
// unknown signer, another tenant's).
func checkpointCode(err error) int {
	var bad *note.InvalidSignatureError
	if errors.As(err, &bad) {
		return exitInvalid
	}
	return exitError
}

func openCheckpoint(path, tenant, keyFlag, pubHex string) (*checkpointWatch, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	var resolve protocol.KeyResolver
	if pubHex != "" {
		if resolve, err = staticResolver(keyFlag, pubHex); err != nil {
			return nil, err
		}
	} else if resolve, err = dataDirResolver(); err != nil {
		return nil, err
	}
	cp, err := checkpoint.Open(b, func(name string) (ed25519.PublicKey, error) { return resolve(name) })
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if cp.Tenant != tenant {
		return nil, fmt.Errorf("%s is a checkpoint of tenant %q, not of the chain being verified (tenant %q): pass --tenant", path, cp.Tenant, tenant)
	}
	return &checkpointWatch{cp: cp}, nil
}

func (w *checkpointWatch) wrap(recs iter.Seq2[capsule.Sealed, error]) iter.Seq2[capsule.Sealed, error] {
	return func(yield func(capsule.Sealed, error) bool) {
		for rec, err := range recs {
			if err == nil {
				w.seen++
				if rec.Sequence == w.cp.Size-1 {
					w.hashAt, w.idAt = rec.Hash, rec.ID
				}
			}
			if !yield(rec, err) {
				return
			}
		}
	}
}

// check reports whether the verified chain extends the checkpoint.
func (w *checkpointWatch) check() error {
	switch {
	case w.cp.Size == 0:
		return nil
	case w.seen < w.cp.Size || w.hashAt == "":
		return fmt.Errorf("%w: the checkpoint of %s counts %d capsules, the chain has %d",
			checkpoint.ErrTruncated, w.cp.Time.Format("2006-01-02T15:04:05Z07:00"), w.cp.Size, w.seen)
	case w.hashAt != w.cp.Hash:
		return fmt.Errorf("%w: capsule %d has hash %s, the checkpoint says %s", checkpoint.ErrForked, w.cp.Size-1, w.hashAt, w.cp.Hash)
	}
	return nil
}
