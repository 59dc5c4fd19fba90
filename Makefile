# silo's build and test entry points. `make test` is what CI runs (.ci/run):
# it installs what the tests need (PostgreSQL, versitygw, npm packages,
# Chromium) when missing, then runs every test, integration tests included.

GO      ?= go
PKGS    ?= ./...
TIMEOUT ?= 30m

.PHONY: all build test test-go deps vet fmt-check bench bench-smoke bench-peers fuzz-smoke clean

all: build

build:
	$(GO) build -o bin/silo ./cmd/silo

# The whole suite: static checks, then all tests with real servers.
test: deps fmt-check vet test-go

deps:
	bash scripts/install-test-deps.sh
	npm ci --prefix validate/testdata/avsc --no-audit --no-fund

fmt-check:
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

test-go:
	CI=$${CI:-} $(GO) test -count=1 -timeout $(TIMEOUT) $(PKGS)

clean:
	rm -rf bin .bench
