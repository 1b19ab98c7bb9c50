package main

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capsule-go/capsule/keys"
)

type keysInfo struct {
	DataDir     string       `json:"data_dir"`
	SigningKey  bool         `json:"signing_key"`
	Fingerprint string       `json:"fingerprint"`
	PublicKey   string       `json:"public_key"`
	ActiveEpoch *int         `json:"active_epoch"`
	Epochs      []keys.Epoch `json:"epochs"`
	PostQuantum bool         `json:"post_quantum_key"`
}

func keysInfoOf(t *testing.T) keysInfo {
	t.Helper()
	var info keysInfo
	decodeJSON(t, capsuleCmd(t, "", "keys", "info", "--json").want(t, 0).stdout, &info)
	return info
}

func TestKeysPythonReference(t *testing.T) {
	dir := pythonDataDir(t)
	pub := strings.TrimSpace(string(readFile(t, filepath.Join(pythonDir, "public_key.hex"))))
	info := keysInfoOf(t)
	if info.DataDir != dir || !info.SigningKey || info.Fingerprint != "qp_key_ceef" || info.PublicKey != pub ||
		info.ActiveEpoch == nil || *info.ActiveEpoch != 0 || len(info.Epochs) != 1 || info.Epochs[0].Status != "active" || info.PostQuantum {
		t.Errorf("info: %+v", info)
	}
	if r := capsuleCmd(t, "", "keys", "export-public").want(t, 0); r.stdout != pub+"\n" {
		t.Errorf("export-public %q", r.stdout)
	}
	r := capsuleCmd(t, "", "keys", "info").want(t, 0)
	for _, want := range []string{"data directory: " + dir + "\n", "fingerprint:    qp_key_ceef\n", "public key:     " + pub + "\n",
		"epochs:\n  0  ed25519  qp_key_ceef  active  " + pub + "  created 2026-11-28T16:55:19.729648+00:00\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("info lacks %q:\n%s", want, r.stdout)
		}
	}
	// No output ever holds the private key.
	seed := hex.EncodeToString(readFile(t, filepath.Join(dir, "key")))
	for _, args := range [][]string{{"keys", "info"}, {"keys", "info", "--json"}, {"keys", "export-public"}} {
		if r := capsuleCmd(t, "", args...); strings.Contains(r.stdout+r.stderr, seed) {
			t.Errorf("%v printed the private key", args)
		}
	}

	// A key readable by others is refused, with the reason.
	os.Chmod(filepath.Join(dir, "key"), 0o644)
	r = capsuleCmd(t, "", "keys", "info").want(t, 2)
	if !strings.Contains(r.stderr, "accessible by group or others") {
		t.Errorf("insecure key: %q", r.stderr)
	}
	// Without the private key the keyring still tells the public key.
	os.Remove(filepath.Join(dir, "key"))
	info = keysInfoOf(t)
	if info.SigningKey || info.PublicKey != pub || info.Fingerprint != "qp_key_ceef" {
		t.Errorf("keyring only: %+v", info)
	}
	if r := capsuleCmd(t, "", "keys", "info").want(t, 0); !strings.Contains(r.stdout, "absent (this directory can verify, not seal)") {
		t.Errorf("keyring only: %s", r.stdout)
	}
	capsuleCmd(t, "", "verify", "--signatures", chainPath).want(t, 0)
}

func TestKeysRotate(t *testing.T) {
	dir := emptyDataDir(t)
	db := filepath.Join(t.TempDir(), "capsules.db")
	r := capsuleCmd(t, `{"type":"tool"}`+"\n"+`{"type":"tool"}`, "seal", "--db", db).want(t, 0)
	before := keysInfoOf(t)
	if before.DataDir != dir || !before.SigningKey || len(before.Epochs) != 1 || before.Fingerprint != "qp_key_"+before.PublicKey[:4] ||
		!strings.Contains(r.stdout, `"signed_by":"`+before.Fingerprint+`"`) {
		t.Fatalf("before: %+v\n%s", before, r.stdout)
	}
	oldPub := capsuleCmd(t, "", "keys", "export-public").want(t, 0).stdout
	if oldPub != before.PublicKey+"\n" {
		t.Errorf("export-public %q, info %q", oldPub, before.PublicKey)
	}

	r = capsuleCmd(t, "", "keys", "rotate").want(t, 0)
	after := keysInfoOf(t)
	if len(after.Epochs) != 2 || *after.ActiveEpoch != 1 || after.Epochs[0].Status != "retired" || after.Epochs[0].RotatedAt == nil ||
		after.Epochs[1].Status != "active" || after.PublicKey == before.PublicKey || after.Epochs[0].PublicKeyHex != before.PublicKey {
		t.Fatalf("after: %+v", after)
	}
	want := "rotated the signing key of " + dir + ": epoch 1 (" + after.Fingerprint + ", public key " + after.PublicKey +
		") is active; epoch 0 (" + before.Fingerprint + ") is retired\n"
	if r.stdout != want {
		t.Errorf("rotate: %q, want %q", r.stdout, want)
	}
	if r := capsuleCmd(t, "", "keys", "export-public").want(t, 0); r.stdout != after.PublicKey+"\n" {
		t.Errorf("export-public after rotation: %q", r.stdout)
	}
	// Capsules signed before and after the rotation all verify with the
	// keyring; the old key alone verifies only the old ones.
	capsuleCmd(t, `{"type":"agent"}`, "seal", "--db", db).want(t, 0)
	capsuleCmd(t, "", "verify", "--signatures", "--db", db).want(t, 0)
	out := verifyJSONOf(t, 1, "--public-key", strings.TrimSpace(oldPub), "--db", db)
	if out.Errors[0].Sequence != 2 || out.CapsulesVerified != 2 {
		t.Errorf("old key: %+v", out)
	}
	if r := capsuleCmd(t, "", "keys", "info").want(t, 0); !strings.Contains(r.stdout, "  0  ed25519  "+before.Fingerprint+"  retired  "+before.PublicKey) {
		t.Errorf("info after rotation:\n%s", r.stdout)
	}
}

// In a data directory without a key, "keys info" says so and succeeds,
// and "keys rotate" creates the first key (epoch 0, mode 0600), as the
// reference's command line does; a key without keyring becomes epoch 0
// when rotated.
func TestKeysEmptyDataDir(t *testing.T) {
	dir := emptyDataDir(t)
	r := capsuleCmd(t, "", "keys", "info").want(t, 0)
	if !strings.Contains(r.stdout, "none yet") || !strings.Contains(r.stdout, "capsule keys rotate") {
		t.Errorf("info: %q", r.stdout)
	}
	if info := keysInfoOf(t); info.SigningKey || info.PublicKey != "" || info.ActiveEpoch != nil || len(info.Epochs) != 0 {
		t.Errorf("info --json: %+v", info)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("info wrote into the data directory: %v", entries)
	}
	r = capsuleCmd(t, "", "keys", "rotate").want(t, 0)
	info := keysInfoOf(t)
	if !info.SigningKey || info.ActiveEpoch == nil || *info.ActiveEpoch != 0 || len(info.Epochs) != 1 || info.Epochs[0].Status != "active" {
		t.Fatalf("after the first rotate: %+v", info)
	}
	want := "created the first signing key of " + dir + ": epoch 0 (" + info.Fingerprint + ", public key " + info.PublicKey + ") is active\n"
	if r.stdout != want {
		t.Errorf("rotate: %q, want %q", r.stdout, want)
	}
	if fi, err := os.Stat(filepath.Join(dir, "key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v, %v", fi, err)
	}

	// A key without keyring (an older data directory) is migrated to
	// epoch 0 and retired.
	os.Remove(filepath.Join(dir, "keyring.json"))
	capsuleCmd(t, "", "keys", "rotate").want(t, 0)
	after := keysInfoOf(t)
	if len(after.Epochs) != 2 || after.Epochs[0].PublicKeyHex != info.PublicKey || after.Epochs[0].Status != "retired" || *after.ActiveEpoch != 1 {
		t.Errorf("after migrating rotate: %+v", after)
	}
}
