# syntax=docker/dockerfile:1
# gitover's image: one static binary that runs the controller
# (`gitover controller ...`, deploy/manager) and the disk-protection hook
# Jobs the generated Argo CD hooks start (`gitover hook protect-disks ...`).
#
#   docker build --build-arg VERSION=v0.1.0 -t ghcr.io/gitover/gitover:v0.1.0 .
#   (or: make image)

# The builder runs on the build machine and cross-compiles for the target
# platform (CGO is off, so no C toolchain is involved).
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
ARG TARGETOS=linux
ARG TARGETARCH=amd64
# The release; the hooks gitover generates default to the image of the same
# version (internal/version.Version).
ARG VERSION=v0.1.0
ENV CGO_ENABLED=0 \
    GOTOOLCHAIN=local \
    GOFLAGS=-buildvcs=false
WORKDIR /src
# Dependencies first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags "-s -w -X github.com/gitover/gitover/internal/version.Version=${VERSION}" \
      -o /gitover ./cmd/gitover

# Distroless static: no shell, no package manager, CA certificates and
# tzdata only; runs as the unprivileged user 65532 ("nonroot").
FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=v0.1.0
LABEL org.opencontainers.image.title="gitover" \
      org.opencontainers.image.description="GitOps-native disaster-recovery controller" \
      org.opencontainers.image.source="https://github.com/gitover/gitover" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /gitover /gitover
USER 65532:65532
ENTRYPOINT ["/gitover"]
