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
