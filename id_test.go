package capsule

import (
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/protocol/validate"
)

// TestNewIDVersion7 checks the RFC 9562 layout of the ids New gives: the
// version and variant bits, the Unix milliseconds in the first 48 bits, and
// the protocol's form, which validate accepts whatever the version.
func TestNewIDVersion7(t *testing.T) {
	at := time.Date(2026, 12, 3, 10, 0, 0, 123456789, time.UTC)
	id := newIDAt(at)
	if !protocol.IsUUID(id) {
		t.Fatalf("newIDAt = %q, not a lowercase hyphenated UUID", id)
	}
	if id[14] != '7' {
		t.Errorf("version nibble of %s = %c, want 7", id, id[14])
	}
	if v := id[19]; v != '8' && v != '9' && v != 'a' && v != 'b' {
		t.Errorf("variant nibble of %s = %c, want one of 89ab", id, v)
	}
	ms, err := strconv.ParseUint(id[0:8]+id[9:13], 16, 64)
	if err != nil || int64(ms) != at.UnixMilli() {
		t.Errorf("timestamp of %s = %d (%v), want %d", id, ms, err, at.UnixMilli())
	}
	// 0.456789 of a millisecond in 12 bits.
	if frac, _ := strconv.ParseUint(id[15:18], 16, 16); frac != 456789*4096/1000000 {
		t.Errorf("sub-millisecond bits of %s = %d, want %d", id, frac, 456789*4096/1000000)
	}
	c := New(TypeAgent)
	c.Trigger.Timestamp = at
	content, err := c.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	if verr := validate.Document(content); verr != nil {
		t.Errorf("validate refuses a v7 id: %v", verr)
	}
}

// TestNewIDOrdered checks that ids taken at increasing times sort in that
// order (the point of v7: the id index grows at its right edge), and that
// ids taken at one instant still differ.
func TestNewIDOrdered(t *testing.T) {
	base := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	var ids []string
	for i := range 5000 {
		ids = append(ids, newIDAt(base.Add(time.Duration(i)*250*time.Nanosecond)))
	}
	if !sort.StringsAreSorted(ids) {
		t.Error("ids taken 250 ns apart do not sort in the order they were taken")
	}
	seen := map[string]bool{}
	for range 1000 {
		id := newIDAt(base)
		if seen[id] {
			t.Fatalf("duplicate id %s at one instant", id)
		}
		seen[id] = true
	}
}
