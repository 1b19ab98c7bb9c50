package main

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/capsule-go/capsule/checkpoint"
	"github.com/capsule-go/capsule/keys"
	"github.com/capsule-go/capsule/proof"
	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/storage"
)

const proveUsage = `
Usage: capsule prove (--db PATH | --pg URL) [--tenant T] (--seq N | --id ID)
                     [--checkpoint FILE | --origin ORIGIN] [-o FILE.tlog-proof]

Write an offline proof that one capsule is in its chain: a C2SP tlog-proof
(c2sp.org/tlog-proof@v1) holding the sealed capsule as stored (base64, in
the "extra" line), its sequence as the index, its Merkle inclusion proof
and the signed checkpoint it is proven against, verbatim with its witness
cosignatures. "capsule verify-proof" checks it with no database.

The checkpoint is FILE (--checkpoint), else the latest cosigned checkpoint
kept in the database (see "capsule witness"), else a new one signed with
the data directory's key under ORIGIN (default capsule/- or
capsule/t/TENANT). The chain's Merkle tree is built or caught up first if
needed.`

func runProve(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	f := newFlags("prove", proveUsage, "capsule prove --db capsules.db --seq 5 -o capsule5.tlog-proof")
	var sf sourceFlags
	sf.register(f.FlagSet)
	seq := f.Int64("seq", -1, "the capsule at sequence `N` of the chain")
	id := f.String("id", "", "the capsule whose id is (or starts with) `ID`")
	cpFile := f.String("checkpoint", "", "prove against the signed checkpoint in `FILE`")
	origin := f.String("origin", "", "the `ORIGIN` of a new checkpoint (default capsule/- or capsule/t/TENANT)")
	out := f.String("o", "", "write the proof to `FILE` instead of standard output")
	positional, code, ok := f.parse(args, stdout, stderr)
	if !ok {
		return code
	}
	seqSet := false
	f.Visit(func(fl *flag.Flag) { seqSet = seqSet || fl.Name == "seq" })
	switch {
	case sf.db == "" && sf.pg == "" || len(positional) > 0:
		return f.usageFail(stderr, "prove reads a database: give --db PATH or --pg URL and no FILE")
	case seqSet == (*id != ""):
		return f.usageFail(stderr, "give one of --seq N and --id ID")
	case seqSet && *seq < 0:
		return f.usageFail(stderr, "--seq wants a sequence number >= 0")
	case *cpFile != "" && *origin != "":
		return f.usageFail(stderr, "give at most one of --checkpoint and --origin")
	}
	var signed []byte
	if *cpFile != "" {
		b, err := os.ReadFile(*cpFile)
		if err != nil {
			return f.fail(stderr, fmt.Errorf("checkpoint: %w", err), exitError)
		}
		signed = b
	}
	src, err := openSourceMode(ctx, &sf, positional, stdin, stderr, false)
	if err != nil {
		return f.fail(stderr, err, exitError)
	}
	defer src.Close()
	var rec protocol.Sealed
	if seqSet {
		rec, err = findBySeq(ctx, src, *seq)
	} else {
		var tenant *string
		if sf.tenantSet {
			tenant = &sf.tenant
		}
		rec, err = findByID(ctx, src, strings.ToLower(*id), tenant)
		src.tenant = rec.Tenant
	}
	if err != nil {
		return f.fail(stderr, err, sourceCode(err))
	}
	if signed == nil {
		if signed, err = latestCheckpoint(ctx, src.store, src.tenant, rec.Sequence, *origin); err != nil {
			return f.fail(stderr, err, exitError)
		}
	}
	p, err := proof.Build(ctx, src.store, src.tenant, rec, signed)
	if err != nil {
		return f.fail(stderr, err, exitError)
	}
	if *out == "" {
		if _, err := stdout.Write(p.Marshal()); err != nil {
			return f.fail(stderr, err, exitError)
		}
		return exitOK
	}
	if err := checkpoint.WriteFile(*out, p.Marshal()); err != nil {
		return f.fail(stderr, err, exitError)
	}
	return exitOK
}

// latestCheckpoint returns the latest checkpoint kept for tenant when it
// covers sequence seq and no origin is asked for, else a new one signed
// with the data directory's key.
func latestCheckpoint(ctx context.Context, store storage.Store, tenant string, seq int64, origin string) ([]byte, error) {
	if origin == "" {
		if kept, err := proof.KeptCheckpoint(ctx, store, tenant, seq); kept != nil || err != nil {
			return kept, err
		}
	}
	if origin == "" {
		origin = checkpoint.Origin(tenant)
	}
	dir, err := keys.DataDir()
	if err != nil {
		return nil, err
	}
	signer, err := keys.LoadOrCreate(dir)
	if err != nil {
		return nil, err
	}
	_, signed, err := checkpoint.Take(ctx, store, tenant, origin, signer)
	return signed, err
}

const verifyProofUsage = `
Usage: capsule verify-proof --log-key VKEY [--witness-key VKEY ...]
                            [--min-witnesses K] [--capsule-key HEX] FILE

Check a C2SP tlog-proof of a capsule (from "capsule prove") offline, with
no database and no data directory:
  - the checkpoint's signature by the log key VKEY ("ORIGIN+HASH+BASE64",
    from "capsule keys export-public --note ORIGIN"), whose name must be
    the checkpoint's origin;
  - at least K valid cosignatures (default: 0) by distinct witnesses among
    the --witness-key keys (cosignature/v1 keys, as litewitness prints);
  - the capsule's hash, recomputed from its content as the proof carries it;
  - its inclusion at its sequence in the checkpoint's Merkle tree;
  - its Ed25519 signature, with the log key's public key: the log and its
    capsules are signed by the same data directory key. A capsule signed
    by another key (an earlier epoch of the keyring) needs --capsule-key.

FILE "-" is standard input. Exit code 0 when the proof is valid, 1 when it
is read and invalid, 2 when it cannot be read or a key is malformed.`

func runVerifyProof(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	f := newFlags("verify-proof", verifyProofUsage, "capsule verify-proof --log-key \"$(capsule keys export-public --note capsule/-)\" capsule5.tlog-proof")
	logKey := f.String("log-key", "", "the log's note verifier `VKEY`")
	var witnessKeys []string
	f.Func("witness-key", "a witness's cosignature verifier `VKEY` (repeatable)", func(v string) error {
		witnessKeys = append(witnessKeys, v)
		return nil
	})
	minWitnesses := f.Int("min-witnesses", 0, "cosignatures required, by distinct witnesses (`K`)")
	capsuleKey := f.String("capsule-key", "", "check the capsule's signature with this Ed25519 public key (64 `HEX` digits)")
	positional, code, ok := f.parse(args, stdout, stderr)
	if !ok {
		return code
	}
	switch {
	case *logKey == "":
		return f.usageFail(stderr, "--log-key is required")
	case len(positional) != 1:
		return f.usageFail(stderr, "give one proof FILE")
	case *minWitnesses < 0 || *minWitnesses > len(witnessKeys):
		return f.usageFail(stderr, fmt.Sprintf("--min-witnesses %d: between 0 and the %d --witness-key given", *minWitnesses, len(witnessKeys)))
	}
	var pol proof.Policy
	pol.MinWitnesses = *minWitnesses
	lv, err := note.NewVerifier(*logKey)
	if err != nil {
		return f.usageFail(stderr, fmt.Sprintf("--log-key: %v", err))
	}
	pol.Log = lv
	if pol.LogKey, err = ed25519Of(*logKey); err != nil {
		return f.usageFail(stderr, fmt.Sprintf("--log-key: %v", err))
	}
	for _, k := range witnessKeys {
		v, err := proof.WitnessVerifier(k)
		if err != nil {
			return f.usageFail(stderr, fmt.Sprintf("--witness-key: %v", err))
		}
		pol.Witnesses = append(pol.Witnesses, v)
	}
	if *capsuleKey != "" {
		pub, err := hex.DecodeString(*capsuleKey)
		if err != nil || len(pub) != ed25519.PublicKeySize {
			return f.usageFail(stderr, "--capsule-key wants 64 hex digits (an Ed25519 public key)")
		}
		pol.CapsuleKey = pub
	}
	var b []byte
	if positional[0] == "-" {
		b, err = io.ReadAll(io.LimitReader(stdin, proof.MaxSize+1))
	} else {
		b, err = os.ReadFile(positional[0])
	}
	if err != nil {
		return f.fail(stderr, err, exitError)
	}
	p, err := proof.Parse(b)
	if err != nil {
		return f.fail(stderr, fmt.Errorf("%s: %w", positional[0], err), exitError)
	}
	res, err := proof.Verify(p, pol)
	if err != nil {
		return f.fail(stderr, fmt.Errorf("%s: %w", positional[0], err), exitInvalid)
	}
	fmt.Fprintf(stdout, "%s: valid: capsule %s (sequence %d) is entry %d of %s at size %d",
		positional[0], res.Capsule.ID, res.Capsule.Sequence, p.Index, res.Checkpoint.Origin, res.Checkpoint.Size)
	if len(res.Witnesses) > 0 {
		fmt.Fprintf(stdout, ", cosigned by %s", strings.Join(res.Witnesses, ", "))
	}
	fmt.Fprintln(stdout)
	return exitOK
}

// ed25519Of returns the Ed25519 public key of a note verifier key of type
// 0x01.
func ed25519Of(vkey string) (ed25519.PublicKey, error) {
	parts := strings.SplitN(vkey, "+", 3) // a name holds no "+", base64 may
	if len(parts) != 3 {
		return nil, errors.New("not an Ed25519 note verifier key")
	}
	key, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(key) != 1+ed25519.PublicKeySize || key[0] != 0x01 {
		return nil, errors.New("not an Ed25519 note verifier key")
	}
	return ed25519.PublicKey(key[1:]), nil
}
