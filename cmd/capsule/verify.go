package main

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/capsule-go/capsule"
	"github.com/capsule-go/capsule/internal/cli"
	"github.com/capsule-go/capsule/keys"
	"github.com/capsule-go/capsule/protocol"
)

const verifyUsage = `
Usage: capsule verify [--structural|--full|--signatures] [--json] [--quiet]
                      [--public-key HEX | --pubkey HEX | --pubkey-file PATH]
                      [--checkpoint FILE] [--tenant T]
                      [FILE | --db PATH | --pg URL]

Verify a chain of sealed capsules, streamed in sequence order:
  --structural  sequence numbers and previous_hash linkage
  --full        also recompute every hash from the content (the default)
  --signatures  also check every Ed25519 signature, with the key that
                signed_by names in the keyring of the data directory
                ($QUANTUMPIPES_DATA_DIR, else ~/.quantumpipes), or with
                --public-key for every capsule (which implies --signatures)

--pubkey HEX and --pubkey-file PATH (the Python reference's names, for
scripts written for it) are --public-key with the key given as is or
read from a file of its 64 hex digits (as "capsule keys export-public"
writes it). With any of the three no data directory is needed; give at
most one. A key that did not sign the chain fails it (exit code 1).

--checkpoint FILE also checks a signed checkpoint of one chain (from
"capsule checkpoint"; the null tenant's unless --tenant): its signature
under its origin (with the same keys), and that the chain still extends
it: it has at least the capsules it counted, and the Merkle root of those
is the checkpoint's (read from the chain's stored tree). A chain cut
short, or rewritten, fails here even when every capsule left in it is
valid.

FILE holds a JSON array of sealed capsules, or one sealed capsule ("-" is
standard input). Without FILE, --db or --pg the database the library uses
by default is read: $CAPSULE_URL, else capsules.db in the data directory
(the command says which on standard error).

A database without --tenant has every chain verified in turn, one line
per chain and a total; --tenant T narrows it to T's chain ("" is the null
tenant's). A database whose one chain is the null tenant's (the Python
reference's layout) is reported as that one chain. An empty database is
said to be empty. Over several chains --json prints the one-chain fields
summed ("valid" true only when every chain is valid; "errors" holds the
first error of each broken chain, with its "tenant_id" first), then
"chains": each chain as {"tenant_id","valid","capsules_verified",
"total_capsules","errors"}, tenant_id null for the null tenant.

Exit code 0 when the chain (every chain) is valid; 1 when it (any) is broken,
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
	f.String("public-key", "", "check every signature with this Ed25519 public key (64 `HEX` digits)")
	f.String("pubkey", "", "the same as --public-key (the Python reference's name): the public key in `HEX`")
	f.String("pubkey-file", "", "the same as --public-key, with the key's hex digits read from `PATH`")
	cpFile := f.String("checkpoint", "", "also check the signed checkpoint in `FILE`")
	positional, code, ok := f.parse(args, stdout, stderr)
	if !ok {
		return code
	}
	keyFlag, pubHex, err := explicitKey(f.FlagSet)
	var uerr usageError
	switch {
	case errors.As(err, &uerr):
		return f.usageFail(stderr, err.Error())
	case err != nil:
		return f.fail(stderr, err, exitError)
	}

	level := capsule.Full
	switch n := count(*structural, *full, *sigs); {
	case n > 1:
		return f.usageFail(stderr, "give at most one of --structural, --full and --signatures")
	case *structural:
		level = capsule.Structural
	case *sigs || (pubHex != "" && n == 0):
		level = capsule.Signatures
	}
	if pubHex != "" && level != capsule.Signatures {
		return f.usageFail(stderr, "--"+keyFlag+" checks signatures: it cannot be combined with --"+level.String())
	}
	if *asJSON && *quiet {
		return f.usageFail(stderr, "give at most one of --json and --quiet")
	}

	var resolve protocol.KeyResolver
	var pqPub []byte
	if level == capsule.Signatures {
		var err error
		if pubHex != "" {
			resolve, err = staticResolver(keyFlag, pubHex)
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
		if watch, err = openCheckpoint(*cpFile, sf.tenant, keyFlag, pubHex); err != nil {
			return f.fail(stderr, err, checkpointCode(err))
		}
	}

	sf.quiet = *quiet
	src, err := openSource(ctx, &sf, positional, stdin, stderr)
	if err != nil {
		return f.fail(stderr, err, exitError)
	}
	defer src.Close()
	src.countAll = true
	opts := capsule.VerifyOptions{Resolve: resolve, PQPublicKey: pqPub}
	if src.store != nil && !sf.tenantSet && watch == nil {
		// Every chain; a store whose one chain is the null tenant's (the
		// reference's layout) is verified and reported as that chain.
		tenants, err := src.store.Tenants(ctx)
		if err != nil {
			return f.fail(stderr, fmt.Errorf("%s: list chains: %w", src.name, err), exitError)
		}
		if len(tenants) != 1 || tenants[0] != "" {
			return verifyAll(ctx, f, src, tenants, level, opts, *quiet, *asJSON, stdout, stderr)
		}
	}

	records := src.Records(ctx)
	if watch != nil {
		records = watch.wrap(records, src.store == nil)
	}
	progress := cli.NewProgress(stderr, "verified", !*quiet && !*asJSON && cli.IsTerminal(stderr))
	opts.Progress = progress.Update
	res, err := capsule.VerifyChain(ctx, records, level, opts)
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

// chainResult is the verification of one chain of a database.
type chainResult struct {
	tenant string
	res    capsule.Result
	total  int64
}

// verifyAll verifies the chains of tenants in a database source, in
// order, and reports each and the total: exit code 1 when any is
// broken.
func verifyAll(ctx context.Context, f *cmdFlags, src *source, tenants []string, level capsule.Level, opts capsule.VerifyOptions, quiet, asJSON bool, stdout, stderr io.Writer) int {
	results := make([]chainResult, 0, len(tenants))
	for _, tenant := range tenants {
		src.tenant = tenant
		progress := cli.NewProgress(stderr, "verified ("+tenantLabel(tenant)+")", !quiet && !asJSON && cli.IsTerminal(stderr))
		opts.Progress = progress.Update
		res, err := capsule.VerifyChain(ctx, src.Records(ctx), level, opts)
		progress.Done()
		if err != nil {
			return f.fail(stderr, fmt.Errorf("%s, chain of tenant %s: %w", src.name, tenantLabel(tenant), err), exitError)
		}
		total, ok := src.Total(ctx)
		if !ok {
			total = res.CapsulesVerified
		}
		results = append(results, chainResult{tenant, res, total})
	}
	code := exitOK
	for _, r := range results {
		if !r.res.Valid {
			code = exitInvalid
		}
	}
	switch {
	case quiet:
	case asJSON:
		if err := writeVerifyAllJSON(stdout, level, results); err != nil {
			return f.fail(stderr, err, exitError)
		}
	default:
		writeVerifyAllHuman(stdout, level, results, src, cli.NewColour(stdout, os.Getenv))
	}
	return code
}

// verifyAllJSON is the --json output of verify over every chain: the
// fields of verifyJSON summed over the chains (valid when all are, the
// first error of each broken chain, with its tenant_id), then each chain
// in the shape of verifyJSON with its tenant_id first (null for the null
// tenant).
type verifyAllJSON struct {
	Valid            bool               `json:"valid"`
	Level            string             `json:"level"`
	CapsulesVerified int64              `json:"capsules_verified"`
	TotalCapsules    int64              `json:"total_capsules"`
	Errors           []verifyAllJSONErr `json:"errors"`
	Chains           []verifyChainJSON  `json:"chains"`
}

type verifyAllJSONErr struct {
	Tenant *string `json:"tenant_id"`
	verifyJSONError
}

type verifyChainJSON struct {
	Tenant           *string           `json:"tenant_id"`
	Valid            bool              `json:"valid"`
	CapsulesVerified int64             `json:"capsules_verified"`
	TotalCapsules    int64             `json:"total_capsules"`
	Errors           []verifyJSONError `json:"errors"`
}

func writeVerifyAllJSON(w io.Writer, level capsule.Level, results []chainResult) error {
	out := verifyAllJSON{Valid: true, Level: level.String(), Errors: []verifyAllJSONErr{}, Chains: []verifyChainJSON{}}
	for _, r := range results {
		var tenant *string
		if r.tenant != "" {
			tenant = &r.tenant
		}
		ch := verifyChainJSON{Tenant: tenant, Valid: r.res.Valid, CapsulesVerified: r.res.CapsulesVerified,
			TotalCapsules: r.total, Errors: []verifyJSONError{}}
		if !r.res.Valid {
			e := verifyJSONError{r.res.BrokenSequence, r.res.BrokenAt, r.res.Error}
			ch.Errors = append(ch.Errors, e)
			out.Errors = append(out.Errors, verifyAllJSONErr{tenant, e})
			out.Valid = false
		}
		out.CapsulesVerified += r.res.CapsulesVerified
		out.TotalCapsules += r.total
		out.Chains = append(out.Chains, ch)
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}

func writeVerifyAllHuman(w io.Writer, level capsule.Level, results []chainResult, src *source, c cli.Colour) {
	if len(results) == 0 {
		fmt.Fprintf(w, "%s is empty: it holds no chains, so there is nothing to verify\n", src.name)
		return
	}
	var verified, total int64
	broken := 0
	for _, r := range results {
		verified += r.res.CapsulesVerified
		total += r.total
		label := tenantLabel(r.tenant)
		if r.res.Valid {
			fmt.Fprintf(w, "%s chain of tenant %s valid: %d %s verified\n", c.Green("✓"), label, r.res.CapsulesVerified, plural(r.res.CapsulesVerified, "capsule"))
			continue
		}
		broken++
		fmt.Fprintf(w, "%s chain of tenant %s broken at sequence %d (id %s): %s (%d of %d %s verified before it)\n",
			c.Red("✗"), label, r.res.BrokenSequence, orUnknown(r.res.BrokenAt), r.res.Error, r.res.CapsulesVerified, r.total, plural(r.total, "capsule"))
	}
	n := int64(len(results))
	if broken == 0 && n == 1 {
		fmt.Fprintf(w, "%s 1 chain valid: %d %s verified (%s)\n", c.Green("✓"), verified, plural(verified, "capsule"), level)
		return
	}
	if broken == 0 {
		fmt.Fprintf(w, "%s all %d %s valid: %d %s verified (%s)\n", c.Green("✓"), n, plural(n, "chain"), verified, plural(verified, "capsule"), level)
		return
	}
	fmt.Fprintf(w, "%s %d of %d %s broken: %d of %d %s verified (%s)\n", c.Red("✗"), broken, n, plural(n, "chain"), verified, total, plural(total, "capsule"), level)
}

// orUnknown names a capsule whose id could not be read.
func orUnknown(id string) string {
	if id == "" {
		return "unknown"
	}
	return id
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
	fmt.Fprintf(w, "%s chain broken at sequence %d (id %s): %s (%s; %d of %d %s verified before it)\n",
		c.Red("✗"), res.BrokenSequence, orUnknown(res.BrokenAt), res.Error, res.Level, res.CapsulesVerified, total, plural(total, "capsule"))
}

func plural(n int64, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// keyFlags are the flags that give the public key explicitly: the same
// key three ways, --pubkey and --pubkey-file being the Python reference's
// names.
var keyFlags = []string{"public-key", "pubkey", "pubkey-file"}

// explicitKey returns the public key given by one of keyFlags as hex, and
// the flag that gave it; "" when none did. Two of them is a usageError; a
// --pubkey-file that cannot be read is an I/O error.
func explicitKey(fs *flag.FlagSet) (name, pubHex string, err error) {
	fs.Visit(func(fl *flag.Flag) {
		if !slices.Contains(keyFlags, fl.Name) || err != nil {
			return
		}
		if name != "" {
			err = usageError(fmt.Sprintf("give at most one of --%s, --%s and --%s", keyFlags[0], keyFlags[1], keyFlags[2]))
			return
		}
		name, pubHex = fl.Name, fl.Value.String()
	})
	if err != nil || name != "pubkey-file" {
		return name, pubHex, err
	}
	path := pubHex
	if path == "" {
		return name, "", usageError("--pubkey-file wants the PATH of a file holding the public key's hex digits")
	}
	b, err := readSmallFile(path, maxPublicKeyFile)
	if err != nil {
		return name, "", fmt.Errorf("--pubkey-file: %w", err)
	}
	pubHex = strings.TrimSpace(string(b))
	if _, err := staticResolver(name, pubHex); err != nil {
		return name, "", fmt.Errorf("--pubkey-file %s: want 64 hex digits (an Ed25519 public key, as keys export-public writes it), got %d bytes that are not", path, len(b))
	}
	return name, pubHex, nil
}

// maxPublicKeyFile bounds what --pubkey-file reads: 64 hex digits and
// some white space.
const maxPublicKeyFile = 4 << 10

// readSmallFile reads the file at path, refusing one over limit bytes.
func readSmallFile(path string, limit int64) ([]byte, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, unwrapPathError(err))
	}
	defer file.Close()
	b, err := io.ReadAll(io.LimitReader(file, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes; a public key file holds 64 hex digits", path, limit)
	}
	return b, nil
}

// staticResolver decodes the public key given as hex by --flagName.
func staticResolver(flagName, h string) (protocol.KeyResolver, error) {
	pub, err := hex.DecodeString(strings.TrimSpace(h))
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("--%s wants 64 hex digits (an Ed25519 public key), got %q", flagName, h)
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
