# gitover — see README.md. Areas add their own targets in hack/make/*.mk.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO        ?= go
BIN       := $(CURDIR)/bin
GITOVER   := $(BIN)/gitover
# Packages with benchmarks; areas append to it.
BENCH_PKGS ?=
# Prerequisites of `make test` beyond the unit tests; areas append (e.g. e2e).
TEST_EXTRA ?=

-include hack/make/*.mk

.PHONY: help
help: ## List targets.
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | sort | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

.PHONY: build
build: ## Build the gitover binary into bin/.
	$(GO) build -o $(GITOVER) ./cmd/gitover

.PHONY: generate
generate: $(BIN)/controller-gen ## Generate deepcopy code for the API.
	$(BIN)/controller-gen object:headerFile=hack/boilerplate.go.txt paths=./api/...

.PHONY: manifests
manifests: $(BIN)/controller-gen ## Generate CRDs into deploy/crds.
	$(BIN)/controller-gen crd paths=./api/v1alpha1/... output:crd:artifacts:config=deploy/crds

$(BIN)/controller-gen: hack/tools/gen/go.mod hack/tools/gen/go.sum
	cd hack/tools/gen && $(GO) build -o $(BIN)/controller-gen sigs.k8s.io/controller-tools/cmd/controller-gen

.PHONY: lint
lint: ## gofmt, go vet, and a check that generated files are current.
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

.PHONY: test-unit
test-unit: ## Unit, golden and component tests (real git, real kustomize).
	$(GO) test -count=1 ./...

.PHONY: test
test: test-unit $(TEST_EXTRA) ## Everything CI runs.

.PHONY: bench
bench: ## Benchmarks; prints time and memory figures.
	$(GO) test -run '^$$' -bench . -benchmem -count 1 $(BENCH_PKGS)
