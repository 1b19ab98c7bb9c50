package capsule

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/capsule-go/capsule/keys"
	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/protocol/canonical"
)

// The differential tests run the Python reference itself as the oracle
// (PROTOCOL.md rule 8): it seals random app-style content that must verify
// here, and verifies random content sealed here. They need ../shared (or
// CAPSULE_PYTHON_REFERENCE) and python3 with the cryptography package.

const (
	refScript = "testdata/interop/refdiff.py"
	// diffCases is how many random capsules each direction checks per run.
	diffCases = 3000
	// diffSeed fixes the random content, so a failure reproduces.
	diffSeed = 20260301
)

// pythonOracle returns the environment to run refScript with, or skips the
// test saying how to run it.
func pythonOracle(t *testing.T) []string {
	t.Helper()
	src := os.Getenv("CAPSULE_PYTHON_REFERENCE")
	if src == "" {
		src = "../shared/interop/python-reference-src"
	}
	src, err := filepath.Abs(src)
	if err != nil {
		t.Fatal(err)
	}
	how := "differential tests against the Python reference skipped: they need the reference at ../shared/interop/python-reference-src " +
		"(beside the project root; or set CAPSULE_PYTHON_REFERENCE to its directory) and python3 with the cryptography package; " +
		"then run: go test ./runtime -run 'Differential|PythonApp'"
	if _, err := os.Stat(filepath.Join(src, "qp_capsule", "capsule.py")); err != nil {
		t.Skip(how + " (" + err.Error() + ")")
	}
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip(how + " (no python3)")
	}
	return append(os.Environ(), "PYTHONPATH="+filepath.Join(src, "nacl_shim")+string(os.PathListSeparator)+src)
}

// python runs refScript with args in the data directory dir, feeding it
// stdin, and returns its standard output.
func python(t *testing.T, env []string, dir string, stdin []byte, args ...string) []byte {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "python3", append([]string{refScript}, args...)...)
	cmd.Env = append(env, keys.DataDirEnv+"="+dir)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3 %s %s: %v\n%s", refScript, strings.Join(args, " "), err, stderr.Bytes())
	}
	return out
}

// reproducer is the command that asks the reference about one sealed dict.
func reproducer(sealed []byte, pub string) string {
	return fmt.Sprintf("PYTHONPATH=../shared/interop/python-reference-src/nacl_shim:../shared/interop/python-reference-src python3 testdata/interop/refdiff.py check %s <<'EOF'\n%s\nEOF", pub, sealed)
}

// Capsules the reference seals from app-style content verify here exactly
// when their hash over the content as stored matches (which includes every
// capsule the reference verifies itself), and every edit of one is caught,
// re-spelling an integer as a float included. One in five is sealed as
// qp-capsule 1.5.2 did, without spec_version: it verifies as stored, and
// filling spec_version in breaks it.
func TestDifferentialPythonSealsGoVerifies(t *testing.T) {
	env := pythonOracle(t)
	out := python(t, env, t.TempDir(), nil, "seal", strconv.Itoa(diffCases), strconv.Itoa(diffSeed))
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<24)
	if !sc.Scan() {
		t.Fatal("no output")
	}
	head, err := canonical.Parse(sc.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	pubHex := head.(map[string]any)["public_key"].(string)
	pub, _ := hex.DecodeString(pubHex)
	resolve := protocol.StaticKey(ed25519.PublicKey(pub))
	rng := rand.New(rand.NewPCG(diffSeed, 1))
	var n, refRejects, edits, legacy int
	for sc.Scan() {
		n++
		v, err := canonical.Parse(sc.Bytes())
		if err != nil {
			t.Fatalf("case %d: %v", n, err)
		}
		line := v.(map[string]any)
		sealed := line["sealed"].(map[string]any)
		refOK, storedOK := line["ref_ok"].(bool), line["stored_ok"].(bool)
		js, _ := canonical.Append(nil, sealed)
		if !refOK {
			refRejects++
		}
		if _, has := sealed["spec_version"]; has == line["legacy"].(bool) {
			t.Fatalf("case %d: legacy %v, spec_version present %v", n, line["legacy"], has)
		}
		// As a verifier reading JSON does: the shape, then the hash over
		// the content as stored and the signature.
		err = protocol.CheckSealedShape(sealed)
		var rec protocol.Sealed
		if err == nil {
			rec, err = protocol.ParseSealed(sealed, "")
		}
		if err == nil {
			err = protocol.CheckHash(&rec)
		}
		if err == nil {
			err = protocol.CheckSignature(&rec, resolve)
		}
		if ok := err == nil; ok != storedOK || refOK && !ok {
			t.Fatalf("case %d: verified here: %v (%v); reference verifies it: %v; hash over the content as stored matches: %v\nsealed dict: %s\nreproduce with:\n%s",
				n, ok, err, refOK, storedOK, js, reproducer(js, pubHex))
		}
		if !storedOK {
			continue
		}
		if line["legacy"].(bool) {
			legacy++
			// The model default filled in after sealing must be caught.
			filled := cloneJSON([]map[string]any{sealed})[0]
			filled["spec_version"] = SpecVersion
			if rec, err := protocol.ParseSealed(filled, ""); err != nil || !errors.Is(protocol.CheckHash(&rec), protocol.ErrHashMismatch) {
				t.Fatalf("case %d: spec_version filled into a legacy capsule not caught\nsealed dict: %s", n, js)
			}
		}
		// One random edit of the content must be caught.
		content := cloneJSON([]map[string]any{sealed})[0]
		for _, k := range protocol.SealKeys() {
			delete(content, k)
		}
		ls := leaves(content, "", nil)
		l := ls[rng.IntN(len(ls))]
		path := l.path
		edit(l)
		for _, k := range protocol.SealKeys() {
			content[k] = sealed[k]
		}
		edited, err := protocol.ParseSealed(content, "")
		if err == nil {
			err = protocol.CheckHash(&edited)
		}
		if err == nil {
			ejs, _ := canonical.Append(nil, content)
			t.Fatalf("case %d: edit at %s not caught\noriginal: %s\nedited:   %s", n, path, js, ejs)
		}
		edits++
	}
	if n != diffCases {
		t.Fatalf("%d cases, want %d", n, diffCases)
	}
	if legacy < diffCases/10 {
		t.Fatalf("only %d capsules sealed without spec_version", legacy)
	}
	t.Logf("%d capsules sealed by the reference verified here (%d of them sealed without spec_version, as 1.5.2 did; %d the reference rejects itself); %d edits caught", n, legacy, refRejects, edits)
}

// leaf is one leaf value of a JSON tree: the container holding it and its
// key (string) or index (int) there.
type leaf struct {
	parent any
	key    any
	path   string
}

func (l leaf) get() any {
	if m, ok := l.parent.(map[string]any); ok {
		return m[l.key.(string)]
	}
	return l.parent.([]any)[l.key.(int)]
}

func (l leaf) set(v any) {
	if m, ok := l.parent.(map[string]any); ok {
		m[l.key.(string)] = v
	} else {
		l.parent.([]any)[l.key.(int)] = v
	}
}

// leaves lists the leaves under v (empty objects and arrays included).
func leaves(v any, path string, out []leaf) []leaf {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			out = append(out, leaf{x, k, path + "." + strconv.Quote(k)})
			out = leaves(e, path+"."+strconv.Quote(k), out)
		}
	case []any:
		for i, e := range x {
			out = append(out, leaf{x, i, fmt.Sprintf("%s[%d]", path, i)})
			out = leaves(e, fmt.Sprintf("%s[%d]", path, i), out)
		}
	}
	return out
}

// edit changes the value of l: a number is re-spelled as the same value in
// the other type when it can be (1 as 1.0, 5.0 as 5: the reference keeps
// a number's type, so the hash must catch it), else changed.
func edit(l leaf) {
	switch x := l.get().(type) {
	case string:
		l.set(x + "x")
	case canonical.Number:
		s := string(x)
		switch {
		case !strings.ContainsAny(s, ".eE"):
			l.set(x + ".0")
		case strings.HasSuffix(s, ".0") && !strings.ContainsAny(s, "eE"):
			l.set(canonical.Number(strings.TrimSuffix(s, ".0")))
		default:
			l.set(canonical.Number("2" + strings.TrimPrefix(s, "-")))
		}
	case bool:
		l.set(!x)
	case nil:
		l.set("")
	case map[string]any:
		x["\x00edited"] = true
	case []any:
		l.set(append(x, nil))
	}
}

// Capsules sealed here from app-style input (Go values, and JSON content
// with integers where floats are typed and naive or "Z" timestamps) verify
// in the reference, one by one and as a chain.
func TestDifferentialGoSealsPythonVerifies(t *testing.T) {
	env := pythonOracle(t)
	dir := t.TempDir()
	signer, err := keys.LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(diffSeed, 2))
	var input bytes.Buffer
	var sealed [][]byte
	prev := ""
	for i := range diffCases {
		var c *Capsule
		if i%2 == 0 {
			c = randomCapsule(rng)
		} else {
			text := randomContentJSON(rng)
			v, err := canonical.Parse(text)
			if err != nil {
				t.Fatalf("case %d: %v\n%s", i, err, text)
			}
			if c, err = FromContent(v.(map[string]any)); err != nil {
				t.Fatalf("case %d: %v\n%s", i, err, text)
			}
		}
		c.Sequence, c.PreviousHash = int64(i), prev
		rec, err := SealWith(c, "", signer, nil)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		prev = rec.Hash
		js, err := protocol.MarshalSealed(&rec)
		if err != nil {
			t.Fatal(err)
		}
		sealed = append(sealed, js)
		input.Write(js)
		input.WriteByte('\n')
	}
	out := python(t, env, dir, input.Bytes(), "verify")
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<24)
	pubHex := hex.EncodeToString(signer.PublicKey())
	n := 0
	for sc.Scan() {
		v, err := canonical.Parse(sc.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		res := v.(map[string]any)
		if ok, isChain := res["chain_ok"].(bool); isChain {
			if !ok {
				t.Fatalf("the reference's chain verification fails: %v", res["error"])
			}
			continue
		}
		if res["ok"] != true {
			t.Fatalf("case %d sealed here fails in the reference: %v\nsealed dict: %s\nreproduce with:\n%s", n, res["error"], sealed[n], reproducer(sealed[n], pubHex))
		}
		n++
	}
	if n != diffCases {
		t.Fatalf("the reference answered %d cases, want %d", n, diffCases)
	}
	t.Logf("%d capsules sealed here verified by the reference, and the chain of them", n)
}

var (
	diffStrings = []string{"", "x", "deploy", "café", "naïve ✓", "日本語", "😀", "a\U0001f600b", "\u2028", "\u2029",
		"line\nbreak", "\x00\x01\x1f", "\x7f", `quote "q"`, `back\slash`, "</script>&<", "\ufeffbom", "\uffff", "\U0010ffff", "e\u0301"}
	diffKeys = []string{"a", "b", "z", "A", "_", "é", "😀", "\uffff", "key", "", " ", "a\x00", "Z9"}
)

func randomString(rng *rand.Rand) string { return diffStrings[rng.IntN(len(diffStrings))] }

// randomValue returns a free-form value of the kinds Go applications put in
// capsules.
func randomValue(rng *rand.Rand, depth int) any {
	k := rng.IntN(14)
	if depth > 3 {
		k = rng.IntN(10)
	}
	switch k {
	case 0:
		return rng.IntN(21) - 10
	case 1:
		return []any{int64(math.MinInt64), uint64(math.MaxUint64), int64(1) << 53, canonical.Number(`123456789012345678901234567890`)}[rng.IntN(4)]
	case 2:
		return rng.Float64()
	case 3:
		return []float64{0, math.Copysign(0, -1), 1, 5, 0.1 + 0.2, 1e16, 1e22, 1e-5, 4e-5, 1.5e-7, 1e-300, 1e300, 1e-4, 123456.789, 1e15}[rng.IntN(15)]
	case 4:
		return rng.Float64() * math.Pow(10, float64(rng.IntN(41)-20))
	case 5:
		return float32(rng.Float64())
	case 6:
		return randomString(rng)
	case 7:
		return nil
	case 8:
		return rng.IntN(2) == 0
	case 9:
		return new(big.Int).Lsh(big.NewInt(3), uint(50+rng.IntN(150)))
	case 10, 11:
		return randomMap(rng, depth+1)
	case 12:
		l := make([]any, rng.IntN(4))
		for i := range l {
			l[i] = randomValue(rng, depth+1)
		}
		return l
	}
	return []string{randomString(rng), randomString(rng)}
}

func randomMap(rng *rand.Rand, depth int) map[string]any {
	m := map[string]any{}
	for range rng.IntN(5) {
		k := diffKeys[rng.IntN(len(diffKeys))]
		if rng.IntN(2) == 0 {
			k = randomString(rng)
		}
		m[k] = randomValue(rng, depth)
	}
	return m
}

func randomCapsule(rng *rand.Rand) *Capsule {
	c := New([]Type{TypeAgent, TypeTool, "system", "kill", "workflow", "chat", "vault", "auth"}[rng.IntN(8)])
	c.Domain = []string{"agents", "", "interop", randomString(rng)}[rng.IntN(4)]
	if rng.IntN(3) == 0 {
		c.ParentID = NewID()
	}
	c.Trigger.Type = []string{TriggerUserRequest, TriggerAgent, TriggerSystem, TriggerScheduled}[rng.IntN(4)]
	c.Trigger.Source, c.Trigger.Request = randomString(rng), randomString(rng)
	c.Trigger.Timestamp = time.Unix(rng.Int64N(2e9), rng.Int64N(1e9)*int64(rng.IntN(2)))
	c.Trigger.CorrelationID = randomString(rng)
	c.Context.AgentID, c.Context.SessionID = randomString(rng), []string{"", NewID()}[rng.IntN(2)]
	c.Context.Environment = randomMap(rng, 0)
	r := &c.Reasoning
	r.Confidence = []float64{0, 1, 0.5, 0.95, rng.Float64()}[rng.IntN(5)]
	for i := range rng.IntN(3) {
		r.Options = append(r.Options, Option{ID: "opt_" + strconv.Itoa(i), Description: randomString(rng),
			Pros: []string{randomString(rng)}, EstimatedImpact: randomMap(rng, 2), Feasibility: []float64{0, 1, rng.Float64()}[rng.IntN(3)],
			Selected: i == 0, RejectionReason: randomString(rng)})
	}
	if len(r.Options) == 0 && rng.IntN(3) == 0 {
		r.OptionsConsidered = []string{randomString(rng), randomString(rng)}
	}
	r.Model = []string{"", "m"}[rng.IntN(2)]
	c.Authority.Type = []string{AuthorityAutonomous, AuthorityHumanApproved, AuthorityPolicy, AuthorityEscalated}[rng.IntN(4)]
	for range rng.IntN(3) {
		c.Authority.Chain = append(c.Authority.Chain, randomMap(rng, 2))
	}
	for range rng.IntN(3) {
		c.Execution.ToolCalls = append(c.Execution.ToolCalls, ToolCall{Tool: randomString(rng), Arguments: randomMap(rng, 1),
			Result: randomValue(rng, 1), Success: rng.IntN(2) == 0, DurationMS: rng.Int64N(1e7), Error: randomString(rng)})
	}
	c.Execution.DurationMS = rng.Int64N(1e9)
	c.Execution.ResourcesUsed = randomMap(rng, 1)
	c.Outcome.Status = []Status{StatusPending, StatusSuccess, StatusFailure, StatusPartial, StatusBlocked}[rng.IntN(5)]
	c.Outcome.Result = randomValue(rng, 0)
	c.Outcome.Summary, c.Outcome.Error = randomString(rng), randomString(rng)
	c.Outcome.SideEffects = []string{randomString(rng)}
	c.Outcome.Metrics = randomMap(rng, 1)
	return c
}

// randomContentJSON returns capsule content as Python applications and
// hand-written files spell it: integers where floats are typed, naive, "Z"
// and space-separated timestamps, numbers in every spelling.
func randomContentJSON(rng *rand.Rand) []byte {
	str := func() string { s, _ := canonical.AppendString(nil, randomString(rng)); return string(s) }
	num := func() string {
		return []string{"1", "0", "-0", "1.0", "0.5", "1E5", "1.0e5", "4.0e-05", "123456789012345678901234567890", "-12", "2.50", "1e-7", "0.1", "1E+22"}[rng.IntN(14)]
	}
	ts := fmt.Sprintf("%04d-%02d-%02d%c%02d:%02d:%02d%s%s", 1990+rng.IntN(50), 1+rng.IntN(12), 1+rng.IntN(28),
		"T "[rng.IntN(2)], rng.IntN(24), rng.IntN(60), rng.IntN(60),
		[]string{"", ".5", ".007919", ".000000", ".123456"}[rng.IntN(5)], []string{"", "Z", "+00:00", "-00:00"}[rng.IntN(4)])
	conf := []string{"1", "0", "1.0", "0.5", "0.95", "1e0", "5e-1"}[rng.IntN(7)]
	feas := []string{"1", "0", "0.25", "1.0"}[rng.IntN(4)]
	var b strings.Builder
	fmt.Fprintf(&b, `{"type":"agent","domain":%s,"trigger":{"type":"agent","timestamp":%q,"request":%s,"user_id":%s},`, str(), ts, str(), []string{"null", `""`, `"u"`}[rng.IntN(3)])
	fmt.Fprintf(&b, `"context":{"agent_id":%s,"environment":{"n":%s,"f":%s,"s":%s,"l":[%s,%s,{"k":%s}],"e":{},"a":[]}},`, str(), num(), num(), str(), num(), str(), num())
	fmt.Fprintf(&b, `"reasoning":{"confidence":%s,"options":[{"id":"opt_0","description":%s,"feasibility":%s,"selected":true}]},`, conf, str(), feas)
	fmt.Fprintf(&b, `"execution":{"duration_ms":%d,"tool_calls":[{"tool":"t","arguments":{"x":%s},"result":%s,"success":true,"duration_ms":3}]},`, rng.IntN(1e6), num(), num())
	fmt.Fprintf(&b, `"outcome":{"status":"success","result":{"v":[%s,null,true]},"metrics":{"ms":%s}}}`, num(), num())
	return []byte(b.String())
}

// A chain written by application code through the reference
// (CapsuleChain.seal_and_store with a keyring, ints where floats are
// typed, naive and offset timestamps), exported as JSON and stored in the
// reference's SQLite layout, verifies here at all three levels, through
// the keyring and with the explicit public key.
func TestPythonAppChainLive(t *testing.T) {
	env := pythonOracle(t)
	dir := t.TempDir()
	python(t, env, dir, nil, "app-chain", dir, "40")
	verifyRefChainDir(t, dir, 40)
}
