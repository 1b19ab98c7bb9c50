package nethttp_test

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capsule-go/capsule"
	"github.com/capsule-go/capsule/integrations/nethttp"
	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/storage/sqlite"
)

// TestVerifyChecksSignaturePQ: with WithPQPublicKey, verify at level
// signatures checks each capsule's ML-DSA-65 signature, as capsule verify
// does; without it, signature_pq is not checked.
func TestVerifyChecksSignaturePQ(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "capsules.db")
	c, err := capsule.Open(ctx, path, capsule.WithKeyDir(t.TempDir()), capsule.WithPostQuantum())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var sealed []protocol.Sealed
	for range 3 {
		s, err := c.Append(ctx, "", capsule.New(capsule.TypeAgent))
		if err != nil {
			t.Fatal(err)
		}
		sealed = append(sealed, s)
	}
	store, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	withPQ := serve(t, nethttp.Handler(store, nethttp.WithResolver(c.Resolver()), nethttp.WithPQPublicKey(c.PQPublicKey())))
	withoutPQ := serve(t, nethttp.Handler(store, nethttp.WithResolver(c.Resolver())))
	if got := get(t, withPQ, prefix+"/verify", http.StatusOK); !strings.Contains(got, `"valid":true`) {
		t.Fatalf("intact chain with the ML-DSA-65 key: %s", got)
	}

	// Another valid-looking ML-DSA-65 signature: capsule 2's, over its own hash.
	sqliteTamperer(path)(t, "", sealed[1].ID, "signature_pq", sealed[2].SignaturePQ)
	got := get(t, withPQ, prefix+"/verify", http.StatusOK)
	if !strings.Contains(got, `"valid":false`) || !strings.Contains(got, `"broken_sequence":1`) || !strings.Contains(got, "signature_pq") {
		t.Fatalf("swapped signature_pq with the ML-DSA-65 key: %s", got)
	}
	if got := get(t, withoutPQ, prefix+"/verify", http.StatusOK); !strings.Contains(got, `"valid":true`) {
		t.Fatalf("swapped signature_pq without the ML-DSA-65 key (not checked): %s", got)
	}
}
