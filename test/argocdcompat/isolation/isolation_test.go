// Package isolation proves that the product module links nothing from Argo
// CD (see DESIGN.md, "Argo CD Go types"): neither its packages, with their
// tests and the e2e tag, nor its module graph may contain an argoproj
// module, and it must not require this test-only module.
package isolation

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// productRoot is the product module's directory, two levels above this module.
func productRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	require.NoError(t, err)
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	require.NoError(t, err)
	require.Contains(t, string(gomod), "module github.com/gitover/gitover\n", "not the product module: %s", root)
	return root
}

// goIn runs the go command in the product module, outside any workspace.
func goIn(t *testing.T, dir string, args ...string) []string {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly")
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, ee.Stderr)
	}
	require.NoError(t, err)
	return strings.Fields(string(out))
}

// forbidden reports whether an import or module path belongs to Argo CD or
// to this test-only module tree.
func forbidden(path string) bool {
	return strings.HasPrefix(path, "github.com/argoproj/") ||
		strings.HasPrefix(path, "github.com/gitover/gitover/test/argocdcompat")
}

func TestProductLinksNoArgoCD(t *testing.T) {
	root := productRoot(t)
	tests := []struct {
		name string
		args []string
		// mustHave proves the listing looked at the right thing.
		mustHave string
	}{
		{"packages and test dependencies", []string{"list", "-deps", "-test", "./..."}, "github.com/gitover/gitover/api/argocd/v1alpha1"},
		{"e2e packages", []string{"list", "-tags", "e2e", "-deps", "-test", "./..."}, "github.com/gitover/gitover/api/argocd/v1alpha1"},
		{"the gitover binary", []string{"list", "-deps", "./cmd/gitover"}, "github.com/gitover/gitover/internal/cli"},
		{"module graph", []string{"list", "-m", "all"}, "sigs.k8s.io/controller-runtime"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines := goIn(t, root, tt.args...)
			assert.Contains(t, lines, tt.mustHave)
			var bad []string
			for _, l := range lines {
				if forbidden(l) {
					bad = append(bad, l)
				}
			}
			assert.Empty(t, bad, "the product module must not link Argo CD or the compat tests")
		})
	}
}

func TestForbidden(t *testing.T) {
	tests := []struct {
		path string
		want bool
	}{
		{"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1", true},
		{"github.com/argoproj/gitops-engine", true},
		{"github.com/gitover/gitover/test/argocdcompat/wirecheck", true},
		{"github.com/gitover/gitover/api/argocd/v1alpha1", false},
		{"github.com/gitover/gitover/test/e2e", false},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			assert.Equal(t, tt.want, forbidden(tt.path))
		})
	}
}
