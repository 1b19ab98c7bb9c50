package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"
	"unicode/utf8"

	"github.com/capsule-go/capsule"
	"github.com/capsule-go/capsule/internal/cli"
	"github.com/capsule-go/capsule/storage"
	"github.com/capsule-go/capsule/storage/postgres"
)

const chainsUsage = `
Usage: capsule chains [FILE | --db PATH | --pg URL] [--json]

List every chain of the source: its tenant, how many capsules it holds,
the sequence and hash of its head, and the trigger.timestamp of its first
and last capsule. This is how to find out what a database holds, and which
--tenant to give the other commands. A FILE holds one chain.

The table shortens the head hash; --json prints the whole of it:
  {"chains":[{"tenant_id","length","head_sequence","head_hash",
              "first_timestamp","last_timestamp"}]}
with tenant_id null for the null tenant's chain. Exit code 0, or 2 on a
usage or I/O error.` + "\n\n" + defaultSourceHelp

func runChains(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	f := newFlags("chains", chainsUsage, "capsule chains --db ~/.quantumpipes/capsules.db")
	var sf sourceFlags
	sf.register(f.FlagSet)
	asJSON := f.Bool("json", false, "print the chains as one JSON object")
	positional, code, ok := f.parse(args, stdout, stderr)
	if !ok {
		return code
	}
	if sf.tenantSet {
		return f.usageFail(stderr, "chains has no --tenant: it lists every chain")
	}
	src, err := openSource(ctx, &sf, positional, stdin, stderr)
	if err != nil {
		return f.fail(stderr, err, exitError)
	}
	defer src.Close()
	chains, err := listChains(ctx, src)
	if err != nil {
		return f.fail(stderr, err, exitError)
	}
	if *asJSON {
		if err := writeChainsJSON(stdout, chains); err != nil {
			return f.fail(stderr, err, exitError)
		}
		return exitOK
	}
	writeChainsTable(stdout, src, chains, cli.NewColour(stdout, os.Getenv))
	return exitOK
}

// chainInfo is one line of capsule chains.
type chainInfo struct {
	tenant       string
	length       int64
	headSequence int64
	headHash     string
	first, last  string // trigger.timestamp of the first and last capsule
}

// listChains summarizes the chains of a database, or the one chain of a
// file (none when the file holds no capsule).
func listChains(ctx context.Context, src *source) ([]chainInfo, error) {
	if src.store != nil {
		chains, err := src.store.Chains(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", src.name, err)
		}
		out := make([]chainInfo, len(chains))
		for i, c := range chains {
			out[i] = summarize(c)
		}
		return out, nil
	}
	var c storage.Chain
	for rec, err := range src.Records(ctx) {
		if err != nil {
			return nil, fmt.Errorf("%s: %w", src.name, err)
		}
		if c.Length == 0 {
			c.First = rec
		}
		c.Last = rec
		c.Length++
	}
	if c.Length == 0 {
		return nil, nil
	}
	c.Tenant = src.tenant
	return []chainInfo{summarize(c)}, nil
}

func summarize(c storage.Chain) chainInfo {
	return chainInfo{
		tenant: c.Tenant, length: c.Length,
		headSequence: c.Last.Sequence, headHash: c.Last.Hash,
		first: triggerTimestamp(c.First.Data), last: triggerTimestamp(c.Last.Data),
	}
}

// triggerTimestamp reads trigger.timestamp from a capsule's content, ""
// when it has none.
func triggerTimestamp(data []byte) string {
	var content struct {
		Trigger struct {
			Timestamp string `json:"timestamp"`
		} `json:"trigger"`
	}
	if json.Unmarshal(data, &content) != nil {
		return ""
	}
	return content.Trigger.Timestamp
}

// chainJSON is one element of chains --json; the field order is part of
// the interface.
type chainJSON struct {
	Tenant         *string `json:"tenant_id"`
	Length         int64   `json:"length"`
	HeadSequence   int64   `json:"head_sequence"`
	HeadHash       string  `json:"head_hash"`
	FirstTimestamp string  `json:"first_timestamp"`
	LastTimestamp  string  `json:"last_timestamp"`
}

func writeChainsJSON(w io.Writer, chains []chainInfo) error {
	out := struct {
		Chains []chainJSON `json:"chains"`
	}{Chains: make([]chainJSON, len(chains))}
	for i, c := range chains {
		j := chainJSON{Length: c.length, HeadSequence: c.headSequence, HeadHash: c.headHash,
			FirstTimestamp: c.first, LastTimestamp: c.last}
		if c.tenant != "" {
			j.Tenant = &c.tenant
		}
		out.Chains[i] = j
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}

func writeChainsTable(w io.Writer, src *source, chains []chainInfo, c cli.Colour) {
	if len(chains) == 0 {
		fmt.Fprintf(w, "%s holds no capsules\n", src.name)
		return
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "TENANT\tLENGTH\tHEAD\tHEAD HASH\tFIRST\tLAST")
	for _, ch := range chains {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\n", tenantLabel(ch.tenant), ch.length, ch.headSequence,
			visible(shortHash(ch.headHash)), visible(orDash(ch.first)), visible(orDash(ch.last)))
	}
	tw.Flush()
	var n int64
	for _, ch := range chains {
		n += ch.length
	}
	fmt.Fprintf(w, "%s\n", c.Dim(fmt.Sprintf("%d %s, %d %s in %s", len(chains), plural(int64(len(chains)), "chain"), n, plural(n, "capsule"), src.name)))
}

// tenantLabel names a tenant for people: the null tenant is "(null)".
func tenantLabel(t string) string {
	if t == "" {
		return "(null)"
	}
	if plainString(t) && !strings.ContainsAny(t, " \t") {
		return t
	}
	return strconv.Quote(t)
}

func shortHash(h string) string {
	if len(h) > 16 {
		return h[:16] + "…"
	}
	return h
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// emptyChainNote says that the source's chain is empty and, for a
// database, which chains it does hold, so that a mistyped or forgotten
// --tenant is obvious.
func emptyChainNote(ctx context.Context, src *source) string {
	if src.store == nil {
		return fmt.Sprintf("%s holds no capsules", src.name)
	}
	return fmt.Sprintf("the chain of tenant %s in %s is empty; %s", tenantLabel(src.tenant), src.name, chainsHeld(ctx, src))
}

// chainsHeld lists the chains of a database source, with the --tenant
// flag that selects each: the first maxChainsNoted, and how many more.
func chainsHeld(ctx context.Context, src *source) string {
	chains, err := src.store.Chains(ctx)
	switch {
	case err != nil:
		return fmt.Sprintf("listing the chains of %s failed: %v", src.name, err)
	case len(chains) == 0:
		return fmt.Sprintf("%s holds no chains", src.name)
	}
	shown := chains[:min(len(chains), maxChainsNoted)]
	names := make([]string, len(shown), len(shown)+1)
	for i, ch := range shown {
		if ch.Tenant == "" {
			names[i] = fmt.Sprintf("the null tenant's chain, without --tenant (%d %s)", ch.Length, plural(ch.Length, "capsule"))
			continue
		}
		names[i] = fmt.Sprintf("--tenant %s (%d %s)", shellQuote(ch.Tenant), ch.Length, plural(ch.Length, "capsule"))
	}
	if more := len(chains) - len(shown); more > 0 {
		flag := "--db"
		if postgres.IsURL(src.name) {
			flag = "--pg"
		}
		names = append(names, fmt.Sprintf("and %d more (capsule chains %s %s lists them all)", more, flag, shellQuote(src.name)))
	}
	return fmt.Sprintf("%s holds %d %s: %s", src.name, len(chains), plural(int64(len(chains)), "chain"), strings.Join(names, ", "))
}

// maxChainsNoted bounds the chains chainsHeld names: a shared database may
// hold hundreds, and capsule chains lists them all.
const maxChainsNoted = 10

// shellQuote quotes s for a POSIX shell when it needs quoting. A string
// that is not printable is written in dollar-single-quotes, every byte of
// its runes that are not printable as \xNN, so that it shows and pastes
// as it is.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:/@") == "" {
		return s
	}
	if printable(s) {
		return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
	}
	b := []byte("$'")
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '\'' || r == '\\':
			b = append(b, '\\', byte(r))
		case r == utf8.RuneError && size == 1 || !unicode.IsPrint(r):
			for j := i; j < i+size; j++ {
				b = append(b, `\x`...)
				b = appendHex(b, uint32(s[j]), 2)
			}
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return string(append(b, '\''))
}

// modulePath is the path of the module this command belongs to.
const modulePath = "github.com/capsule-go/capsule"

// version describes this build: the capsule module's version (from the
// build info: "(devel)" in a checkout, vX.Y.Z when installed from a
// release), the VCS revision when known, and the Go version.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "capsule (unknown version: no build information)"
	}
	mod := &bi.Main
	if mod.Path != modulePath {
		// Run as a tool of another module: capsule is a dependency.
		for _, d := range bi.Deps {
			if d.Path == modulePath {
				mod = d
				break
			}
		}
	}
	if r := mod.Replace; r != nil {
		by := r.Path
		if r.Version != "" && r.Version != "(devel)" {
			by += " " + r.Version
		}
		return fmt.Sprintf("capsule %s (replaced by %s) %s, Capsule Protocol %s", orDevel(mod.Version), by, bi.GoVersion, capsule.SpecVersion)
	}
	v := "capsule " + orDevel(mod.Version)
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = ", modified"
			}
		}
	}
	if rev != "" && mod == &bi.Main {
		v += fmt.Sprintf(" (%s%s)", rev[:min(12, len(rev))], modified)
	}
	return v + " " + bi.GoVersion + ", Capsule Protocol " + capsule.SpecVersion
}

func orDevel(v string) string {
	if v == "" {
		return "(devel)"
	}
	return v
}
