// Package e2e holds the lab's end-to-end tests and benchmarks. They run
// real kube-apiservers, kube-controller-managers, the OCM placement
// controller, Argo CD and a Git server (see internal/lab), so they are
// behind the e2e build tag: run them with `make e2e` (which first runs
// `make tools`) or `go test -tags e2e ./test/e2e/...`.
package e2e
