package controllers

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// The package's tests share one real kube-apiserver (envtest: the lab's
// kube-apiserver binary with Debian's etcd) carrying the real CRDs:
// gitover's (deploy/crds), OCM's ManagedCluster, Placement and
// PlacementDecision (from the open-cluster-management.io/api module) and
// Argo CD's Application and ApplicationSet (staged by `make tools` under
// bin/crds/argocd, or from the argo-cd module in the module cache).
var (
	testCfg    *rest.Config
	testClient client.Client
	skipReason string
	repoRoot   string
)

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

// runSuite starts the apiserver, runs the tests and stops it. Without the
// binaries the tests skip, unless GITOVER_REQUIRE_ENVTEST=1 makes that a
// failure (as `make test-controllers` does after `make tools`).
func runSuite(m *testing.M) int {
	_, file, _, _ := runtime.Caller(0)
	repoRoot = filepath.Clean(filepath.Join(filepath.Dir(file), ".."))
	if os.Getenv("GITOVER_TEST_VERBOSE") != "" {
		logf.SetLogger(zap.New(zap.UseDevMode(true)))
	} else {
		logf.SetLogger(zap.New(zap.WriteTo(discard{})))
	}
	assets, crds, reason := locateAssets()
	if reason != "" {
		if os.Getenv("GITOVER_REQUIRE_ENVTEST") == "1" {
			fmt.Fprintln(os.Stderr, "FAIL: "+reason)
			return 1
		}
		skipReason = reason
		return m.Run()
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     crds,
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: starting envtest:", err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	testCfg = cfg
	testClient, err = client.New(cfg, client.Options{Scheme: NewScheme()})
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	return m.Run()
}

// requireEnv skips a test that needs the apiserver when it is missing.
func requireEnv(t *testing.T) {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// locateAssets finds a directory with kube-apiserver and etcd (building one
// of symlinks when they live apart) and the CRD directories; reason says
// what is missing.
func locateAssets() (assets string, crds []string, reason string) {
	bin := os.Getenv("GITOVER_LAB_BIN")
	if bin == "" {
		bin = filepath.Join(repoRoot, "bin")
	}
	assets = os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		apiserver := filepath.Join(bin, "kube-apiserver")
		if _, err := os.Stat(apiserver); err != nil {
			return "", nil, "no kube-apiserver in " + bin + " (run `make tools`) and KUBEBUILDER_ASSETS is not set"
		}
		etcd := filepath.Join(bin, "etcd")
		if _, err := os.Stat(etcd); err != nil {
			p, err := exec.LookPath("etcd")
			if err != nil {
				return "", nil, "no etcd on PATH (apt-get install etcd-server, or `make tools`)"
			}
			etcd = p
		}
		dir, err := os.MkdirTemp("", "gitover-envtest-")
		if err != nil {
			return "", nil, err.Error()
		}
		for name, target := range map[string]string{"kube-apiserver": apiserver, "etcd": etcd} {
			if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
				return "", nil, err.Error()
			}
		}
		assets = dir
	}
	crds = append(crds, filepath.Join(repoRoot, "deploy", "crds"))
	ocm, err := moduleDir("open-cluster-management.io/api")
	if err != nil {
		return "", nil, "locating the OCM API module: " + err.Error()
	}
	crds = append(crds,
		filepath.Join(ocm, "cluster", "v1"),
		filepath.Join(ocm, "cluster", "v1beta1"))
	argo := filepath.Join(bin, "crds", "argocd")
	if _, err := os.Stat(filepath.Join(argo, "application-crd.yaml")); err != nil {
		argo = argoModuleCRDs()
		if argo == "" {
			return "", nil, "no Argo CD CRDs in " + filepath.Join(bin, "crds", "argocd") + " or the module cache (run `make tools`)"
		}
	}
	staged, err := os.MkdirTemp("", "gitover-argocrds-")
	if err != nil {
		return "", nil, err.Error()
	}
	for _, f := range []string{"application-crd.yaml", "applicationset-crd.yaml"} {
		if err := os.Symlink(filepath.Join(argo, f), filepath.Join(staged, f)); err != nil {
			return "", nil, err.Error()
		}
	}
	crds = append(crds, staged)
	return assets, crds, ""
}

// moduleDir is a module's directory in the module cache.
func moduleDir(mod string) (string, error) {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", mod)
	cmd.Dir = repoRoot
	out, err := cmd.Output()
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

// argoModuleCRDs finds Argo CD's CRDs in the module cache at the version
// hack/tools/versions.env pins, or "".
func argoModuleCRDs() string {
	f, err := os.Open(filepath.Join(repoRoot, "hack", "tools", "versions.env"))
	if err != nil {
		return ""
	}
	defer f.Close()
	version := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "ARGOCD_VERSION="); ok {
			version = v
		}
	}
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil || version == "" {
		return ""
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "github.com", "argoproj", "argo-cd", "v3@"+version, "manifests", "crds")
	if _, err := os.Stat(filepath.Join(dir, "application-crd.yaml")); err != nil {
		return ""
	}
	return dir
}

// background is the tests' root context.
func background(t *testing.T) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return ctx
}
