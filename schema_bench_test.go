package capsule

import (
	"testing"

	"github.com/capsule-go/capsule/protocol/canonical"
)

// BenchmarkFromContent measures the decoder: the "full" fixture's content
// dict read into a Capsule.
func BenchmarkFromContent(b *testing.B) {
	f := loadFixtures(b)[1] // "full"
	v, err := canonical.Parse(f.CapsuleDict)
	if err != nil {
		b.Fatal(err)
	}
	m := v.(map[string]any)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := FromContent(m); err != nil {
			b.Fatal(err)
		}
	}
}
