package roundtrip

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/argoproj/argo-cd/v2/common"
	"github.com/argoproj/argo-cd/v2/pkg/apis/application"
	argo "github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
	"github.com/argoproj/gitops-engine/pkg/health"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/runtime"

	ours "github.com/gitover/gitover/api/argocd/v1alpha1"
)

// TestConstants checks gitover's Argo CD strings against Argo CD's own
// constants.
func TestConstants(t *testing.T) {
	tests := []struct {
		name     string
		ours     string
		official string
	}{
		{"group", ours.GroupVersion.Group, argo.SchemeGroupVersion.Group},
		{"version", ours.GroupVersion.Version, argo.SchemeGroupVersion.Version},
		{"group name", ours.GroupVersion.Group, application.Group},
		{"refresh annotation", ours.AnnotationRefresh, argo.AnnotationKeyRefresh},
		{"applicationset refresh annotation", ours.AnnotationAppSetRefresh, common.AnnotationApplicationSetRefresh},
		{"tracking-id annotation", ours.AnnotationTrackingID, common.AnnotationKeyAppInstance},
		{"resources finalizer", ours.FinalizerResources, argo.ResourcesFinalizerName},
		// No PreDelete finalizer before Argo CD 3.3 (gitover's FinalizerPreDelete
		// is checked against v3 only).
		{"sync Synced", ours.SyncStatusSynced, string(argo.SyncStatusCodeSynced)},
		{"sync OutOfSync", ours.SyncStatusOutOfSync, string(argo.SyncStatusCodeOutOfSync)},
		{"sync Unknown", ours.SyncStatusUnknown, string(argo.SyncStatusCodeUnknown)},
		{"health Healthy", ours.HealthHealthy, string(health.HealthStatusHealthy)},
		{"health Progressing", ours.HealthProgressing, string(health.HealthStatusProgressing)},
		{"health Degraded", ours.HealthDegraded, string(health.HealthStatusDegraded)},
		{"health Suspended", ours.HealthSuspended, string(health.HealthStatusSuspended)},
		{"health Missing", ours.HealthMissing, string(health.HealthStatusMissing)},
		{"health Unknown", ours.HealthUnknown, string(health.HealthStatusUnknown)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.official, tt.ours)
		})
	}
}

// TestStatusCodesComplete fails when Argo CD grows a sync or health status
// gitover has no constant for: it reads every constant of the official
// code types from Argo CD's sources.
func TestStatusCodesComplete(t *testing.T) {
	tests := []struct {
		pkg, typ string
		mine     []string
	}{
		{"github.com/argoproj/gitops-engine/pkg/health", "HealthStatusCode", []string{
			ours.HealthHealthy, ours.HealthProgressing, ours.HealthDegraded,
			ours.HealthSuspended, ours.HealthMissing, ours.HealthUnknown,
		}},
		{"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1", "SyncStatusCode", []string{
			ours.SyncStatusSynced, ours.SyncStatusOutOfSync, ours.SyncStatusUnknown,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			values := constantsOfType(t, tt.pkg, tt.typ)
			require.GreaterOrEqual(t, len(values), len(tt.mine), "the source scan found too few constants")
			for name, v := range values {
				assert.Contains(t, tt.mine, v, "%s.%s = %q has no gitover constant", tt.typ, name, v)
			}
		})
	}
}

// constantsOfType returns name -> value of the string constants declared
// with the named type in a package's sources.
func constantsOfType(t *testing.T, pkg, typ string) map[string]string {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", "{{.Dir}}", pkg).Output()
	require.NoError(t, err)
	dir := strings.TrimSpace(string(out))
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	require.NoError(t, err)
	values := map[string]string{}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		require.NoError(t, err)
		for _, decl := range file.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				id, ok := vs.Type.(*ast.Ident)
				if !ok || id.Name != typ {
					continue
				}
				for i, name := range vs.Names {
					lit, ok := vs.Values[i].(*ast.BasicLit)
					require.True(t, ok, "%s is not a literal", name.Name)
					v, err := strconv.Unquote(lit.Value)
					require.NoError(t, err)
					values[name.Name] = v
				}
			}
		}
	}
	return values
}

// TestKinds checks that gitover registers its types under the kinds Argo CD
// registers them.
func TestKinds(t *testing.T) {
	oursScheme, argoScheme := runtime.NewScheme(), runtime.NewScheme()
	require.NoError(t, ours.AddToScheme(oursScheme))
	require.NoError(t, argo.AddToScheme(argoScheme))
	official := argoScheme.KnownTypes(argo.SchemeGroupVersion)
	mine := oursScheme.KnownTypes(ours.GroupVersion)
	require.NotEmpty(t, mine)
	for kind := range mine {
		assert.Contains(t, official, kind, "gitover registers %s, Argo CD does not", kind)
	}
	for _, kind := range []string{application.ApplicationKind, application.ApplicationSetKind} {
		assert.Contains(t, mine, kind)
		assert.Contains(t, mine, kind+"List")
	}
}
