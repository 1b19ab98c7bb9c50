package capsule

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/capsule-go/capsule/keys"
	"github.com/capsule-go/capsule/protocol"
)

// keyCheckInterval is how often a [Capsules] whose key comes from a key
// directory looks at it for a rotation.
const keyCheckInterval = time.Second

// keyWatch follows the key directory of a Capsules: when the key or the
// keyring file changes (another process ran `capsule keys rotate`), the
// next capsule sealed after at most keyCheckInterval is signed with the
// new active key, and verification resolves it. The check is two stats,
// made by whichever signing goroutine finds it due.
type keyWatch struct {
	dir   string
	log   *slog.Logger
	clock clock
	cur   atomic.Pointer[keyState]
	next  atomic.Int64 // UnixNano of the next check
}

// keyState is the signing key and the key lookup in force, with the files
// they were read from.
type keyState struct {
	signer  Signer
	resolve protocol.KeyResolver
	stamp   keyStamp
}

// keyStamp identifies the contents of the key and keyring files without
// reading them: the file (a rotation renames a new one into place), its
// size and modification time; nil when missing.
type keyStamp [2]os.FileInfo

func (w *keyWatch) stamp() keyStamp {
	var st keyStamp
	for i, name := range []string{keys.KeyFile, keys.KeyringFile} {
		if fi, err := os.Stat(filepath.Join(w.dir, name)); err == nil {
			st[i] = fi
		}
	}
	return st
}

// start loads the key directory as it is now and schedules the first
// check one keyCheckInterval later.
func (w *keyWatch) start() error {
	st, err := w.load()
	if err != nil {
		return err
	}
	w.cur.Store(st)
	w.next.Store(w.clock.now().Add(keyCheckInterval).UnixNano())
	return nil
}

// same reports whether both stamps describe the same files.
func (st keyStamp) same(o keyStamp) bool {
	for i := range st {
		a, b := st[i], o[i]
		if a == nil || b == nil {
			if a != b {
				return false
			}
			continue
		}
		if !os.SameFile(a, b) || a.Size() != b.Size() || !a.ModTime().Equal(b.ModTime()) {
			return false
		}
	}
	return true
}

// load reads the key directory as it is now.
func (w *keyWatch) load() (*keyState, error) {
	stamp := w.stamp()
	s, err := keys.LoadOrCreate(w.dir)
	if err != nil {
		return nil, err
	}
	// Strict by signed_by: the keyring's epochs, and the key's own
	// fingerprint (no keyring: the key alone).
	kr, _ := keys.LoadKeyring(w.dir)
	return &keyState{signer: s, resolve: signerOrKeyring(s, protocol.KeyResolver(kr.Resolver(s.PublicKey()))), stamp: stamp}, nil
}

// current returns the key state in force, first reloading it when the
// check is due and the files changed. A key directory that cannot be read
// keeps the key in force (the failure is logged) until a later check.
func (w *keyWatch) current() *keyState {
	cur := w.cur.Load()
	now := w.clock.now().UnixNano()
	due := w.next.Load()
	if now < due || !w.next.CompareAndSwap(due, now+int64(keyCheckInterval)) {
		return cur
	}
	if w.stamp().same(cur.stamp) {
		return cur
	}
	st, err := w.load()
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			w.log.Warn("capsule: key directory changed but cannot be read; signing with the previous key", "dir", w.dir, "err", err)
		}
		return cur
	}
	if st.signer.Fingerprint() != cur.signer.Fingerprint() {
		w.log.Info("capsule: signing key rotated", "dir", w.dir, "signed_by", st.signer.Fingerprint())
	}
	w.cur.Store(st)
	return st
}
