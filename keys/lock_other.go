//go:build !unix

package keys

import (
	"errors"
	"fmt"
	"io/fs"
)

// lockDir reports that directory locking is not supported on this system:
// keys are still created safely (link), but not rotated.
func lockDir(dir string) (unlock func(), err error) {
	return nil, fmt.Errorf("keys: locking %s: %w", dir, errors.ErrUnsupported)
}

// canRunUnlocked reports whether loading may go on without the lock.
func canRunUnlocked(err error) bool {
	return errors.Is(err, errors.ErrUnsupported)
}

// insecureMode reports false: without POSIX permission bits, access to the
// key file is governed by the system's ACLs, which this package does not read.
func insecureMode(fs.FileMode) bool { return false }
