package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/capsule-go/capsule/checkpoint"
	"github.com/capsule-go/capsule/internal/cli"
	"github.com/capsule-go/capsule/keys"
)

const keysUsage = `
Usage: capsule keys <info|rotate|export-public> [flags]

Manage the signing keys of the data directory ($QUANTUMPIPES_DATA_DIR,
else ~/.quantumpipes): the Ed25519 key "key" and the keyring
"keyring.json" shared with the Python reference.
  info           show the data directory, the active key's fingerprint and
                 public key, and every epoch of the keyring (--json)
  rotate         retire the active key and make a new one active; the old
                 public key stays in the keyring so older capsules verify
  export-public  print the active public key as 64 hex digits
No subcommand ever prints private key material.`

func runKeys(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	f := newFlags("keys", keysUsage, "capsule keys info --json")
	if len(args) == 0 {
		return f.usageFail(stderr, "missing subcommand: info, rotate or export-public")
	}
	switch args[0] {
	case "info":
		return runKeysInfo(ctx, args[1:], stdin, stdout, stderr)
	case "rotate":
		return runKeysRotate(ctx, args[1:], stdin, stdout, stderr)
	case "export-public":
		return runKeysExportPublic(ctx, args[1:], stdin, stdout, stderr)
	}
	if _, code, ok := f.parse(args, stdout, stderr); !ok {
		return code // --help or a bad flag
	}
	return f.usageFail(stderr, fmt.Sprintf("unknown subcommand %q: want info, rotate or export-public", args[0]))
}

// keyState is what the data directory holds; publicKey is "" when it holds
// no key at all.
type keyState struct {
	dir         string
	signingKey  bool // the private key file exists
	fingerprint string
	publicKey   string // hex
	keyring     *keys.Keyring
	pq          bool // an ML-DSA-65 public key exists
}

// loadKeys reads the data directory without creating or changing
// anything. When the key file exists its public key is read (with the
// runtime's checks of its mode and length) and its fingerprint is the
// keyring's active epoch, or the one a keyring would give it; otherwise the
// keyring alone (a verify-only directory) is read.
func loadKeys() (*keyState, error) {
	dir, err := keys.DataDir()
	if err != nil {
		return nil, err
	}
	st := &keyState{dir: dir}
	_, err = os.Stat(filepath.Join(dir, keys.KeyFile))
	switch {
	case err == nil:
		st.signingKey = true
		pub, err := keys.ReadPublicKey(dir)
		if err != nil {
			return nil, err
		}
		st.fingerprint = keys.Fingerprint(pub)
		st.publicKey = hex.EncodeToString(pub)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("data directory %s: %w", dir, err)
	}
	st.keyring, err = keys.LoadKeyring(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !st.signingKey:
		st.keyring = nil
		return st, nil // no key yet
	case errors.Is(err, fs.ErrNotExist):
		st.keyring = nil
	case err != nil:
		return nil, err
	}
	if st.signingKey && st.keyring != nil {
		if a, ok := st.keyring.Active(); ok && a.PublicKeyHex == st.publicKey {
			st.fingerprint = a.Fingerprint
		}
	}
	if !st.signingKey {
		a, ok := st.keyring.Active()
		if !ok {
			return nil, fmt.Errorf("keyring %s has no active epoch", filepath.Join(dir, keys.KeyringFile))
		}
		st.fingerprint, st.publicKey = a.Fingerprint, a.PublicKeyHex
	}
	if _, err := os.Stat(filepath.Join(dir, keys.PQKeyFile+".pub")); err == nil {
		st.pq = true
	}
	return st, nil
}

const keysInfoUsage = `
Usage: capsule keys info [--json]

Show the data directory, whether it holds the private signing key, the
active key's fingerprint (the signed_by of new capsules) and public key,
and every epoch of the keyring. Never prints private key material, and
never creates or changes a file.`

func runKeysInfo(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	f := newFlags("keys info", keysInfoUsage, "capsule keys info --json")
	asJSON := f.Bool("json", false, "print the information as one JSON object")
	positional, code, ok := f.parse(args, stdout, stderr)
	if !ok {
		return code
	}
	if len(positional) > 0 {
		return f.usageFail(stderr, fmt.Sprintf("unexpected arguments: %q", positional))
	}
	st, err := loadKeys()
	if err != nil {
		return f.fail(stderr, err, exitError)
	}
	epochs := []keys.Epoch{}
	active := -1
	if st.keyring != nil {
		epochs, active = st.keyring.Epochs, st.keyring.ActiveEpoch
	}
	if *asJSON {
		out := struct {
			DataDir     string       `json:"data_dir"`
			SigningKey  bool         `json:"signing_key"`
			Fingerprint string       `json:"fingerprint"`
			PublicKey   string       `json:"public_key"`
			ActiveEpoch *int         `json:"active_epoch"`
			Epochs      []keys.Epoch `json:"epochs"`
			PostQuantum bool         `json:"post_quantum_key"`
		}{st.dir, st.signingKey, st.fingerprint, st.publicKey, nil, epochs, st.pq}
		if st.keyring != nil {
			out.ActiveEpoch = &active
		}
		enc := json.NewEncoder(stdout)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(out); err != nil {
			return f.fail(stderr, err, exitError)
		}
		return exitOK
	}
	c := cli.NewColour(stdout, os.Getenv)
	var b strings.Builder
	line := func(k, v string) { fmt.Fprintf(&b, "%s %s\n", c.Dim(fmt.Sprintf("%-15s", k+":")), v) }
	line("data directory", st.dir)
	if st.publicKey == "" {
		line("signing key", c.Yellow("none yet"))
		b.WriteString("The first seal creates one, or run 'capsule keys rotate' to create it now.\n")
		io.WriteString(stdout, b.String())
		return exitOK
	}
	if st.signingKey {
		line("signing key", filepath.Join(st.dir, keys.KeyFile))
	} else {
		line("signing key", c.Yellow("absent (this directory can verify, not seal)"))
	}
	line("fingerprint", st.fingerprint)
	line("public key", st.publicKey)
	if st.pq {
		line("ML-DSA-65 key", filepath.Join(st.dir, keys.PQKeyFile+".pub"))
	}
	if st.keyring == nil {
		line("keyring", "none")
	} else {
		fmt.Fprintf(&b, "%s\n", c.Bold("epochs:"))
		for _, e := range epochs {
			status := e.Status
			if e.Epoch == active {
				status = c.Green(status)
			}
			rotated := ""
			if e.RotatedAt != nil {
				rotated = "  rotated " + *e.RotatedAt
			}
			fmt.Fprintf(&b, "  %d  %s  %s  %s  %s  created %s%s\n", e.Epoch, e.Algorithm, e.Fingerprint, status, e.PublicKeyHex, e.CreatedAt, rotated)
		}
	}
	io.WriteString(stdout, b.String())
	return exitOK
}

const keysRotateUsage = `
Usage: capsule keys rotate

Retire the active signing key of the data directory and make a new one
active; in a data directory without a key, create the first one (epoch 0). The retired key's public half stays in keyring.json (status
"retired", rotated_at set) so capsules it signed still verify; its private
key is overwritten. The rotation is atomic and safe against concurrent
rotations. Processes that already loaded the old key keep signing with it
until they restart.`

func runKeysRotate(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	f := newFlags("keys rotate", keysRotateUsage, "QUANTUMPIPES_DATA_DIR=/srv/audit capsule keys rotate")
	positional, code, ok := f.parse(args, stdout, stderr)
	if !ok {
		return code
	}
	if len(positional) > 0 {
		return f.usageFail(stderr, fmt.Sprintf("unexpected arguments: %q", positional))
	}
	dir, err := keys.DataDir()
	if err != nil {
		return f.fail(stderr, err, exitError)
	}
	st, err := loadKeys()
	if err != nil {
		return f.fail(stderr, err, exitError)
	}
	if st.publicKey == "" {
		// Nothing to retire: create the first key, as the reference's
		// "capsule keys rotate" does.
		s, err := keys.LoadOrCreate(dir)
		if err != nil {
			return f.fail(stderr, err, exitError)
		}
		fmt.Fprintf(stdout, "created the first signing key of %s: epoch 0 (%s, public key %s) is active\n",
			dir, s.Fingerprint(), hex.EncodeToString(s.PublicKey()))
		return exitOK
	}
	var old keys.Epoch
	if st.keyring != nil {
		old, _ = st.keyring.Active()
	} else {
		// A key without keyring becomes epoch 0 first, as in the reference.
		s, err := keys.LoadOrCreate(dir)
		if err != nil {
			return f.fail(stderr, err, exitError)
		}
		old.Fingerprint = s.Fingerprint()
	}
	s, err := keys.Rotate(dir)
	if err != nil {
		return f.fail(stderr, err, exitError)
	}
	kr, err := keys.LoadKeyring(dir)
	if err != nil {
		return f.fail(stderr, err, exitError)
	}
	fmt.Fprintf(stdout, "rotated the signing key of %s: epoch %d (%s, public key %s) is active; epoch %d (%s) is retired\n",
		dir, kr.ActiveEpoch, s.Fingerprint(), hex.EncodeToString(s.PublicKey()), old.Epoch, old.Fingerprint)
	return exitOK
}

const keysExportUsage = `
Usage: capsule keys export-public [--note ORIGIN]

Print the active Ed25519 public key of the data directory as 64 lowercase
hex digits, for "capsule verify --public-key" or another verifier. With
--note ORIGIN, print instead the signed-note verifier key of the log
ORIGIN ("ORIGIN+HASH+BASE64"), which checks the checkpoints "capsule
checkpoint --origin ORIGIN" signs: for "capsule verify-proof --log-key"
and for witnesses.`

func runKeysExportPublic(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	f := newFlags("keys export-public", keysExportUsage, "capsule keys export-public > public_key.hex")
	origin := f.String("note", "", "print the note verifier key of the log `ORIGIN`")
	positional, code, ok := f.parse(args, stdout, stderr)
	if !ok {
		return code
	}
	if len(positional) > 0 {
		return f.usageFail(stderr, fmt.Sprintf("unexpected arguments: %q", positional))
	}
	st, err := loadKeys()
	if err != nil {
		return f.fail(stderr, err, exitError)
	}
	if st.publicKey == "" {
		return f.fail(stderr, fmt.Errorf("no signing key or keyring in the data directory %s: one is created by the first seal or by 'capsule keys rotate' (set %s to use another directory)", st.dir, keys.DataDirEnv), exitError)
	}
	if *origin != "" {
		pub, err := hex.DecodeString(st.publicKey)
		if err != nil {
			return f.fail(stderr, err, exitError)
		}
		vkey, err := checkpoint.VerifierKey(*origin, pub)
		if err != nil {
			return f.usageFail(stderr, fmt.Sprintf("--note: %v", err))
		}
		fmt.Fprintln(stdout, vkey)
		return exitOK
	}
	fmt.Fprintln(stdout, st.publicKey)
	return exitOK
}
