package diskhook_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/gitover/gitover/internal/sim/kubevirtsim"
	"github.com/gitover/gitover/internal/sim/testenv"
)

// env is one cluster with a real kube-apiserver and a real
// kube-controller-manager (garbage collector, namespace and PVC protection
// controllers), shared by the disk-survival tests; KubeVirt and CDI are the
// simulation in internal/sim/kubevirtsim, started per test.
var (
	env        *testenv.Env
	skipReason string
)

func TestMain(m *testing.M) {
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
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	var err error
	env, err = testenv.Start(ctx, testenv.Options{
		Clusters: []string{"spoke"},
		// The simulated CRDs exist before the garbage collector starts, so it
		// follows VirtualMachine and DataVolume owner references at once.
		BeforeControllers: func(ctx context.Context, c *testenv.Cluster) error { return kubevirtsim.InstallCRDs(ctx, c.Config) },
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: starting the test cluster:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "test cluster ready in %s\n", time.Since(start).Round(time.Millisecond))
	code := m.Run()
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping the test cluster:", err)
	}
	return code
}
