// Package customizations runs deploy/argocd/argocd-cm-patch.yaml the way
// Argo CD v2 does: the ConfigMap is read by Argo CD's settings manager
// (which turns the resource.customizations.* keys into resource overrides),
// and the health checks and DRPlan actions run in Argo CD's Lua VM, on the
// cases in ../testdata/customizations. A created Failover must decode
// strictly into gitover's Failover type and pass its CRD's schema.
package customizations

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	argo "github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
	"github.com/argoproj/argo-cd/v2/util/lua"
	"github.com/argoproj/argo-cd/v2/util/settings"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/yaml"

	gitoverv1alpha1 "github.com/gitover/gitover/api/v1alpha1"
	"github.com/gitover/gitover/test/argocdcompat/wirecheck"
)

const (
	argocdNamespace = "argocd"
	planUID         = "0b1c2d3e-4f50-4a6b-8c7d-8e9fa0b1c2d3"
)

// repo is the product repository's root.
var repo = filepath.Join("..", "..", "..", "..")

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, yaml.UnmarshalStrict(b, v), path)
}

// overrides loads the patch into a stock argocd-cm and returns the resource
// overrides Argo CD's settings manager derives from it.
func overrides(t *testing.T) map[string]argo.ResourceOverride {
	t.Helper()
	var cm corev1.ConfigMap
	readYAML(t, filepath.Join(repo, "deploy", "argocd", "argocd-cm-patch.yaml"), &cm)
	require.Equal(t, "argocd-cm", cm.Name)
	cm.Namespace = argocdNamespace
	cm.Labels = map[string]string{"app.kubernetes.io/part-of": "argocd"}
	secret := &corev1.Secret{}
	secret.Name, secret.Namespace = "argocd-secret", argocdNamespace
	secret.Labels = map[string]string{"app.kubernetes.io/part-of": "argocd"}

	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	mgr := settings.NewSettingsManager(ctx, fake.NewSimpleClientset(&cm, secret), argocdNamespace)
	ov, err := mgr.GetResourceOverrides()
	require.NoError(t, err)
	for _, key := range []string{"gitover.io/DRPlan", "gitover.io/Failover"} {
		require.Contains(t, ov, key, "argocd-cm keys must be resource.customizations.<type>.gitover.io_<Kind>")
		require.NotEmpty(t, ov[key].HealthLua, key)
	}
	require.NotEmpty(t, ov["gitover.io/DRPlan"].Actions)
	return ov
}

// object completes a case's object into a live gitover object (a DRPlan
// unless the case says otherwise) and checks that it decodes strictly into
// gitover's Go type, so that a case cannot test a field the controller
// never writes.
func object(t *testing.T, in map[string]any) *unstructured.Unstructured {
	t.Helper()
	m := map[string]any{"apiVersion": "gitover.io/v1alpha1", "kind": "DRPlan"}
	for k, v := range in {
		m[k] = v
	}
	b, err := json.Marshal(m)
	require.NoError(t, err)
	obj := &unstructured.Unstructured{}
	require.NoError(t, obj.UnmarshalJSON(b))
	obj.SetName("shop")
	obj.SetNamespace("gitops-system")
	obj.SetUID(planUID)
	decodeStrict(t, obj)
	return obj
}

type healthCase struct {
	Name    string         `json:"name"`
	Object  map[string]any `json:"object"`
	Status  string         `json:"status"`
	Message string         `json:"message"`
}

// TestHealth computes health exactly as Argo CD's application controller
// does for a custom resource.
func TestHealth(t *testing.T) {
	ov := overrides(t)
	var cases []healthCase
	readYAML(t, filepath.Join("..", "..", "testdata", "customizations", "health.yaml"), &cases)
	require.NotEmpty(t, cases)
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			obj := object(t, tc.Object)
			hs, err := lua.ResourceHealthOverrides(ov).GetResourceHealth(obj)
			require.NoError(t, err)
			require.NotNil(t, hs, "no health script for %s", obj.GetKind())
			assert.Equal(t, tc.Status, string(hs.Status))
			assert.Equal(t, tc.Message, hs.Message)
		})
	}
}

type actionCase struct {
	Name      string                    `json:"name"`
	Object    map[string]any            `json:"object"`
	Discovery map[string]discoveredWant `json:"discovery"`
	Run       string                    `json:"run"`
	Params    map[string]string         `json:"params"`
	NameRE    string                    `json:"nameRegexp"`
	Create    map[string]any            `json:"create"`
	Error     string                    `json:"error"`
}

type discoveredWant struct {
	DisplayName string   `json:"displayName"`
	IconClass   string   `json:"iconClass"`
	Disabled    bool     `json:"disabled"`
	Params      []string `json:"params"`
}

// TestActions discovers and runs the DRPlan actions as Argo CD v2's API
// server does (RunResourceAction): discovery scripts, the named definition
// and the returned create operations. Argo CD v2 has no action parameters
// (the actionParams global is not set): cases with params are skipped.
func TestActions(t *testing.T) {
	vm := lua.VM{ResourceOverrides: overrides(t)}
	var cases []actionCase
	readYAML(t, filepath.Join("..", "..", "testdata", "customizations", "actions.yaml"), &cases)
	require.NotEmpty(t, cases)
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			if tc.Params != nil {
				t.Skip("action parameters need Argo CD >= 3.2")
			}
			obj := object(t, tc.Object)
			if tc.Discovery != nil {
				scripts, err := vm.GetResourceActionDiscovery(obj)
				require.NoError(t, err)
				found, err := vm.ExecuteResourceActionDiscovery(obj, scripts)
				require.NoError(t, err)
				got := map[string]discoveredWant{}
				for _, a := range found {
					var params []string
					for _, p := range a.Params {
						params = append(params, p.Name)
					}
					got[a.Name] = discoveredWant{DisplayName: a.DisplayName, IconClass: a.IconClass, Disabled: a.Disabled, Params: params}
				}
				assert.Equal(t, tc.Discovery, got)
			}

			def, err := vm.GetResourceAction(obj, tc.Run)
			require.NoError(t, err)
			impacted, err := vm.ExecuteResourceAction(obj, def.ActionLua)
			if tc.Error != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.Error)
				return
			}
			require.NoError(t, err)
			require.Len(t, impacted, 1)
			assert.Equal(t, lua.CreateOperation, impacted[0].K8SOperation)
			created := impacted[0].UnstructuredObj
			assert.Regexp(t, regexp.MustCompile(tc.NameRE), created.GetName())
			decodeStrict(t, created)
			validateSchema(t, created)
			got := created.DeepCopy().Object
			unstructured.RemoveNestedField(got, "metadata", "name")
			assert.Equal(t, tc.Create, got)
		})
	}
}

// TestActionsAgree keeps the two action scripts identical apart from the
// action they create.
func TestActionsAgree(t *testing.T) {
	ov := overrides(t)
	override := ov["gitover.io/DRPlan"]
	actions, err := override.GetActions()
	require.NoError(t, err)
	bodies := map[string]string{}
	var names []string
	for _, d := range actions.Definitions {
		names = append(names, d.Name)
		_, rest, ok := strings.Cut(d.ActionLua, "-- Everything below is identical")
		require.True(t, ok, "%s lost its marker comment", d.Name)
		bodies[d.Name] = rest
	}
	sort.Strings(names)
	require.Equal(t, []string{"failover", "relocate"}, names)
	assert.Equal(t, bodies["failover"], bodies["relocate"])
}

// decodeStrict checks that obj decodes strictly (no unknown member, exact
// case) into gitover's Go type for its kind.
func decodeStrict(t *testing.T, obj *unstructured.Unstructured) {
	t.Helper()
	b, err := obj.MarshalJSON()
	require.NoError(t, err)
	switch obj.GetKind() {
	case "DRPlan":
		require.NoError(t, wirecheck.DecodeStrict(b, &gitoverv1alpha1.DRPlan{}))
	case "Failover":
		require.NoError(t, wirecheck.DecodeStrict(b, &gitoverv1alpha1.Failover{}))
	default:
		t.Fatalf("unexpected kind %s", obj.GetKind())
	}
}

// validateSchema checks obj against the OpenAPI schema of its generated CRD
// in deploy/crds, as the API server would on create (CEL rules aside).
func validateSchema(t *testing.T, obj *unstructured.Unstructured) {
	t.Helper()
	var crd apiextensionsv1.CustomResourceDefinition
	readYAML(t, filepath.Join(repo, "deploy", "crds", "gitover.io_"+strings.ToLower(obj.GetKind())+"s.yaml"), &crd)
	require.Len(t, crd.Spec.Versions, 1)
	require.Equal(t, obj.GetAPIVersion(), crd.Spec.Group+"/"+crd.Spec.Versions[0].Name)
	var internal apiextensions.JSONSchemaProps
	require.NoError(t, apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(
		crd.Spec.Versions[0].Schema.OpenAPIV3Schema, &internal, nil))
	v, _, err := validation.NewSchemaValidator(&internal)
	require.NoError(t, err)
	errs := validation.ValidateCustomResource(field.NewPath(""), obj.UnstructuredContent(), v)
	assert.Empty(t, errs, "%s does not pass its CRD schema", obj.GetKind())
}
