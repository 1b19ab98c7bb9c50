package nethttp_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/capsule-go/capsule/checkpoint"
	"github.com/capsule-go/capsule/integrations/nethttp"
	"github.com/capsule-go/capsule/logtree"
	"github.com/capsule-go/capsule/proof"
	"github.com/capsule-go/capsule/storage"
)

// GET {prefix}/{id}/proof answers a C2SP tlog-proof that verifies offline
// (and with tlog.CheckRecord) against the kept checkpoint, or one the
// handler signs; with the tenant binding of the other routes.
func TestProofRoute(t *testing.T) {
	forBackends(t, func(t *testing.T, f *fixture) {
		signer := f.caps.Signer().(checkpoint.MessageSigner)
		a := f.chains[tenantA]
		// No checkpoint kept, no signer: 404.
		plain := serve(t, nethttp.Handler(f.store))
		if body := get(t, plain, prefix+"/"+a[1].ID+"/proof", http.StatusNotFound); body != `{"error":"no checkpoint includes this capsule yet"}` {
			t.Fatalf("proof without checkpoint: %s", body)
		}
		get(t, plain, prefix+"/nothex/proof", http.StatusBadRequest)
		get(t, plain, prefix+"/"+a[1].ID+"/proof?tenant_id="+tenantB, http.StatusNotFound)

		// A kept checkpoint of tenant A's chain.
		signed, err := f.caps.Checkpoint(t.Context(), tenantA)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.store.(storage.TreeStore).SaveCheckpoint(t.Context(), tenantA, signed); err != nil {
			t.Fatal(err)
		}
		checkProof := func(srv string, body string, rec int) {
			t.Helper()
			p, err := proof.Parse([]byte(body))
			if err != nil {
				t.Fatalf("%s: %v\n%s", srv, err, body)
			}
			origin := strings.SplitN(string(p.Checkpoint), "\n", 2)[0]
			v, err := checkpoint.LogVerifier(origin, signer.PublicKey())
			if err != nil {
				t.Fatal(err)
			}
			res, err := proof.Verify(p, proof.Policy{Log: v, LogKey: signer.PublicKey()})
			if err != nil {
				t.Fatalf("%s: %v", srv, err)
			}
			leaf, _ := logtree.Leaf(res.Capsule.Hash)
			if err := tlog.CheckRecord(p.Inclusion, res.Checkpoint.Size, res.Checkpoint.Root, p.Index, leaf); err != nil || p.Index != int64(rec) {
				t.Fatalf("%s: tlog.CheckRecord: %v (index %d)", srv, err, p.Index)
			}
		}
		r := do(t, plain, http.MethodGet, prefix+"/"+a[1].ID+"/proof", nil)
		if r.status != http.StatusOK || r.header.Get("Content-Type") != "text/plain; charset=utf-8" || r.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("proof: %d %v %s", r.status, r.header, r.body)
		}
		if !bytes.Contains([]byte(r.body), signed) {
			t.Fatalf("the proof does not carry the kept checkpoint verbatim:\n%s", r.body)
		}
		checkProof("kept", r.body, 1)
		// The explorer's capsule page shows that checkpoint and links the proof.
		page := htmlPage(t, plain, prefix+"/explore/capsule/"+a[1].ID, nil, http.StatusOK)
		if !strings.Contains(page, "capsule/t/"+tenantA) || !strings.Contains(page, `href="../../`+a[1].ID+`/proof"`) ||
			!strings.Contains(page, "none: the checkpoint is signed by the log alone") {
			t.Fatalf("capsule page lacks the checkpoint:\n%s", page)
		}
		if page := htmlPage(t, plain, prefix+"/explore/capsule/"+f.chains[tenantN][0].ID, nil, http.StatusOK); !strings.Contains(page, "no checkpoint includes this capsule yet") {
			t.Fatalf("capsule page of an unwitnessed chain:\n%s", page)
		}

		// A cosigned checkpoint's witnesses are named on the page.
		signedB, err := f.caps.Checkpoint(t.Context(), tenantB)
		if err != nil {
			t.Fatal(err)
		}
		cosigned := append(signedB, "— witness.example/w1 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"...)
		if err := f.store.(storage.TreeStore).SaveCheckpoint(t.Context(), tenantB, cosigned); err != nil {
			t.Fatal(err)
		}
		if page := htmlPage(t, plain, prefix+"/explore/capsule/"+f.chains[tenantB][0].ID, nil, http.StatusOK); !strings.Contains(page, `<span class="mono">witness.example/w1</span>`) {
			t.Fatalf("capsule page lacks the witness:\n%s", page)
		}

		// Bound to tenant B, tenant A's capsule does not exist.
		bound := serve(t, nethttp.Handler(f.store, nethttp.WithTenantFunc(headerTenant)))
		if r := do(t, bound, http.MethodGet, prefix+"/"+a[1].ID+"/proof", http.Header{"X-Tenant": {tenantB}}); r.status != http.StatusNotFound {
			t.Fatalf("another tenant's proof: %d %s", r.status, r.body)
		}
		if r := do(t, bound, http.MethodGet, prefix+"/"+a[1].ID+"/proof", nil); r.status != http.StatusUnauthorized {
			t.Fatalf("unauthenticated proof: %d %s", r.status, r.body)
		}
		if r := do(t, bound, http.MethodGet, prefix+"/"+a[1].ID+"/proof", http.Header{"X-Tenant": {tenantA}}); r.status != http.StatusOK {
			t.Fatalf("own proof: %d %s", r.status, r.body)
		}

		// With a signer, a chain without a kept checkpoint is proven too.
		signing := serve(t, nethttp.Handler(f.store, nethttp.WithCheckpointSigner(signer)))
		n := f.chains[tenantN]
		r = do(t, signing, http.MethodGet, prefix+"/"+n[len(n)-1].ID+"/proof", nil)
		if r.status != http.StatusOK {
			t.Fatalf("signed proof: %d %s", r.status, r.body)
		}
		checkProof("signed", r.body, len(n)-1)
	})
}
