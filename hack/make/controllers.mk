# The controllers (controllers/, internal/controllercmd): envtest reconciler
# tests against the lab's kube-apiserver, and the lab benchmark of a Failover
# nudged vs left to Argo CD's polling. See docs/controller.md.

TEST_EXTRA += test-controllers

.PHONY: test-controllers
test-controllers: tools ## Reconciler tests on a real kube-apiserver (fail instead of skip without the tools).
	GITOVER_REQUIRE_ENVTEST=1 GITOVER_LAB_BIN=$(BIN) $(GO) test -count=1 ./controllers/...

.PHONY: controller-bench
controller-bench: tools ## Lab benchmark: Failover request → Verified, nudged vs polled (LAB_BENCH_FAILOVERS round trips each).
	GITOVER_E2E_REQUIRE_TOOLS=1 GITOVER_LAB_BIN=$(BIN) \
	  $(GO) test -tags e2e -count=1 -timeout $(E2E_TIMEOUT) -run '^$$' -bench 'ControllerFailover' -benchtime 1x -v ./test/e2e/...
