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

// TestMain builds the binary that carries the lab command (cmd/gitover when
// it registers `lab`, else the lab's stand-alone main) and checks the tools.
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

// buildHelper builds the binary whose `lab` command the lab re-executes.
func buildHelper(dir string) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if _, err := os.Stat(filepath.Join(repoRoot, "cmd", "gitover")); err == nil {
		bin := filepath.Join(dir, "gitover")
		if out, err := goBuild(ctx, bin, "./cmd/gitover"); err != nil {
			fmt.Fprintf(os.Stderr, "building cmd/gitover failed, using the lab's own main:\n%s\n", out)
		} else if err := exec.CommandContext(ctx, bin, "lab", "--help").Run(); err == nil {
			return []string{bin, "lab"}, nil
		}
	}
	bin := filepath.Join(dir, "gitover-lab")
	if out, err := goBuild(ctx, bin, "./internal/lab/internal/labmain"); err != nil {
		return nil, fmt.Errorf("building the lab command: %w\n%s", err, out)
	}
	return []string{bin}, nil
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
