//go:build unix

package keys

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const refDir = "../testdata/interop/python-reference"

func TestMain(m *testing.M) {
	// Re-exec pattern: the multi-process tests run this test binary as a
	// child that performs one operation on a data directory.
	if dir := os.Getenv("KEYS_TEST_CHILD_DIR"); dir != "" {
		os.Exit(child(os.Getenv("KEYS_TEST_CHILD_OP"), dir))
	}
	os.Exit(m.Run())
}

func child(op, dir string) int {
	var out string
	switch op {
	case "load":
		s, err := LoadOrCreate(dir)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		out = hex.EncodeToString(s.PublicKey())
	case "rotate":
		s, err := Rotate(dir)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		out = hex.EncodeToString(s.PublicKey())
	default:
		fmt.Fprintln(os.Stderr, "unknown op", op)
		return 2
	}
	fmt.Println(out)
	return 0
}

// runChildren runs n copies of this test binary doing op on dir at once and
// returns what each printed.
func runChildren(t *testing.T, op, dir string, n int) []string {
	t.Helper()
	cmds := make([]*exec.Cmd, n)
	outs := make([]*bytes.Buffer, n)
	for i := range cmds {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "KEYS_TEST_CHILD_DIR="+dir, "KEYS_TEST_CHILD_OP="+op)
		outs[i] = new(bytes.Buffer)
		cmd.Stdout = outs[i]
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds[i] = cmd
	}
	res := make([]string, n)
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("child %d: %v", i, err)
		}
		res[i] = strings.TrimSpace(outs[i].String())
	}
	return res
}

// copyRef copies the Python reference's key files into a temporary data
// directory, with the key made 0600 (it is checked in 0644).
func copyRef(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{KeyFile, KeyringFile} {
		data, err := os.ReadFile(filepath.Join(refDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(dir, name), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func refPublicKey(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(refDir, "public_key.hex"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

type sealed struct {
	Hash        string `json:"hash"`
	Signature   string `json:"signature"`
	SignaturePQ string `json:"signature_pq"`
	SignedBy    string `json:"signed_by"`
}

func refChain(t *testing.T) []sealed {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(refDir, "chain.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c []sealed
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	if len(c) != 12 {
		t.Fatalf("chain.json has %d capsules, want 12", len(c))
	}
	return c
}

func withUmask(t *testing.T, mask int) {
	t.Helper()
	old := syscall.Umask(mask)
	t.Cleanup(func() { syscall.Umask(old) })
}

func mode(t *testing.T, path string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestLoadReference(t *testing.T) {
	dir := copyRef(t)
	before, _ := os.ReadFile(filepath.Join(dir, KeyringFile))
	s, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := hex.EncodeToString(s.PublicKey()), refPublicKey(t); got != want {
		t.Errorf("public key = %s, want %s", got, want)
	}
	if got := s.Fingerprint(); got != "qp_key_ceef" {
		t.Errorf("fingerprint = %q, want qp_key_ceef", got)
	}
	after, _ := os.ReadFile(filepath.Join(dir, KeyringFile))
	if !bytes.Equal(before, after) {
		t.Errorf("LoadOrCreate rewrote keyring.json:\n%s", after)
	}
	// Ed25519 is deterministic: signing the reference hashes again must give
	// the reference signatures byte for byte.
	for i, c := range refChain(t) {
		if got := s.Sign(c.Hash); got != c.Signature {
			t.Errorf("capsule %d: Sign = %s, want %s", i, got, c.Signature)
		}
		if c.SignedBy != s.Fingerprint() {
			t.Errorf("capsule %d: signed_by %q, want %q", i, c.SignedBy, s.Fingerprint())
		}
	}
}

func TestReferenceKeyringLookupAndVerify(t *testing.T) {
	kr, err := LoadKeyring(refDir)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := hex.DecodeString(refPublicKey(t))
	for _, name := range []string{"qp_key_ceef", "ceef506201eab2ab"} {
		pub, ok := kr.Lookup(name)
		if !ok || !pub.Equal(ed25519.PublicKey(want)) {
			t.Errorf("Lookup(%q) = %x, %v; want %x", name, pub, ok, want)
		}
	}
	for _, name := range []string{"", "qp_key_0000", "ceef506201eab2a", "ceef506201eab2ab6", "CEEF506201EAB2AB"} {
		if pub, ok := kr.Lookup(name); ok {
			t.Errorf("Lookup(%q) = %x, want not found", name, pub)
		}
	}
	resolve := kr.Resolver(nil)
	for i, c := range refChain(t) {
		pub, err := resolve(c.SignedBy)
		if err != nil {
			t.Fatalf("capsule %d: %v", i, err)
		}
		if !Verify(pub, c.Hash, c.Signature) {
			t.Errorf("capsule %d: signature does not verify", i)
		}
		bad := []byte(c.Hash)
		bad[0] ^= 1
		if Verify(pub, string(bad), c.Signature) {
			t.Errorf("capsule %d: signature verifies a changed hash", i)
		}
	}
}

func TestKeyringRoundTrip(t *testing.T) {
	want, err := os.ReadFile(filepath.Join(refDir, KeyringFile))
	if err != nil {
		t.Fatal(err)
	}
	kr, err := ParseKeyring(want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := kr.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("Marshal:\n%s\nwant:\n%s", got, want)
	}
	a, ok := kr.Active()
	if !ok || a.Epoch != 0 || a.Status != StatusActive || a.RotatedAt != nil || a.CreatedAt != "2026-11-28T16:55:19.729648+00:00" {
		t.Errorf("Active() = %+v, %v", a, ok)
	}
}

var timeRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00$`)

func TestCreateFreshDirectory(t *testing.T) {
	for _, mask := range []int{0, 0o022, 0o077} {
		t.Run(fmt.Sprintf("umask%03o", mask), func(t *testing.T) {
			withUmask(t, mask)
			dir := filepath.Join(t.TempDir(), "data")
			s, err := LoadOrCreate(dir)
			if err != nil {
				t.Fatal(err)
			}
			if m := mode(t, dir); m != 0o700 {
				t.Errorf("data dir mode %04o, want 0700", m)
			}
			keyPath := filepath.Join(dir, KeyFile)
			if m := mode(t, keyPath); m != 0o600 {
				t.Errorf("key mode %04o, want 0600", m)
			}
			seed, err := os.ReadFile(keyPath)
			if err != nil {
				t.Fatal(err)
			}
			if len(seed) != 32 {
				t.Fatalf("key is %d bytes, want 32", len(seed))
			}
			if pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey); !pub.Equal(s.PublicKey()) {
				t.Errorf("signer key is not the key file's")
			}
			if want := Fingerprint(s.PublicKey()); s.Fingerprint() != want || !strings.HasPrefix(want, "qp_key_") || len(want) != 11 {
				t.Errorf("fingerprint %q, want %q", s.Fingerprint(), want)
			}
			kr, err := LoadKeyring(dir)
			if err != nil {
				t.Fatal(err)
			}
			if kr.Version != 1 || kr.ActiveEpoch != 0 || len(kr.Epochs) != 1 {
				t.Fatalf("keyring %+v", kr)
			}
			e := kr.Epochs[0]
			if e.Epoch != 0 || e.Algorithm != "ed25519" || e.PublicKeyHex != hex.EncodeToString(s.PublicKey()) ||
				e.Fingerprint != s.Fingerprint() || e.RotatedAt != nil || e.Status != "active" || !timeRE.MatchString(e.CreatedAt) {
				t.Errorf("epoch %+v", e)
			}
			// The file is exactly what Marshal writes.
			data, _ := os.ReadFile(filepath.Join(dir, KeyringFile))
			if again, _ := kr.Marshal(); !bytes.Equal(data, again) {
				t.Errorf("keyring.json is not in the canonical layout:\n%s", data)
			}
			// No temporary files are left behind.
			names := dirNames(t, dir)
			if want := []string{KeyFile, LockFile, KeyringFile}; !slices.Equal(names, want) {
				t.Errorf("directory holds %q, want %q", names, want)
			}
			s2, err := LoadOrCreate(dir)
			if err != nil {
				t.Fatal(err)
			}
			if !s2.PublicKey().Equal(s.PublicKey()) || s2.Fingerprint() != s.Fingerprint() {
				t.Errorf("second LoadOrCreate gave another key")
			}
		})
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestExistingKeyWithoutKeyring(t *testing.T) {
	dir := copyRef(t)
	os.Remove(filepath.Join(dir, KeyringFile))
	s, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(s.PublicKey()) != refPublicKey(t) || s.Fingerprint() != "qp_key_ceef" {
		t.Errorf("got %s %s", s.PublicKey(), s.Fingerprint())
	}
	kr, err := LoadKeyring(dir)
	if err != nil {
		t.Fatal(err)
	}
	if a, _ := kr.Active(); a.PublicKeyHex != refPublicKey(t) || a.Fingerprint != "qp_key_ceef" {
		t.Errorf("new keyring active epoch %+v", a)
	}
}

func TestInsecureKeyRefused(t *testing.T) {
	for _, m := range []fs.FileMode{0o644, 0o640, 0o604, 0o660, 0o601, 0o610, 0o666} {
		dir := copyRef(t)
		path := filepath.Join(dir, KeyFile)
		if err := os.Chmod(path, m); err != nil {
			t.Fatal(err)
		}
		_, err := LoadOrCreate(dir)
		if !errors.Is(err, ErrInsecureKey) {
			t.Fatalf("mode %04o: err = %v, want ErrInsecureKey", m, err)
		}
		for _, w := range []string{path, fmt.Sprintf("%04o", m), "chmod 600 " + path} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("mode %04o: error %q does not mention %q", m, err, w)
			}
		}
	}
	for _, m := range []fs.FileMode{0o600, 0o400, 0o700} {
		dir := copyRef(t)
		if err := os.Chmod(filepath.Join(dir, KeyFile), m); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadOrCreate(dir); err != nil {
			t.Errorf("mode %04o refused: %v", m, err)
		}
	}
}

func TestWrongLengthRefused(t *testing.T) {
	for _, n := range []int{0, 31, 33, 64} {
		dir := copyRef(t)
		path := filepath.Join(dir, KeyFile)
		if err := os.WriteFile(path, bytes.Repeat([]byte{7}, n), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadOrCreate(dir)
		if !errors.Is(err, ErrInvalidKey) {
			t.Fatalf("%d bytes: err = %v, want ErrInvalidKey", n, err)
		}
		if w := fmt.Sprintf("%s is %d bytes long", path, n); !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
	dir := copyRef(t)
	path := filepath.Join(dir, KeyFile)
	os.Remove(path)
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreate(dir); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("directory as key: err = %v, want ErrInvalidKey", err)
	}
}

func TestKeyMismatch(t *testing.T) {
	dir := copyRef(t)
	seed := bytes.Repeat([]byte{1}, 32)
	if err := os.WriteFile(filepath.Join(dir, KeyFile), seed, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreate(dir); !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("foreign key: err = %v, want ErrKeyMismatch", err)
	}

	dir = copyRef(t)
	os.Remove(filepath.Join(dir, KeyFile))
	_, err := LoadOrCreate(dir)
	if !errors.Is(err, ErrKeyMismatch) || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing key: err = %v, want ErrKeyMismatch saying missing", err)
	}
	if _, err := os.Stat(filepath.Join(dir, KeyFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a key was created next to a keyring that names another one")
	}
}

func TestRotate(t *testing.T) {
	dir := copyRef(t)
	old, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	s, err := rotate(dir, at, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.PublicKey().Equal(old.PublicKey()) || s.Fingerprint() == old.Fingerprint() {
		t.Fatalf("rotation kept the key")
	}
	if s.Fingerprint() != Fingerprint(s.PublicKey()) {
		t.Errorf("fingerprint %q", s.Fingerprint())
	}
	kr, err := LoadKeyring(dir)
	if err != nil {
		t.Fatal(err)
	}
	if kr.ActiveEpoch != 1 || len(kr.Epochs) != 2 {
		t.Fatalf("keyring after rotation: %+v", kr)
	}
	e0, e1 := kr.Epochs[0], kr.Epochs[1]
	if e0.Status != "retired" || e0.RotatedAt == nil || *e0.RotatedAt != "2026-12-01T10:00:00+00:00" ||
		e0.PublicKeyHex != refPublicKey(t) || e0.Fingerprint != "qp_key_ceef" || e0.CreatedAt != "2026-11-28T16:55:19.729648+00:00" {
		t.Errorf("retired epoch %+v", e0)
	}
	if e1.Epoch != 1 || e1.Status != "active" || e1.RotatedAt != nil || e1.CreatedAt != "2026-12-01T10:00:00+00:00" ||
		e1.PublicKeyHex != hex.EncodeToString(s.PublicKey()) || e1.Fingerprint != s.Fingerprint() {
		t.Errorf("new epoch %+v", e1)
	}
	if pub, ok := kr.Lookup("qp_key_ceef"); !ok || !pub.Equal(old.PublicKey()) {
		t.Errorf("old key not found after rotation")
	}
	if pub, ok := kr.Lookup(s.Fingerprint()); !ok || !pub.Equal(s.PublicKey()) {
		t.Errorf("new key not found after rotation")
	}
	// Old capsules still verify through the keyring.
	resolve := kr.Resolver(s.PublicKey())
	for i, c := range refChain(t) {
		pub, err := resolve(c.SignedBy)
		if err != nil || !Verify(pub, c.Hash, c.Signature) {
			t.Errorf("capsule %d no longer verifies: %v", i, err)
		}
	}
	// The layout stays the reference's.
	data, _ := os.ReadFile(filepath.Join(dir, KeyringFile))
	wantLayout := `{
  "version": 1,
  "active_epoch": 1,
  "epochs": [
    {
      "epoch": 0,
      "algorithm": "ed25519",
      "public_key_hex": "ceef506201eab2ab6737cec2827f6a228a1d5c73eb1efef1a12e6eac718715d3",
      "fingerprint": "qp_key_ceef",
      "created_at": "2026-11-28T16:55:19.729648+00:00",
      "rotated_at": "2026-12-01T10:00:00+00:00",
      "status": "retired"
    },
    {
      "epoch": 1,
      "algorithm": "ed25519",
      "public_key_hex": "` + e1.PublicKeyHex + `",
      "fingerprint": "` + e1.Fingerprint + `",
      "created_at": "2026-12-01T10:00:00+00:00",
      "rotated_at": null,
      "status": "active"
    }
  ]
}
`
	if string(data) != wantLayout {
		t.Errorf("keyring.json after rotation:\n%s\nwant:\n%s", data, wantLayout)
	}
	if m := mode(t, filepath.Join(dir, KeyFile)); m != 0o600 {
		t.Errorf("new key mode %04o", m)
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{KeyFile, LockFile, KeyringFile}) {
		t.Errorf("directory holds %q after rotation", names)
	}
	// LoadOrCreate now returns the new key.
	s2, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !s2.PublicKey().Equal(s.PublicKey()) || s2.Fingerprint() != s.Fingerprint() {
		t.Errorf("LoadOrCreate after rotation gave %v, want %v", s2, s)
	}
	// And again: epochs keep counting.
	s3, err := Rotate(dir)
	if err != nil {
		t.Fatal(err)
	}
	kr, _ = LoadKeyring(dir)
	if kr.ActiveEpoch != 2 || len(kr.Epochs) != 3 || kr.Epochs[1].Status != "retired" || kr.Epochs[2].PublicKeyHex != hex.EncodeToString(s3.PublicKey()) {
		t.Errorf("second rotation: %+v", kr)
	}
}

func TestRotateWithoutKey(t *testing.T) {
	if _, err := Rotate(t.TempDir()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Rotate on an empty directory: err = %v, want ErrNotExist", err)
	}
}

func TestRotateCrash(t *testing.T) {
	errCrash := errors.New("simulated crash")
	t.Run("before commit", func(t *testing.T) {
		dir := copyRef(t)
		before, _ := os.ReadFile(filepath.Join(dir, KeyringFile))
		_, err := rotate(dir, time.Now(), func(step string) error {
			if step == "key.next written" {
				return errCrash
			}
			return nil
		})
		if !errors.Is(err, errCrash) {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(dir, pendingKeyFile)); err != nil {
			t.Fatalf("crash left no key.next: %v", err)
		}
		s, err := LoadOrCreate(dir)
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(s.PublicKey()) != refPublicKey(t) {
			t.Errorf("old key not in use after a crash before the commit point")
		}
		if after, _ := os.ReadFile(filepath.Join(dir, KeyringFile)); !bytes.Equal(before, after) {
			t.Errorf("keyring changed")
		}
		if _, err := os.Stat(filepath.Join(dir, pendingKeyFile)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("stale key.next not removed: %v", err)
		}
	})
	t.Run("after commit", func(t *testing.T) {
		dir := copyRef(t)
		_, err := rotate(dir, time.Now(), func(step string) error {
			if step == "keyring written" {
				return errCrash
			}
			return nil
		})
		if !errors.Is(err, errCrash) {
			t.Fatal(err)
		}
		kr, _ := LoadKeyring(dir)
		active, _ := kr.Active()
		if active.Epoch != 1 {
			t.Fatalf("keyring not committed: %+v", kr)
		}
		s, err := LoadOrCreate(dir)
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(s.PublicKey()) != active.PublicKeyHex || s.Fingerprint() != active.Fingerprint {
			t.Errorf("LoadOrCreate after a crash past the commit point: %v, want epoch 1 %s", s, active.Fingerprint)
		}
		seed, _ := os.ReadFile(filepath.Join(dir, KeyFile))
		if !ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey).Equal(s.PublicKey()) {
			t.Errorf("key file not replaced by the new key")
		}
		if names := dirNames(t, dir); !slices.Equal(names, []string{KeyFile, LockFile, KeyringFile}) {
			t.Errorf("directory holds %q", names)
		}
	})
}

func TestConcurrentLoadOrCreate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	const n = 8
	pubs := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			s, err := LoadOrCreate(dir)
			errs[i] = err
			if err == nil {
				pubs[i] = hex.EncodeToString(s.PublicKey())
			}
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if pubs[i] != pubs[0] {
			t.Errorf("goroutine %d got key %s, goroutine 0 %s", i, pubs[i], pubs[0])
		}
	}
}

func TestConcurrentLoadOrCreateProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := filepath.Join(t.TempDir(), "data")
	pubs := runChildren(t, "load", dir, 3)
	s, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := hex.EncodeToString(s.PublicKey())
	for i, p := range pubs {
		if p != want {
			t.Errorf("process %d got key %q, want %s", i, p, want)
		}
	}
}

func TestConcurrentRotations(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := copyRef(t)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if _, err := Rotate(dir); err != nil {
				t.Error(err)
			}
		})
	}
	runChildren(t, "rotate", dir, 2)
	wg.Wait()
	kr, err := LoadKeyring(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(kr.Epochs) != 5 || kr.ActiveEpoch != 4 {
		t.Fatalf("after 4 rotations: active %d, %d epochs", kr.ActiveEpoch, len(kr.Epochs))
	}
	fps := map[string]bool{}
	for i, e := range kr.Epochs {
		wantStatus := "retired"
		if i == 4 {
			wantStatus = "active"
		}
		if e.Epoch != i || e.Status != wantStatus || (e.RotatedAt == nil) != (i == 4) {
			t.Errorf("epoch %d: %+v", i, e)
		}
		fps[e.Fingerprint] = true
	}
	if len(fps) != 5 {
		t.Errorf("fingerprints are not distinct: %v", fps)
	}
	s, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(s.PublicKey()) != kr.Epochs[4].PublicKeyHex {
		t.Errorf("key file is not the active epoch")
	}
}

func TestResolver(t *testing.T) {
	kr, err := LoadKeyring(refDir)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := kr.Lookup("qp_key_ceef")
	local := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32)).Public().(ed25519.PublicKey)

	got, err := kr.Resolver(local)("qp_key_ceef")
	if err != nil || !got.Equal(ref) {
		t.Errorf("known signer: %x, %v", got, err)
	}
	got, err = kr.Resolver(local)("ceef506201eab2ab")
	if err != nil || !got.Equal(ref) {
		t.Errorf("short fingerprint: %x, %v", got, err)
	}
	// An unknown signer is an error even with a local key: signed_by is
	// not signed, so trying another key would accept re-labelled capsules.
	if _, err := kr.Resolver(local)("qp_key_ffff"); !errors.Is(err, ErrUnknownSigner) {
		t.Errorf("unknown signer with a local key: %v", err)
	}
	if _, err := kr.Resolver(local)(""); !errors.Is(err, ErrUnknownSigner) {
		t.Errorf("empty signer with a local key: %v", err)
	}
	for _, name := range []string{Fingerprint(local), ShortFingerprint(local)} {
		if got, err := kr.Resolver(local)(name); err != nil || !got.Equal(local) {
			t.Errorf("local key by %s: %x, %v", name, got, err)
		}
	}
	if _, err := kr.Resolver(nil)("qp_key_ffff"); !errors.Is(err, ErrUnknownSigner) || !strings.Contains(err.Error(), `"qp_key_ffff"`) {
		t.Errorf("unknown signer without fallback: err = %v", err)
	}
	if _, err := kr.Resolver(nil)(""); !errors.Is(err, ErrUnknownSigner) {
		t.Errorf("empty signer: err = %v", err)
	}
	var none *Keyring
	if _, err := none.Resolver(local)("qp_key_ceef"); !errors.Is(err, ErrUnknownSigner) {
		t.Errorf("nil keyring, another signer: %v", err)
	}
	got, err = none.Resolver(local)(Fingerprint(local))
	if err != nil || !got.Equal(local) {
		t.Errorf("nil keyring, local signer: %x, %v", got, err)
	}
	if _, ok := none.Lookup("qp_key_ceef"); ok {
		t.Errorf("nil keyring Lookup found a key")
	}
}

func TestLookupPrefersActiveOnClash(t *testing.T) {
	a := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32)).Public().(ed25519.PublicKey)
	b := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, 32)).Public().(ed25519.PublicKey)
	now := time.Now()
	kr := &Keyring{Version: 1, ActiveEpoch: 1, Epochs: []Epoch{newEpoch(0, a, now), newEpoch(1, b, now)}}
	kr.Epochs[0].Fingerprint = "qp_key_same"
	kr.Epochs[0].Status = StatusRetired
	kr.Epochs[1].Fingerprint = "qp_key_same"
	if pub, _ := kr.Lookup("qp_key_same"); !pub.Equal(b) {
		t.Errorf("Lookup chose the retired key")
	}
	if pub, _ := kr.Resolver(nil)("qp_key_same"); !pub.Equal(b) {
		t.Errorf("Resolver chose the retired key")
	}
	if pub, _ := kr.Lookup(ShortFingerprint(a)); !pub.Equal(a) {
		t.Errorf("short fingerprint of the retired key not found")
	}
}

func TestParseKeyringErrors(t *testing.T) {
	pk := strings.Repeat("ab", 32)
	ep := func(n int, hexKey string) string {
		return fmt.Sprintf(`{"epoch":%d,"algorithm":"ed25519","public_key_hex":%q,"fingerprint":"qp_key_abab","created_at":"x","rotated_at":null,"status":"active"}`, n, hexKey)
	}
	tests := map[string]string{
		"not json":        `{`,
		"version 2":       `{"version":2,"active_epoch":0,"epochs":[` + ep(0, pk) + `]}`,
		"no epochs":       `{"version":1,"active_epoch":0,"epochs":[]}`,
		"duplicate epoch": `{"version":1,"active_epoch":0,"epochs":[` + ep(0, pk) + `,` + ep(0, pk) + `]}`,
		"active missing":  `{"version":1,"active_epoch":3,"epochs":[` + ep(0, pk) + `]}`,
		"short key":       `{"version":1,"active_epoch":0,"epochs":[` + ep(0, pk[:62]) + `]}`,
		"uppercase key":   `{"version":1,"active_epoch":0,"epochs":[` + ep(0, strings.ToUpper(pk)) + `]}`,
		"non-hex key":     `{"version":1,"active_epoch":0,"epochs":[` + ep(0, "zz"+pk[2:]) + `]}`,
		"active not ed25519": `{"version":1,"active_epoch":1,"epochs":[` + ep(0, pk) +
			`,{"epoch":1,"algorithm":"ml-dsa-65","public_key_hex":"00","fingerprint":"x","created_at":"x","rotated_at":null,"status":"active"}]}`,
	}
	for name, in := range tests {
		if _, err := ParseKeyring([]byte(in)); !errors.Is(err, ErrInvalidKeyring) {
			t.Errorf("%s: err = %v, want ErrInvalidKeyring", name, err)
		}
	}
	ok := `{"version":1,"active_epoch":0,"epochs":[` + ep(0, pk) +
		`,{"epoch":1,"algorithm":"ml-dsa-65","public_key_hex":"00","fingerprint":"qp_pq","created_at":"x","rotated_at":null,"status":"retired","extra":1}]}`
	kr, err := ParseKeyring([]byte(ok))
	if err != nil {
		t.Fatalf("keyring with a foreign algorithm epoch: %v", err)
	}
	if _, found := kr.Lookup("qp_pq"); found {
		t.Errorf("Lookup returned a non-Ed25519 epoch")
	}
}

func TestDataDir(t *testing.T) {
	t.Setenv(DataDirEnv, "/srv/capsules")
	if d, err := DataDir(); err != nil || d != "/srv/capsules" {
		t.Errorf("DataDir() = %q, %v", d, err)
	}
	t.Setenv(DataDirEnv, "")
	t.Setenv("HOME", "/home/someone")
	if d, err := DataDir(); err != nil || d != "/home/someone/.quantumpipes" {
		t.Errorf("DataDir() = %q, %v", d, err)
	}
	os.Unsetenv(DataDirEnv)
	t.Setenv("HOME", "")
	if _, err := DataDir(); err == nil || !strings.Contains(err.Error(), DataDirEnv) {
		t.Errorf("DataDir() without HOME: err = %v", err)
	}
}

func TestSignerHidesKey(t *testing.T) {
	dir := copyRef(t)
	s, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := os.ReadFile(filepath.Join(dir, KeyFile))
	secretHex := hex.EncodeToString(seed)
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("loaded", "signer", s)
	outputs := []string{
		fmt.Sprintf("%v", s), fmt.Sprintf("%+v", s), fmt.Sprintf("%#v", s), fmt.Sprintf("%s", s),
		fmt.Sprint(*s), fmt.Sprintf("%+v", struct{ S Signer }{*s}), logged.String(),
	}
	for _, out := range outputs {
		if strings.Contains(out, secretHex) || strings.Contains(out, secretHex[:16]) || strings.Contains(out, strings.Trim(fmt.Sprint(seed[:8]), "[]")) {
			t.Errorf("output shows key material: %s", out)
		}
	}
	if got := fmt.Sprintf("%v", s); got != "keys.Signer(qp_key_ceef)" {
		t.Errorf("%%v = %q", got)
	}
	if !strings.Contains(logged.String(), `"signer":{"fingerprint":"qp_key_ceef"}`) {
		t.Errorf("slog output %s", logged.String())
	}
}

func TestNewSignerAndVerify(t *testing.T) {
	seed, _ := os.ReadFile(filepath.Join(refDir, KeyFile))
	priv := ed25519.NewKeyFromSeed(seed)
	s := NewSigner(priv, "")
	if s.Fingerprint() != "ceef506201eab2ab" {
		t.Errorf("default fingerprint %q, want the 16-hex form", s.Fingerprint())
	}
	if NewSigner(priv, "custom").Fingerprint() != "custom" {
		t.Errorf("fingerprint not kept")
	}
	c := refChain(t)[3]
	sig := s.Sign(c.Hash)
	if sig != c.Signature || len(sig) != 128 || strings.ToLower(sig) != sig {
		t.Errorf("Sign = %s, want %s", sig, c.Signature)
	}
	pub := s.PublicKey()
	if !Verify(pub, c.Hash, sig) {
		t.Errorf("Verify failed")
	}
	for name, tc := range map[string][3]string{
		"short sig":   {c.Hash, sig[:126]},
		"non-hex sig": {c.Hash, "zz" + sig[2:]},
		"other hash":  {strings.Repeat("0", 64), sig},
	} {
		if Verify(pub, tc[0], tc[1]) {
			t.Errorf("%s: Verify = true", name)
		}
	}
	if Verify(pub[:31], c.Hash, sig) {
		t.Errorf("short public key: Verify = true")
	}
	defer func() {
		if recover() == nil {
			t.Errorf("NewSigner with a short key did not panic")
		}
	}()
	NewSigner(priv[:10], "")
}

func TestProtocolTime(t *testing.T) {
	loc := time.FixedZone("x", 2*3600)
	tests := map[time.Time]string{
		time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC):          "2026-01-15T12:00:00+00:00",
		time.Date(2026, 1, 15, 12, 0, 0, 999, time.UTC):        "2026-01-15T12:00:00+00:00",
		time.Date(2026, 1, 15, 12, 0, 0, 1000, time.UTC):       "2026-01-15T12:00:00.000001+00:00",
		time.Date(2026, 6, 15, 8, 30, 45, 123456789, time.UTC): "2026-06-15T08:30:45.123456+00:00",
		time.Date(2026, 6, 15, 10, 30, 45, 500000000, loc):     "2026-06-15T08:30:45.500000+00:00",
	}
	for in, want := range tests {
		if got := protocolTime(in); got != want {
			t.Errorf("protocolTime(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestLockFailures(t *testing.T) {
	for err, want := range map[error]bool{
		fmt.Errorf("open: %w", fs.ErrPermission): true,
		fmt.Errorf("open: %w", syscall.EROFS):    true,
		fmt.Errorf("open: %w", syscall.EISDIR):   false,
		errors.New("other"):                      false,
	} {
		if got := canRunUnlocked(err); got != want {
			t.Errorf("canRunUnlocked(%v) = %v, want %v", err, got, want)
		}
	}
	// A lock that cannot be taken for another reason stops LoadOrCreate and
	// Rotate rather than letting them run unguarded.
	dir := copyRef(t)
	if err := os.Mkdir(filepath.Join(dir, LockFile), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreate(dir); err == nil || !strings.Contains(err.Error(), LockFile) {
		t.Errorf("LoadOrCreate with an unusable lock file: err = %v", err)
	}
	if _, err := Rotate(dir); err == nil || !strings.Contains(err.Error(), LockFile) {
		t.Errorf("Rotate with an unusable lock file: err = %v", err)
	}
}

func TestSignMessage(t *testing.T) {
	s, err := LoadOrCreate(copyRef(t))
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("checkpoint 12")
	sig := s.SignMessage(msg)
	if !ed25519.Verify(s.PublicKey(), msg, sig) {
		t.Errorf("SignMessage signature does not verify")
	}
	if ed25519.Verify(s.PublicKey(), []byte("checkpoint 13"), sig) {
		t.Errorf("SignMessage signature verifies another message")
	}
}
