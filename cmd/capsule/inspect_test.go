package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capsule-go/capsule/internal/cli"
	"github.com/capsule-go/capsule/protocol/canonical"
)

func TestInspect(t *testing.T) {
	dir := pythonDataDir(t)
	db := filepath.Join(dir, "capsules.db")
	const id5 = "00001234-0000-4000-8000-000000000005"
	for _, src := range [][]string{{"--db", db}, {chainPath}} {
		r := capsuleCmd(t, "", append([]string{"inspect", "--seq", "5"}, src...)...).want(t, 0)
		for _, want := range []string{
			"Capsule " + id5 + "\n  type: tool\n  domain: interop\n  sequence: 5\n" +
				"  previous_hash: e610dbcc593f6acffb955f7c24d9169433433eccdcb9e3e527599a52a050a024\n  parent_id: null\n  spec_version: 1.0\n",
			"\nTrigger\n  type: user_request\n  source: peer-5\n  timestamp: 2026-03-01T12:00:05.039595+00:00\n  request: req ✓ 5\n  correlation_id: null\n  user_id: \"\"\n",
			"\nContext\n  agent_id: agent/2\n",
			"  environment:\n    {\n      \"A\": {\n",
			"\nReasoning\n", "  confidence: 1.0\n", "  prompt_hash: null\n",
			"\nAuthority\n  type: human_approved\n  approver: ops\n  policy_reference: null\n  chain: []\n  escalation_reason: null\n",
			"\nExecution\n", "  duration_ms: 15\n", "\"cost_usd\": 0.0002,",
			"\nOutcome\n  status: success\n",
			"  metrics:\n    {\n      \"latency_ms\": 5.0,\n      \"q\": 0.30000000000000004\n    }\n",
			"\nSeal\n  hash: e32f5bb53dda8316bdef9a36b39fbc77e2898d1b1da34bc6dc9215a7f7d8ab5e\n  signed_by: qp_key_ceef\n" +
				"  signed_at: 2026-11-28T16:55:19.732744+00:00\n  signature: e2b70027b21a17cbd9db0398deea5fc2… (128 hex digits)\n  signature_pq: \"\"\n",
		} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("%v: output lacks %q:\n%s", src, want, r.stdout)
			}
		}
		if strings.Contains(r.stdout, "\x1b[") {
			t.Errorf("colour written to a non-terminal")
		}
	}

	// --json is the sealed dict, the same from the database and the file,
	// and its hash verifies.
	fromDB := capsuleCmd(t, "", "inspect", "--db", db, "--id", id5, "--json").want(t, 0).stdout
	fromFile := capsuleCmd(t, "", "inspect", chainPath, "--id", id5, "--json").want(t, 0).stdout
	if fromDB != fromFile {
		t.Errorf("--json differs:\n%s\n%s", fromDB, fromFile)
	}
	if c, err := canonical.Canonicalize([]byte(strings.TrimSuffix(fromDB, "\n"))); err != nil || string(c)+"\n" != fromDB {
		t.Errorf("--json is not one canonical line: %v", err)
	}
	if r := capsuleCmd(t, fromDB, "canonical", "--hash").want(t, 0); r.stdout != "e32f5bb53dda8316bdef9a36b39fbc77e2898d1b1da34bc6dc9215a7f7d8ab5e\n" {
		t.Errorf("hash of --json content: %s", r.stdout)
	}
	// An uppercase prefix is accepted.
	capsuleCmd(t, "", "inspect", "--db", db, "--id", "00001234-0000-4000-8000-00000000000B").want(t, 0)

	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--db", db, "--id", "00001234"}, `id prefix "00001234" matches several capsules in ` + db},
		{[]string{chainPath, "--id", "00001234"}, `id prefix "00001234" matches several capsules in ` + chainPath},
		{[]string{"--db", db, "--id", "abcdef12"}, "no capsule with id abcdef12 in " + db},
		{[]string{"--db", db, "--seq", "12"}, `no capsule at sequence 12 in the chain of tenant "" in ` + db},
		{[]string{"--db", db, "--seq", "0", "--tenant", "x"}, `no capsule at sequence 0 in the chain of tenant "x"`},
		{[]string{"--db", db, "--id", id5, "--tenant", "x"}, "no capsule with id " + id5},
	} {
		r := capsuleCmd(t, "", append([]string{"inspect"}, c.args...)...).want(t, 2)
		if !strings.Contains(r.stderr, c.msg) {
			t.Errorf("%v: stderr %q lacks %q", c.args, r.stderr, c.msg)
		}
	}
}

func TestWriteFieldQuoting(t *testing.T) {
	for _, c := range []struct {
		v    any
		want string
	}{
		{"plain text", "k: plain text\n"},
		{"", "k: \"\"\n"},
		{"null", "k: \"null\"\n"},
		{" padded", "k: \" padded\"\n"},
		{"two\nlines", "k: \"two\\nlines\"\n"},
		{nil, "k: null\n"},
		{true, "k: true\n"},
		{canonical.Number("1E5"), "k: 100000.0\n"},
		{map[string]any{}, "k: {}\n"},
		{[]any{"a"}, "k:\n  [\n    \"a\"\n  ]\n"},
	} {
		var b bytes.Buffer
		writeField(&b, cli.Colour{}, "", "k", c.v)
		if b.String() != c.want {
			t.Errorf("%#v: %q, want %q", c.v, b.String(), c.want)
		}
	}
}

func TestWriteFieldColour(t *testing.T) {
	var b bytes.Buffer
	writeField(&b, cli.Colour{Enabled: true}, "  ", "model", nil)
	if want := "  \x1b[2mmodel:\x1b[0m \x1b[2mnull\x1b[0m\n"; b.String() != want {
		t.Errorf("%q, want %q", b.String(), want)
	}
}

func TestInspectTenantAndExtraKeys(t *testing.T) {
	emptyDataDir(t)
	db := filepath.Join(t.TempDir(), "c.db")
	capsuleCmd(t, `{"type":"tool"}`, "seal", "--db", db, "--tenant", "site-7").want(t, 0)
	r := capsuleCmd(t, "", "inspect", "--db", db, "--tenant", "site-7", "--seq", "0").want(t, 0)
	if !strings.Contains(r.stdout, "\n  tenant: site-7\n  type: tool\n") {
		t.Errorf("tenant missing:\n%s", r.stdout)
	}
	// Keys the protocol does not define are shown, not hidden.
	elem := string(chainElements(t)[0])
	elem = strings.Replace(elem, `"domain"`, `"x_extra": [1], "domain"`, 1)
	path := writeFile(t, filepath.Join(t.TempDir(), "x.json"), []byte("["+elem+"]"))
	r = capsuleCmd(t, "", "inspect", path, "--seq", "0").want(t, 0)
	if !strings.Contains(r.stdout, "\nOther keys\n  x_extra:\n    [\n      1\n    ]\n") {
		t.Errorf("extra key missing:\n%s", r.stdout)
	}
}
