package main

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/capsule-go/capsule/checkpoint"
	"github.com/capsule-go/capsule/internal/tree"
	"github.com/capsule-go/capsule/keys"
	"github.com/capsule-go/capsule/protocol"
)

const checkpointUsage = `
Usage: capsule checkpoint (--db PATH | --pg URL) [--tenant T] [--origin ORIGIN] [-o FILE]

Write a signed checkpoint of a chain: a C2SP tlog-checkpoint (origin,
size, Merkle root of the chain's capsules, and a "time" line) in a C2SP
signed note, signed with the data directory's key ($QUANTUMPIPES_DATA_DIR,
else ~/.quantumpipes) under the key name ORIGIN. The default origin is
"capsule/-" for the null tenant and "capsule/t/TENANT" for a tenant;
"capsule keys export-public --note ORIGIN" prints the verifier key.

A chain proves nothing was changed inside it, but deleting its newest
capsules, or rewriting and sealing it again, leaves a valid chain. Keep
checkpoints outside the database's reach (another machine, a ticket, a
witness): later, "capsule verify --checkpoint FILE" fails if the chain no
longer extends the checkpoint. The command keeps the chain's Merkle tree
in the database, building or catching it up first if needed (a chain
written by the Python reference has none). -o writes FILE atomically;
without it the checkpoint goes to standard output.`

func runCheckpoint(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	f := newFlags("checkpoint", checkpointUsage, "capsule checkpoint --db capsules.db --tenant acme -o acme.checkpoint")
	var sf sourceFlags
	sf.register(f.FlagSet)
	out := f.String("o", "", "write the checkpoint to `FILE` instead of standard output")
	origin := f.String("origin", "", "the log's `ORIGIN` line and key name (default capsule/- or capsule/t/TENANT)")
	positional, code, ok := f.parse(args, stdout, stderr)
	if !ok {
		return code
	}
	if sf.db == "" && sf.pg == "" || len(positional) > 0 {
		return f.usageFail(stderr, "checkpoint reads a database: give --db PATH or --pg URL and no FILE")
	}
	if *origin == "" {
		*origin = checkpoint.Origin(sf.tenant)
	}
	if _, err := checkpoint.VerifierKey(*origin, make(ed25519.PublicKey, ed25519.PublicKeySize)); err != nil {
		return f.usageFail(stderr, fmt.Sprintf("--origin: %v", err))
	}
	signer, src, err := openLog(ctx, &sf, stderr)
	if err != nil {
		return f.fail(stderr, err, exitError)
	}
	defer src.Close()
	_, signed, err := checkpoint.Take(ctx, src.store, sf.tenant, *origin, signer)
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

// checkpointWatch checks a chain against a checkpoint: for a database
// through the stored tree (a consistency check: the root of the chain's
// first Size capsules is the checkpoint's), for a file by computing the
// tree of the capsules as verification streams them.
type checkpointWatch struct {
	cp      checkpoint.Checkpoint
	seen    int64       // capsules streamed
	leaves  []tlog.Hash // leaves of the first cp.Size capsules streamed (file sources)
	idAt    string      // id of capsule cp.Size-1, once seen
	leafErr error
}

// checkpointCode is the exit code of a checkpoint that openCheckpoint
// refused: 1 when it was read and its signature does not verify (it was
// altered), 2 when it cannot be read or used (missing, malformed, of the
// old format, an unknown signer, another tenant's).
func checkpointCode(err error) int {
	var bad *note.InvalidSignatureError
	if errors.As(err, &bad) {
		return exitInvalid
	}
	return exitError
}

// openCheckpoint reads and authenticates a checkpoint for tenant. Its log
// signature must verify, under its origin, with the key --public-key (or
// --pubkey, --pubkey-file: keyFlag names the one given) gives, or with one
// of the data directory's keys (the keyring's every epoch, and the key
// itself).
func openCheckpoint(path, tenant, keyFlag, pubHex string) (*checkpointWatch, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	text, _, ok := strings.Cut(string(b), "\n\n")
	if !ok {
		return nil, fmt.Errorf("%s: checkpoint: no signature lines (is this a signed checkpoint?)", path)
	}
	origin, _, _ := strings.Cut(text, "\n")
	pubs, err := checkpointKeys(keyFlag, pubHex)
	if err != nil {
		return nil, err
	}
	var vs []note.Verifier
	for _, pub := range pubs {
		v, err := checkpoint.LogVerifier(origin, pub)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		vs = append(vs, v)
	}
	var cp checkpoint.Checkpoint
	var lastErr error
	for _, v := range vs {
		if cp, _, lastErr = checkpoint.Open(b, v); lastErr == nil {
			break
		}
		if checkpointCode(lastErr) == exitInvalid || errors.Is(lastErr, checkpoint.ErrLegacy) {
			break
		}
	}
	if lastErr != nil {
		return nil, fmt.Errorf("%s: %w", path, lastErr)
	}
	if t, ok := checkpoint.TenantOf(cp.Origin); ok && t != tenant {
		return nil, fmt.Errorf("%s is a checkpoint of tenant %q, not of the chain being verified (tenant %q): pass --tenant", path, t, tenant)
	}
	return &checkpointWatch{cp: cp}, nil
}

// checkpointKeys returns the public keys a checkpoint may be signed with.
func checkpointKeys(keyFlag, pubHex string) ([]ed25519.PublicKey, error) {
	if pubHex != "" {
		pub, err := hex.DecodeString(strings.TrimSpace(pubHex))
		if err != nil || len(pub) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("--%s wants 64 hex digits (an Ed25519 public key), got %q", keyFlag, pubHex)
		}
		return []ed25519.PublicKey{pub}, nil
	}
	dir, err := keys.DataDir()
	if err != nil {
		return nil, err
	}
	var pubs []ed25519.PublicKey
	if kr, err := keys.LoadKeyring(dir); err == nil {
		for i := range kr.Epochs {
			if pub, ok := kr.Epochs[i].PublicKey(); ok {
				pubs = append(pubs, pub)
			}
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if pub, err := keys.ReadPublicKey(dir); err == nil {
		pubs = append(pubs, pub)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if len(pubs) == 0 {
		return nil, fmt.Errorf("no keyring or key in the data directory %s to check the checkpoint with: set %s or pass --public-key", dir, keys.DataDirEnv)
	}
	return pubs, nil
}

// wrap watches records as verification streams them.
func (w *checkpointWatch) wrap(recs iter.Seq2[protocol.Sealed, error], file bool) iter.Seq2[protocol.Sealed, error] {
	return func(yield func(protocol.Sealed, error) bool) {
		for rec, err := range recs {
			if err == nil {
				if rec.Sequence == w.cp.Size-1 {
					w.idAt = rec.ID
				}
				if file && w.seen < w.cp.Size && w.leafErr == nil {
					leaf, lerr := tree.Leaf(rec.Hash)
					w.leaves, w.leafErr = append(w.leaves, leaf), lerr
				}
				w.seen++
			}
			if !yield(rec, err) {
				return
			}
		}
	}
}

// check reports whether the verified chain extends the checkpoint: with
// the stored tree of src's database, or the leaves a file streamed.
func (w *checkpointWatch) check(ctx context.Context, src *source) error {
	if src.store != nil {
		return checkpoint.Check(ctx, src.store, src.tenant, w.cp)
	}
	if w.seen < w.cp.Size {
		return fmt.Errorf("%w: the checkpoint counts %d capsules, the chain has %d", checkpoint.ErrTruncated, w.cp.Size, w.seen)
	}
	if w.leafErr != nil {
		return w.leafErr
	}
	root, err := tlog.TreeHash(w.cp.Size, memoryTree(w.leaves))
	if err != nil {
		return err
	}
	if root != w.cp.Root {
		return fmt.Errorf("%w: the first %d capsules have Merkle root %s, the checkpoint says %s", checkpoint.ErrForked, w.cp.Size, root, w.cp.Root)
	}
	return nil
}

// memoryTree returns a reader of the stored hashes of the tree of leaves.
func memoryTree(leaves []tlog.Hash) tlog.HashReader {
	stored, _ := tree.Extend(0, nil, leaves) // from size 0 nothing is read
	return tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		hs := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			if x < 0 || x >= int64(len(stored)) {
				return nil, fmt.Errorf("stored hash %d is beyond a tree of %d", x, len(leaves))
			}
			hs[i] = stored[x]
		}
		return hs, nil
	})
}
