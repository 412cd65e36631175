# The DR lab (internal/lab): end-to-end tests, benchmarks, and a long-lived
# lab for humans. See docs/lab.md.

E2E_TIMEOUT ?= 40m
E2E_RUN     ?= .
LAB_DIR     ?=
LAB_FLAGS   ?= $(if $(LAB_DIR),--dir $(LAB_DIR))

TEST_EXTRA += e2e

.PHONY: e2e
e2e: tools ## Lab end-to-end tests: real apiservers, kcm, OCM placement, Argo CD, Git.
	GITOVER_E2E_REQUIRE_TOOLS=1 GITOVER_LAB_BIN=$(BIN) \
	  $(GO) test -tags e2e -count=1 -timeout $(E2E_TIMEOUT) -run '$(E2E_RUN)' -v ./test/e2e/...

.PHONY: lab-bench
lab-bench: tools ## Lab benchmarks: warm `lab up` time, lab memory, Placement flip nudged vs polled.
	GITOVER_E2E_REQUIRE_TOOLS=1 GITOVER_LAB_BIN=$(BIN) \
	  $(GO) test -tags e2e -count=1 -timeout $(E2E_TIMEOUT) -run '^$$' -bench 'Lab' -benchtime 1x -v ./test/e2e/...

.PHONY: lab-up
lab-up: tools build ## Start a long-lived lab (gitover lab up; then eval "$$(bin/gitover lab env)").
	$(GITOVER) lab up $(LAB_FLAGS)

.PHONY: lab-down
lab-down: ## Stop the long-lived lab (no process or port left behind).
	$(GITOVER) lab down $(LAB_FLAGS)
