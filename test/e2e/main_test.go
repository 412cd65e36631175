//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gitover/gitover/internal/lab"
)

var (
	// repoRoot is the repository checkout (two levels up).
	repoRoot string
	// binDir holds the lab tools (make tools).
	binDir string
	// helper is the command prefix that runs `gitover lab ...`.
	helper []string
	// skipReason is set when the tools are missing (tests skip with it).
	skipReason string
)

// TestMain checks the tools and builds the gitover binary.
func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	_, file, _, _ := runtime.Caller(0)
	repoRoot = filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
	binDir = os.Getenv("GITOVER_LAB_BIN")
	if binDir == "" {
		binDir = filepath.Join(repoRoot, "bin")
	}
	if missing := lab.MissingTools(binDir); len(missing) > 0 {
		skipReason = "lab tools not built (run `make tools`): missing " + strings.Join(missing, ", ")
		if os.Getenv("GITOVER_E2E_REQUIRE_TOOLS") == "1" {
			fmt.Fprintln(os.Stderr, "FAIL:", skipReason)
			return 1
		}
		return m.Run()
	}
	tmp, err := os.MkdirTemp("", "gitover-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	helper, err = buildHelper(tmp)
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	return m.Run()
}

// buildHelper builds the gitover binary; the lab re-executes its `lab`
// command for background helpers (the Git server).
func buildHelper(dir string) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	bin := filepath.Join(dir, "gitover")
	if out, err := goBuild(ctx, bin, "./cmd/gitover"); err != nil {
		return nil, fmt.Errorf("building cmd/gitover: %w\n%s", err, out)
	}
	if out, err := exec.CommandContext(ctx, bin, "lab", "--help").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("cmd/gitover has no lab command: %w\n%s", err, out)
	}
	return []string{bin, "lab"}, nil
}

func goBuild(ctx context.Context, out, pkg string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = repoRoot
	return cmd.CombinedOutput()
}

// requireTools skips the test when the lab tools are missing.
func requireTools(tb testing.TB) {
	tb.Helper()
	if skipReason != "" {
		tb.Skip(skipReason)
	}
}
