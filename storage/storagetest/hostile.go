package storagetest

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/storage"
)

// HostileTenants are tenant ids no backend can hold (see
// [protocol.CheckTenant]): a NUL, invalid UTF-8, and more than
// [protocol.MaxTenantBytes] bytes.
var HostileTenants = []string{"a\x00b", "\x00", "bad\xffutf8", "\xc3", strings.Repeat("t", protocol.MaxTenantBytes+1)}

// CheckHostileTenants checks that s refuses every one of [HostileTenants]
// alone, as a rejected batch rather than a store that is down: Head
// answers (an empty chain) or fails wrapping [storage.ErrRejected], Append
// fails wrapping ErrRejected, and in an AppendBatches beside an honest
// batch the honest one is stored (or not attempted, and stored when tried
// again) while the hostile one is rejected.
func CheckHostileTenants(t *testing.T, s storage.Store) {
	ctx := t.Context()
	for i, tenant := range HostileTenants {
		name := fmt.Sprintf("%.12q", tenant)
		if _, err := s.Head(ctx, tenant); err != nil && !errors.Is(err, storage.ErrRejected) {
			t.Errorf("Head(%s): %v, want an empty chain or ErrRejected", name, err)
		}
		recs := Chain(tenant, storage.Head{Sequence: -1}, 2)
		if err := s.Append(ctx, tenant, recs); !errors.Is(err, storage.ErrRejected) {
			t.Errorf("Append(%s): %v, want ErrRejected", name, err)
		}
		honest := fmt.Sprintf("honest-%d", i)
		good := Chain(honest, storage.Head{Sequence: -1}, 2)
		errs := storage.AppendBatches(ctx, s, []storage.Batch{{Tenant: honest, Records: good}, {Tenant: tenant, Records: recs}})
		if !errors.Is(errs[1], storage.ErrRejected) {
			t.Errorf("AppendBatches: hostile tenant %s: %v, want ErrRejected", name, errs[1])
		}
		if errors.Is(errs[0], storage.ErrNotAttempted) {
			errs[0] = s.Append(ctx, honest, good)
		}
		if errs[0] != nil {
			t.Errorf("AppendBatches: honest tenant beside %s: %v", name, errs[0])
		}
		sameRecords(t, "honest chain", scanAll(t, s, honest, 0), good)
	}
}
