// Package storagetest holds the contract test suite of [storage.Store]:
// every backend, including one written outside this module, runs [Run]
// from its tests. It also exports the helpers the suite uses to write and
// check chains, for backend-specific tests such as writers in several
// processes.
package storagetest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/capsule-go/capsule/storage"
)

// Run runs the contract suite, one subtest per behaviour. open must return
// a new, empty store each time it is called and close it when t ends
// (t.Cleanup); the suite may close it earlier, so closing it again must be
// harmless. Records are synthetic: the store must keep them exactly, but
// does not verify their hashes or signatures.
func Run(t *testing.T, open func(t *testing.T) storage.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s storage.Store)
	}{
		{"AppendAndScan", testAppendAndScan},
		{"EmptyChain", testEmptyChain},
		{"EmptyAppend", testEmptyAppend},
		{"Conflicts", testConflicts},
		{"InvalidBatch", testInvalidBatch},
		{"BatchIsAtomic", testBatchIsAtomic},
		{"DuplicateIDInBatch", testDuplicateIDInBatch},
		{"TenantChains", testTenantChains},
		{"Get", testGet},
		{"GetByHash", testGetByHash},
		{"Scan", testScan},
		{"ScanManyPages", testScanManyPages},
		{"List", testList},
		{"Count", testCount},
		{"Chains", testChains},
		{"Canceled", testCanceled},
		{"Closed", testClosed},
		{"ConcurrentAppenders", testConcurrentAppenders},
		{"AppendBatches", testAppendBatches},
		{"Tree", testTree},
		{"TreeCheckpoints", testTreeCheckpoints},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

// appendOK appends recs and fails the test on error.
func appendOK(t *testing.T, s storage.Store, tenant string, recs ...storage.Record) {
	t.Helper()
	if err := s.Append(t.Context(), tenant, recs); err != nil {
		t.Fatalf("Append(%q, %d records from sequence %d): %v", tenant, len(recs), recs[0].Sequence, err)
	}
}

// grow appends n synthetic records to tenant's chain, in batches of at most
// batch, and returns them.
func grow(t *testing.T, s storage.Store, tenant string, n, batch int) []storage.Record {
	t.Helper()
	head := headOf(t, s, tenant)
	var all []storage.Record
	for len(all) < n {
		recs := Chain(tenant, head, min(batch, n-len(all)))
		appendOK(t, s, tenant, recs...)
		all = append(all, recs...)
		last := recs[len(recs)-1]
		head = storage.Head{Sequence: last.Sequence, Hash: last.Hash}
	}
	return all
}

func headOf(t *testing.T, s storage.Store, tenant string) storage.Head {
	t.Helper()
	h, err := s.Head(t.Context(), tenant)
	if err != nil {
		t.Fatalf("Head(%q): %v", tenant, err)
	}
	return h
}

// scanAll collects tenant's chain from sequence from.
func scanAll(t *testing.T, s storage.Store, tenant string, from int64) []storage.Record {
	t.Helper()
	var recs []storage.Record
	for r, err := range s.Scan(t.Context(), tenant, from) {
		if err != nil {
			t.Fatalf("Scan(%q, %d): %v", tenant, from, err)
		}
		recs = append(recs, r)
	}
	return recs
}

// sameRecords fails the test unless got and want hold the same records,
// byte for byte, in the same order.
func sameRecords(t *testing.T, what string, got, want []storage.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d records, want %d\ngot sequences %v\nwant %v", what, len(got), len(want), seqs(got), seqs(want))
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("%s: record %d differs\ngot  %s\nwant %s", what, i, show(got[i]), show(want[i]))
		}
	}
}

func seqs(recs []storage.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = fmt.Sprintf("%q/%d", r.Tenant, r.Sequence)
	}
	return out
}

func show(r storage.Record) string {
	d := r.Data
	r.Data = nil
	return fmt.Sprintf("%+v Data=%q", r, d)
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: error %v, want %v", what, err, target)
	}
}

func ptr[T any](v T) *T { return &v }

func testAppendAndScan(t *testing.T, s storage.Store) {
	genesis := NewRecord("", 0, "")
	appendOK(t, s, "", genesis)
	if h := headOf(t, s, ""); h != (storage.Head{Sequence: 0, Hash: genesis.Hash}) {
		t.Fatalf("Head after genesis = %+v, want {0 %s}", h, genesis.Hash)
	}
	one := NewRecord("", 1, genesis.Hash)
	appendOK(t, s, "", one)
	more := Chain("", storage.Head{Sequence: 1, Hash: one.Hash}, 3)
	appendOK(t, s, "", more...)
	want := append([]storage.Record{genesis, one}, more...)
	last := more[2]
	if h := headOf(t, s, ""); h != (storage.Head{Sequence: 4, Hash: last.Hash}) || h.Empty() {
		t.Fatalf("Head = %+v, want {4 %s}", h, last.Hash)
	}
	sameRecords(t, "Scan", scanAll(t, s, "", 0), want)
	n, err := s.Count(t.Context(), storage.Filter{})
	if err != nil || n != 5 {
		t.Fatalf("Count = %d, %v; want 5", n, err)
	}
	for _, w := range want {
		got, err := s.Get(t.Context(), w.ID, nil)
		if err != nil {
			t.Fatalf("Get(%s): %v", w.ID, err)
		}
		sameRecords(t, "Get", []storage.Record{got}, []storage.Record{w})
	}
}

func testEmptyChain(t *testing.T, s storage.Store) {
	for _, tenant := range []string{"", "a"} {
		h := headOf(t, s, tenant)
		if h != (storage.Head{Sequence: -1, Hash: ""}) || !h.Empty() {
			t.Fatalf("Head(%q) of an empty store = %+v, want {-1 \"\"}", tenant, h)
		}
		if recs := scanAll(t, s, tenant, 0); len(recs) != 0 {
			t.Fatalf("Scan(%q) of an empty store: %d records", tenant, len(recs))
		}
	}
	tenants, err := s.Tenants(t.Context())
	if err != nil || len(tenants) != 0 {
		t.Fatalf("Tenants of an empty store = %q, %v; want none", tenants, err)
	}
	n, err := s.Count(t.Context(), storage.Filter{})
	if err != nil || n != 0 {
		t.Fatalf("Count of an empty store = %d, %v", n, err)
	}
	list, err := s.List(t.Context(), storage.Filter{})
	if err != nil || len(list) != 0 {
		t.Fatalf("List of an empty store = %d records, %v", len(list), err)
	}
	_, err = s.Get(t.Context(), "00000000-0000-4000-8000-000000000000", nil)
	wantErr(t, "Get in an empty store", err, storage.ErrNotFound)
	_, err = s.Get(t.Context(), "0", nil)
	wantErr(t, "Get by prefix in an empty store", err, storage.ErrNotFound)
	_, err = s.GetByHash(t.Context(), randomHex(32), nil)
	wantErr(t, "GetByHash in an empty store", err, storage.ErrNotFound)
}

func testEmptyAppend(t *testing.T, s storage.Store) {
	if err := s.Append(t.Context(), "", nil); err != nil {
		t.Fatalf("Append of no records to an empty chain: %v", err)
	}
	recs := grow(t, s, "", 2, 2)
	if err := s.Append(t.Context(), "", []storage.Record{}); err != nil {
		t.Fatalf("Append of no records: %v", err)
	}
	sameRecords(t, "Scan", scanAll(t, s, "", 0), recs)
}

// assertUnchanged checks that tenant's chain is still exactly want.
func assertUnchanged(t *testing.T, s storage.Store, tenant string, want []storage.Record) {
	t.Helper()
	sameRecords(t, "chain after a rejected Append", scanAll(t, s, tenant, 0), want)
	n, err := s.Count(t.Context(), storage.Filter{Tenant: ptr(tenant)})
	if err != nil || n != int64(len(want)) {
		t.Fatalf("Count after a rejected Append = %d, %v; want %d", n, err, len(want))
	}
}

func testConflicts(t *testing.T, s storage.Store) {
	for _, tenant := range []string{"", "a"} {
		t.Run(fmt.Sprintf("tenant=%q", tenant), func(t *testing.T) {
			if tenant != "" {
				// Leave the null tenant's chain of the previous run as it is.
				prev := scanAll(t, s, "", 0)
				defer assertUnchanged(t, s, "", prev)
			}
			bad := NewRecord(tenant, 0, randomHex(32))
			err := s.Append(t.Context(), tenant, []storage.Record{bad})
			wantErr(t, "genesis with a previous_hash", err, storage.ErrConflict)
			bad = NewRecord(tenant, 1, randomHex(32))
			err = s.Append(t.Context(), tenant, []storage.Record{bad})
			wantErr(t, "sequence 1 on an empty chain", err, storage.ErrConflict)
			if recs := scanAll(t, s, tenant, 0); len(recs) != 0 {
				t.Fatalf("rejected genesis stored %d records", len(recs))
			}

			chain := grow(t, s, tenant, 3, 3)
			head := storage.Head{Sequence: 2, Hash: chain[2].Hash}
			cases := []struct {
				name string
				recs []storage.Record
			}{
				{"stale head: genesis again", Chain(tenant, storage.Head{Sequence: -1}, 1)},
				{"stale head: older link", Chain(tenant, storage.Head{Sequence: 0, Hash: chain[0].Hash}, 2)},
				{"duplicate sequence", []storage.Record{NewRecord(tenant, 2, chain[1].Hash)}},
				{"gap", []storage.Record{NewRecord(tenant, 4, chain[2].Hash)}},
				{"wrong previous_hash", []storage.Record{NewRecord(tenant, 3, chain[1].Hash)}},
				{"empty previous_hash", []storage.Record{NewRecord(tenant, 3, "")}},
				{"wrong previous_hash, batch", Chain(tenant, storage.Head{Sequence: 2, Hash: randomHex(32)}, 5)},
				{"negative sequence", []storage.Record{NewRecord(tenant, -1, "")}},
			}
			for _, c := range cases {
				err := s.Append(t.Context(), tenant, c.recs)
				wantErr(t, c.name, err, storage.ErrConflict)
				if h := headOf(t, s, tenant); h != head {
					t.Fatalf("%s: head moved to %+v", c.name, h)
				}
				sameRecords(t, c.name, scanAll(t, s, tenant, 0), chain)
			}
			// The chain still accepts its true next link.
			next := Chain(tenant, head, 2)
			appendOK(t, s, tenant, next...)
			sameRecords(t, "chain after the conflicts", scanAll(t, s, tenant, 0), append(chain, next...))
		})
	}
}

func testInvalidBatch(t *testing.T, s storage.Store) {
	chain := grow(t, s, "a", 2, 2)
	head := storage.Head{Sequence: 1, Hash: chain[1].Hash}
	gap := Chain("a", head, 3)
	gap[2] = NewRecord("a", 5, gap[1].Hash)
	unlinked := Chain("a", head, 3)
	unlinked[2] = NewRecord("a", 4, randomHex(32))
	otherTenant := Chain("a", head, 2)
	otherTenant[1].Tenant = "b"
	otherTenant[1] = refresh(otherTenant[1])
	cases := []struct {
		name string
		recs []storage.Record
	}{
		{"sequence gap inside the batch", gap},
		{"broken link inside the batch", unlinked},
		{"record of another tenant", otherTenant},
	}
	for _, c := range cases {
		err := s.Append(t.Context(), "a", c.recs)
		if err == nil || errors.Is(err, storage.ErrConflict) {
			t.Fatalf("%s: Append returned %v, want an error other than ErrConflict (retrying cannot help)", c.name, err)
		}
		sameRecords(t, c.name, scanAll(t, s, "a", 0), chain)
		if recs := scanAll(t, s, "b", 0); len(recs) != 0 {
			t.Fatalf("%s: %d records stored for tenant b", c.name, len(recs))
		}
	}
	// Without a null tenant's chain, Tenants leaves "" out.
	tenants, err := s.Tenants(t.Context())
	if err != nil || !slices.Equal(tenants, []string{"a"}) {
		t.Fatalf("Tenants = %q, %v; want [a]", tenants, err)
	}
}

func testBatchIsAtomic(t *testing.T, s storage.Store) {
	chain := grow(t, s, "", 3, 3)
	other := grow(t, s, "a", 1, 1)
	head := storage.Head{Sequence: 2, Hash: chain[2].Hash}
	for _, dup := range []string{chain[0].ID, other[0].ID} {
		// The batch extends the head, but its third record reuses the id
		// of a stored capsule: nothing of it may be stored.
		batch := Chain("", head, 4)
		batch[2].ID = dup
		batch[2] = refresh(batch[2])
		err := s.Append(t.Context(), "", batch)
		if err == nil || errors.Is(err, storage.ErrConflict) {
			// A duplicate id is no head conflict: retrying cannot help.
			t.Fatalf("Append of a batch reusing id %s returned %v, want an error other than ErrConflict", dup, err)
		}
		if h := headOf(t, s, ""); h != head {
			t.Fatalf("head moved to %+v after a failed batch", h)
		}
		sameRecords(t, "chain after a failed batch", scanAll(t, s, "", 0), chain)
		n, err := s.Count(t.Context(), storage.Filter{})
		if err != nil || n != 4 {
			t.Fatalf("Count after a failed batch = %d, %v; want 4", n, err)
		}
	}
	next := Chain("", head, 4)
	appendOK(t, s, "", next...)
	sameRecords(t, "chain", scanAll(t, s, "", 0), append(chain, next...))
}

// testDuplicateIDInBatch appends [a, b, a]: a batch whose third record
// reuses the id of its first. Nothing of it may be stored, and the error
// is no head conflict.
func testDuplicateIDInBatch(t *testing.T, s storage.Store) {
	chain := grow(t, s, "a", 1, 1)
	head := storage.Head{Sequence: 0, Hash: chain[0].Hash}
	batch := Chain("a", head, 3)
	batch[2].ID = batch[0].ID
	batch[2] = refresh(batch[2])
	err := s.Append(t.Context(), "a", batch)
	if err == nil || errors.Is(err, storage.ErrConflict) {
		t.Fatalf("Append of [a, b, a] returned %v, want an error other than ErrConflict", err)
	}
	if h := headOf(t, s, "a"); h != head {
		t.Fatalf("head moved to %+v after a batch with a duplicate id", h)
	}
	sameRecords(t, "chain after a batch with a duplicate id", scanAll(t, s, "a", 0), chain)
}

func testTenantChains(t *testing.T, s storage.Store) {
	chains := map[string][]storage.Record{}
	// Interleave the writes so each chain sees the others grow.
	for round := range 3 {
		for _, tenant := range []string{"b", "", "a"} {
			chains[tenant] = append(chains[tenant], grow(t, s, tenant, round+1, 2)...)
		}
	}
	for tenant, want := range chains {
		if len(want) != 6 {
			t.Fatalf("chain %q: wrote %d records", tenant, len(want))
		}
		last := want[len(want)-1]
		if h := headOf(t, s, tenant); h != (storage.Head{Sequence: 5, Hash: last.Hash}) {
			t.Fatalf("Head(%q) = %+v, want {5 %s}", tenant, h, last.Hash)
		}
		sameRecords(t, fmt.Sprintf("Scan(%q)", tenant), scanAll(t, s, tenant, 0), want)
		n, err := s.Count(t.Context(), storage.Filter{Tenant: ptr(tenant)})
		if err != nil || n != 6 {
			t.Fatalf("Count(tenant %q) = %d, %v; want 6", tenant, n, err)
		}
	}
	if h := headOf(t, s, "c"); !h.Empty() {
		t.Fatalf("Head of tenant c without records = %+v", h)
	}
	// A record's previous hash is only meaningful inside its own chain.
	err := s.Append(t.Context(), "a", []storage.Record{NewRecord("a", 6, chains["b"][5].Hash)})
	wantErr(t, "link to another tenant's head", err, storage.ErrConflict)
	tenants, err := s.Tenants(t.Context())
	if err != nil || !slices.Equal(tenants, []string{"", "a", "b"}) {
		t.Fatalf("Tenants = %q, %v; want [\"\" a b]", tenants, err)
	}

	// Tenants sort by bytes: "-" comes before "a".
	grow(t, s, "-", 1, 1)
	tenants, err = s.Tenants(t.Context())
	if err != nil || !slices.Equal(tenants, []string{"", "-", "a", "b"}) {
		t.Fatalf("Tenants = %q, %v; want [\"\" - a b]", tenants, err)
	}
}

func testGet(t *testing.T, s storage.Store) {
	ids := []struct{ tenant, id string }{
		{"", "abcdef01-0000-4000-8000-000000000001"},
		{"", "abcdef01-0000-4000-8000-000000000002"},
		{"a", "abcdef02-0000-4000-8000-000000000001"},
		{"b", "12345678-0000-4000-8000-000000000001"},
	}
	byID := map[string]storage.Record{}
	for _, x := range ids {
		r := Chain(x.tenant, headOf(t, s, x.tenant), 1)[0]
		r.ID = x.id
		r = refresh(r)
		appendOK(t, s, x.tenant, r)
		byID[x.id] = r
	}
	found := []struct {
		id     string
		tenant *string
		want   string
	}{
		{"abcdef01-0000-4000-8000-000000000001", nil, "abcdef01-0000-4000-8000-000000000001"},
		{"abcdef01-0000-4000-8000-000000000002", ptr(""), "abcdef01-0000-4000-8000-000000000002"},
		{"abcdef02-0000-4000-8000-000000000001", ptr("a"), "abcdef02-0000-4000-8000-000000000001"},
		{"abcdef02", nil, "abcdef02-0000-4000-8000-000000000001"},
		{"abcdef0", ptr("a"), "abcdef02-0000-4000-8000-000000000001"},
		{"12345678-0000-4000-8000-000000000001"[:35], ptr("b"), "12345678-0000-4000-8000-000000000001"}, // 35 chars is a prefix
		{"1", nil, "12345678-0000-4000-8000-000000000001"},
		{"1234", ptr("b"), "12345678-0000-4000-8000-000000000001"},
	}
	for _, f := range found {
		got, err := s.Get(t.Context(), f.id, f.tenant)
		if err != nil {
			t.Fatalf("Get(%q, %v): %v", f.id, f.tenant, err)
		}
		sameRecords(t, fmt.Sprintf("Get(%q)", f.id), []storage.Record{got}, []storage.Record{byID[f.want]})
	}
	ambiguous := []struct {
		id     string
		tenant *string
	}{
		{"abcdef01", nil},
		{"abcdef01-0000-4000-8000-00000000000", ptr("")},
		{"abcdef0", nil},
	}
	for _, a := range ambiguous {
		_, err := s.Get(t.Context(), a.id, a.tenant)
		wantErr(t, fmt.Sprintf("Get(%q)", a.id), err, storage.ErrAmbiguous)
	}
	notFound := []struct {
		id     string
		tenant *string
	}{
		{"abcdef01-0000-4000-8000-000000000003", nil},
		{"abcdef01-0000-4000-8000-000000000001", ptr("a")},                                // wrong tenant
		{"abcdef02-0000-4000-8000-000000000001", ptr("")},                                 // wrong tenant
		{"abcdef02", ptr("b")},                                                            // prefix, wrong tenant
		{"abcdef01", ptr("zz")},                                                           // no such tenant
		{"abcdef01-0000-4000-8000-0000000000010", nil},                                    // longer than an id
		{"ABCDEF02", nil},                                                                 // ids are case-sensitive
		{"%", nil}, {"_", nil}, {"abcdef0_", nil}, {"abcdef0%", nil}, {"abcdef02\\", nil}, // no pattern matching
		{"abcdef01-0000-4000-8000-00000000000_", nil},
		{"", nil}, {"", ptr("")}, // an empty id matches nothing
	}
	for _, n := range notFound {
		_, err := s.Get(t.Context(), n.id, n.tenant)
		wantErr(t, fmt.Sprintf("Get(%q, %v)", n.id, n.tenant), err, storage.ErrNotFound)
	}
}

func testGetByHash(t *testing.T, s storage.Store) {
	recs := map[string][]storage.Record{
		"":  grow(t, s, "", 3, 2),
		"a": grow(t, s, "a", 2, 2),
	}
	for tenant, chain := range recs {
		for _, want := range chain {
			for _, filter := range []*string{nil, ptr(tenant)} {
				got, err := s.GetByHash(t.Context(), want.Hash, filter)
				if err != nil {
					t.Fatalf("GetByHash(%s, %v): %v", want.Hash, filter, err)
				}
				sameRecords(t, "GetByHash", []storage.Record{got}, []storage.Record{want})
			}
			other := "a"
			if tenant == "a" {
				other = ""
			}
			_, err := s.GetByHash(t.Context(), want.Hash, ptr(other))
			wantErr(t, "GetByHash in another tenant", err, storage.ErrNotFound)
		}
	}
	_, err := s.GetByHash(t.Context(), randomHex(32), nil)
	wantErr(t, "GetByHash of an unknown hash", err, storage.ErrNotFound)
	_, err = s.GetByHash(t.Context(), recs[""][0].Hash[:10], nil)
	wantErr(t, "GetByHash of a hash prefix", err, storage.ErrNotFound)
}

func testScan(t *testing.T, s storage.Store) {
	chain := grow(t, s, "a", 10, 4)
	grow(t, s, "", 4, 4)
	grow(t, s, "b", 12, 12)
	for _, from := range []int64{0, 1, 5, 9} {
		sameRecords(t, fmt.Sprintf("Scan from %d", from), scanAll(t, s, "a", from), chain[from:])
	}
	for _, from := range []int64{10, 11, 1 << 40} {
		if recs := scanAll(t, s, "a", from); len(recs) != 0 {
			t.Fatalf("Scan from %d past the head: %d records", from, len(recs))
		}
	}
	sameRecords(t, "Scan from a negative sequence", scanAll(t, s, "a", -5), chain)

	// The consumer stops early; the store must stay usable, including for
	// writes, and a second scan must start over.
	for range 3 {
		var got []storage.Record
		for r, err := range s.Scan(t.Context(), "a", 2) {
			if err != nil {
				t.Fatalf("Scan: %v", err)
			}
			got = append(got, r)
			if len(got) == 3 {
				break
			}
		}
		sameRecords(t, "Scan with break", got, chain[2:5])
	}
	next := Chain("a", storage.Head{Sequence: 9, Hash: chain[9].Hash}, 1)
	appendOK(t, s, "a", next...)
	sameRecords(t, "Scan after break and append", scanAll(t, s, "a", 9), append(chain[9:10:10], next...))

	// A chain that grows during the scan: the scan may or may not see the
	// new records, but what it yields stays in order without duplicates.
	var got []storage.Record
	for r, err := range s.Scan(t.Context(), "a", 0) {
		if err != nil {
			t.Fatalf("Scan: %v", err)
		}
		if len(got) == 0 {
			last := next[0]
			appendOK(t, s, "a", Chain("a", storage.Head{Sequence: last.Sequence, Hash: last.Hash}, 2)...)
		}
		got = append(got, r)
	}
	for i, r := range got {
		if r.Sequence != int64(i) {
			t.Fatalf("Scan while appending: record %d has sequence %d", i, r.Sequence)
		}
	}
	if len(got) < 11 {
		t.Fatalf("Scan while appending yielded %d records, want at least 11", len(got))
	}
}

func testScanManyPages(t *testing.T, s storage.Store) {
	const n = 1500
	chain := grow(t, s, "", n, 250)
	other := grow(t, s, "p", 600, 300)
	sameRecords(t, "Scan of 1500 records", scanAll(t, s, "", 0), chain)
	sameRecords(t, "Scan of 1500 records from 700", scanAll(t, s, "", 700), chain[700:])
	sameRecords(t, "Scan of tenant p", scanAll(t, s, "p", 0), other)
	CheckChain(t.Context(), t, s, "", n)

	// Breaking out after more than one page.
	count := 0
	for _, err := range s.Scan(t.Context(), "", 0) {
		if err != nil {
			t.Fatalf("Scan: %v", err)
		}
		if count++; count == 1100 {
			break
		}
	}
	if count != 1100 {
		t.Fatalf("Scan stopped after %d records", count)
	}
}

// listFixture writes chains for the null tenant and tenants "a" and "b"
// with varied types, domains and sessions, and returns every record.
func listFixture(t *testing.T, s storage.Store) []storage.Record {
	var all []storage.Record
	for tenant, n := range map[string]int{"": 7, "a": 5, "b": 9} {
		head := storage.Head{Sequence: -1}
		for i := range n {
			r := NewRecord(tenant, head.Sequence+1, head.Hash)
			r.Type = []string{"agent", "tool", "chat"}[i%3]
			r.Domain = []string{"agents", "vault", "chat", "ops"}[(i+len(tenant))%4]
			r = refresh(r)
			appendOK(t, s, tenant, r)
			all = append(all, r)
			head = storage.Head{Sequence: r.Sequence, Hash: r.Hash}
		}
	}
	return all
}

// expectList is the reference implementation of List over all.
func expectList(all []storage.Record, f storage.Filter) []storage.Record {
	var out []storage.Record
	for _, r := range all {
		if (f.Tenant == nil || *f.Tenant == r.Tenant) &&
			(f.Type == "" || f.Type == r.Type) &&
			(f.Domain == "" || f.Domain == r.Domain) &&
			(f.SessionID == "" || f.SessionID == r.SessionID) &&
			(f.MaxSequence == nil || r.Sequence <= *f.MaxSequence) &&
			(f.MinSequence == nil || r.Sequence >= *f.MinSequence) {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b storage.Record) int {
		return cmp.Or(cmp.Compare(b.Sequence, a.Sequence), cmp.Compare(a.Tenant, b.Tenant))
	})
	out = out[min(int64(len(out)), f.Offset):]
	if f.Limit > 0 && f.Limit < len(out) {
		out = out[:f.Limit]
	}
	if f.MaxBytes > 0 {
		// Up to and including the record that brings the content read to
		// MaxBytes.
		var n int64
		for i, r := range out {
			if n += int64(len(r.Data)); n >= f.MaxBytes {
				return out[:i+1]
			}
		}
	}
	return out
}

// filters is the filter matrix List and Count are checked with.
func filters() []storage.Filter {
	var fs []storage.Filter
	tenants := []*string{nil, ptr(""), ptr("a"), ptr("b"), ptr("zz")}
	for _, tenant := range tenants {
		for _, typ := range []string{"", "tool", "vault"} {
			for _, domain := range []string{"", "chat"} {
				fs = append(fs, storage.Filter{Tenant: tenant, Type: typ, Domain: domain})
			}
		}
		fs = append(fs, storage.Filter{Tenant: tenant, SessionID: sessionIDs[1]})
		fs = append(fs, storage.Filter{Tenant: tenant, SessionID: sessionIDs[2], Type: "agent"})
		for _, lo := range [][2]int{{1, 0}, {3, 0}, {3, 2}, {0, 4}, {5, 19}, {100, 0}, {2, 1000}} {
			fs = append(fs, storage.Filter{Tenant: tenant, Limit: lo[0], Offset: int64(lo[1])})
			fs = append(fs, storage.Filter{Tenant: tenant, Domain: "vault", Limit: lo[0], Offset: int64(lo[1])})
		}
		// Bounded by content bytes (records of about 200 bytes): one
		// record whatever the bound, a few, and more than a page holds.
		for _, mo := range [][3]int{{1, 5, 0}, {450, 5, 0}, {450, 0, 3}, {1000, 20, 1}, {1 << 20, 100, 0}} {
			fs = append(fs, storage.Filter{Tenant: tenant, MaxBytes: int64(mo[0]), Limit: mo[1], Offset: int64(mo[2])})
			fs = append(fs, storage.Filter{Tenant: tenant, Type: "tool", MaxBytes: int64(mo[0]), Limit: mo[1], Offset: int64(mo[2])})
		}
		// Seeking by sequence, alone and with the other conditions.
		for _, seq := range []int64{-1, 0, 3, 6, 100} {
			fs = append(fs, storage.Filter{Tenant: tenant, MaxSequence: ptr(seq), Limit: 3})
			fs = append(fs, storage.Filter{Tenant: tenant, MaxSequence: ptr(seq), Type: "tool", Offset: 1})
			fs = append(fs, storage.Filter{Tenant: tenant, MaxSequence: ptr(seq), MaxBytes: 450, Limit: 5})
			fs = append(fs, storage.Filter{Tenant: tenant, MinSequence: ptr(seq), Limit: 4})
			fs = append(fs, storage.Filter{Tenant: tenant, MinSequence: ptr(seq - 2), MaxSequence: ptr(seq + 1), Type: "tool"})
		}
	}
	return fs
}

func describe(f storage.Filter) string {
	tenant := "nil"
	if f.Tenant != nil {
		tenant = fmt.Sprintf("%q", *f.Tenant)
	}
	maxSeq := "nil"
	if f.MaxSequence != nil {
		maxSeq = strconv.FormatInt(*f.MaxSequence, 10)
	}
	minSeq := "nil"
	if f.MinSequence != nil {
		minSeq = strconv.FormatInt(*f.MinSequence, 10)
	}
	return fmt.Sprintf("{Tenant:%s Type:%q Domain:%q SessionID:%q MinSequence:%s MaxSequence:%s Limit:%d Offset:%d MaxBytes:%d}",
		tenant, f.Type, f.Domain, f.SessionID, minSeq, maxSeq, f.Limit, f.Offset, f.MaxBytes)
}

func testList(t *testing.T, s storage.Store) {
	all := listFixture(t, s)
	nonEmpty := 0
	for _, f := range filters() {
		got, err := s.List(t.Context(), f)
		if err != nil {
			t.Fatalf("List(%s): %v", describe(f), err)
		}
		want := expectList(all, f)
		if len(want) > 0 {
			nonEmpty++
		}
		sameRecords(t, "List"+describe(f), got, want)
	}
	if nonEmpty < 40 {
		t.Fatalf("the filter matrix selects records in only %d cases", nonEmpty)
	}
	// Newest first, ties broken by tenant.
	got, err := s.List(t.Context(), storage.Filter{Limit: 4})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if g := seqs(got); !slices.Equal(g, []string{`"b"/8`, `"b"/7`, `""/6`, `"b"/6`}) {
		t.Fatalf("List order = %v", g)
	}
}

func testCount(t *testing.T, s storage.Store) {
	all := listFixture(t, s)
	for _, f := range filters() {
		got, err := s.Count(t.Context(), f)
		if err != nil {
			t.Fatalf("Count(%s): %v", describe(f), err)
		}
		f2 := f
		f2.Limit, f2.Offset, f2.MaxBytes = 0, 0, 0
		if want := int64(len(expectList(all, f2))); got != want {
			t.Fatalf("Count(%s) = %d, want %d", describe(f), got, want)
		}
	}
}

func testCanceled(t *testing.T, s storage.Store) {
	chain := grow(t, s, "", 2, 2)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	next := Chain("", storage.Head{Sequence: 1, Hash: chain[1].Hash}, 1)
	if err := s.Append(ctx, "", next); err == nil {
		t.Fatal("Append with a canceled context succeeded")
	}
	if _, err := s.Head(ctx, ""); err == nil {
		t.Fatal("Head with a canceled context succeeded")
	}
	var scanErr error
	for _, err := range s.Scan(ctx, "", 0) {
		if err != nil {
			scanErr = err
		}
	}
	if scanErr == nil {
		t.Fatal("Scan with a canceled context yielded no error")
	}
	sameRecords(t, "chain after canceled calls", scanAll(t, s, "", 0), chain)
	appendOK(t, s, "", next...)
}

func testClosed(t *testing.T, s storage.Store) {
	chain := grow(t, s, "", 1, 1)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ctx := t.Context()
	err := s.Append(ctx, "", Chain("", storage.Head{Sequence: 0, Hash: chain[0].Hash}, 1))
	wantErr(t, "Append after Close", err, storage.ErrClosed)
	_, err = s.Head(ctx, "")
	wantErr(t, "Head after Close", err, storage.ErrClosed)
	_, err = s.Get(ctx, chain[0].ID, nil)
	wantErr(t, "Get after Close", err, storage.ErrClosed)
	_, err = s.GetByHash(ctx, chain[0].Hash, nil)
	wantErr(t, "GetByHash after Close", err, storage.ErrClosed)
	_, err = s.List(ctx, storage.Filter{})
	wantErr(t, "List after Close", err, storage.ErrClosed)
	_, err = s.Count(ctx, storage.Filter{})
	wantErr(t, "Count after Close", err, storage.ErrClosed)
	_, err = s.Tenants(ctx)
	wantErr(t, "Tenants after Close", err, storage.ErrClosed)
	_, err = s.Chains(ctx)
	wantErr(t, "Chains after Close", err, storage.ErrClosed)
	yielded := 0
	for r, err := range s.Scan(ctx, "", 0) {
		yielded++
		if r.ID != "" {
			t.Fatalf("Scan after Close yielded a record")
		}
		wantErr(t, "Scan after Close", err, storage.ErrClosed)
	}
	if yielded != 1 {
		t.Fatalf("Scan after Close yielded %d times, want one error", yielded)
	}
}

func testConcurrentAppenders(t *testing.T, s storage.Store) {
	const writers, each = 8, 15
	ctx := t.Context()
	var mu sync.Mutex
	acked := map[string][]storage.Record{}
	var wg sync.WaitGroup
	errs := make(chan error, 2*writers)
	for i := range 2 * writers {
		tenant := []string{"", "c"}[i%2]
		wg.Go(func() {
			recs, err := AppendRetry(ctx, s, tenant, each)
			mu.Lock()
			acked[tenant] = append(acked[tenant], recs...)
			mu.Unlock()
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("writer: %v", err)
	}
	for _, tenant := range []string{"", "c"} {
		chain := CheckChain(ctx, t, s, tenant, writers*each)
		stored := map[string]storage.Record{}
		for _, r := range chain {
			stored[r.ID] = r
		}
		if len(acked[tenant]) != writers*each {
			t.Fatalf("tenant %q: %d appends acknowledged, want %d", tenant, len(acked[tenant]), writers*each)
		}
		for _, want := range acked[tenant] {
			got, ok := stored[want.ID]
			if !ok {
				t.Fatalf("tenant %q: acknowledged record %s (sequence %d) is missing", tenant, want.ID, want.Sequence)
			}
			sameRecords(t, "acknowledged record", []storage.Record{got}, []storage.Record{want})
		}
	}
}

// testAppendBatches: several chains in one call (through the store's
// MultiAppender, or one Append each); a batch that conflicts or that the
// store rejects (an id already stored) fails alone.
func testAppendBatches(t *testing.T, s storage.Store) {
	ctx := t.Context()
	a := grow(t, s, "a", 2, 2)
	b := grow(t, s, "", 1, 1)
	empty := storage.Head{Sequence: -1}
	headA := storage.Head{Sequence: a[1].Sequence, Hash: a[1].Hash}
	headB := storage.Head{Sequence: b[0].Sequence, Hash: b[0].Hash}
	nextA := Chain("a", headA, 3)
	stale := Chain("", storage.Head{Sequence: -1}, 1) // the null chain has a head already
	nextC := Chain("c", empty, 2)
	dup := Chain("d", empty, 1)
	dup[0].ID = a[0].ID
	dup[0] = refresh(dup[0])
	errs := storage.AppendBatches(ctx, s, []storage.Batch{
		{Tenant: "a", Records: nextA},
		{Tenant: "", Records: stale},
		{Tenant: "c", Records: nextC},
		{Tenant: "d", Records: dup},
	})
	if len(errs) != 4 {
		t.Fatalf("%d errors for 4 batches", len(errs))
	}
	if errors.Is(errs[1], storage.ErrNotAttempted) {
		errs[1] = storage.AppendBatches(ctx, s, []storage.Batch{{Tenant: "", Records: stale}})[0]
	}
	wantErr(t, "stale batch", errs[1], storage.ErrConflict)
	if errs[3] == nil || errors.Is(errs[3], storage.ErrConflict) {
		t.Fatalf("batch reusing a stored id: err = %v, want a non-conflict error", errs[3])
	}
	for i, retry := range []int{0, 2} {
		if errs[retry] != nil && !errors.Is(errs[retry], storage.ErrNotAttempted) {
			t.Fatalf("good batch %d: %v", i, errs[retry])
		}
	}
	// Retry what was not attempted, as the runtime does.
	var again []storage.Batch
	if errs[0] != nil {
		again = append(again, storage.Batch{Tenant: "a", Records: nextA})
	}
	if errs[2] != nil {
		again = append(again, storage.Batch{Tenant: "c", Records: nextC})
	}
	for _, err := range storage.AppendBatches(ctx, s, again) {
		if err != nil {
			t.Fatalf("retry: %v", err)
		}
	}
	sameRecords(t, "chain a", scanAll(t, s, "a", 0), append(a, nextA...))
	sameRecords(t, "null chain", scanAll(t, s, "", 0), b)
	sameRecords(t, "chain c", scanAll(t, s, "c", 0), nextC)
	sameRecords(t, "chain d", scanAll(t, s, "d", 0), nil)
	if h := headOf(t, s, ""); h != headB {
		t.Fatalf("null chain head %+v, want %+v", h, headB)
	}
	if errs := storage.AppendBatches(ctx, s, nil); len(errs) != 0 {
		t.Fatalf("no batches: %v", errs)
	}
}
