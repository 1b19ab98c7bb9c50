package nethttp_test

import (
	"crypto/ed25519"
	"encoding/hex"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/capsule-go/capsule/integrations/nethttp"
	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/protocol/canonical"
)

// legacyDir holds a chain the Python reference sealed as qp-capsule 1.5.2
// did, without spec_version in its content.
const legacyDir = "../../testdata/interop/python-legacy"

// legacyChain returns the records of the legacy chain for tenant, and the
// key that signed them.
func legacyChain(t *testing.T, tenant string) ([]protocol.Sealed, ed25519.PublicKey) {
	t.Helper()
	b, err := os.ReadFile(legacyDir + "/chain.json")
	if err != nil {
		t.Fatal(err)
	}
	v, err := canonical.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	var recs []protocol.Sealed
	for _, e := range v.([]any) {
		rec, err := protocol.ParseSealed(e.(map[string]any), tenant)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	pubHex, err := os.ReadFile(legacyDir + "/public_key.hex")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := hex.DecodeString(strings.TrimSpace(string(pubHex)))
	if err != nil {
		t.Fatal(err)
	}
	return recs, ed25519.PublicKey(pub)
}

// Records sealed before spec_version existed verify through the verify
// route and the explorer, and read through the list, capsule and explorer
// routes as stored, without the field; spec_version filled into a stored
// document afterwards breaks the chain there.
func TestLegacyChainRoutes(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			store, tamper := b.open(t)
			const tenant = "site-1"
			recs, pub := legacyChain(t, tenant)
			if err := store.Append(t.Context(), tenant, recs); err != nil {
				t.Fatal(err)
			}
			srv := serve(t, nethttp.Handler(store, nethttp.WithResolver(protocol.StaticKey(pub))))

			for _, level := range []string{"structural", "full", "signatures"} {
				body := get(t, srv, prefix+"/verify?tenant_id="+tenant+"&level="+level, http.StatusOK)
				mustContain(t, "verify "+level, body, `"valid":true`, `"capsules_verified":12`)
			}
			page := htmlPage(t, srv, prefix+"/explore/verify?tenant_id="+tenant, nil, http.StatusOK)
			mustContain(t, "explorer verify", page, "✓ Chain valid", "12 of 12 capsules verified at level signatures")

			list := get(t, srv, prefix+"/?tenant_id="+tenant+"&limit=100", http.StatusOK)
			if want := listBody(t, reversed(recs), 12, 100, 0); list != want {
				t.Errorf("list:\n%s\nwant\n%s", list, want)
			}
			one := get(t, srv, prefix+"/"+recs[5].ID, http.StatusOK)
			if one != sealed(t, recs[5]) {
				t.Errorf("capsule route:\n%s\nwant\n%s", one, sealed(t, recs[5]))
			}
			page = htmlPage(t, srv, prefix+"/explore/capsule/"+recs[5].ID+"?tenant_id="+tenant, nil, http.StatusOK)
			mustContain(t, "explorer capsule", page, recs[5].ID, recs[5].Hash)
			for what, body := range map[string]string{"list": list, "capsule": one, "explorer capsule": page} {
				if strings.Contains(body, "spec_version") {
					t.Errorf("%s shows spec_version", what)
				}
			}

			// The model default filled in after sealing.
			victim := recs[3]
			tamper(t, tenant, victim.ID, "data", strings.Replace(string(victim.Data), `"sequence":3,`, `"sequence":3,"spec_version":"1.0",`, 1))
			body := get(t, srv, prefix+"/verify?tenant_id="+tenant, http.StatusOK)
			mustContain(t, "verify after spec_version was filled in", body, `"valid":false`, `"capsules_verified":3`, `"broken_at":"`+victim.ID+`"`, "hash mismatch")
		})
	}
}
