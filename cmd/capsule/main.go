// Command capsule is the operator's tool for capsule chains: it verifies,
// inspects, exports and seals capsules, computes canonical JSON and hashes,
// validates single capsules against the protocol, manages the signing keys
// of the data directory and serves the read-only HTTP routes.
//
// Exit codes, the same in every command: 0 pass; 1 the input was read and
// is invalid or does not verify; 2 usage or I/O error (the input cannot be
// read, or is not JSON at all). Run "capsule help" for the commands.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
