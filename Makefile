# capsule for Go: the two commands a fresh machine needs are
#   make run    audit some calls into the default SQLite store and verify the chain
#   make test   run every test (PostgreSQL tests too when CAPSULE_TEST_POSTGRES_URL is set)
GO ?= go

.PHONY: run test vet check-generated capsulevet nocgo generate bench fuzz

run:
	$(GO) run ./examples/agent

test: vet check-generated capsulevet nocgo
	@if [ -z "$$CAPSULE_TEST_POSTGRES_URL" ]; then \
	  echo "*** PostgreSQL tests SKIPPED: CAPSULE_TEST_POSTGRES_URL is not set."; \
	  echo "*** To run them: CAPSULE_TEST_POSTGRES_URL='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' make test  (or .ci/run)"; \
	fi
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || command -v google-chrome >/dev/null 2>&1 || [ -n "$$CAPSULE_CHROMIUM" ] || \
	  echo "*** Explorer browser tests SKIPPED: no Chromium (apt-get install -y chromium chromium-driver, or set CAPSULE_CHROMIUM)."
	@[ -n "$$CAPSULE_TEST_POSTGRES_BIN" ] || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || \
	  echo "*** PostgreSQL failover tests SKIPPED: no PostgreSQL server binaries (apt-get install -y postgresql, or set CAPSULE_TEST_POSTGRES_BIN)."
	$(GO) test -count=1 -timeout 30m ./...
	$(GO) test -count=1 -timeout 30m -race . ./runtime/... ./protocol/... ./keys/... ./checkpoint/... ./storage/... ./integrations/...
	cd integrations/otel && $(GO) vet ./... && $(GO) test -count=1 -race ./...
	cd integrations/llm && $(GO) vet ./... && $(GO) tool capsulegen -check ./... && $(GO) test -count=1 -race ./...

vet:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

check-generated:
	$(GO) run ./cmd/capsulegen -check ./...
	$(GO) run ./internal/schemagen -check

# No call in the examples bypasses an audited function's wrapper (go vet
# caches the result until the examples or the analyzer change).
capsulevet:
	$(GO) build -o bin/capsulevet ./cmd/capsulevet
	$(GO) vet -vettool=$(CURDIR)/bin/capsulevet ./examples/...

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

# Each parser and encoder for a minute (FUZZTIME=10s for a quick pass).
FUZZTIME ?= 60s
fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzCanonicalize$$' -fuzztime=$(FUZZTIME) ./protocol/canonical
	$(GO) test -run='^$$' -fuzz='^FuzzParse$$' -fuzztime=$(FUZZTIME) ./protocol/canonical
	$(GO) test -run='^$$' -fuzz='^FuzzNumber$$' -fuzztime=$(FUZZTIME) ./protocol/canonical
	$(GO) test -run='^$$' -fuzz='^FuzzDecoder$$' -fuzztime=$(FUZZTIME) ./protocol/canonical
	$(GO) test -run='^$$' -fuzz='^FuzzParseContent$$' -fuzztime=$(FUZZTIME) .
	$(GO) test -run='^$$' -fuzz='^FuzzAppendSealed$$' -fuzztime=$(FUZZTIME) ./protocol
	$(GO) test -run='^$$' -fuzz='^FuzzDocument$$' -fuzztime=$(FUZZTIME) ./protocol/validate
	$(GO) test -run='^$$' -fuzz='^FuzzParse$$' -fuzztime=$(FUZZTIME) ./protocol/uri
	$(GO) test -run='^$$' -fuzz='^FuzzParse$$' -fuzztime=$(FUZZTIME) ./proof
	$(GO) test -run='^$$' -fuzz='^FuzzListQuery$$' -fuzztime=$(FUZZTIME) ./integrations/nethttp
	$(GO) test -run='^$$' -fuzz='^FuzzGetPath$$' -fuzztime=$(FUZZTIME) ./integrations/nethttp
	$(GO) test -run='^$$' -fuzz='^FuzzParseDirective$$' -fuzztime=$(FUZZTIME) ./internal/directive
	$(GO) test -run='^$$' -fuzz='^FuzzNearMiss$$' -fuzztime=$(FUZZTIME) ./internal/directive
	$(GO) test -run='^$$' -fuzz='^FuzzValueReader$$' -fuzztime=$(FUZZTIME) ./internal/cli
