// Package atomicfile writes files that readers see whole or not at all, and
// that survive a crash once written: the data goes to a temporary file in
// the target's directory, which is synced, renamed over the target (or
// linked to it, to create a file only if absent), and the directory is
// synced so that the new name is durable too.
//
// A write that fails, or that its caller abandons, leaves the target as it
// was and no temporary file behind.
package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// WriteFile replaces path with data, with mode perm exactly (whatever the
// umask).
func WriteFile(path string, data []byte, perm fs.FileMode) error {
	p, err := Create(path, perm)
	if err != nil {
		return err
	}
	defer p.Cleanup()
	if _, err := p.Write(data); err != nil {
		return err
	}
	return p.Replace()
}

// WriteNew creates path holding data, with mode perm exactly, unless path
// exists: then it reports false and leaves the existing file alone. Of
// several writers racing, in one process or many, exactly one creates the
// file and the others see it complete.
func WriteNew(path string, data []byte, perm fs.FileMode) (bool, error) {
	p, err := Create(path, perm)
	if err != nil {
		return false, err
	}
	defer p.Cleanup()
	if _, err := p.Write(data); err != nil {
		return false, err
	}
	return p.Link()
}

// Pending is a file being written to take the place of its target; see
// [Create].
type Pending struct {
	f    *os.File
	path string
	done bool // closed and no longer ours to remove
}

// Create starts a file that [Pending.Replace] or [Pending.Link] installs
// at path. It is a temporary file beside path, with mode perm exactly
// (whatever the umask): until then it is never readable by anyone perm
// does not allow. Defer [Pending.Cleanup] to discard it if the write is
// abandoned.
func Create(path string, perm fs.FileMode) (*Pending, error) {
	// os.CreateTemp opens with O_CREATE|O_EXCL and mode 0600, so that
	// nobody else can open the file before the Chmod.
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, err
	}
	p := &Pending{f: f, path: path}
	if err := f.Chmod(perm); err != nil {
		p.Cleanup()
		return nil, err
	}
	return p, nil
}

// Write writes b to the pending file.
func (p *Pending) Write(b []byte) (int, error) { return p.f.Write(b) }

// Replace syncs the pending file, renames it over the target and syncs the
// directory. When it fails, the target is as it was (or, if only the
// directory sync failed, replaced but perhaps not durably) and the pending
// file is removed.
func (p *Pending) Replace() error {
	defer p.Cleanup()
	if err := p.close(); err != nil {
		return err
	}
	if err := os.Rename(p.f.Name(), p.path); err != nil {
		return err
	}
	p.done = true
	return SyncDir(filepath.Dir(p.path))
}

// Link syncs the pending file and gives it the target's name unless the
// target exists, in which case it reports false and leaves the target
// alone; then it syncs the directory. The pending file is removed either
// way.
func (p *Pending) Link() (bool, error) {
	defer p.Cleanup()
	if err := p.close(); err != nil {
		return false, err
	}
	// link(2), unlike rename, never replaces an existing file.
	if err := os.Link(p.f.Name(), p.path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return false, nil
		}
		return false, err
	}
	return true, SyncDir(filepath.Dir(p.path))
}

// close syncs and closes the pending file.
func (p *Pending) close() error {
	err := p.f.Sync()
	if cerr := p.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Cleanup discards the pending file unless it was renamed into place. It
// is safe to call more than once, and after Replace or Link.
func (p *Pending) Cleanup() {
	if p.done {
		return
	}
	p.done = true
	p.f.Close() // already closed by Replace or Link: an error to ignore
	os.Remove(p.f.Name())
}

// Rename renames oldpath to newpath, which are in one directory, and syncs
// that directory so that the rename survives a crash.
func Rename(oldpath, newpath string) error {
	if err := os.Rename(oldpath, newpath); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(newpath))
}

// SyncDir makes the entries of dir (new names, renames) durable. On
// Windows, which cannot sync a directory opened for reading, it does
// nothing.
func SyncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
