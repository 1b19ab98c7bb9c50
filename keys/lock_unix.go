//go:build unix

package keys

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// lockDir takes the exclusive flock(2) of dir/key.lock, creating the file if
// needed, and returns the function that releases it. flock locks belong to
// the open file, so two goroutines of one process exclude each other too.
func lockDir(dir string) (unlock func(), err error) {
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("keys: open lock %s: %w", path, err)
	}
	fd := int(f.Fd())
	for {
		err = syscall.Flock(fd, syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("keys: lock %s: %w", path, err)
	}
	return func() {
		syscall.Flock(fd, syscall.LOCK_UN)
		f.Close()
	}, nil
}

// canRunUnlocked reports whether reading keys may go on without the lock
// after lockDir failed with err: in a directory the process may read but
// not write (no one can be creating or rotating keys through this process).
func canRunUnlocked(err error) bool {
	return errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS)
}

// insecureMode reports whether a key file of mode m is accessible by group
// or others.
func insecureMode(m fs.FileMode) bool {
	return m.Perm()&0o077 != 0
}
