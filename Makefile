# silo's build and test entry points. `make test` is what CI runs (.ci/run):
# it installs what the tests need (PostgreSQL, versitygw, npm packages,
# Chromium) when missing, then runs every test, integration tests included.

GO      ?= go
PKGS    ?= ./...
TIMEOUT ?= 30m

.PHONY: all build test test-go test-race deps vet fmt-check bench bench-smoke bench-peers fuzz-smoke clean

all: build

build:
	$(GO) build -o bin/silo ./cmd/silo

# The whole suite: static checks, then all tests with real servers.
test: deps fmt-check vet bench-smoke fuzz-smoke test-go test-race

deps:
	bash scripts/install-test-deps.sh
	npm ci --prefix validate/testdata/avsc --no-audit --no-fund
	bash scripts/install-browser-deps.sh

fmt-check:
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

# The race detector over the packages with the most concurrency (the
# service, the API, the stores), in -short mode to keep CI bounded.
RACE_PKGS ?= . ./api ./sqlite ./disk ./fsck ./client ./metrics ./validate
test-race:
	CI=$${CI:-} $(GO) test -race -short -count=1 -timeout $(TIMEOUT) $(RACE_PKGS)

test-go:
	CI=$${CI:-} $(GO) test -count=1 -timeout $(TIMEOUT) $(PKGS)

# Benchmarks (bench/, issue 7): every figure a ratio against a baseline
# measured in the same run. `bench` takes 10-20 minutes and writes
# BENCHMARKS.md; `bench-smoke` takes seconds with small sizes (its table goes
# to a temp file) and runs in `make test` so that the harness never rots;
# `bench-peers` is `bench` plus MinIO, which it builds first (~6 min).
bench:
	command -v jq >/dev/null || (apt-get update && apt-get install -y jq)
	$(GO) run ./bench -out BENCHMARKS.md

bench-smoke:
	$(GO) run ./bench -smoke -out "$$(mktemp -t silo-bench-smoke-XXXXXX.md)"

bench-peers:
	command -v jq >/dev/null || (apt-get update && apt-get install -y jq)
	test -x .bench/bin/minio || GOBIN="$(CURDIR)/.bench/bin" $(GO) install github.com/minio/minio@latest
	$(GO) run ./bench -peers -out BENCHMARKS.md

# Each fuzz target for a bounded number of inputs, one at a time (go test
# -fuzz takes one target per run); seeds are in each package's
# testdata/fuzz. A finding fails the build and is written to testdata/fuzz,
# where plain `go test` replays it. Counts rather than durations: a
# time-bounded run can end with "context deadline exceeded" when the machine
# is loaded and a slow input (a whole HTTP create) is still in flight. For a
# longer soak: make fuzz-smoke FUZZTIME=10m FUZZMINTIME=30s.
FUZZTIME ?= 3000x
FUZZMINTIME ?= 100x
FUZZ_TARGETS = \
	.:FuzzParseSize .:FuzzParseDuration \
	./api:FuzzParseListQuery ./api:FuzzParseCreateQuery ./api:FuzzBearer ./api:FuzzCreateMultipart ./api:FuzzEdgeText ./api:FuzzRequestLine \
	./api:FuzzTusMetadata ./api:FuzzTusHeaders \
	./validate:FuzzJSONL ./validate:FuzzCSV ./validate:FuzzTXT ./validate:FuzzChunker ./validate:FuzzRowDecoder ./validate:FuzzScanner ./validate:FuzzIndexSpecial \
	./internal/mpart:FuzzReader

fuzz-smoke:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; echo "fuzz $$pkg $$fn"; \
		$(GO) test -run='^$$' -fuzz="^$$fn\$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=$(FUZZMINTIME) $$pkg; \
	done

clean:
	rm -rf bin .bench
