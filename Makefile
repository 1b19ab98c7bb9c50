# capsule for Go: the two commands a fresh machine needs are
#   make run    audit some calls into the default SQLite store and verify the chain
#   make test   run every test (PostgreSQL tests too when CAPSULE_TEST_POSTGRES_URL is set)
GO ?= go
PG_URL ?= postgres://postgres@127.0.0.1:5432/test?sslmode=disable

.PHONY: run test test-short vet fmt check-generated nocgo generate bench fuzz

run:
	$(GO) run ./examples/agent

test: vet check-generated nocgo
	$(GO) test -count=1 ./...
	$(GO) test -count=1 -race . ./runtime/... ./protocol/... ./keys/... ./checkpoint/... ./storage/... ./integrations/...

vet:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

check-generated:
	$(GO) run ./cmd/capsulegen -check ./...

# Without cgo: everything builds, and the example audits calls into the
# zero-config SQLite store (pure-Go driver) and verifies its chains.
nocgo:
	CGO_ENABLED=0 $(GO) build ./...
	@dir=$$(mktemp -d) && CGO_ENABLED=0 $(GO) build -o $$dir/agent ./examples/agent && \
	QUANTUMPIPES_DATA_DIR=$$dir/data CAPSULE_URL= $$dir/agent && rm -rf $$dir

generate:
	$(GO) generate ./...

bench:
	$(GO) test -run='^$$' -bench=. -benchmem . ./protocol/... ./storage/... ./gen/...
	$(GO) run ./cmd/capsule bench

fuzz:
	$(GO) test -run='^$$' -fuzz=FuzzCanonicalize -fuzztime=60s ./protocol/canonical
	$(GO) test -run='^$$' -fuzz=FuzzParse -fuzztime=60s ./protocol/uri
