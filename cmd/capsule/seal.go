package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/capsule-go/capsule"
	"github.com/capsule-go/capsule/internal/cli"
	"github.com/capsule-go/capsule/keys"
	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/protocol/canonical"
	"github.com/capsule-go/capsule/protocol/validate"
)

const sealUsage = `
Usage: capsule seal (--db PATH | --pg URL) [--tenant T] [FILE | -]

Read capsule content from FILE (default: standard input) as one JSON
object, a JSON array of objects, or JSON lines; then chain, seal and store
each capsule into the --tenant chain, in order. Each sealed capsule is
printed as one line of JSON once it is durably stored. Missing keys take
their defaults (a fresh id, the current time); sequence and previous_hash
are set by the chain. Signing uses the key of the data directory
($QUANTUMPIPES_DATA_DIR, else ~/.quantumpipes), created on first use.

Each capsule is checked against the protocol before it is sealed. On bad
input the command stops, naming the element and field, with exit code 1
when the element is JSON but not valid capsule content (a wrong type, a
confidence of 7, an unknown field, a sealed capsule), and 2 when the input
cannot be read or is not JSON; the capsules sealed before it stay stored.
A storage failure is exit code 2.`

func runSeal(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	f := newFlags("seal", sealUsage, `echo '{"type":"tool","trigger":{"source":"cron","request":"nightly backup"}}' | capsule seal --db capsules.db`)
	var sf sourceFlags
	sf.register(f.FlagSet)
	positional, code, ok := f.parse(args, stdout, stderr)
	if !ok {
		return code
	}
	url, err := sf.storeURL()
	if err != nil {
		return f.fail(stderr, err, exitError)
	}
	switch {
	case url == "":
		return f.usageFail(stderr, "no database: give --db PATH or --pg URL")
	case len(positional) > 1:
		return f.usageFail(stderr, fmt.Sprintf("too many arguments: %q", positional))
	}
	in, name := stdin, "standard input"
	if len(positional) == 1 && positional[0] != "-" {
		file, err := os.Open(positional[0])
		if err != nil {
			return f.fail(stderr, fmt.Errorf("open %s: %w", positional[0], unwrapPathError(err)), exitError)
		}
		defer file.Close()
		in, name = file, positional[0]
	}
	dir, err := keys.DataDir()
	if err != nil {
		return f.fail(stderr, err, exitError)
	}
	cs, err := capsule.Open(ctx, url, capsule.WithKeyDir(dir))
	if err != nil {
		return f.fail(stderr, err, exitError)
	}
	defer cs.Close()

	// A reader goroutine parses elements while the sealer stores what has
	// arrived: everything waiting is sealed as one group (one transaction,
	// signatures on all cores), and a producer that writes one line at a
	// time still gets each line back as soon as it is durable. The groups
	// are pipelined: the next group is sealed and queued while the one
	// before it commits, and each is printed once it is durable.
	elems := make(chan element, sealGroup)
	go readElements(ctx, cli.NewValueReader(in, protocol.MaxCapsuleBytes), elems)
	p := sealPrinter{w: bufio.NewWriter(stdout), name: name}
	var prev *sealed // queued, not yet printed
	// flush waits for prev and prints it; it returns false after a failure
	// it has reported.
	flush := func() (int, bool) {
		if prev == nil {
			return exitOK, true
		}
		s := prev
		prev = nil
		if err := p.print(ctx, s); err != nil {
			return f.fail(stderr, err, appendCode(err)), false
		}
		return exitOK, true
	}
	for {
		var group []element
		var e element
		var more bool
		select {
		case e, more = <-elems:
		default:
			// Nothing parsed yet: print what is durable before waiting
			// for the input.
			if code, ok := flush(); !ok {
				return code
			}
			e, more = <-elems
		}
		if !more {
			code, _ := flush()
			return code
		}
		group = append(group, e)
	drain:
		for len(group) < sealGroup && e.err == nil {
			select {
			case e, more = <-elems:
				if !more {
					break drain
				}
				group = append(group, e)
			default:
				break drain
			}
		}
		var failed *element
		if last := &group[len(group)-1]; last.err != nil {
			failed, group = last, group[:len(group)-1]
		}
		caps := make([]*capsule.Capsule, len(group))
		for i := range group {
			caps[i] = group[i].cp
		}
		q, err := cs.Queue(ctx, sf.tenant, caps)
		if code, ok := flush(); !ok {
			return code
		}
		if err != nil {
			return f.fail(stderr, fmt.Errorf("%s: elements %d to %d: %w", name, group[0].index, group[len(group)-1].index, err), appendCode(err))
		}
		if q != nil {
			prev = &sealed{q: q, group: group}
		}
		if failed != nil {
			if code, ok := flush(); !ok {
				return code
			}
			if failed.index < 0 {
				return f.fail(stderr, fmt.Errorf("%s: %w", name, failed.err), failed.code)
			}
			return f.fail(stderr, fmt.Errorf("%s: element %d: %w", name, failed.index, failed.err), failed.code)
		}
	}
}

// sealed is a group of seal's elements queued for storage.
type sealed struct {
	q     *capsule.Queued
	group []element
}

// sealPrinter prints the sealed capsules of seal's groups.
type sealPrinter struct {
	w    *bufio.Writer
	name string
	line []byte // the line being printed, its buffer reused
}

// print waits for the group s to be durable and prints its capsules, one
// line each.
func (p *sealPrinter) print(ctx context.Context, s *sealed) error {
	recs, err := s.q.Wait(ctx)
	if err != nil {
		return fmt.Errorf("%s: elements %d to %d: %w", p.name, s.group[0].index, s.group[len(s.group)-1].index, err)
	}
	for i := range recs {
		var err error
		if p.line, err = protocol.AppendSealed(p.line[:0], &recs[i]); err != nil {
			return fmt.Errorf("element %d was stored but cannot be printed: %w", s.group[i].index, err)
		}
		p.line = append(p.line, '\n')
		p.w.Write(p.line)
	}
	if err := p.w.Flush(); err != nil {
		return fmt.Errorf("capsules were stored but cannot be printed: %w", err)
	}
	return nil
}

// sealGroup bounds how many capsules seal stores in one group.
const sealGroup = 512

// element is one parsed element of seal's input, or the error that ends
// the input (index -1 when it is not about one element) with its exit
// code.
type element struct {
	cp    *capsule.Capsule
	index int
	err   error
	code  int
}

// appendCode is the exit code of a failed append: 1 when the runtime
// refused a capsule as invalid, 2 for a storage failure.
func appendCode(err error) int {
	var ve *validate.Error
	var fe *capsule.FieldError
	switch {
	case errors.As(err, &fe) && fe.Field == "tenant":
		return exitError // the tenant comes from --tenant: a usage error
	case errors.As(err, &ve) || errors.As(err, &fe) || errors.Is(err, protocol.ErrTooLarge):
		return exitInvalid
	}
	return exitError
}

// readElements parses the input into elems, ending with the first error,
// and closes elems.
func readElements(ctx context.Context, vr *cli.ValueReader, elems chan<- element) {
	defer close(elems)
	for ctx.Err() == nil {
		raw, err := vr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			elems <- element{index: -1, err: err, code: exitError}
			return
		}
		cp, err := contentCapsule(raw)
		if err != nil {
			elems <- element{index: vr.Index(), err: err, code: inputCode(raw)}
			return
		}
		elems <- element{cp: cp, index: vr.Index()}
	}
}

// contentCapsule reads one element of seal's input as capsule content,
// straight from its text (capsule.ParseContent). An element it refuses
// is read again by contentCapsuleMap, for the error in seal's order.
func contentCapsule(raw []byte) (*capsule.Capsule, error) {
	if cp, err := capsule.ParseContent(raw); err == nil && cp.Check() == nil {
		return cp, nil
	}
	return contentCapsuleMap(raw)
}

// contentCapsuleMap reads one element of seal's input as capsule content
// through its tree (canonical.Parse, then capsule.FromContent), reporting
// in order: text that is not JSON, JSON that is not an object, a sealed
// capsule, then the first field the model or its Check refuses.
func contentCapsuleMap(raw []byte) (*capsule.Capsule, error) {
	v, err := canonical.Parse(raw)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, capsule.ErrNotObject
	}
	for _, k := range protocol.SealKeys() {
		if _, ok := m[k]; ok {
			return nil, fmt.Errorf("%s: the input is a sealed capsule; seal takes content only (remove the hash, signature, signature_pq, signed_at and signed_by keys)", k)
		}
	}
	cp, err := capsule.FromContent(m)
	if err == nil {
		// Refuse what validate refuses before anything is queued.
		err = cp.Check()
	}
	var fe *capsule.FieldError
	if errors.As(err, &fe) {
		return nil, fmt.Errorf("%s: %s", fe.Field, fe.Msg)
	}
	if err != nil {
		return nil, err
	}
	return cp, nil
}
