package storagetest

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"testing"

	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/storage"
)

func testGet(t *testing.T, s storage.Store) {
	ids := []struct{ tenant, id string }{
		{"", "abcdef01-0000-4000-8000-000000000001"},
		{"", "abcdef01-0000-4000-8000-000000000002"},
		{"a", "abcdef02-0000-4000-8000-000000000001"},
		{"b", "12345678-0000-4000-8000-000000000001"},
	}
	byID := map[string]protocol.Sealed{}
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
		sameRecords(t, fmt.Sprintf("Get(%q)", f.id), []protocol.Sealed{got}, []protocol.Sealed{byID[f.want]})
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
	recs := map[string][]protocol.Sealed{
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
				sameRecords(t, "GetByHash", []protocol.Sealed{got}, []protocol.Sealed{want})
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
		var got []protocol.Sealed
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
	var got []protocol.Sealed
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
func listFixture(t *testing.T, s storage.Store) []protocol.Sealed {
	var all []protocol.Sealed
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
func expectList(all []protocol.Sealed, f storage.Filter) []protocol.Sealed {
	var out []protocol.Sealed
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
	slices.SortFunc(out, func(a, b protocol.Sealed) int {
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
