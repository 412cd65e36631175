# gitover — see README.md. Areas add their own targets in hack/make/*.mk.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO        ?= go
BIN       := $(CURDIR)/bin
GITOVER   := $(BIN)/gitover
# Packages with benchmarks; areas append to it.
BENCH_PKGS ?= ./overlays ./gitops/git ./gitops/webhook ./internal/monorepo
# Fuzz targets: package:Target, run for FUZZTIME each by `make fuzz`.
FUZZ_TARGETS ?= ./gitops/webhook:FuzzParseGitHub ./gitops/webhook:FuzzParseGitLab ./gitops/webhook:FuzzHandler
FUZZTIME ?= 30s
# Prerequisites of `make test` beyond the unit tests; areas append (e.g. e2e).
TEST_EXTRA ?=

-include hack/make/*.mk

.PHONY: help
help: ## List targets.
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | sort | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

.PHONY: build
build: ## Build the gitover binary into bin/.
	$(GO) build -o $(GITOVER) ./cmd/gitover

.PHONY: demo
demo: build ## The main job on the embedded sample: protect and fail over dr1 -> dr2 in a new Git repository (and in the lab when its tools are built).
	$(GITOVER) demo

.PHONY: generate
generate: $(BIN)/controller-gen ## Generate deepcopy code for the API.
	$(BIN)/controller-gen object:headerFile=hack/boilerplate.go.txt paths=./api/...

.PHONY: manifests
manifests: $(BIN)/controller-gen ## Generate CRDs into deploy/crds.
	$(BIN)/controller-gen crd paths=./api/v1alpha1/... output:crd:artifacts:config=deploy/crds

$(BIN)/controller-gen: hack/tools/gen/go.mod hack/tools/gen/go.sum
	cd hack/tools/gen && $(GO) build -o $(BIN)/controller-gen sigs.k8s.io/controller-tools/cmd/controller-gen

.PHONY: lint
lint: generate manifests ## gofmt, go vet, and a check that generated files are current.
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@git diff --exit-code --stat -- api deploy/crds || { echo "generated files are stale: run make generate manifests"; exit 1; }

# Tests that start real control-plane processes find them here, and fail
# (instead of skipping) when they are missing.
export GITOVER_LAB_BIN := $(BIN)

.PHONY: test-unit
test-unit: ## Unit, golden and component tests (real git, kustomize, kube-apiserver, kcm).
	GITOVER_E2E_REQUIRE_TOOLS=1 $(GO) test -count=1 -timeout 30m ./...

.PHONY: test
test: tools test-unit $(TEST_EXTRA) ## Everything CI runs: tools, unit/component tests, lab e2e.

.PHONY: bench
bench: ## Benchmarks; prints time and memory figures (run on an otherwise idle machine).
	TMPDIR=$${TMPDIR:-/dev/shm} $(GO) test -run '^$$' -bench . -benchmem -benchtime 1x -count 1 -timeout 60m $(BENCH_PKGS)

.PHONY: fuzz
fuzz: ## Run each fuzz target for FUZZTIME.
	@for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; name=$${t##*:}; \
	  echo "== $$name ($$pkg, $(FUZZTIME))"; \
	  $(GO) test $$pkg -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5s || exit 1; done
