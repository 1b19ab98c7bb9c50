// Package tree computes the stored hashes of a chain's Merkle tree for the
// backends of this module (see storage.TreeStore): the leaf of a capsule,
// the hashes a batch of records adds, the indexes an append must read, and
// the tree size a number of stored hashes stands for.
package tree

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"sync"

	"golang.org/x/mod/sumdb/tlog"
)

// Leaf returns the record hash (RFC 6962 leaf hash) of the capsule whose
// hash is hexHash: SHA-256(0x00 || the 32 bytes of the hash).
func Leaf(hexHash string) (tlog.Hash, error) {
	var raw [32]byte
	if len(hexHash) != 64 {
		return tlog.Hash{}, fmt.Errorf("capsule hash %q is not 64 hex digits", hexHash)
	}
	if _, err := hex.Decode(raw[:], []byte(hexHash)); err != nil {
		return tlog.Hash{}, fmt.Errorf("capsule hash %q is not 64 hex digits", hexHash)
	}
	return tlog.RecordHash(raw[:]), nil
}

// Frontier returns the stored-hash indexes, ascending, of the roots of the
// complete subtrees of a tree of size records: all that computing the
// stored hashes of records size, size+1, ... reads from before them.
func Frontier(size int64) []int64 {
	var idx []int64
	for level := bits.Len64(uint64(size)) - 1; level >= 0; level-- {
		if size>>level&1 == 1 {
			idx = append(idx, tlog.StoredHashIndex(level, size>>level-1))
		}
	}
	return idx
}

// Extend returns the stored hashes that the records with the given leaves
// add to a tree of size records, in index order from
// tlog.StoredHashCount(size), given the hashes at Frontier(size), in its
// order.
func Extend(size int64, frontier []tlog.Hash, leaves []tlog.Hash) ([]tlog.Hash, error) {
	idx := Frontier(size)
	if len(frontier) != len(idx) {
		return nil, fmt.Errorf("tree: %d frontier hashes for size %d, want %d", len(frontier), size, len(idx))
	}
	known := make(map[int64]tlog.Hash, len(idx))
	for i, x := range idx {
		known[x] = frontier[i]
	}
	base := tlog.StoredHashCount(size)
	var out []tlog.Hash
	r := tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		hs := make([]tlog.Hash, len(indexes))
		for i, x := range indexes {
			switch h, ok := known[x]; {
			case ok:
				hs[i] = h
			case x >= base && x-base < int64(len(out)):
				hs[i] = out[x-base]
			default:
				return nil, fmt.Errorf("tree: stored hash %d is neither in the frontier of size %d nor new", x, size)
			}
		}
		return hs, nil
	})
	for i, leaf := range leaves {
		hs, err := tlog.StoredHashesForRecordHash(size+int64(i), leaf, r)
		if err != nil {
			return nil, err
		}
		out = append(out, hs...)
	}
	return out, nil
}

// Size returns the size of the tree whose stored hashes number count, or an
// error when no tree has that many.
func Size(count int64) (int64, error) {
	// StoredHashCount(n) = 2n - popcount(n) grows with n: search it.
	lo, hi := int64(0), count
	for lo < hi {
		mid := lo + (hi-lo)/2
		if tlog.StoredHashCount(mid) < count {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if tlog.StoredHashCount(lo) != count {
		return 0, fmt.Errorf("tree: %d stored hashes make no tree (a write was cut short?)", count)
	}
	return lo, nil
}

// CheckpointSize returns the tree size of a signed tlog-checkpoint: its
// second line.
func CheckpointSize(signedNote []byte) (int64, error) {
	lines := bytes.SplitN(signedNote, []byte("\n"), 3)
	if len(lines) < 3 {
		return 0, errors.New("checkpoint: too few lines")
	}
	n, err := strconv.ParseInt(string(lines[1]), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("checkpoint: size %q is not a non-negative integer", lines[1])
	}
	return n, nil
}

// Hashes returns hs as byte slices, for a database driver.
func Hashes(hs []tlog.Hash) [][]byte {
	out := make([][]byte, len(hs))
	for i := range hs {
		out[i] = hs[i][:]
	}
	return out
}

// Runs splits hashes, the stored hashes from index base, into runs of at
// most max consecutive hashes each, for a store that keeps one row per
// run: the index of each run's first hash and its hashes, concatenated.
func Runs(base int64, hashes []tlog.Hash, max int) (starts []int64, runs [][]byte) {
	for len(hashes) > 0 {
		n := min(len(hashes), max)
		run := make([]byte, 0, n*tlog.HashSize)
		for _, h := range hashes[:n] {
			run = append(run, h[:]...)
		}
		starts, runs = append(starts, base), append(runs, run)
		base, hashes = base+int64(n), hashes[n:]
	}
	return starts, runs
}

// NextFrontier returns the hashes at Frontier(end) of a tree grown from
// size records, whose frontier hashes were front, by the stored hashes
// added (from index tlog.StoredHashCount(size)) to end records.
func NextFrontier(size int64, front []tlog.Hash, added []tlog.Hash, end int64) []tlog.Hash {
	base := tlog.StoredHashCount(size)
	old := Frontier(size)
	idx := Frontier(end)
	hs := make([]tlog.Hash, len(idx))
	for k, x := range idx {
		if x >= base {
			hs[k] = added[x-base]
			continue
		}
		for j, o := range old {
			if o == x {
				hs[k] = front[j]
			}
		}
	}
	return hs
}

// Record returns the record whose addition to a tree stores the hash at
// stored-hash index: the hashes record n adds are those at indexes
// tlog.StoredHashCount(n) to tlog.StoredHashCount(n+1)-1.
func Record(index int64) int64 {
	level, n := tlog.SplitStoredHashIndex(index)
	return (n+1)<<level - 1
}

// RowEnd returns the size of a tree kept partly in its chain's rows, each
// record's row holding the stored hashes its addition stores (see
// RecordHashes): runs is the size the tree's runs cover, head the chain's
// last record (-1 for none), has whether head's row holds its hashes, and
// holds reports whether the row of a record does. The rows of records runs
// to size-1 hold theirs and the later ones none, so a binary search over
// the rows from runs finds the size. The row of record runs is looked at
// first: a tree that lags its chain (one written before trees were kept,
// say) has no row hashes at all.
func RowEnd(runs, head int64, has bool, holds func(seq int64) (bool, error)) (int64, error) {
	if has {
		return head + 1, nil
	}
	if runs > head {
		return runs, nil
	}
	if h, err := holds(runs); err != nil || !h {
		return runs, err
	}
	lo, hi := runs+1, head // the first row without is in [lo, hi]
	for lo < hi {
		mid := lo + (hi-lo)/2
		h, err := holds(mid)
		if err != nil {
			return 0, err
		}
		if h {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo, nil
}

// RecordHashes returns the stored hashes record n adds, concatenated, from
// added, the stored hashes from index tlog.StoredHashCount(size) on, where
// size <= n.
func RecordHashes(size int64, added []tlog.Hash, n int64) []byte {
	base := tlog.StoredHashCount(size)
	lo, hi := tlog.StoredHashCount(n)-base, tlog.StoredHashCount(n+1)-base
	out := make([]byte, 0, (hi-lo)*tlog.HashSize)
	for _, h := range added[lo:hi] {
		out = append(out, h[:]...)
	}
	return out
}

// Contiguous reports whether indexes are ascending and consecutive, and
// enough of them that reading whole runs beats looking each up.
func Contiguous(indexes []int64, maxRun int) bool {
	if len(indexes) < 2*maxRun {
		return false
	}
	for k, x := range indexes {
		if x != indexes[0]+int64(k) {
			return false
		}
	}
	return true
}

// Range collects the stored hashes at indexes lo, lo+1, ..., lo+n-1 from
// the runs that hold them (see Runs), in any order.
type Range struct {
	lo     int64
	hs     []tlog.Hash
	has    []bool // which of hs a run held
	filled int    // how many of has are true
}

// NewRange returns an empty Range of the n hashes from index lo.
func NewRange(lo, n int64) *Range {
	return &Range{lo: lo, hs: make([]tlog.Hash, n), has: make([]bool, n)}
}

// Add takes the hashes of the run starting at index start that fall in r.
// A hash that two runs hold counts once.
func (r *Range) Add(start int64, run []byte) {
	for k := 0; k+tlog.HashSize <= len(run); k += tlog.HashSize {
		i := start + int64(k/tlog.HashSize) - r.lo
		if i >= 0 && i < int64(len(r.hs)) {
			copy(r.hs[i][:], run[k:k+tlog.HashSize])
			if !r.has[i] {
				r.has[i] = true
				r.filled++
			}
		}
	}
}

// Full reports whether runs held every hash of r.
func (r *Range) Full() bool { return r.filled == len(r.hs) }

// Hashes returns the hashes, or an error when runs did not hold them all.
func (r *Range) Hashes() ([]tlog.Hash, error) {
	if !r.Full() {
		return nil, fmt.Errorf("%d of the stored hashes %d to %d are missing", len(r.hs)-r.filled, r.lo, r.lo+int64(len(r.hs))-1)
	}
	return r.hs, nil
}

// Rows is what both database drivers' rows offer.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// ScanRuns adds to r every (start index, run) row of rows.
func (r *Range) ScanRuns(rows Rows) error {
	for rows.Next() {
		var start int64
		var run []byte
		if err := rows.Scan(&start, &run); err != nil {
			return err
		}
		r.Add(start, run)
	}
	return rows.Err()
}

// Front is what extending a chain's tree needs: its size and the stored
// hashes at [Frontier](Size).
type Front struct {
	Size   int64
	Hashes []tlog.Hash
}

// Cache holds, by tenant, the frontier of the trees a store last extended,
// so that an append computes its tree hashes without reading them. It is
// safe for concurrent use; the zero value is empty.
type Cache struct {
	mu sync.Mutex
	m  map[string]Front
}

// Get returns tenant's cached frontier.
func (c *Cache) Get(tenant string) (Front, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, ok := c.m[tenant]
	return f, ok
}

// Set records tenant's frontier.
func (c *Cache) Set(tenant string, f Front) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]Front)
	}
	c.m[tenant] = f
}

// Update records the frontiers of the trees a committed transaction grew.
func (c *Cache) Update(grown map[string]Front) {
	if len(grown) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]Front, len(grown))
	}
	for t, f := range grown {
		c.m[t] = f
	}
}

// Drop forgets tenant's frontier: its tree is no longer known to be the
// cached one.
func (c *Cache) Drop(tenant string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, tenant)
}

// InOrder returns the hashes found holds at indexes, in the order of
// indexes, or an error naming the first stored hash tenant's tree lacks.
func InOrder(tenant string, indexes []int64, found map[int64]tlog.Hash) ([]tlog.Hash, error) {
	hs := make([]tlog.Hash, len(indexes))
	for k, i := range indexes {
		h, ok := found[i]
		if !ok {
			return nil, fmt.Errorf("read the tree of %q: no stored hash %d", tenant, i)
		}
		hs[k] = h
	}
	return hs, nil
}
