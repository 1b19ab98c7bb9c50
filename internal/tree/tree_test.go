package tree

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

// Extending tree after tree, in batches of every size, from only the
// frontier, stores what tlog stores record by record, and Size inverts
// StoredHashCount.
func TestExtendMatchesTlog(t *testing.T) {
	var all []tlog.Hash
	r := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		hs := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			hs[i] = all[x]
		}
		return hs, nil
	})
	var leaves []tlog.Hash
	for n := range int64(70) {
		sum := sha256.Sum256(fmt.Appendf(nil, "%d", n))
		leaf, err := Leaf(hex.EncodeToString(sum[:]))
		if err != nil {
			t.Fatal(err)
		}
		if leaf != tlog.RecordHash(sum[:]) {
			t.Fatal("leaf is not tlog.RecordHash of the raw hash")
		}
		leaves = append(leaves, leaf)
		hs, err := tlog.StoredHashes(n, sum[:], r)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, hs...)
	}
	for size := int64(0); size < 70; size++ {
		if got, err := Size(tlog.StoredHashCount(size)); err != nil || got != size {
			t.Fatalf("Size(StoredHashCount(%d)) = %d, %v", size, got, err)
		}
		front, err := r.ReadHashes(Frontier(size))
		if err != nil {
			t.Fatal(err)
		}
		for k := 1; size+int64(k) <= 70; k += 3 {
			got, err := Extend(size, front, leaves[size:size+int64(k)])
			if err != nil {
				t.Fatalf("Extend(%d, %d leaves): %v", size, k, err)
			}
			want := all[tlog.StoredHashCount(size):tlog.StoredHashCount(size+int64(k))]
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("Extend(%d, %d leaves) differs from tlog", size, k)
			}
		}
	}
	if _, err := Size(tlog.StoredHashCount(5) + 1); err == nil {
		t.Fatal("Size accepted a count no tree has")
	}
	if _, err := Leaf("zz"); err == nil {
		t.Fatal("Leaf accepted a bad hash")
	}
}

// NextFrontier gives the frontier that reading it from the tree gives.
func TestNextFrontier(t *testing.T) {
	var leaves []tlog.Hash
	for n := range 40 {
		leaves = append(leaves, tlog.RecordHash(fmt.Appendf(nil, "%d", n)))
	}
	all, err := Extend(0, nil, leaves)
	if err != nil {
		t.Fatal(err)
	}
	at := func(idx []int64) []tlog.Hash {
		hs := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			hs[i] = all[x]
		}
		return hs
	}
	for size := int64(0); size < 40; size++ {
		for end := size + 1; end <= 40; end++ {
			added := all[tlog.StoredHashCount(size):tlog.StoredHashCount(end)]
			got := NextFrontier(size, at(Frontier(size)), added, end)
			if fmt.Sprint(got) != fmt.Sprint(at(Frontier(end))) {
				t.Fatalf("NextFrontier(%d -> %d) differs", size, end)
			}
		}
	}
	starts, runs := Runs(7, all[:10], 4)
	if fmt.Sprint(starts) != "[7 11 15]" || len(runs[0]) != 128 || len(runs[2]) != 64 {
		t.Fatalf("Runs: %v %d", starts, len(runs))
	}
}

// Record names the record that stores each hash, and RecordHashes splits
// the hashes a batch adds by record.
func TestRecordHashes(t *testing.T) {
	for n := int64(0); n < 300; n++ {
		for i := tlog.StoredHashCount(n); i < tlog.StoredHashCount(n+1); i++ {
			if got := Record(i); got != n {
				t.Fatalf("Record(%d) = %d, want %d", i, got, n)
			}
		}
	}
	var leaves []tlog.Hash
	for i := range 9 {
		leaves = append(leaves, tlog.RecordHash([]byte{byte(i)}))
	}
	front, err := Extend(0, nil, leaves[:4])
	if err != nil {
		t.Fatal(err)
	}
	added, err := Extend(4, []tlog.Hash{front[len(front)-1]}, leaves[4:])
	if err != nil {
		t.Fatal(err)
	}
	var joined []byte
	for n := int64(4); n < 9; n++ {
		joined = append(joined, RecordHashes(4, added, n)...)
	}
	if want := Hashes(added); !bytes.Equal(joined, bytes.Join(want, nil)) {
		t.Fatal("the hashes of records 4..8 joined are not those the batch added")
	}
	r := NewRange(tlog.StoredHashCount(4), int64(len(added)))
	r.Add(tlog.StoredHashCount(4), joined)
	r.Add(tlog.StoredHashCount(5), joined[:64])
	if !r.Full() {
		t.Fatal("a hash added twice counted twice")
	}
}
