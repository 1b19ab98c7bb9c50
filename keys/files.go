package keys

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// writeTemp writes data to a new temporary file in dir with mode perm
// (exactly, whatever the umask) and syncs it. The caller links or renames it
// into place and removes it.
func writeTemp(dir, name string, data []byte, perm os.FileMode) (string, error) {
	// os.CreateTemp opens with O_CREATE|O_EXCL and mode 0600: the file is
	// never readable by others, even before the Chmod below.
	f, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return "", err
	}
	tmp := f.Name()
	fail := func(err error) (string, error) {
		f.Close()
		os.Remove(tmp)
		return "", err
	}
	if err := f.Chmod(perm); err != nil {
		return fail(err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return "", err
	}
	return tmp, nil
}

// createExclusive creates dir/name holding data, complete and synced, unless
// the file already exists: it reports false, and leaves the existing file
// alone, when another writer got there first. link(2) gives this
// all-or-nothing, no-clobber behaviour even between processes.
func createExclusive(dir, name string, data []byte, perm os.FileMode) (bool, error) {
	tmp, err := writeTemp(dir, name, data, perm)
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, filepath.Join(dir, name)); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return false, nil
		}
		return false, err
	}
	return true, syncDir(dir)
}

// writeReplace atomically replaces dir/name with data: a reader sees the old
// file or the new one, complete, never a mix, and the change survives a crash
// once writeReplace returns.
func writeReplace(dir, name string, data []byte, perm os.FileMode) error {
	tmp, err := writeTemp(dir, name, data, perm)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(dir)
}

// syncDir makes a directory's entries (new links, renames) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("keys: sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("keys: sync %s: %w", dir, err)
	}
	return nil
}
