package storagetest

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/storage"
)

func testChains(t *testing.T, s storage.Store) {
	chains, err := s.Chains(t.Context())
	if err != nil || len(chains) != 0 {
		t.Fatalf("Chains of an empty store = %+v, %v; want none", chains, err)
	}
	want := map[string][]protocol.Sealed{}
	for _, tenant := range []string{"b", "", "a"} {
		want[tenant] = grow(t, s, tenant, len(tenant)*3+2, 2)
	}
	want["b"] = append(want["b"], grow(t, s, "b", 1, 1)...)
	chains, err = s.Chains(t.Context())
	if err != nil {
		t.Fatalf("Chains: %v", err)
	}
	var got []string
	for _, c := range chains {
		got = append(got, c.Tenant)
	}
	if fmt.Sprint(got) != fmt.Sprint([]string{"", "a", "b"}) {
		t.Fatalf("Chains tenants = %q, want [\"\" a b]", got)
	}
	for _, c := range chains {
		recs := want[c.Tenant]
		if c.Length != int64(len(recs)) {
			t.Errorf("chain %q: Length %d, want %d", c.Tenant, c.Length, len(recs))
		}
		if !reflect.DeepEqual(c.First, recs[0]) {
			t.Errorf("chain %q: First differs\ngot  %s\nwant %s", c.Tenant, show(c.First), show(recs[0]))
		}
		if !reflect.DeepEqual(c.Last, recs[len(recs)-1]) {
			t.Errorf("chain %q: Last differs\ngot  %s\nwant %s", c.Tenant, show(c.Last), show(recs[len(recs)-1]))
		}
	}
}
