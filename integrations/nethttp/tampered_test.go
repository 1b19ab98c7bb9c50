package nethttp_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/capsule-go/capsule/integrations/nethttp"
	"github.com/capsule-go/capsule/protocol"
)

// notJSON is the content a tampered row holds: not JSON at all.
const notJSON = `tampered {not json`

// unreadableEntry is the expected element of the list's "unreadable" array
// for rec, whose stored content is now data, at offset in the listing.
func unreadableEntry(t *testing.T, rec protocol.Sealed, data string, offset int) string {
	t.Helper()
	rec.Data = []byte(data)
	_, err := protocol.AppendSealed(nil, &rec)
	if err == nil {
		t.Fatalf("AppendSealed of %q succeeded", data)
	}
	return fmt.Sprintf(`{"id":%q,"sequence":%d,"tenant_id":%q,"type":%q,"hash":%q,"offset":%d,"error":%q}`,
		rec.ID, rec.Sequence, rec.Tenant, rec.Type, rec.Hash, offset, err.Error())
}

// One row whose content is not JSON: the list route still answers 200,
// with every other capsule of the page and the unreadable one named (id,
// sequence, tenant, type, hash, offset) in "unreadable", on one chain and across all.
func TestListTamperedRow(t *testing.T) {
	forBackends(t, func(t *testing.T, f *fixture) {
		var logs logBuffer
		srv := serve(t, nethttp.Handler(f.store, nethttp.WithLogger(logs.logger())))
		victim := f.chains[tenantB][1]
		f.tamper(t, tenantB, victim.ID, "data", notJSON)

		b := f.chains[tenantB]
		want := listPage(t, []protocol.Sealed{b[4], b[3], b[2], b[0]}, 5, 20, 0, -1, false,
			unreadableEntry(t, victim, notJSON, 3))
		if got := get(t, srv, prefix+"/?tenant_id="+tenantB, http.StatusOK); got != want {
			t.Errorf("list of the tampered chain:\n got %s\nwant %s", got, want)
		}

		// Every chain: the victim is at offset 11 (sequence 1 of tenant-b,
		// after the null tenant's and tenant-a's sequence 1).
		all := f.all()
		if all[11].ID != victim.ID {
			t.Fatalf("fixture order: offset 11 is %s, want %s", all[11].ID, victim.ID)
		}
		readable := append(append([]protocol.Sealed{}, all[10:11]...), all[12:15]...)
		want = listPage(t, readable, 15, 5, 10, -1, false, unreadableEntry(t, victim, notJSON, 11))
		if got := get(t, srv, prefix+"/?limit=5&offset=10", http.StatusOK); got != want {
			t.Errorf("list of every chain:\n got %s\nwant %s", got, want)
		}
		if !strings.Contains(logs.String(), "stored capsule is unreadable") || !strings.Contains(logs.String(), victim.ID) {
			t.Errorf("no log of the unreadable capsule:\n%s", logs.String())
		}
	})
}

// The explorer shows a tampered, unreadable row as broken: on the chain
// page (marked in place, the other capsules shown), on its own page, on
// the chains page, and on the verify page as the broken link.
func TestExplorerTamperedRow(t *testing.T) {
	forBackends(t, func(t *testing.T, f *fixture) {
		var logs logBuffer
		srv := serve(t, nethttp.Handler(f.store, nethttp.WithResolver(f.caps.Resolver()), nethttp.WithLogger(logs.logger())))
		victim := f.chains[tenantB][1]
		f.tamper(t, tenantB, victim.ID, "data", notJSON)

		body := htmlPage(t, srv, prefix+"/explore/chain?tenant_id=tenant-b", nil, http.StatusOK)
		mustContain(t, "chain page", body, "capsules 1–5 of 5", `<tr class="broken">`, "✗ unreadable",
			`href="capsule/`+victim.ID+`?tenant_id=tenant-b"`, `href="capsule/`+f.chains[tenantB][0].ID+`?tenant_id=tenant-b"`)
		if n := strings.Count(body, `<tr class="broken">`); n != 1 {
			t.Errorf("chain page: %d rows marked broken, want 1", n)
		}
		if i, j := strings.Index(body, f.chains[tenantB][2].ID), strings.Index(body, victim.ID); i < 0 || j < i ||
			strings.Index(body, f.chains[tenantB][0].ID) < j {
			t.Errorf("chain page: the unreadable capsule is not between sequences 2 and 0")
		}

		// Its own page says so, and leads to the verification.
		body = htmlPage(t, srv, prefix+"/explore/capsule/"+victim.ID+"?tenant_id=tenant-b", nil, http.StatusOK)
		mustContain(t, "capsule page", body, "✗ Unreadable capsule", victim.ID, `href="../verify?tenant_id=tenant-b">Verify the chain`)

		body = htmlPage(t, srv, prefix+"/explore/verify?tenant_id=tenant-b", nil, http.StatusOK)
		mustContain(t, "verify page", body, "✗ Chain broken at sequence 1", "1 capsules before it verified",
			`<tr class="broken">`, "✗ broken link", `href="capsule/`+victim.ID+`?tenant_id=tenant-b">Open the broken capsule`)
		if n := strings.Count(body, `<tr class="broken">`); n != 1 {
			t.Errorf("verify page: %d rows marked broken, want 1", n)
		}

		// The head of a chain unreadable: the chains page still lists it.
		head := f.chains[tenantA][6]
		f.tamper(t, tenantA, head.ID, "data", notJSON)
		body = htmlPage(t, srv, prefix+"/explore/", nil, http.StatusOK)
		mustContain(t, "chains page", body, "Chains 1–3 of 3", `href="chain?tenant_id=tenant-a"`, "#6", head.Hash[:16]+"…")
		body = htmlPage(t, srv, prefix+"/explore/verify?tenant_id=tenant-a", nil, http.StatusOK)
		mustContain(t, "verify page of a chain with an unreadable head", body, "✗ Chain broken at sequence 6", `<tr class="broken">`)
	})
}

// A row moved to sequence -1 is reported by the verify route and page,
// named, rather than skipped (the chain then read as one capsule
// shorter, and valid).
func TestVerifyNegativeSequence(t *testing.T) {
	forBackends(t, func(t *testing.T, f *fixture) {
		srv := serve(t, nethttp.Handler(f.store, nethttp.WithResolver(f.caps.Resolver())))
		head := f.chains[tenantA][6]
		f.tamper(t, tenantA, head.ID, "sequence", "-1")
		body := get(t, srv, prefix+"/verify?tenant_id="+tenantA, http.StatusOK)
		want := `{"valid":false,"level":"signatures","capsules_verified":0,"chains_verified":0,"complete":true,"tenant_id":"tenant-a",` +
			`"error":"capsule ` + head.ID + ` has a negative sequence -1: no chain has a position below 0",` +
			`"broken_at":"` + head.ID + `","broken_sequence":-1,"broken_tenant_id":"tenant-a"}`
		if body != want {
			t.Errorf("verify of a chain with a row at -1:\n got %s\nwant %s", body, want)
		}
		page := htmlPage(t, srv, prefix+"/explore/verify?tenant_id=tenant-a", nil, http.StatusOK)
		mustContain(t, "verify page", page, "✗ Chain broken at sequence -1", `<tr class="broken">`, "negative sequence -1")
	})
}
