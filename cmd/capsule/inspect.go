package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/capsule-go/capsule/internal/cli"
	"github.com/capsule-go/capsule/internal/sections"
	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/protocol/canonical"
	"github.com/capsule-go/capsule/storage"
)

const inspectUsage = `
Usage: capsule inspect [FILE | --db PATH | --pg URL] [--seq N | --id UUID] [--tenant T] [--json]

Show one capsule: its identity, the six sections (trigger, context,
reasoning, authority, execution, outcome) and its seal. --seq picks a
position in the --tenant chain; --id takes a full id or a unique prefix
(searched in every chain unless --tenant is given). Without either, the
chain must hold exactly one capsule (a file with one sealed capsule).
--json prints the sealed capsule as one line of JSON instead.` + "\n\n" + defaultSourceHelp

func runInspect(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	f := newFlags("inspect", inspectUsage, "capsule inspect --db capsules.db --seq 5")
	var sf sourceFlags
	sf.register(f.FlagSet)
	seq := f.Int64("seq", -1, "the capsule at sequence `N` of the chain")
	id := f.String("id", "", "the capsule whose id is (or starts with) `UUID`")
	asJSON := f.Bool("json", false, "print the sealed capsule as JSON")
	positional, code, ok := f.parse(args, stdout, stderr)
	if !ok {
		return code
	}
	seqSet := false
	f.Visit(func(fl *flag.Flag) { seqSet = seqSet || fl.Name == "seq" })
	switch {
	case seqSet && *id != "":
		return f.usageFail(stderr, "give at most one of --seq N and --id UUID")
	case seqSet && *seq < 0:
		return f.usageFail(stderr, "--seq wants a sequence number >= 0")
	}
	src, err := openSource(ctx, &sf, positional, stdin, stderr)
	if err != nil {
		return f.fail(stderr, err, exitError)
	}
	defer src.Close()

	var rec protocol.Sealed
	switch {
	case seqSet:
		rec, err = findBySeq(ctx, src, *seq)
	case *id == "":
		rec, err = findOnly(ctx, src)
	default:
		var tenant *string
		if sf.tenantSet {
			tenant = &sf.tenant
		}
		rec, err = findByID(ctx, src, strings.ToLower(*id), tenant)
	}
	if err != nil {
		return f.fail(stderr, err, sourceCode(err))
	}

	if *asJSON {
		out, err := protocol.AppendSealed(nil, &rec)
		if err != nil {
			return f.fail(stderr, err, exitError)
		}
		stdout.Write(append(out, '\n'))
		return exitOK
	}
	v, err := canonical.Parse(rec.Data)
	m, isMap := v.(map[string]any)
	if err != nil || !isMap {
		if err == nil {
			err = errors.New("content is not a JSON object")
		}
		return f.fail(stderr, fmt.Errorf("capsule %s: %w", rec.ID, err), exitInvalid)
	}
	var b bytes.Buffer
	writeCapsule(&b, &rec, m, cli.NewColour(stdout, os.Getenv))
	stdout.Write(b.Bytes())
	return exitOK
}

// findBySeq returns the capsule at sequence seq of the source's chain.
func findBySeq(ctx context.Context, src *source, seq int64) (protocol.Sealed, error) {
	if src.store != nil {
		for rec, err := range src.store.Scan(ctx, src.tenant, seq) {
			if err != nil {
				return rec, err
			}
			if rec.Sequence == seq {
				return rec, nil
			}
			break
		}
		return protocol.Sealed{}, fmt.Errorf("no capsule at sequence %d in the chain of tenant %q in %s", seq, src.tenant, src.name)
	}
	for rec, err := range src.Records(ctx) {
		if err != nil {
			return rec, fmt.Errorf("%s: %w", src.name, err)
		}
		if rec.Sequence == seq {
			return rec, nil
		}
	}
	return protocol.Sealed{}, fmt.Errorf("no capsule at sequence %d in %s", seq, src.name)
}

// findByID returns the capsule whose id is id or starts with it.
func findByID(ctx context.Context, src *source, id string, tenant *string) (protocol.Sealed, error) {
	if id == "" {
		return protocol.Sealed{}, usageError("--id wants a capsule id or prefix")
	}
	if src.store != nil {
		rec, err := src.store.Get(ctx, id, tenant)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			return rec, fmt.Errorf("no capsule with id %s in %s", id, src.name)
		case errors.Is(err, storage.ErrAmbiguous):
			return rec, fmt.Errorf("id prefix %q matches several capsules in %s: give more digits", id, src.name)
		}
		return rec, err
	}
	var found protocol.Sealed
	n := 0
	for rec, err := range src.Records(ctx) {
		if err != nil {
			return rec, fmt.Errorf("%s: %w", src.name, err)
		}
		if strings.HasPrefix(rec.ID, id) {
			if n++; n > 1 {
				return protocol.Sealed{}, fmt.Errorf("id prefix %q matches several capsules in %s (%s, %s …): give more digits", id, src.name, found.ID, rec.ID)
			}
			found = rec
		}
	}
	if n == 0 {
		return found, fmt.Errorf("no capsule with id %s in %s", id, src.name)
	}
	return found, nil
}

// writeCapsule writes rec readably: identity, sections, seal.
func writeCapsule(w *bytes.Buffer, rec *protocol.Sealed, m map[string]any, c cli.Colour) {
	fmt.Fprintf(w, "%s %s\n", c.Bold("Capsule"), c.Bold(visibleJSON(rec.ID)))
	if rec.Tenant != "" {
		writeField(w, c, "  ", "tenant", rec.Tenant)
	}
	for _, k := range sections.Identity {
		if v, ok := m[k]; ok {
			writeField(w, c, "  ", k, v)
		}
	}
	known := append([]string{"id"}, sections.Identity...)
	for _, sec := range sections.Order {
		name := sec[0]
		known = append(known, name)
		v, ok := m[name]
		if !ok {
			continue
		}
		fmt.Fprintf(w, "\n%s\n", c.Cyan(c.Bold(strings.ToUpper(name[:1])+name[1:])))
		sm, isMap := v.(map[string]any)
		if !isMap {
			writeField(w, c, "  ", name, v)
			continue
		}
		for _, k := range sections.Keys(sm, sec[1:]) {
			writeField(w, c, "  ", k, sm[k])
		}
	}
	var extra []string
	for k := range m {
		if !slices.Contains(known, k) {
			extra = append(extra, k)
		}
	}
	if len(extra) > 0 {
		slices.Sort(extra)
		fmt.Fprintf(w, "\n%s\n", c.Yellow(c.Bold("Other keys")))
		for _, k := range extra {
			writeField(w, c, "  ", k, m[k])
		}
	}
	fmt.Fprintf(w, "\n%s\n", c.Cyan(c.Bold("Seal")))
	writeField(w, c, "  ", "hash", rec.Hash)
	writeField(w, c, "  ", "signed_by", nullable(rec.SignedBy))
	writeField(w, c, "  ", "signed_at", nullable(rec.SignedAt))
	writeField(w, c, "  ", "signature", truncate(rec.Signature, 32))
	writeField(w, c, "  ", "signature_pq", truncate(rec.SignaturePQ, 32))
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// truncate shortens a long hex string to n characters and notes its
// length.
func truncate(s string, n int) any {
	if s == "" {
		return ""
	}
	if len(s) <= n {
		return s
	}
	return plainText(visibleJSON(s[:n]) + "… (" + strconv.Itoa(len(s)) + " hex digits)")
}

// plainText is a value written as is, never quoted.
type plainText string

// writeField writes "key: value". Strings are written as they are unless
// they would read ambiguously (empty, surrounding spaces) or hold a rune
// that is not printable (control and bidi formatting characters), in
// which case they are quoted as JSON with those runes escaped
// (appendQuoted); null is "null"; numbers and booleans as in canonical
// JSON; non-empty objects and arrays as indented JSON on the following
// lines, escaped likewise. A key that is not printable is quoted too.
func writeField(w *bytes.Buffer, c cli.Colour, indent, key string, v any) {
	fmt.Fprintf(w, "%s%s", indent, c.Dim(visibleJSON(key)+":"))
	if _, nested := v.(map[string]any); !nested {
		if _, nested = v.([]any); !nested {
			w.WriteByte(' ')
		}
	}
	switch v := v.(type) {
	case plainText:
		w.WriteString(string(v))
	case string:
		if plainString(v) {
			w.WriteString(v)
		} else {
			w.Write(appendQuoted(nil, v))
		}
	case nil:
		w.WriteString(c.Dim("null"))
	case map[string]any, []any:
		b, err := canonical.Append(nil, v)
		if err != nil {
			fmt.Fprintf(w, "(unprintable: %v)", err)
			break
		}
		if string(b) == "{}" || string(b) == "[]" {
			w.WriteByte(' ')
			w.Write(b)
			break
		}
		var ind bytes.Buffer
		json.Indent(&ind, b, indent+"  ", "  ")
		w.WriteString("\n" + indent + "  ")
		w.Write(appendVisibleJSON(nil, ind.Bytes()))
	default:
		b, err := canonical.Append(nil, v)
		if err != nil {
			fmt.Fprintf(w, "(unprintable: %v)", err)
			break
		}
		w.Write(b)
	}
	w.WriteByte('\n')
}

// plainString reports whether s can be printed unquoted without being
// mistaken for another value, or hiding or reordering what follows.
func plainString(s string) bool {
	return s != "" && s != "null" && strings.TrimSpace(s) == s && printable(s)
}
