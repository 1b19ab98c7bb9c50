package llm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// pythonScript reads a JSON array of JSON texts and prints, for each, the
// SHA3-256 of json.dumps(json.loads(text), sort_keys=True,
// separators=(",", ":"), ensure_ascii=False) and that serialization (as an
// ASCII JSON string), tab-separated: what capsule-litellm hashes.
const pythonScript = `
import hashlib, json, sys
for text in json.load(sys.stdin):
    blob = json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    print(hashlib.sha3_256(blob.encode("utf-8")).hexdigest() + "\t" + json.dumps(blob))
`

// pythonHashes runs pythonScript over texts; it skips the test when there
// is no python3.
func pythonHashes(t *testing.T, texts []string) (hashes, dumps []string) {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found: the prompt hash cannot be compared with Python's")
	}
	in, err := json.Marshal(texts)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), py, "-c", pythonScript)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3: %v\n%s", err, stderr.Bytes())
	}
	for line := range strings.Lines(string(out)) {
		h, d, ok := strings.Cut(strings.TrimSuffix(line, "\n"), "\t")
		if !ok {
			t.Fatalf("python3 printed %q", line)
		}
		var s string
		if err := json.Unmarshal([]byte(d), &s); err != nil {
			t.Fatal(err)
		}
		hashes, dumps = append(hashes, h), append(dumps, s)
	}
	if len(hashes) != len(texts) {
		t.Fatalf("python3 printed %d hashes for %d texts", len(hashes), len(texts))
	}
	return hashes, dumps
}

// promptCases are messages arrays that exercise the serialization: nested
// content parts, tool calls, unicode, escapes, numbers of every shape.
var promptCases = []string{
	`[]`,
	`[{"role":"user","content":"What is the capital of France?"}]`,
	`[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]`,
	`[{"role":"user","content":[{"type":"text","text":"Describe this"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo=","detail":"low"}}]}]`,
	`[{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},{"role":"tool","tool_call_id":"call_1","content":"22°C"}]`,
	`[{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"ok"}],"is_error":false}]}]`,
	`[{"role":"user","content":"héllo wörld — 日本語 — emoji 😀 — \u00e9 escaped — \ud83d\ude00 pair"}]`,
	`[{"role":"user","content":"quotes \" backslash \\ slash \/ newline \n tab \t cr \r bs \b ff \f nul \u0000 us \u001f del \u007f nbsp \u00a0 ls \u2028 ps \u2029 bom \ufeff max \uffff"}]`,
	"[{\"role\":\"user\",\"content\":\"raw controls are invalid JSON but raw DEL \x7f and raw U+2028 \u2028 are fine\"}]",
	`[{"z":1,"a":2,"é":3,"Z":4,"😀":5,"\uffff":6,"_":7,"":8,"aa":9,"a\u0000":10}]`,
	`[{"k":1,"k":2}]`,
	`[{"temperature":0.7,"top_p":1.0,"n":1,"big":12345678901234567890123456789,"neg0":-0,"negf0":-0.0,"e":1e5,"E":1E-5,"f":1.5e300,"tiny":5e-324,"sub":2.2250738585072014e-308,"inf":1e400,"ninf":-1e400,"under":1e-400}]`,
	`[{"x":[0.1,0.2,0.30000000000000004,100.0,1e16,1e15,123456789012345678.0,0.0001,0.00001,1.0e-4,12.5E+2,3.14159265358979323846,-2.5e-7,9007199254740993.0,1e22,1e21,1.7976931348623157e308]}]`,
	`[[[[[]]]],{},[{}],"",true,false,null]`,
	`"just a string"`,
	`[{"role":"developer","content":"  spaces  \u0009 inside  "}]`,
}

// Go's serialization of messages, and their prompt hash, are Python's byte
// for byte (python3 -c with json.dumps as capsule-litellm calls it).
func TestPromptHashMatchesPython(t *testing.T) {
	texts := append([]string(nil), promptCases...)
	r := rand.New(rand.NewPCG(24, 2026))
	for range 400 {
		texts = append(texts, randomMessages(r))
	}
	hashes, dumps := pythonHashes(t, texts)
	for i, text := range texts {
		got, err := PythonJSON([]byte(text))
		if err != nil {
			t.Fatalf("PythonJSON(%s): %v", text, err)
		}
		if string(got) != dumps[i] {
			t.Errorf("PythonJSON(%s)\n got %q\nwant %q", text, got, dumps[i])
			continue
		}
		h, err := PromptHash([]byte(text))
		if err != nil || h != hashes[i] {
			t.Errorf("PromptHash(%s) = %s, %v; want %s", text, h, err, hashes[i])
		}
	}
}

func TestPromptHashKnown(t *testing.T) {
	// python3 -c 'import hashlib,json; print(hashlib.sha3_256(json.dumps([{"role":"user","content":"What is the capital of France?"}], sort_keys=True, separators=(",",":"), ensure_ascii=False).encode()).hexdigest())'
	const want = "56276ab262cd3291f0044976028fed62c2a8d4511525126a91c9fbf70e57b818"
	h, err := PromptHash([]byte(promptCases[1]))
	if err != nil {
		t.Fatal(err)
	}
	if h != want {
		t.Errorf("PromptHash = %s, want %s", h, want)
	}
	for _, bad := range []string{``, `[`, `[1] [2]`, `{"a":}`} {
		if _, err := PromptHash([]byte(bad)); err == nil {
			t.Errorf("PromptHash(%q): no error", bad)
		}
	}
}

// randomMessages returns a random messages array as JSON text, written
// the many ways JSON allows: escaped or raw characters, numbers in every
// notation.
func randomMessages(r *rand.Rand) string {
	var b strings.Builder
	b.WriteByte('[')
	for i := range r.IntN(4) + 1 {
		if i > 0 {
			b.WriteString(", ")
		}
		randomValue(r, &b, 0)
	}
	b.WriteByte(']')
	return b.String()
}

var (
	keys  = []string{"role", "content", "type", "text", "a", "Z", "é", "ß", "日本", "😀", "\uffff", "\U00010000", "k k", "", "_", "name", "arguments"}
	runes = []rune{'a', 'Z', ' ', '"', '\\', '/', '\n', '\r', '\t', '\b', '\f', 0, 1, 0x1f, 0x7f, 0xa0, 'é', 'ß', 0x2028, 0x2029, 0xfeff, 0xffff, '日', '本', 0x1F600, 0x10FFFF, 0xe000}
)

func randomValue(r *rand.Rand, b *strings.Builder, depth int) {
	n := 8
	if depth > 3 {
		n = 4
	}
	switch r.IntN(n) {
	case 0:
		b.WriteString([]string{"null", "true", "false"}[r.IntN(3)])
	case 1:
		b.WriteString(randomNumber(r))
	case 2, 3:
		randomString(r, b)
	case 4, 5:
		b.WriteByte('{')
		for i := range r.IntN(5) {
			if i > 0 {
				b.WriteByte(',')
			}
			randomKey(r, b)
			b.WriteString(": ")
			randomValue(r, b, depth+1)
		}
		b.WriteByte('}')
	default:
		b.WriteByte('[')
		for i := range r.IntN(4) {
			if i > 0 {
				b.WriteString(" , ")
			}
			randomValue(r, b, depth+1)
		}
		b.WriteByte(']')
	}
}

func randomKey(r *rand.Rand, b *strings.Builder) {
	if r.IntN(3) == 0 {
		randomString(r, b)
		return
	}
	writeJSONString(r, b, keys[r.IntN(len(keys))])
}

func randomString(r *rand.Rand, b *strings.Builder) {
	var s []rune
	for range r.IntN(12) {
		s = append(s, runes[r.IntN(len(runes))])
	}
	writeJSONString(r, b, string(s))
}

// writeJSONString writes s as a JSON string, escaping each character or
// not at random (control characters must be escaped).
func writeJSONString(r *rand.Rand, b *strings.Builder, s string) {
	b.WriteByte('"')
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteRune(c)
		case c < 0x20 || r.IntN(3) == 0:
			if c > 0xffff {
				hi, lo := utf16Pair(c)
				fmt.Fprintf(b, `\u%04x\u%04X`, hi, lo)
			} else {
				fmt.Fprintf(b, `\u%04x`, c)
			}
		default:
			b.WriteRune(c)
		}
	}
	b.WriteByte('"')
}

func utf16Pair(c rune) (rune, rune) {
	c -= 0x10000
	return 0xd800 + c>>10, 0xdc00 + c&0x3ff
}

// randomNumber returns a random JSON number: an integer, or a float from
// random bits (or a near power of ten) written in a random notation.
func randomNumber(r *rand.Rand) string {
	switch r.IntN(6) {
	case 0:
		return strconv.FormatInt(r.Int64()>>r.IntN(64), 10)
	case 1:
		return "-" + strconv.FormatUint(r.Uint64(), 10) + strconv.FormatUint(r.Uint64(), 10)
	}
	var f float64
	if r.IntN(2) == 0 {
		for {
			f = math.Float64frombits(r.Uint64())
			if !math.IsNaN(f) && !math.IsInf(f, 0) {
				break
			}
		}
	} else {
		f = float64(r.IntN(2000)-1000) * math.Pow(10, float64(r.IntN(50)-25))
	}
	var s string
	switch r.IntN(4) {
	case 0:
		s = strconv.FormatFloat(f, 'g', -1, 64)
	case 1:
		s = strconv.FormatFloat(f, 'e', r.IntN(20), 64)
	case 2:
		s = strconv.FormatFloat(f, 'E', -1, 64)
	default:
		s = strconv.FormatFloat(f, 'f', -1, 64)
		if len(s) > 400 {
			s = strconv.FormatFloat(f, 'e', -1, 64)
		}
	}
	if !strings.ContainsAny(s, ".eE") {
		s += ".0"
	}
	if !utf8.ValidString(s) {
		panic(s)
	}
	return s
}
