package kubeletsim

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/gitover/gitover/internal/cli"
	"github.com/gitover/gitover/internal/sim/kubevirtsim"
	"github.com/gitover/gitover/internal/sim/testenv"
)

// asGitover makes the test binary behave as the gitover binary (the same
// command tree as cmd/gitover's, through cli.Execute): the simulation
// under test runs it through a wrapper script named gitover.
const asGitover = "GITOVER_KUBELETSIM_TEST_AS_GITOVER"

// testControllers are the kube-controller-manager controllers of the
// test cluster: the real Job, Deployment and ReplicaSet controllers act
// on what the simulation reports.
var testControllers = []string{"garbagecollector", "namespace", "serviceaccount", "job", "deployment", "replicaset", "pvc-protection"}

// The package's shared environment: one cluster with a real apiserver and
// kube-controller-manager, and one simulation running on it.
var (
	env        *testenv.Env
	skipReason string
	simOptions Options
	simLog     *os.File
)

func TestMain(m *testing.M) {
	if os.Getenv(asGitover) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := cli.Execute(ctx, os.Args[1:])
		stop()
		os.Exit(code)
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctrllog.SetLogger(logr.Discard())
	if missing := testenv.MissingBinaries(""); len(missing) > 0 {
		skipReason = "control-plane binaries missing (run `make tools`): " + strings.Join(missing, ", ")
		if os.Getenv("GITOVER_REQUIRE_TOOLS") == "1" {
			fmt.Fprintln(os.Stderr, "FAIL:", skipReason)
			return 1
		}
		return m.Run()
	}
	tmp, err := os.MkdirTemp("", "gitover-kubeletsim-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	gitover, err := gitoverWrapper(tmp)
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	env, err = testenv.Start(ctx, testenv.Options{
		Clusters:    []string{"k"},
		Controllers: testControllers,
		// The KubeVirt/CDI kinds the hooks act on (no simulated
		// controllers: the tests create the objects themselves).
		BeforeControllers: func(ctx context.Context, c *testenv.Cluster) error { return kubevirtsim.InstallCRDs(ctx, c.Config) },
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: starting the test cluster:", err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the test cluster:", err)
		}
	}()
	fmt.Fprintf(os.Stderr, "test cluster ready in %s\n", time.Since(start).Round(time.Millisecond))

	simOptions = DefaultOptions()
	simOptions.ClusterName = "k"
	simOptions.GitoverBin = gitover
	simOptions.LogDir = filepath.Join(tmp, "logs")
	simOptions.WorkDir = filepath.Join(tmp, "pods")
	simOptions.MaxGracePeriod = 5 * time.Second
	simOptions.ResyncPeriod = 30 * time.Second
	if simLog, err = os.Create(filepath.Join(tmp, "simulation.log")); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	log := funcr.New(func(prefix, args string) { fmt.Fprintln(simLog, time.Now().Format(time.RFC3339Nano), prefix, args) }, funcr.Options{Verbosity: 1})
	simCtx, stopSim := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(simCtx, env.Cluster("k").Config, simOptions, log) }()
	code := m.Run()
	stopSim()
	if err := <-done; err != nil {
		fmt.Fprintln(os.Stderr, "the simulation failed:", err)
		code = 1
	}
	if code != 0 {
		if data, err := os.ReadFile(simLog.Name()); err == nil {
			fmt.Fprintf(os.Stderr, "--- simulation log (last 8 KiB)\n%s\n", tail(string(data), 8192))
		}
	}
	return code
}

// gitoverWrapper writes DIR/bin/gitover, which runs this test binary as
// gitover.
func gitoverWrapper(dir string) (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(bin, "gitover")
	script := fmt.Sprintf("#!/bin/sh\n%s=1 exec %q \"$@\"\n", asGitover, exe)
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		return "", err
	}
	return path, nil
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
