package main

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/capsule-go/capsule"
	"github.com/capsule-go/capsule/internal/cli"
	"github.com/capsule-go/capsule/keys"
	"github.com/capsule-go/capsule/protocol"
)

const verifyUsage = `
Usage: capsule verify [--structural|--full|--signatures] [--json] [--quiet]
                      [--public-key HEX] [--checkpoint FILE] [--tenant T]
                      (FILE | --db PATH | --pg URL)

Verify a chain of sealed capsules, streamed in sequence order:
  --structural  sequence numbers and previous_hash linkage
  --full        also recompute every hash from the content (the default)
  --signatures  also check every Ed25519 signature, with the key that
                signed_by names in the keyring of the data directory
                ($QUANTUMPIPES_DATA_DIR, else ~/.quantumpipes), or with
                --public-key for every capsule (which implies --signatures)

--checkpoint FILE also checks a signed checkpoint of the chain (from
"capsule checkpoint"): its signature under its origin (with --public-key,
or the data directory's keys), and that the chain still extends it: it
has at least the capsules it counted, and the Merkle root of those is the
checkpoint's (read from the chain's stored tree). A chain cut short, or
rewritten, fails here even when every capsule left in it is valid.

FILE holds a JSON array of sealed capsules, or one sealed capsule ("-" is
standard input). Exit code 0 when the chain is valid; 1 when it is broken,
is JSON but not a chain of sealed capsules, or fails the checkpoint (an
altered checkpoint included); 2 on a usage or I/O error (the input cannot
be read or is not JSON at all).`

func runVerify(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	f := newFlags("verify", verifyUsage, "capsule verify --signatures --db ~/.quantumpipes/capsules.db")
	var sf sourceFlags
	sf.register(f.FlagSet)
	structural := f.Bool("structural", false, "check sequence and linkage only")
	full := f.Bool("full", false, "also recompute every hash (default)")
	sigs := f.Bool("signatures", false, "also check every Ed25519 signature")
	asJSON := f.Bool("json", false, "print the result as one JSON object")
	quiet := f.Bool("quiet", false, "print nothing; the exit code tells the result")
	pubHex := f.String("public-key", "", "check every signature with this Ed25519 public key (64 `HEX` digits)")
	cpFile := f.String("checkpoint", "", "also check the signed checkpoint in `FILE`")
	positional, code, ok := f.parse(args, stdout, stderr)
	if !ok {
		return code
	}

	level := capsule.Full
	switch n := count(*structural, *full, *sigs); {
	case n > 1:
		return f.usageFail(stderr, "give at most one of --structural, --full and --signatures")
	case *structural:
		level = capsule.Structural
	case *sigs || (*pubHex != "" && n == 0):
		level = capsule.Signatures
	}
	if *pubHex != "" && level != capsule.Signatures {
		return f.usageFail(stderr, "--public-key checks signatures: it cannot be combined with --"+level.String())
	}
	if *asJSON && *quiet {
		return f.usageFail(stderr, "give at most one of --json and --quiet")
	}

	var resolve protocol.KeyResolver
	var pqPub []byte
	if level == capsule.Signatures {
		var err error
		if *pubHex != "" {
			resolve, err = staticResolver(*pubHex)
			if err != nil {
				return f.usageFail(stderr, err.Error())
			}
		} else if resolve, err = dataDirResolver(); err != nil {
			return f.fail(stderr, err, exitError)
		} else if pqPub, err = dataDirPQKey(); err != nil {
			return f.fail(stderr, err, exitError)
		}
	}

	var watch *checkpointWatch
	if *cpFile != "" {
		var err error
		if watch, err = openCheckpoint(*cpFile, sf.tenant, *pubHex); err != nil {
			return f.fail(stderr, err, checkpointCode(err))
		}
	}

	src, err := openSource(ctx, &sf, positional, stdin)
	if err != nil {
		return f.fail(stderr, err, exitError)
	}
	defer src.Close()
	src.countAll = true

	records := src.Records(ctx)
	if watch != nil {
		records = watch.wrap(records, src.store == nil)
	}
	progress := cli.NewProgress(stderr, "verified", !*quiet && !*asJSON && cli.IsTerminal(stderr))
	res, err := capsule.VerifyChain(ctx, records, level, capsule.VerifyOptions{Resolve: resolve, PQPublicKey: pqPub, Progress: progress.Update})
	progress.Done()
	var bad *badElementError
	switch {
	case errors.As(err, &bad):
		// Well-formed JSON that is not a readable sealed capsule: the
		// chain is broken there.
		res.Valid = false
		res.BrokenAt = bad.id
		res.BrokenSequence = bad.sequence
		res.Error = bad.err.Error()
	case err != nil:
		return f.fail(stderr, fmt.Errorf("%s: %w", src.name, err), exitError)
	default:
	}
	if watch != nil && res.Valid {
		if err := watch.check(ctx, src); err != nil {
			res.Valid = false
			res.Error = err.Error()
			res.BrokenSequence = watch.cp.Size - 1
			res.BrokenAt = watch.idAt
		}
	}
	total, totalOK := src.Total(ctx)
	if !totalOK {
		total = res.CapsulesVerified
	}

	code = exitOK
	if !res.Valid {
		code = exitInvalid
	}
	switch {
	case *quiet:
	case *asJSON:
		if err := writeVerifyJSON(stdout, res, total); err != nil {
			return f.fail(stderr, err, exitError)
		}
	default:
		writeVerifyHuman(stdout, res, total, src, cli.NewColour(stdout, os.Getenv))
		if res.Valid && watch != nil && watch.cp.Size > 0 {
			fmt.Fprintf(stdout, "  it extends the checkpoint of %s (origin %s, size %d, root %s)\n", *cpFile, watch.cp.Origin, watch.cp.Size, watch.cp.Root)
		}
	}
	if res.Valid && total == 0 && src.store != nil && !*quiet {
		// An empty chain is not broken, but it is rarely what was meant.
		fmt.Fprintf(stderr, "capsule verify: note: %s\n", chainsHeld(ctx, src))
	}
	return code
}

func count(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

// verifyJSON is the --json output of verify; the field order is part of
// the interface.
type verifyJSON struct {
	Valid            bool              `json:"valid"`
	Level            string            `json:"level"`
	CapsulesVerified int64             `json:"capsules_verified"`
	TotalCapsules    int64             `json:"total_capsules"`
	Errors           []verifyJSONError `json:"errors"`
}

type verifyJSONError struct {
	Sequence  int64  `json:"sequence"`
	CapsuleID string `json:"capsule_id"`
	Error     string `json:"error"`
}

func writeVerifyJSON(w io.Writer, res capsule.Result, total int64) error {
	out := verifyJSON{
		Valid: res.Valid, Level: res.Level, CapsulesVerified: res.CapsulesVerified,
		TotalCapsules: total, Errors: []verifyJSONError{},
	}
	if !res.Valid {
		out.Errors = append(out.Errors, verifyJSONError{res.BrokenSequence, res.BrokenAt, res.Error})
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}

func writeVerifyHuman(w io.Writer, res capsule.Result, total int64, src *source, c cli.Colour) {
	if res.Valid {
		msg := fmt.Sprintf("chain valid: %d %s verified (%s)", res.CapsulesVerified, plural(res.CapsulesVerified, "capsule"), res.Level)
		if res.CapsulesVerified == 0 {
			msg += fmt.Sprintf("; the chain of tenant %q in %s is empty", src.tenant, src.name)
		}
		fmt.Fprintf(w, "%s %s\n", c.Green("✓"), msg)
		return
	}
	id := res.BrokenAt
	if id == "" {
		id = "unknown"
	}
	fmt.Fprintf(w, "%s chain broken at sequence %d (id %s): %s (%s; %d of %d %s verified before it)\n",
		c.Red("✗"), res.BrokenSequence, id, res.Error, res.Level, res.CapsulesVerified, total, plural(total, "capsule"))
}

func plural(n int64, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// staticResolver decodes --public-key.
func staticResolver(h string) (protocol.KeyResolver, error) {
	pub, err := hex.DecodeString(strings.TrimSpace(h))
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("--public-key wants 64 hex digits (an Ed25519 public key), got %q", h)
	}
	return protocol.StaticKey(ed25519.PublicKey(pub)), nil
}

// dataDirResolver returns the key lookup of the data directory, strict
// by signed_by: the keyring's key for each fingerprint, or the local key
// under its own fingerprint; an unknown or missing signed_by fails. It
// reads public keys only and changes nothing.
func dataDirResolver() (protocol.KeyResolver, error) {
	dir, err := keys.DataDir()
	if err != nil {
		return nil, err
	}
	kr, err := keys.LoadKeyring(dir)
	switch {
	case err == nil:
		var local ed25519.PublicKey
		if a, ok := kr.Active(); ok {
			local, _ = a.PublicKey()
		}
		return protocol.KeyResolver(kr.Resolver(local)), nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	// No keyring: the local key alone, under its fingerprints.
	pub, err := keys.ReadPublicKey(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no keyring or key in the data directory %s to check signatures with: set %s or pass --public-key", dir, keys.DataDirEnv)
	}
	if err != nil {
		return nil, err
	}
	return protocol.KeyResolver((*keys.Keyring)(nil).Resolver(pub)), nil
}

// dataDirPQKey returns the data directory's ML-DSA-65 public key, which
// checks every signature_pq, or nil when it has none.
func dataDirPQKey() ([]byte, error) {
	dir, err := keys.DataDir()
	if err != nil {
		return nil, err
	}
	pub, err := os.ReadFile(filepath.Join(dir, keys.PQPublicKeyFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return pub, err
}
