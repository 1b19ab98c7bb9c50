package sqlite

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// DiskHeadroom is the free space below which a writable store checkpoints
// its write-ahead log into the database file, and truncates it, after
// every commit instead of every 64 MB of WAL (128 MB in a file of
// 4,096-byte pages, see pageSize): the WAL then holds one batch at most,
// and the space it held is returned to the file system. Above it, the WAL
// may grow to that size (plus the batch that crosses it) before the
// database file grows by the same pages at the checkpoint.
const DiskHeadroom = 256 << 20

// relieveDisk checkpoints and truncates the WAL when the file system
// holding the database has less than DiskHeadroom free. The commit is
// durable already: a checkpoint that cannot complete (a reader still uses
// the WAL, the disk is full) is tried again after the next commit.
func (s *Store) relieveDisk(ctx context.Context) {
	free, ok := s.freeSpace(filepath.Dir(s.abs))
	if !ok || free >= DiskHeadroom {
		return
	}
	var busy, logFrames, done int
	s.w.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logFrames, &done)
}

// ErrFileGone reports that the database file, or its -wal or -shm file,
// was removed, moved or replaced while the store had it open. SQLite would
// go on writing to the open files, which nothing would keep (a crash then
// loses every capsule written since): Append refuses instead. A database
// file put back where it was lets appends resume; a lost -wal or -shm
// file needs every process using the database to reopen it.
var ErrFileGone = errors.New("database file is no longer at its path")

// walSuffixes are the files SQLite keeps beside a database in WAL mode.
var walSuffixes = [2]string{"-wal", "-shm"}

// recordFiles remembers the identity of the database file and of its -wal
// and -shm files, which the writer connection holds open from now on. A
// file that does not exist (a file system where SQLite could not switch to
// WAL mode keeps a rollback journal, deleted at each commit) is not
// watched.
func (s *Store) recordFiles() error {
	var err error
	if s.file, err = os.Stat(s.abs); err != nil {
		return err
	}
	for i, fi := range []*os.FileInfo{&s.wal, &s.shm} {
		*fi, err = os.Stat(s.abs + walSuffixes[i])
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// checkFile reports whether the path still names the file the store
// opened. It runs under the write lock, before anything is written.
func (s *Store) checkFile() error {
	fi, err := os.Stat(s.abs)
	if err != nil {
		return fmt.Errorf("%w (%s: %v); restore it or reopen the store", ErrFileGone, s.abs, err)
	}
	if !os.SameFile(fi, s.file) {
		return fmt.Errorf("%w (%s was replaced by another file); reopen the store", ErrFileGone, s.abs)
	}
	return nil
}

// checkWAL reports whether the -wal and -shm files are still the ones the
// writer holds open: two stat calls. Once one is gone, what the writer
// commits goes to an unlinked file that a crash loses, and another process
// opening the database would not see this one's locks.
func (s *Store) checkWAL() error {
	for i, want := range [2]os.FileInfo{s.wal, s.shm} {
		if want == nil {
			continue // not there at Open: nothing to watch
		}
		p := s.abs + walSuffixes[i]
		fi, err := os.Stat(p)
		if err == nil && os.SameFile(fi, want) {
			continue
		}
		if err == nil {
			err = errors.New("replaced by another file")
		}
		return fmt.Errorf("%w (%s: %v); every process using the database must reopen it", ErrFileGone, p, err)
	}
	return nil
}

// rescue copies what the writer's write-ahead log holds (it still has the
// unlinked -wal file open) into the database file, which is still in
// place, and syncs it, so that the capsules acknowledged before the -wal
// file vanished survive a crash. It runs outside any transaction and
// reports whether every frame reached the database file.
func (s *Store) rescue(ctx context.Context) error {
	var busy, logFrames, done int
	err := s.w.QueryRowContext(context.WithoutCancel(ctx), "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logFrames, &done)
	switch {
	case err != nil:
		return fmt.Errorf("checkpoint the write-ahead log into the database file: %w", err)
	case busy != 0 || done != logFrames:
		return fmt.Errorf("checkpoint the write-ahead log into the database file: %d of %d frames copied "+
			"(readers hold the rest; close the store cleanly to copy them)", done, logFrames)
	}
	return nil
}
