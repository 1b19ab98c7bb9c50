package canonical

import (
	"testing"
	"time"
)

func fullFixture(b *testing.B) []byte {
	for _, fx := range loadFixtures(b) {
		if fx.Name == "full" {
			return fx.CapsuleDict
		}
	}
	b.Fatal("no full fixture")
	return nil
}

// BenchmarkCanonicalizeContent measures CanonicalizeContent on the "full"
// fixture, as Python would have written it (indented, insertion order).
func BenchmarkCanonicalizeContent(b *testing.B) {
	data := fullFixture(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := CanonicalizeContent(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendCanonicalContent is the same into a reused buffer, as a
// verifier walking a chain does.
func BenchmarkAppendCanonicalContent(b *testing.B) {
	benchmarkAppendCanonicalContent(b, fullFixture(b))
}

// BenchmarkAppendCanonicalContentSorted canonicalizes content that is
// already canonical (compact, sorted): no member is moved.
func BenchmarkAppendCanonicalContentSorted(b *testing.B) {
	var data []byte
	for _, fx := range loadFixtures(b) {
		if fx.Name == "full" {
			data = []byte(fx.CanonicalJSON)
		}
	}
	benchmarkAppendCanonicalContent(b, data)
}

// benchmarkAppendCanonicalContent canonicalizes data into a reused buffer.
func benchmarkAppendCanonicalContent(b *testing.B, data []byte) {
	buf := make([]byte, 0, 4*len(data))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = AppendCanonicalContent(buf[:0], data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseAppendContent measures the tree path: Parse, then
// AppendContent into a reused buffer.
func BenchmarkParseAppendContent(b *testing.B) {
	data := fullFixture(b)
	buf := make([]byte, 0, 4*len(data))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		v, err := Parse(data)
		if err != nil {
			b.Fatal(err)
		}
		if buf, err = AppendContent(buf[:0], v.(map[string]any)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendContent measures writing an already built content map, as
// the runtime does when it seals a capsule.
func BenchmarkAppendContent(b *testing.B) {
	v, err := Parse(fullFixture(b))
	if err != nil {
		b.Fatal(err)
	}
	m := v.(map[string]any)
	buf := make([]byte, 0, 8192)
	b.ReportAllocs()
	for b.Loop() {
		if buf, err = AppendContent(buf[:0], m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendFloat(b *testing.B) {
	values := []float64{0.95, 4e-05, 0.30000000000000004, 1.0 / 3, 123456.789, 1e16, 5.0, 1.5e-07}
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		buf, _ = AppendFloat(buf[:0], values[i%len(values)])
	}
}

func BenchmarkAppendString(b *testing.B) {
	values := []string{
		"Deploy the new configuration to the production cluster after validation",
		"naïve café 日本語 😀 </script>&",
		"line one\nline two\t\"quoted\" \\ back",
	}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		buf, _ = AppendString(buf[:0], values[i%len(values)])
	}
}

func BenchmarkAppendTimestamp(b *testing.B) {
	t := time.Date(2026, 6, 15, 8, 30, 45, 123456789, time.UTC)
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendTimestamp(buf[:0], t)
	}
}
