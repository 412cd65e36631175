# Installing gitover: the manifests (deploy/), the image (Dockerfile), and the
# Argo CD compatibility tests (test/argocdcompat). See docs/install.md.
#
# The manifests and the Dockerfile are tested by the unit tests
# (deploy/*_test.go: kustomize builds, RBAC, the Deployment, the Dockerfile's
# build run on its own build context); the Argo CD tests need Argo CD's
# modules and run from their own Go modules below.

# Modules of test/argocdcompat: Argo CD v3 (the lab's), Argo CD v2 (DESIGN.md's),
# and their shared helpers. None of them is required by the product module.
ARGOCDCOMPAT_MODULES := test/argocdcompat test/argocdcompat/argocdv2 test/argocdcompat/wirecheck

# The release the image is tagged with: internal/version.Version unless given.
GITOVER_VERSION ?= $(shell sed -n 's/^var Version = "\(.*\)"$$/\1/p' internal/version/version.go)
IMAGE           ?= ghcr.io/gitover/gitover:$(GITOVER_VERSION)
# docker, podman or buildah; found automatically when empty.
CONTAINER_TOOL  ?=

TEST_EXTRA += test-argocdcompat image-check

.PHONY: test-argocdcompat
test-argocdcompat: ## Argo CD v3.5.3 and v2.14.21 wire compatibility, the Argo CD customizations in Argo CD's Lua VM, and that the product links no Argo CD.
	@for m in $(ARGOCDCOMPAT_MODULES); do \
	  echo "[argocdcompat] $$m"; \
	  (cd "$$m" && GOWORK=off $(GO) test -count=1 ./...) || exit 1; \
	done

.PHONY: image-check
image-check: ## Build the image's binary as the Dockerfile does, on its build context, and check it (no container engine needed).
	GITOVER_IMAGE_TEST=1 $(GO) test -count=1 -timeout 30m -run '^TestImageBinary$$' -v ./deploy/

.PHONY: image
image: ## Build the container image $(IMAGE) with docker, podman or buildah, whichever works here.
	@tool="$(CONTAINER_TOOL)"; \
	if [ -z "$$tool" ]; then \
	  if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then tool=docker; \
	  elif command -v podman >/dev/null 2>&1; then tool=podman; \
	  elif command -v buildah >/dev/null 2>&1; then tool=buildah; \
	  fi; \
	fi; \
	if [ -z "$$tool" ]; then \
	  echo "image: cannot build $(IMAGE): no container engine here (docker with a running daemon, podman or buildah)." >&2; \
	  echo "image: without one, 'make image-check' builds and checks the image's binary exactly as the Dockerfile does." >&2; \
	  exit 1; \
	fi; \
	echo "[image] $$tool build --build-arg VERSION=$(GITOVER_VERSION) -t $(IMAGE) ."; \
	"$$tool" build --build-arg VERSION=$(GITOVER_VERSION) -t $(IMAGE) .
