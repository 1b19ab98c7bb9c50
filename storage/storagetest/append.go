package storagetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/storage"
)

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
	want := append([]protocol.Sealed{genesis, one}, more...)
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
		sameRecords(t, "Get", []protocol.Sealed{got}, []protocol.Sealed{w})
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
	if err := s.Append(t.Context(), "", []protocol.Sealed{}); err != nil {
		t.Fatalf("Append of no records: %v", err)
	}
	sameRecords(t, "Scan", scanAll(t, s, "", 0), recs)
}

// assertUnchanged checks that tenant's chain is still exactly want.
func assertUnchanged(t *testing.T, s storage.Store, tenant string, want []protocol.Sealed) {
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
			err := s.Append(t.Context(), tenant, []protocol.Sealed{bad})
			wantErr(t, "genesis with a previous_hash", err, storage.ErrConflict)
			bad = NewRecord(tenant, 1, randomHex(32))
			err = s.Append(t.Context(), tenant, []protocol.Sealed{bad})
			wantErr(t, "sequence 1 on an empty chain", err, storage.ErrConflict)
			if recs := scanAll(t, s, tenant, 0); len(recs) != 0 {
				t.Fatalf("rejected genesis stored %d records", len(recs))
			}

			chain := grow(t, s, tenant, 3, 3)
			head := storage.Head{Sequence: 2, Hash: chain[2].Hash}
			cases := []struct {
				name string
				recs []protocol.Sealed
			}{
				{"stale head: genesis again", Chain(tenant, storage.Head{Sequence: -1}, 1)},
				{"stale head: older link", Chain(tenant, storage.Head{Sequence: 0, Hash: chain[0].Hash}, 2)},
				{"duplicate sequence", []protocol.Sealed{NewRecord(tenant, 2, chain[1].Hash)}},
				{"gap", []protocol.Sealed{NewRecord(tenant, 4, chain[2].Hash)}},
				{"wrong previous_hash", []protocol.Sealed{NewRecord(tenant, 3, chain[1].Hash)}},
				{"empty previous_hash", []protocol.Sealed{NewRecord(tenant, 3, "")}},
				{"wrong previous_hash, batch", Chain(tenant, storage.Head{Sequence: 2, Hash: randomHex(32)}, 5)},
				{"negative sequence", []protocol.Sealed{NewRecord(tenant, -1, "")}},
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
		recs []protocol.Sealed
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
	chains := map[string][]protocol.Sealed{}
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
	err := s.Append(t.Context(), "a", []protocol.Sealed{NewRecord("a", 6, chains["b"][5].Hash)})
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

func testConcurrentAppenders(t *testing.T, s storage.Store) {
	const writers, each = 8, 15
	ctx := t.Context()
	var mu sync.Mutex
	acked := map[string][]protocol.Sealed{}
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
		stored := map[string]protocol.Sealed{}
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
			sameRecords(t, "acknowledged record", []protocol.Sealed{got}, []protocol.Sealed{want})
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
