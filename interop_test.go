package capsule

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/capsule-go/capsule/keys"
	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/protocol/canonical"
)

const (
	refDir = "testdata/interop/python-reference"
	// appDir holds a chain written by app-style code through the reference
	// (refdiff.py app-chain): int confidences, naive, "Z" and +02:00
	// timestamps, legacy and structured options.
	appDir = "testdata/interop/python-app"
)

// refDataDir copies the Python reference's data directory (key and keyring)
// to a temporary directory with the key's mode tightened as the runtime
// demands.
func refDataDir(t *testing.T) string { return copyDataDir(t, refDir) }

// copyDataDir copies a data directory written by the reference (key,
// keyring, public key, chain.json and capsules.db) to a temporary one.
func copyDataDir(t *testing.T, from string) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"key", "keyring.json", "public_key.hex", "capsules.db", "chain.json"} {
		src, err := os.Open(filepath.Join(from, name))
		if err != nil {
			t.Fatal(err)
		}
		dst, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(dst, src); err != nil {
			t.Fatal(err)
		}
		src.Close()
		dst.Close()
	}
	return dir
}

func refChain(t *testing.T) []map[string]any { return readChain(t, refDir) }

// readChain reads the chain.json of a data directory written by the
// reference.
func readChain(t *testing.T, dir string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "chain.json"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := canonical.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, e := range v.([]any) {
		out = append(out, e.(map[string]any))
	}
	return out
}

func refResolver(t *testing.T, dir string) protocol.KeyResolver {
	t.Helper()
	kr, err := keys.LoadKeyring(dir)
	if err != nil {
		t.Fatal(err)
	}
	return protocol.KeyResolver(kr.Resolver(nil))
}

func seqOf(recs []protocol.Sealed) func(func(protocol.Sealed, error) bool) {
	return func(yield func(protocol.Sealed, error) bool) {
		for _, r := range recs {
			if !yield(r, nil) {
				return
			}
		}
	}
}

// The chain sealed by the Python reference verifies at every level, through
// its SQLite file and its JSON export, with the keyring and with the bare
// public key.
func TestPythonReferenceChainVerifies(t *testing.T) {
	verifyRefChainDir(t, refDataDir(t), 12)
}

// verifyRefChainDir verifies the chain.json and capsules.db of a data
// directory written by the reference, expecting n capsules, at every level
// through the keyring and with the public key; the SQLite file is left
// unchanged.
func verifyRefChainDir(t *testing.T, dir string, n int64) {
	t.Helper()
	ctx := context.Background()
	pubHex, err := os.ReadFile(filepath.Join(dir, "public_key.hex"))
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := hex.DecodeString(strings.TrimSpace(string(pubHex)))
	resolvers := map[string]protocol.KeyResolver{"keyring": refResolver(t, dir), "public key": protocol.StaticKey(ed25519.PublicKey(pub))}

	dbPath := filepath.Join(dir, "capsules.db")
	before, err := os.ReadFile(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	st, err := OpenStore(ctx, dbPath, ReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		st.Close()
		after, err := os.ReadFile(dbPath)
		if err != nil || !bytes.Equal(before, after) {
			t.Errorf("verifying the reference file changed it (%v)", err)
		}
	}()
	var fromJSON []protocol.Sealed
	for _, m := range readChain(t, dir) {
		rec, err := protocol.ParseSealed(m, "")
		if err != nil {
			t.Fatal(err)
		}
		fromJSON = append(fromJSON, rec)
	}
	for name, resolve := range resolvers {
		for _, level := range []Level{Structural, Full, Signatures} {
			for src, recs := range map[string]func(func(protocol.Sealed, error) bool){"sqlite": st.Scan(ctx, "", 0), "json": seqOf(fromJSON)} {
				res, err := VerifyChain(ctx, recs, level, VerifyOptions{Resolve: resolve})
				if err != nil {
					t.Fatal(err)
				}
				if !res.Valid || res.CapsulesVerified != n {
					t.Errorf("%s, %s, %v: %+v", src, name, level, res)
				}
			}
		}
	}
}

// Every single-field edit of the reference chain, content or seal, is
// caught at the edited capsule's sequence.
func TestPythonReferenceChainEditsDetected(t *testing.T) {
	dir := refDataDir(t)
	resolve := refResolver(t, dir)
	ctx := context.Background()
	chain := refChain(t)
	edits := 0
	for i := range chain {
		for _, path := range leafPaths(chain[i], "") {
			edited := cloneJSON(chain)
			if !mutate(edited[i], path) {
				continue
			}
			recs := make([]protocol.Sealed, len(edited))
			for j, m := range edited {
				rec, err := protocol.ParseSealed(m, "")
				if err != nil {
					t.Fatalf("capsule %d, %s: %v", i, path, err)
				}
				recs[j] = rec
			}
			res, err := VerifyChain(ctx, seqOf(recs), Signatures, VerifyOptions{Resolve: resolve})
			if err != nil {
				t.Fatal(err)
			}
			want := int64(i)
			if path == "sequence" {
				want = int64(i) // the edited capsule is out of place
			}
			if res.Valid || res.BrokenSequence != recs[i].Sequence && res.BrokenSequence != want {
				t.Errorf("edit of capsule %d at %s: %+v", i, path, res)
			}
			edits++
		}
	}
	if edits < 12*40 {
		t.Fatalf("only %d edits tried", edits)
	}
	t.Logf("%d single-field edits, each caught at its capsule", edits)
}

// leafPaths lists the dotted paths of every leaf value of m.
func leafPaths(v any, prefix string) []string {
	var out []string
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 && prefix != "" {
			return []string{prefix}
		}
		for k, e := range x {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			out = append(out, leafPaths(e, p)...)
		}
	case []any:
		if len(x) == 0 {
			return []string{prefix}
		}
		for i, e := range x {
			out = append(out, leafPaths(e, fmt.Sprintf("%s.%d", prefix, i))...)
		}
	default:
		out = append(out, prefix)
	}
	return out
}

// mutate changes the value at path; it reports false when there is no
// meaningful change to make there.
func mutate(m map[string]any, path string) bool {
	keys := strings.Split(path, ".")
	var parent any = m
	for _, k := range keys[:len(keys)-1] {
		switch p := parent.(type) {
		case map[string]any:
			parent = p[k]
		case []any:
			var i int
			fmt.Sscan(k, &i)
			parent = p[i]
		}
	}
	last := keys[len(keys)-1]
	get := func() any {
		switch p := parent.(type) {
		case map[string]any:
			return p[last]
		case []any:
			var i int
			fmt.Sscan(last, &i)
			return p[i]
		}
		return nil
	}
	set := func(v any) {
		switch p := parent.(type) {
		case map[string]any:
			p[last] = v
		case []any:
			var i int
			fmt.Sscan(last, &i)
			p[i] = v
		}
	}
	switch x := get().(type) {
	case string:
		if last == "signed_at" || last == "signature_pq" {
			return false // not covered by the seal (PROTOCOL.md)
		}
		if last == "signature" || last == "hash" || last == "previous_hash" {
			set(strings.Repeat("0", len(x)))
		} else {
			set(x + "x")
		}
	case canonical.Number:
		if n, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			set(canonical.Number(strconv.FormatInt(n+1, 10)))
		} else {
			f, _ := strconv.ParseFloat(string(x), 64)
			set(canonical.Number(strconv.FormatFloat(f*2+1, 'g', -1, 64)))
		}
	case bool:
		set(!x)
	case nil:
		set("x")
	case map[string]any:
		set(map[string]any{"x": "y"})
	case []any:
		set([]any{"x"})
	default:
		return false
	}
	return true
}

func cloneJSON(v []map[string]any) []map[string]any {
	l := make([]any, len(v))
	for i, m := range v {
		l[i] = m
	}
	b, err := canonical.Append(nil, l)
	if err != nil {
		panic(err)
	}
	parsed, _ := canonical.Parse(b)
	var out []map[string]any
	for _, e := range parsed.([]any) {
		out = append(out, e.(map[string]any))
	}
	return out
}

// A chain the reference sealed from app-style content verifies at every
// level, from its JSON export and its SQLite file, through the keyring and
// with the public key: the hash covers the content as stored (an int
// confidence stays an int, a naive timestamp stays naive).
func TestPythonAppChainVerifies(t *testing.T) {
	verifyRefChainDir(t, copyDataDir(t, appDir), 16)
}

// Re-spelling any number of the app chain as the same value in the other
// type (1 as 1.0, 0.0 as 0) breaks the chain at that capsule, since the
// reference's verifier keeps each number's type.
func TestPythonAppChainRespellingDetected(t *testing.T) {
	tried := 0
	for i, e := range readChain(t, appDir) {
		for _, l := range leaves(e, "", nil) {
			if _, ok := l.get().(canonical.Number); !ok || strings.HasPrefix(l.path, `."sequence"`) {
				continue
			}
			before := l.get()
			edit(l)
			rec, err := protocol.ParseSealed(e, "")
			if err == nil {
				err = protocol.CheckHash(&rec)
			}
			if !errors.Is(err, protocol.ErrHashMismatch) {
				t.Errorf("capsule %d: %s re-spelled %v -> %v: %v", i, l.path, before, l.get(), err)
			}
			l.set(before)
			tried++
		}
	}
	if tried < 16*8 {
		t.Fatalf("only %d numbers re-spelled", tried)
	}
}

// A capsule the reference sealed with an integer feasibility, which its own
// verifier rejects (from_dict turns the 1 into 1.0), verifies here as
// sealed (PROTOCOL.md rule 8); its 1.0 spelling does not. protocol.Sealed by the
// reference from ReasoningOption(feasibility=1), confidence=1 and a naive
// datetime; the seal fields other than the hash are left out.
func TestIntegerFeasibilityVerifiesAsSealed(t *testing.T) {
	const sealed = `{"id": "00001234-0000-4000-8000-00000000000f", "type": "agent", "domain": "agents", "parent_id": null, "sequence": 0, "previous_hash": null, "spec_version": "1.0", "trigger": {"type": "user_request", "source": "", "timestamp": "2026-03-01T12:00:01.007919", "request": "", "correlation_id": null, "user_id": null}, "context": {"agent_id": "", "session_id": null, "environment": {}}, "reasoning": {"analysis": "", "options": [{"id": "opt_0", "description": "retry", "pros": [], "cons": [], "estimated_impact": {}, "feasibility": 1, "risks": [], "selected": true, "rejection_reason": ""}], "options_considered": ["retry"], "selected_option": "retry", "reasoning": "", "confidence": 1, "model": null, "prompt_hash": null}, "authority": {"type": "autonomous", "approver": null, "policy_reference": null, "chain": [], "escalation_reason": null}, "execution": {"tool_calls": [], "duration_ms": 0, "resources_used": {}}, "outcome": {"status": "pending", "result": null, "summary": "", "error": null, "side_effects": [], "metrics": {}}, "hash": "b65fc346fc8c5fa15d996ed54377b3a0d8e4a3c9f84d3004a11860084a1d72b5"}`
	for _, tt := range []struct {
		text string
		ok   bool
	}{
		{sealed, true},
		{strings.Replace(sealed, `"feasibility": 1,`, `"feasibility": 1.0,`, 1), false},
		{strings.Replace(sealed, `"confidence": 1,`, `"confidence": 1.0,`, 1), false},
		{strings.Replace(sealed, `12:00:01.007919"`, `12:00:01.007919+00:00"`, 1), false},
	} {
		v, err := canonical.Parse([]byte(tt.text))
		if err != nil {
			t.Fatal(err)
		}
		rec, err := protocol.ParseSealed(v.(map[string]any), "")
		if err != nil {
			t.Fatal(err)
		}
		if err := protocol.CheckHash(&rec); (err == nil) != tt.ok {
			t.Errorf("CheckHash = %v, want ok %v for\n%s", err, tt.ok, tt.text)
		}
	}
}

// legacyDir holds a chain the reference sealed as qp-capsule 1.5.2 did,
// without spec_version in its content (see its README.md).
const legacyDir = "testdata/interop/python-legacy"

// A chain sealed before spec_version existed verifies at every level,
// read from its JSON as the CLI reads it and from a store, through the
// keyring and with the public key.
func TestPythonLegacyChainVerifies(t *testing.T) {
	ctx := context.Background()
	pubHex, err := os.ReadFile(filepath.Join(legacyDir, "public_key.hex"))
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := hex.DecodeString(strings.TrimSpace(string(pubHex)))
	var recs []protocol.Sealed
	for i, m := range readChain(t, legacyDir) {
		if _, ok := m["spec_version"]; ok {
			t.Fatalf("capsule %d has spec_version", i)
		}
		if err := protocol.CheckSealedShape(m); err != nil {
			t.Fatalf("capsule %d: %v", i, err)
		}
		rec, err := protocol.ParseSealed(m, "")
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	caps, mem := newMemCapsules(t)
	if err := mem.Append(ctx, "", recs); err != nil {
		t.Fatal(err)
	}
	for name, resolve := range map[string]protocol.KeyResolver{"keyring": refResolver(t, legacyDir), "public key": protocol.StaticKey(ed25519.PublicKey(pub))} {
		for _, level := range []Level{Structural, Full, Signatures} {
			res, err := VerifyChain(ctx, seqOf(recs), level, VerifyOptions{Resolve: resolve})
			if err != nil || !res.Valid || res.CapsulesVerified != 12 {
				t.Errorf("json, %s, %v: %+v %v", name, level, res, err)
			}
		}
	}
	if res, err := caps.Verify(ctx, "", Full); err != nil || !res.Valid || res.CapsulesVerified != 12 {
		t.Errorf("Capsules.Verify: %+v %v", res, err)
	}
}

// FromContent reads the stored document of the reference's record sealed
// before spec_version existed without failing; its model, re-serialized
// with spec_version, hashes to the fixture's model hash and not to the
// stored seal: verification hashes the stored document, never the model.
func TestFromContentStoredDocument(t *testing.T) {
	b, err := os.ReadFile("testdata/conformance/stored-document-fixtures.json")
	if err != nil {
		t.Fatal(err)
	}
	v, err := canonical.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	f := v.(map[string]any)["fixtures"].([]any)[0].(map[string]any)
	stored := f["stored_document"].(map[string]any)
	c, err := FromContent(maps.Clone(stored))
	if err != nil {
		t.Fatalf("FromContent: %v", err)
	}
	if c.ID != stored["id"] || c.Trigger.Request != "Summarize the quarterly report" || c.Outcome.Summary != "Summary drafted" {
		t.Errorf("FromContent read %+v", c)
	}
	model, err := c.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	if got := protocol.Hash(model); got != f["model_sha3_256_hash"] || got == f["sha3_256_hash"] {
		t.Errorf("the model hashes to %s; want the fixture's model hash %s, not the stored %s", got, f["model_sha3_256_hash"], f["sha3_256_hash"])
	}
}
