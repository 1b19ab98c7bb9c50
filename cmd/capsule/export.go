package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/capsule-go/capsule/internal/cli"
	"github.com/capsule-go/capsule/protocol"
)

const exportUsage = `
Usage: capsule export [FILE | --db PATH | --pg URL] [--tenant T] [-o FILE]

Write the --tenant chain as a JSON array of sealed capsules (the content
plus hash, signature, signature_pq, signed_at and signed_by), one capsule
per line, in sequence order. The chain is streamed: memory stays bounded
whatever its length. With -o the file is replaced only once the export is
complete.` + "\n\n" + defaultSourceHelp

func runExport(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	f := newFlags("export", exportUsage, "capsule export --db capsules.db --tenant site-7 -o site-7.json")
	var sf sourceFlags
	sf.register(f.FlagSet)
	out := f.String("o", "", "write to `FILE` instead of standard output")
	positional, code, ok := f.parse(args, stdout, stderr)
	if !ok {
		return code
	}
	src, err := openSource(ctx, &sf, positional, stdin, stderr)
	if err != nil {
		return f.fail(stderr, err, exitError)
	}
	defer src.Close()

	progress := cli.NewProgress(stderr, "exported", cli.IsTerminal(stderr))
	if *out == "" || *out == "-" {
		err = exportTo(ctx, stdout, src, progress)
	} else {
		err = exportFile(ctx, *out, src, progress)
	}
	progress.Done()
	if err != nil {
		return f.fail(stderr, err, sourceCode(err))
	}
	if n, ok := src.Total(ctx); ok && n == 0 {
		fmt.Fprintf(stderr, "capsule export: note: %s\n", emptyChainNote(ctx, src))
	}
	return exitOK
}

// exportFile writes the export to a temporary file beside path and renames
// it into place once complete, so that a failed export leaves no partial
// file behind.
func exportFile(ctx context.Context, path string, src *source, progress *cli.Progress) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("create %s: %w", path, unwrapPathError(err))
	}
	defer os.Remove(tmp.Name())
	if err := exportTo(ctx, tmp, src, progress); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// exportTo streams the chain to w as a JSON array, one sealed capsule per
// line.
func exportTo(ctx context.Context, w io.Writer, src *source, progress *cli.Progress) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	var buf []byte
	var n int64
	for rec, err := range src.Records(ctx) {
		if err != nil {
			return fmt.Errorf("%s: %w", src.name, err)
		}
		buf = buf[:0]
		if n == 0 {
			buf = append(buf, "[\n"...)
		} else {
			buf = append(buf, ",\n"...)
		}
		if buf, err = protocol.AppendSealed(buf, &rec); err != nil {
			return fmt.Errorf("%s: sequence %d: %w", src.name, rec.Sequence, err)
		}
		if _, err := bw.Write(buf); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		n++
		if n%256 == 0 {
			progress.Update(n)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	end := "\n]\n"
	if n == 0 {
		end = "[]\n"
	}
	if _, err := bw.WriteString(end); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}
