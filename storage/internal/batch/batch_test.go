package batch

import (
	"errors"
	"testing"

	"github.com/capsule-go/capsule/storage"
)

func TestCheck(t *testing.T) {
	rec := func(tenant, id string, seq int64, prev, hash string) storage.Record {
		return storage.Record{Tenant: tenant, ID: id, Sequence: seq, PreviousHash: prev, Hash: hash}
	}
	ok := [][]storage.Record{
		{rec("", "a", 0, "", "h0")},
		{rec("t", "a", 7, "x", "h7"), rec("t", "b", 8, "h7", "h8"), rec("t", "c", 9, "h8", "h9")},
	}
	for i, recs := range ok {
		if err := Check(recs[0].Tenant, recs); err != nil {
			t.Errorf("batch %d: %v", i, err)
		}
	}
	bad := map[string][]storage.Record{
		"other tenant":  {rec("t", "a", 0, "", "h0"), rec("u", "b", 1, "h0", "h1")},
		"first tenant":  {rec("u", "a", 0, "", "h0")},
		"sequence gap":  {rec("t", "a", 0, "", "h0"), rec("t", "b", 2, "h0", "h2")},
		"sequence back": {rec("t", "a", 3, "", "h3"), rec("t", "b", 3, "h3", "h4")},
		"broken link":   {rec("t", "a", 0, "", "h0"), rec("t", "b", 1, "h9", "h1")},
		"repeated id":   {rec("t", "a", 0, "", "h0"), rec("t", "a", 1, "h0", "h1")},
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
