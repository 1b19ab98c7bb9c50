package cli

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"

	"github.com/capsule-go/capsule"
	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/protocol/canonical"
)

// FuzzValueReader feeds arbitrary bytes to the reader `capsule seal` and
// `capsule verify FILE` use: it must end (EOF or an error) without
// panicking, never return more than the size limit, and every element it
// returns that the canonical parser accepts is valid JSON; an element read
// as sealed capsule or content never panics the runtime either.
func FuzzValueReader(f *testing.F) {
	for _, s := range []string{
		`[]`, `[{"a":1}]`, `{"a":1}`, "{\"a\":1}\n{\"b\":2}\n", `[{"a":[1,2,{"b":"]"}]} , {"c":"\"}"}]`,
		`[{"id":"x"},]`, `[`, `]`, `[{"a":1}]garbage`, `"str"`, `[1,2,3]`, "\xef\xbb\xbf[{}]",
		`{"type":"tool","trigger":{"request":"r"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit = 4096
		vr := NewValueReader(bytes.NewReader(data), limit)
		for i := 0; i <= len(data)+1; i++ {
			raw, err := vr.Next()
			if err == io.EOF || err != nil {
				return
			}
			if len(raw) > limit {
				t.Fatalf("element of %d bytes over the %d limit", len(raw), limit)
			}
			v, err := canonical.Parse(raw)
			if err != nil {
				continue
			}
			if !json.Valid(raw) {
				t.Fatalf("canonical.Parse accepted invalid JSON %q", raw)
			}
			if m, ok := v.(map[string]any); ok {
				protocol.ParseSealed(m, "t")
				if c, err := capsule.FromContent(m); err == nil {
					if _, err := c.Canonical(); err != nil {
						t.Fatalf("content accepted by FromContent cannot be sealed: %v", err)
					}
				}
			}
		}
		t.Fatal("reader did not end")
	})
}
