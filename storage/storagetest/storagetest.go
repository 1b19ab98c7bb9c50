// Package storagetest holds the contract test suite of [storage.Store]:
// every backend, including one written outside this module, runs [Run]
// from its tests. It also exports the helpers the suite uses to write and
// check chains, for backend-specific tests such as writers in several
// processes.
package storagetest

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/storage"
)

// Run runs the contract suite, one subtest per behaviour. open must return
// a new, empty store each time it is called and close it when t ends
// (t.Cleanup); the suite may close it earlier, so closing it again must be
// harmless. Records are synthetic: the store must keep them exactly, but
// does not verify their hashes or signatures.
func Run(t *testing.T, open func(t *testing.T) storage.Store) {
	runSubtests(t, open, []subtest[storage.Store]{
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
	})
}

// subtest is one behaviour of a suite, checked on what the suite's
// argument function gives it.
type subtest[A any] struct {
	name string
	fn   func(t *testing.T, a A)
}

// runSubtests runs each of tests as a subtest of t, on arg(t).
func runSubtests[A any](t *testing.T, arg func(t *testing.T) A, tests []subtest[A]) {
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, arg(t))
		})
	}
}

// appendOK appends recs and fails the test on error.
func appendOK(t *testing.T, s storage.Store, tenant string, recs ...protocol.Sealed) {
	t.Helper()
	if err := s.Append(t.Context(), tenant, recs); err != nil {
		t.Fatalf("Append(%q, %d records from sequence %d): %v", tenant, len(recs), recs[0].Sequence, err)
	}
}

// grow appends n synthetic records to tenant's chain, in batches of at most
// batch, and returns them.
func grow(t *testing.T, s storage.Store, tenant string, n, batch int) []protocol.Sealed {
	t.Helper()
	head := headOf(t, s, tenant)
	var all []protocol.Sealed
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
func scanAll(t *testing.T, s storage.Store, tenant string, from int64) []protocol.Sealed {
	t.Helper()
	var recs []protocol.Sealed
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
func sameRecords(t *testing.T, what string, got, want []protocol.Sealed) {
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

func seqs(recs []protocol.Sealed) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = fmt.Sprintf("%q/%d", r.Tenant, r.Sequence)
	}
	return out
}

func show(r protocol.Sealed) string {
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
