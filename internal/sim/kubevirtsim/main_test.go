package kubevirtsim

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/gitover/gitover/internal/sim/testenv"
)

// env holds two clusters, "a" and "b", each with a real kube-apiserver and
// a real kube-controller-manager (garbage collector), shared by the tests
// of this package. nil when the binaries are missing (tests skip).
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
		Clusters: []string{"a", "b"},
		// CRDs first, so that the garbage collector knows the kinds at once.
		BeforeControllers: func(ctx context.Context, c *testenv.Cluster) error { return InstallCRDs(ctx, c.Config) },
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: starting the test clusters:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "test clusters a and b ready in %s\n", time.Since(start).Round(time.Millisecond))
	code := m.Run()
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping the test clusters:", err)
	}
	return code
}
