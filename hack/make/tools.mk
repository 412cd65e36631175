# Lab tools: kube-apiserver, kube-controller-manager, OCM placement, Argo CD,
# kustomize (built from the Go module proxy in their own modules under
# hack/tools/, versions in hack/tools/versions.env), the CRDs the lab applies
# (staged from the module cache), and etcd/redis/git from apt when missing.
# A second run is a no-op; binaries are also cached in
# $(GITOVER_TOOLS_CACHE) (default ~/.cache/gitover/tools) for fresh clones.

TOOLS_SH   := hack/tools/build.sh
LAB_TOOLS  := kube-apiserver kube-controller-manager placement argocd kustomize

.PHONY: tools
tools: ## Build/install the lab tools into bin/ (cold: tens of minutes; warm: seconds).
	@start=$$(date +%s); \
	BIN=$(BIN) GO=$(GO) $(TOOLS_SH) deps; \
	BIN=$(BIN) GO=$(GO) $(TOOLS_SH) check; \
	BIN=$(BIN) GO=$(GO) $(TOOLS_SH) build; \
	BIN=$(BIN) GO=$(GO) $(TOOLS_SH) crds; \
	echo "[tools] done in $$(( $$(date +%s) - start )) s"

.PHONY: tools-check
tools-check: ## Fail when a hack/tools go.mod disagrees with hack/tools/versions.env.
	BIN=$(BIN) GO=$(GO) $(TOOLS_SH) check

.PHONY: $(addprefix tool-,$(LAB_TOOLS))
$(addprefix tool-,$(LAB_TOOLS)): tool-%: ## Build/install one lab tool (e.g. make tool-argocd).
	BIN=$(BIN) GO=$(GO) $(TOOLS_SH) build $*
