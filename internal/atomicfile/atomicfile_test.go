package atomicfile

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// check fails unless path holds data with mode perm and is alone in its
// directory (no temporary file left behind).
func check(t *testing.T, path string, data []byte, perm fs.FileMode) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("%s holds %q, want %q", path, got, data)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != perm {
		t.Errorf("%s has mode %v, want %v", path, fi.Mode().Perm(), perm)
	}
	alone(t, path)
}

// alone fails unless path is alone in its directory: no temporary file
// was left behind.
func alone(t *testing.T, path string) {
	t.Helper()
	es, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].Name() != filepath.Base(path) {
		t.Errorf("directory holds %v, want %s alone", es, filepath.Base(path))
	}
}

func TestWriteFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	for _, c := range []struct {
		data []byte
		perm fs.FileMode
	}{
		{[]byte("new"), 0o600},                    // a new file
		{[]byte("replaced"), 0o644},               // replaced, with the mode given
		{[]byte("group"), 0o660},                  // bits a umask of 022 would clear
		{nil, 0o600},                              // empty
		{bytes.Repeat([]byte("x"), 1<<20), 0o600}, // large
	} {
		if err := WriteFile(path, c.data, c.perm); err != nil {
			t.Fatal(err)
		}
		check(t, path, c.data, c.perm)
	}
}

// A write that fails, or is abandoned, leaves the old file as it was and
// no temporary file behind.
func TestFailedWriteKeepsOldFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}

	// halfWritten returns a pending file with part of the new contents.
	halfWritten := func(t *testing.T) *Pending {
		p, err := Create(path, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Write([]byte("half")); err != nil {
			t.Fatal(err)
		}
		return p
	}

	t.Run("abandoned", func(t *testing.T) {
		p := halfWritten(t)
		p.Cleanup()
		p.Cleanup()
		check(t, path, []byte("old"), 0o600)
	})

	t.Run("write fails", func(t *testing.T) {
		p := halfWritten(t)
		p.f.Close() // the disk goes away: every later write and the sync fail
		if _, err := p.Write([]byte(" of the new")); err == nil {
			t.Fatal("write to a closed file succeeded")
		}
		if err := p.Replace(); err == nil {
			t.Fatal("Replace of a file that failed to sync succeeded")
		}
		check(t, path, []byte("old"), 0o600)
	})

	t.Run("rename fails", func(t *testing.T) {
		// A directory in the target's place cannot be renamed over.
		target := filepath.Join(t.TempDir(), "d")
		if err := os.Mkdir(target, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(target, "inside"), []byte("old"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := WriteFile(target, []byte("new"), 0o600); err == nil {
			t.Fatal("WriteFile over a directory succeeded")
		}
		check(t, filepath.Join(target, "inside"), []byte("old"), 0o600)
		alone(t, target)
	})

	t.Run("no directory", func(t *testing.T) {
		if err := WriteFile(filepath.Join(dir, "missing", "f"), []byte("new"), 0o600); err == nil {
			t.Fatal("WriteFile into a missing directory succeeded")
		}
		check(t, path, []byte("old"), 0o600)
	})
}

// The pending file has its final mode from the start: a key written with
// 0600 is never readable by others, even before it is in place.
func TestPendingMode(t *testing.T) {
	p, err := Create(filepath.Join(t.TempDir(), "key"), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Cleanup()
	fi, err := p.f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("pending file has mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestWriteNew(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if ok, err := WriteNew(path, []byte("first"), 0o600); !ok || err != nil {
		t.Fatalf("WriteNew = %v, %v; want the file created", ok, err)
	}
	check(t, path, []byte("first"), 0o600)
	if ok, err := WriteNew(path, []byte("second"), 0o644); ok || err != nil {
		t.Fatalf("WriteNew over an existing file = %v, %v; want false, nil", ok, err)
	}
	check(t, path, []byte("first"), 0o600)
}

// TestWriteNewRace: many writers racing to create one file leave exactly
// one complete file.
func TestWriteNewRace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	const n = 16
	created := make([]bool, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ok, err := WriteNew(path, bytes.Repeat([]byte{byte(i)}, 4096), 0o600)
			if err != nil {
				t.Error(err)
			}
			created[i] = ok
		})
	}
	wg.Wait()
	winner := -1
	for i, ok := range created {
		if ok {
			if winner >= 0 {
				t.Fatalf("writers %d and %d both created the file", winner, i)
			}
			winner = i
		}
	}
	if winner < 0 {
		t.Fatal("no writer created the file")
	}
	check(t, path, bytes.Repeat([]byte{byte(winner)}, 4096), 0o600)
}

func TestRename(t *testing.T) {
	dir := t.TempDir()
	if err := WriteFile(filepath.Join(dir, "next"), []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Rename(filepath.Join(dir, "next"), filepath.Join(dir, "key")); err != nil {
		t.Fatal(err)
	}
	check(t, filepath.Join(dir, "key"), []byte("new"), 0o600)
	if err := Rename(filepath.Join(dir, "next"), filepath.Join(dir, "key")); err == nil {
		t.Fatal("Rename of a missing file succeeded")
	}
}
