package batch

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/storage"
)

func TestCheck(t *testing.T) {
	rec := func(tenant, id string, seq int64, prev, hash string) protocol.Sealed {
		return protocol.Sealed{Tenant: tenant, ID: id, Sequence: seq, PreviousHash: hx(prev), Hash: hx(hash)}
	}
	ok := [][]protocol.Sealed{
		{rec("", "a", 0, "", "h0")},
		{rec("t", "a", 7, "x", "h7"), rec("t", "b", 8, "h7", "h8"), rec("t", "c", 9, "h8", "h9")},
	}
	for i, recs := range ok {
		if err := Check(recs[0].Tenant, recs); err != nil {
			t.Errorf("batch %d: %v", i, err)
		}
	}
	bad := map[string][]protocol.Sealed{
		"other tenant":  {rec("t", "a", 0, "", "h0"), rec("u", "b", 1, "h0", "h1")},
		"first tenant":  {rec("u", "a", 0, "", "h0")},
		"sequence gap":  {rec("t", "a", 0, "", "h0"), rec("t", "b", 2, "h0", "h2")},
		"sequence back": {rec("t", "a", 3, "", "h3"), rec("t", "b", 3, "h3", "h4")},
		"broken link":   {rec("t", "a", 0, "", "h0"), rec("t", "b", 1, "h9", "h1")},
		"repeated id":   {rec("t", "a", 0, "", "h0"), rec("t", "a", 1, "h0", "h1")},
		"hash not hex":  {{Tenant: "t", ID: "a", Hash: "h0"}},
	}
	for name, recs := range bad {
		if err := Check("t", recs); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}

func TestFailRest(t *testing.T) {
	done, lost := errors.New("done"), errors.New("lost")
	errs := FailRest([]error{nil, done, nil}, lost)
	if errs[0] != lost || errs[1] != done || errs[2] != lost {
		t.Fatalf("FailRest: %v", errs)
	}
}

func TestCheckAll(t *testing.T) {
	good := []protocol.Sealed{{Tenant: "a", ID: "1", Sequence: 0, Hash: hx("h0")}}
	bad := []protocol.Sealed{{Tenant: "b", ID: "1", Sequence: 0}, {Tenant: "b", ID: "2", Sequence: 5}}
	batches := []storage.Batch{{Tenant: "a", Records: good}, {Tenant: "b"}, {Tenant: "b", Records: bad}, {Tenant: "a", Records: good}}
	errs := make([]error, len(batches))
	live := CheckAll("x", batches, errs)
	if len(live) != 2 || live[0] != 0 || live[1] != 3 {
		t.Fatalf("live = %v, want [0 3]", live)
	}
	if errs[0] != nil || errs[1] != nil || errs[3] != nil {
		t.Fatalf("errs = %v", errs)
	}
	if !errors.Is(errs[2], storage.ErrRejected) || !errors.Is(errs[2], ErrInvalid) || !strings.HasPrefix(errs[2].Error(), `x: append to "b": `) {
		t.Fatalf("errs[2] = %v", errs[2])
	}
}

// hx returns a capsule-like hash (64 hex digits) named s; "" stays "".
func hx(s string) string {
	if s == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
