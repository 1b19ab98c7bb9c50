package nethttp_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/capsule-go/capsule"
	"github.com/capsule-go/capsule/integrations/nethttp"
)

// The capsule page names its chain in the breadcrumb even when opened
// without tenant_id, and links previous_hash and parent_id to those
// capsules.
func TestExplorerCapsuleLinks(t *testing.T) {
	forBackends(t, func(t *testing.T, f *fixture) {
		srv := serve(t, nethttp.Handler(f.store))
		a := f.chains[tenantA]
		body := htmlPage(t, srv, prefix+"/explore/capsule/"+a[2].ID, nil, http.StatusOK)
		mustContain(t, "capsule page without tenant_id", body,
			`<nav class="crumbs" aria-label="Breadcrumb"><a href="../">Chains</a><span class="sep">›</span><a href="../chain?tenant_id=tenant-a">tenant-a</a>`,
			`<dt>previous_hash</dt><dd class="v-text"><a href="../capsule/`+a[1].ID+`?tenant_id=tenant-a">`+a[1].Hash+`</a></dd>`)
		// The genesis capsule's previous_hash is null: no link.
		body = htmlPage(t, srv, prefix+"/explore/capsule/"+a[0].ID+"?tenant_id=tenant-a", nil, http.StatusOK)
		mustContain(t, "genesis capsule", body, `<dt>previous_hash</dt><dd class="v-null">null</dd>`)

		child := capsule.New(capsule.TypeTool)
		child.ParentID = a[3].ID
		sealed, err := f.caps.Append(t.Context(), "child", child)
		if err != nil {
			t.Fatal(err)
		}
		body = htmlPage(t, srv, prefix+"/explore/capsule/"+sealed.ID, nil, http.StatusOK)
		mustContain(t, "child capsule", body,
			`<a href="../chain?tenant_id=child">child</a>`,
			`<dt>parent_id</dt><dd class="v-text"><a href="../capsule/`+a[3].ID+`">`+a[3].ID+`</a></dd>`)
	})
}

// The verify page pages through every capsule it verified, each marked.
func TestExplorerVerifyAll(t *testing.T) {
	forBackends(t, func(t *testing.T, f *fixture) {
		srv := serve(t, nethttp.Handler(f.store))
		a := f.chains[tenantA]
		body := htmlPage(t, srv, prefix+"/explore/verify?tenant_id=tenant-a", nil, http.StatusOK)
		mustContain(t, "verify page", body, `href="verify?limit=50&amp;tenant_id=tenant-a">Show all 7 capsules verified</a>`)
		body = htmlPage(t, srv, prefix+"/explore/verify?tenant_id=tenant-a&limit=3&offset=3", nil, http.StatusOK)
		mustContain(t, "second page of the capsules verified", body, "Capsules verified, newest first: 4–6 of 7",
			`href="./verify?limit=3&amp;tenant_id=tenant-a">← Newer</a>`, `href="./verify?limit=3&amp;offset=6&amp;tenant_id=tenant-a">Older →</a>`)
		for i, c := range a {
			shown := strings.Contains(body, `href="capsule/`+c.ID+`?tenant_id=tenant-a"`)
			if want := i >= 1 && i <= 3; shown != want {
				t.Errorf("capsule at sequence %d shown: %v, want %v", i, shown, want)
			}
		}
		if n := strings.Count(body, `<span class="ok">✓</span>`); n != 3 {
			t.Errorf("%d capsules marked verified, want 3", n)
		}
		// The list route's bound applies.
		body = htmlPage(t, srv, prefix+"/explore/verify?tenant_id=tenant-a&limit=101", nil, http.StatusBadRequest)
		mustContain(t, "too many", body, fmt.Sprint("limit must be an integer from 1 to 100"))
	})
}
