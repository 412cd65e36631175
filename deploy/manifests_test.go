// Package deploy_test validates the install manifests the way they are
// used: built with kustomize (the same library `kubectl apply -k` embeds),
// then checked for least-privilege RBAC, the controller's security context
// and wiring, the Argo CD component, and the Dockerfile's build context.
package deploy_test

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/gitover/gitover/api/v1alpha1"
	"github.com/gitover/gitover/internal/version"
)

const (
	systemNamespace = "gitover-system"
	serviceAccount  = "gitover-controller"
	image           = "ghcr.io/gitover/gitover"
)

// object is one rendered manifest.
type object struct {
	Kind      string
	Name      string
	Namespace string
	Labels    map[string]string
	YAML      []byte
}

// build runs kustomize on dir of fsys and returns the objects by "Kind/name".
func build(t *testing.T, fsys filesys.FileSystem, dir string) map[string]object {
	t.Helper()
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fsys, dir)
	require.NoError(t, err, "kustomize build %s", dir)
	out := map[string]object{}
	for _, r := range m.Resources() {
		b, err := r.AsYAML()
		require.NoError(t, err)
		o := object{Kind: r.GetKind(), Name: r.GetName(), Namespace: r.GetNamespace(), Labels: r.GetLabels(), YAML: b}
		key := o.Kind + "/" + o.Name
		require.NotContains(t, out, key, "%s is rendered twice", key)
		out[key] = o
	}
	return out
}

// decode decodes a rendered object strictly into a typed one.
func decode[T any](t *testing.T, objs map[string]object, key string) *T {
	t.Helper()
	o, ok := objs[key]
	require.True(t, ok, "%s is not rendered", key)
	v := new(T)
	require.NoError(t, yaml.UnmarshalStrict(o.YAML, v), key)
	return v
}

func install(t *testing.T) map[string]object {
	t.Helper()
	return build(t, filesys.MakeFsOnDisk(), ".")
}

func TestInstallBuilds(t *testing.T) {
	objs := install(t)
	var keys []string
	for k, o := range objs {
		keys = append(keys, k)
		assert.Equal(t, "gitover", o.Labels["app.kubernetes.io/part-of"], "%s lacks the part-of label", k)
		switch o.Kind {
		case "Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding":
			assert.Empty(t, o.Namespace, k)
		default:
			assert.Equal(t, systemNamespace, o.Namespace, k)
		}
	}
	slices.Sort(keys)
	assert.Equal(t, []string{
		"ClusterRole/gitover-controller",
		"ClusterRole/gitover-git-credentials",
		"ClusterRoleBinding/gitover-controller",
		"CustomResourceDefinition/drplans.gitover.io",
		"CustomResourceDefinition/failovers.gitover.io",
		"Deployment/gitover-controller",
		"Namespace/gitover-system",
		"Role/gitover-leader-election",
		"RoleBinding/gitover-leader-election",
		"Service/gitover-metrics",
		"Service/gitover-webhook",
		"ServiceAccount/gitover-controller",
	}, keys, "a Secret must never be part of the install: re-applying it would overwrite the real webhook secrets")
}

// TestCRDsComplete fails when `make manifests` adds a CRD that
// deploy/kustomization.yaml does not list, or when a listed CRD differs
// from the generated file.
func TestCRDsComplete(t *testing.T) {
	objs := install(t)
	files, err := filepath.Glob(filepath.Join("crds", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		var crd apiextensionsv1.CustomResourceDefinition
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		require.NoError(t, yaml.Unmarshal(b, &crd), f)
		rendered := decode[apiextensionsv1.CustomResourceDefinition](t, objs, "CustomResourceDefinition/"+crd.Name)
		assert.Equal(t, crd.Spec, rendered.Spec, "%s is not rendered as generated", f)
		assert.Equal(t, v1alpha1.GroupVersion.Group, crd.Spec.Group)
	}
}

// rules returns the rules of every Role and ClusterRole in objs.
func rules(t *testing.T, objs map[string]object) map[string][]rbacv1.PolicyRule {
	t.Helper()
	out := map[string][]rbacv1.PolicyRule{}
	for k, o := range objs {
		switch o.Kind {
		case "ClusterRole":
			out[k] = decode[rbacv1.ClusterRole](t, objs, k).Rules
		case "Role":
			out[k] = decode[rbacv1.Role](t, objs, k).Rules
		}
	}
	return out
}

// TestRBACNoWildcards checks every Role and ClusterRole this repository
// ships for wildcards and for verbs that hand out more rights.
func TestRBACNoWildcards(t *testing.T) {
	sets := map[string]map[string]object{
		"install":        install(t),
		"plan-namespace": planNamespace(t, "shop"),
		"argocd":         argocdComponent(t),
	}
	for name, objs := range sets {
		for key, rs := range rules(t, objs) {
			t.Run(name+"/"+key, func(t *testing.T) {
				require.NotEmpty(t, rs)
				for _, r := range rs {
					for _, list := range [][]string{r.APIGroups, r.Resources, r.Verbs, r.ResourceNames} {
						for _, v := range list {
							assert.NotContains(t, v, "*", "wildcard in %+v", r)
						}
					}
					assert.Empty(t, r.NonResourceURLs)
					for _, v := range r.Verbs {
						assert.NotContains(t, []string{"escalate", "bind", "impersonate", "deletecollection"}, v)
					}
				}
			})
		}
	}
}

// scope says where a right is needed.
type scope int

const (
	clusterWide scope = iota // every namespace and cluster-scoped objects
	systemOnly               // gitover-system only
	inPlanNS                 // a DRPlan's namespace, after binding rbac/plan-namespace there
)

// controllerNeeds is THE list of what the controller may do. Every entry
// must be granted, nothing else may be granted, and every entry must be
// asked for by a +kubebuilder:rbac marker in controllers/ (but leader
// election's, marked fromMarkers=false, which controller-runtime needs).
var controllerNeeds = []struct {
	group, resource, verbs string
	scope                  scope
	fromMarkers            bool
}{
	{"gitover.io", "drplans", "get list watch", clusterWide, true},
	{"gitover.io", "failovers", "get list watch", clusterWide, true},
	{"gitover.io", "drplans/status", "get update patch", clusterWide, true},
	{"gitover.io", "failovers/status", "get update patch", clusterWide, true},
	{"cluster.open-cluster-management.io", "placementdecisions", "get list watch", clusterWide, true},
	{"cluster.open-cluster-management.io", "managedclusters", "get list watch", clusterWide, true},
	{"argoproj.io", "applications", "get list watch patch", clusterWide, true},
	{"argoproj.io", "applicationsets", "get list watch patch", clusterWide, true},
	{"events.k8s.io", "events", "create patch", clusterWide, true},
	{"", "events", "create patch", clusterWide, false},
	{"coordination.k8s.io", "leases", "get create update", systemOnly, false},
	{"", "secrets", "get", inPlanNS, true},
}

// controllerMustNot are rights the controller must not have, anywhere.
var controllerMustNot = []struct {
	group, resource, verb, namespace string
}{
	{"", "secrets", "get", ""},            // not cluster-wide
	{"", "secrets", "get", "kube-system"}, // not outside plan namespaces
	{"", "secrets", "list", "shop"},       // only by name, uncached
	{"", "secrets", "watch", "shop"},      //
	{"coordination.k8s.io", "leases", "get", "kube-system"},
	{"gitover.io", "drplans", "update", ""}, // specs are never written
	{"gitover.io", "drplans", "delete", ""},
	{"gitover.io", "failovers", "update", ""},
	{"gitover.io", "failovers", "create", ""}, // Failovers are requested, not made up
	{"gitover.io", "failovers", "delete", ""},
	{"argoproj.io", "applications", "update", ""}, // patches annotations only
	{"argoproj.io", "applications", "delete", ""},
	{"argoproj.io", "applicationsets", "update", ""},
	{"cluster.open-cluster-management.io", "placements", "patch", ""}, // placements change through Git
	{"cluster.open-cluster-management.io", "placementdecisions", "patch", ""},
	{"", "pods", "get", systemNamespace},
	{"", "configmaps", "get", systemNamespace},
}

// authorizer answers "may the controller's ServiceAccount do this?" from
// the rendered Roles, ClusterRoles and bindings, as Kubernetes RBAC would.
type authorizer struct {
	cluster    []rbacv1.PolicyRule            // via ClusterRoleBindings
	namespaced map[string][]rbacv1.PolicyRule // via RoleBindings, by namespace
}

func newAuthorizer(t *testing.T, sets ...map[string]object) *authorizer {
	t.Helper()
	roles := map[string][]rbacv1.PolicyRule{}
	all := map[string]object{}
	for _, objs := range sets {
		for k, v := range rules(t, objs) {
			roles[k] = v
		}
		for k, o := range objs {
			all[k+"@"+o.Namespace] = o
		}
	}
	a := &authorizer{namespaced: map[string][]rbacv1.PolicyRule{}}
	isSA := func(subjects []rbacv1.Subject) bool {
		for _, s := range subjects {
			if s.Kind == "ServiceAccount" && s.Name == serviceAccount && s.Namespace == systemNamespace {
				return true
			}
		}
		return false
	}
	for _, o := range all {
		switch o.Kind {
		case "ClusterRoleBinding":
			var b rbacv1.ClusterRoleBinding
			require.NoError(t, yaml.UnmarshalStrict(o.YAML, &b))
			if isSA(b.Subjects) {
				require.Equal(t, "ClusterRole", b.RoleRef.Kind)
				rs, ok := roles["ClusterRole/"+b.RoleRef.Name]
				require.True(t, ok, "%s binds the missing ClusterRole %s", b.Name, b.RoleRef.Name)
				a.cluster = append(a.cluster, rs...)
			}
		case "RoleBinding":
			var b rbacv1.RoleBinding
			require.NoError(t, yaml.UnmarshalStrict(o.YAML, &b))
			if isSA(b.Subjects) {
				rs, ok := roles[b.RoleRef.Kind+"/"+b.RoleRef.Name]
				require.True(t, ok, "%s binds the missing %s %s", b.Name, b.RoleRef.Kind, b.RoleRef.Name)
				a.namespaced[b.Namespace] = append(a.namespaced[b.Namespace], rs...)
			}
		}
	}
	return a
}

func ruleAllows(r rbacv1.PolicyRule, group, res, verb string) bool {
	return slices.Contains(r.APIGroups, group) && slices.Contains(r.Resources, res) &&
		slices.Contains(r.Verbs, verb) && len(r.ResourceNames) == 0
}

// allowed reports whether verb on group/res is allowed in namespace ns ("":
// across all namespaces, or a cluster-scoped object).
func (a *authorizer) allowed(group, res, verb, ns string) bool {
	for _, r := range a.cluster {
		if ruleAllows(r, group, res, verb) {
			return true
		}
	}
	if ns == "" {
		return false
	}
	for _, r := range a.namespaced[ns] {
		if ruleAllows(r, group, res, verb) {
			return true
		}
	}
	return false
}

func TestRBACGrantsWhatTheControllerNeeds(t *testing.T) {
	a := newAuthorizer(t, install(t), planNamespace(t, "shop"))
	for _, n := range controllerNeeds {
		for verb := range strings.FieldsSeq(n.verbs) {
			t.Run(n.group+"/"+n.resource+"/"+verb, func(t *testing.T) {
				switch n.scope {
				case clusterWide:
					assert.True(t, a.allowed(n.group, n.resource, verb, ""))
				case systemOnly:
					assert.True(t, a.allowed(n.group, n.resource, verb, systemNamespace))
					assert.False(t, a.allowed(n.group, n.resource, verb, ""), "granted beyond %s", systemNamespace)
				case inPlanNS:
					assert.True(t, a.allowed(n.group, n.resource, verb, "shop"))
					assert.False(t, a.allowed(n.group, n.resource, verb, ""), "granted cluster-wide")
				}
			})
		}
	}
	for _, m := range controllerMustNot {
		t.Run("not "+m.verb+" "+m.group+"/"+m.resource+" in "+m.namespace, func(t *testing.T) {
			assert.False(t, a.allowed(m.group, m.resource, m.verb, m.namespace))
		})
	}
}

// TestRBACGrantsNothingElse is the other half of least privilege: every
// group/resource/verb any shipped controller role grants is in
// controllerNeeds.
func TestRBACGrantsNothingElse(t *testing.T) {
	needed := map[string]bool{}
	for _, n := range controllerNeeds {
		for verb := range strings.FieldsSeq(n.verbs) {
			needed[n.group+"|"+n.resource+"|"+verb] = true
		}
	}
	for key, rs := range rules(t, install(t)) {
		for _, r := range rs {
			for _, g := range r.APIGroups {
				for _, res := range r.Resources {
					for _, v := range r.Verbs {
						assert.True(t, needed[g+"|"+res+"|"+v], "%s grants %s on %q/%s, which controllerNeeds does not list", key, v, g, res)
					}
				}
			}
		}
	}
}

// rbacMarker matches controller-gen RBAC markers.
var rbacMarker = regexp.MustCompile(`^//\s*\+kubebuilder:rbac:(.*)$`)

// TestRBACCoversControllerMarkers checks the rules the reconcilers declare
// in +kubebuilder:rbac markers (controllers/) against the shipped RBAC.
func TestRBACCoversControllerMarkers(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "controllers", "*.go"))
	require.NoError(t, err)
	if len(files) == 0 {
		t.Skip("no controllers/ in this tree")
	}
	a := newAuthorizer(t, install(t), planNamespace(t, "shop"))
	markers := 0
	marked := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		fh, err := os.Open(f)
		require.NoError(t, err)
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			m := rbacMarker.FindStringSubmatch(strings.TrimSpace(sc.Text()))
			if m == nil {
				continue
			}
			markers++
			opts := map[string]string{}
			for kv := range strings.SplitSeq(m[1], ",") {
				k, v, _ := strings.Cut(kv, "=")
				opts[k] = strings.Trim(v, `"`)
			}
			for group := range strings.SplitSeq(opts["groups"], ";") {
				if group == "core" {
					group = ""
				}
				for res := range strings.SplitSeq(opts["resources"], ";") {
					for verb := range strings.SplitSeq(opts["verbs"], ";") {
						marked[group+"|"+res+"|"+verb] = true
						ns := opts["namespace"]
						if group == "" && res == "secrets" {
							ns = "shop" // Secrets are granted per DRPlan namespace
						}
						assert.True(t, a.allowed(group, res, verb, ns), "%s: %s %q/%s is not granted", filepath.Base(f), verb, group, res)
					}
				}
			}
		}
		require.NoError(t, sc.Err())
		require.NoError(t, fh.Close())
	}
	require.Positive(t, markers, "controllers/ has no +kubebuilder:rbac markers")
	t.Logf("%d markers checked", markers)
	for _, n := range controllerNeeds {
		if !n.fromMarkers {
			continue
		}
		for verb := range strings.FieldsSeq(n.verbs) {
			assert.True(t, marked[n.group+"|"+n.resource+"|"+verb],
				"the install grants %s %q/%s but no reconciler asks for it: drop it (least privilege)", verb, n.group, n.resource)
		}
	}
}

// planNamespace builds rbac/plan-namespace for namespace ns, as
// `kustomize edit set namespace` would.
func planNamespace(t *testing.T, ns string) map[string]object {
	t.Helper()
	fsys := filesys.MakeFsInMemory()
	b, err := os.ReadFile(filepath.Join("rbac", "plan-namespace", "role_binding.yaml"))
	require.NoError(t, err)
	require.NoError(t, fsys.WriteFile("/p/role_binding.yaml", b))
	require.NoError(t, fsys.WriteFile("/p/kustomization.yaml", []byte("namespace: "+ns+"\nresources: [role_binding.yaml]\n")))
	objs := build(t, fsys, "/p")
	// The shipped kustomization must build too (with its placeholder namespace).
	build(t, filesys.MakeFsOnDisk(), filepath.Join("rbac", "plan-namespace"))
	rb := decode[rbacv1.RoleBinding](t, objs, "RoleBinding/gitover-git-credentials")
	require.Equal(t, ns, rb.Namespace)
	require.Equal(t, systemNamespace, rb.Subjects[0].Namespace, "the namespace transformer must not move the subject")
	require.Equal(t, "ClusterRole/gitover-git-credentials", rb.RoleRef.Kind+"/"+rb.RoleRef.Name)
	// The ClusterRole it names ships with the install.
	for k, v := range install(t) {
		if k == "ClusterRole/gitover-git-credentials" {
			objs[k] = v
		}
	}
	return objs
}

// argocdComponent builds deploy/argocd as a component of a minimal Argo CD
// install (namespace argocd, a stock argocd-cm).
func argocdComponent(t *testing.T) map[string]object {
	t.Helper()
	fsys := filesys.MakeFsInMemory()
	for _, f := range []string{"kustomization.yaml", "argocd-cm-patch.yaml", "argocd-server-rbac.yaml"} {
		b, err := os.ReadFile(filepath.Join("argocd", f))
		require.NoError(t, err)
		require.NoError(t, fsys.WriteFile("/argocd/gitover/"+f, b))
	}
	require.NoError(t, fsys.WriteFile("/argocd/argocd-cm.yaml", []byte(`apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cm
  labels: {app.kubernetes.io/name: argocd-cm, app.kubernetes.io/part-of: argocd}
data:
  resource.customizations.health.apps_Deployment: "hs = {}\nreturn hs\n"
  url: https://argocd.example.com
`)))
	require.NoError(t, fsys.WriteFile("/argocd/kustomization.yaml", []byte(`namespace: argocd
resources: [argocd-cm.yaml]
components: [gitover]
`)))
	return build(t, fsys, "/argocd")
}

func TestArgoCDComponent(t *testing.T) {
	objs := argocdComponent(t)
	cm := decode[corev1.ConfigMap](t, objs, "ConfigMap/argocd-cm")
	assert.Equal(t, "argocd", cm.Namespace)
	assert.Equal(t, "argocd", cm.Labels["app.kubernetes.io/part-of"], "the patch must keep argocd-cm's labels (Argo CD only reads labelled ConfigMaps)")
	assert.Equal(t, "https://argocd.example.com", cm.Data["url"], "existing keys stay")
	assert.NotEmpty(t, cm.Data["resource.customizations.health.apps_Deployment"])
	for _, k := range []string{
		"resource.customizations.health.gitover.io_DRPlan",
		"resource.customizations.health.gitover.io_Failover",
		"resource.customizations.actions.gitover.io_DRPlan",
	} {
		assert.NotEmpty(t, cm.Data[k], k)
	}
	role := decode[rbacv1.ClusterRole](t, objs, "ClusterRole/gitover-argocd-server")
	assert.Equal(t, []rbacv1.PolicyRule{{APIGroups: []string{"gitover.io"}, Resources: []string{"failovers"}, Verbs: []string{"create"}}}, role.Rules,
		"argocd-server may create Failovers (the actions) and nothing else")
	binding := decode[rbacv1.ClusterRoleBinding](t, objs, "ClusterRoleBinding/gitover-argocd-server")
	assert.Equal(t, []rbacv1.Subject{{Kind: "ServiceAccount", Name: "argocd-server", Namespace: "argocd"}}, binding.Subjects)
	assert.Equal(t, "gitover-argocd-server", binding.RoleRef.Name)
}

// TestCustomizationsUseTheAPIStrings checks that the Lua in the Argo CD
// customizations compares against the strings the API and the controller
// actually write. (The Lua itself runs in Argo CD's VM in test/argocdcompat.)
func TestCustomizationsUseTheAPIStrings(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("argocd", "argocd-cm-patch.yaml"))
	require.NoError(t, err)
	lua := string(b)
	for _, s := range []string{
		string(v1alpha1.PhaseSucceeded), string(v1alpha1.PhaseFailed), string(v1alpha1.StepFailed),
		v1alpha1.ConditionReady, v1alpha1.ConditionConverged, v1alpha1.ConditionProtected,
		v1alpha1.ConditionSourceCleanupPending, string(v1alpha1.ActionFailover), string(v1alpha1.ActionRelocate),
		v1alpha1.GroupVersion.String(),
	} {
		assert.Contains(t, lua, `"`+s+`"`)
	}
	// The Converged reason that means "diverged beyond the threshold" is the
	// controller's; read it from its source when the controller is there.
	src, err := os.ReadFile(filepath.Join("..", "controllers", "conditions.go"))
	if os.IsNotExist(err) {
		t.Skip("no controllers/conditions.go in this tree")
	}
	require.NoError(t, err)
	m := regexp.MustCompile(`ReasonDivergedTooLong\s*=\s*"([^"]+)"`).FindSubmatch(src)
	require.NotNil(t, m, "controllers/conditions.go no longer defines ReasonDivergedTooLong")
	assert.Contains(t, lua, `converged.reason == "`+string(m[1])+`"`)
}

func TestDeployment(t *testing.T) {
	objs := install(t)
	d := decode[appsv1.Deployment](t, objs, "Deployment/gitover-controller")
	pod := d.Spec.Template.Spec
	require.Len(t, pod.Containers, 1)
	c := pod.Containers[0]

	assert.Equal(t, image+":"+version.Version, c.Image, "the image tag follows internal/version.Version")
	assert.Equal(t, serviceAccount, pod.ServiceAccountName)
	decode[corev1.ServiceAccount](t, objs, "ServiceAccount/"+pod.ServiceAccountName)
	assert.Equal(t, int32(1), *d.Spec.Replicas)

	args := map[string]string{}
	for _, a := range c.Args[1:] {
		k, v, _ := strings.Cut(a, "=")
		args[k] = v
	}
	assert.Equal(t, "controller", c.Args[0])
	assert.Equal(t, map[string]string{
		"--leader-elect":               "",
		"--metrics-bind-address":       ":8080",
		"--health-probe-bind-address":  ":8081",
		"--webhook-bind-address":       ":8090",
		"--webhook-github-secret-file": "/etc/gitover/webhook/github",
		"--webhook-gitlab-token-file":  "/etc/gitover/webhook/gitlab",
		"--git-cache-dir":              "/var/cache/gitover/git",
	}, args)

	// Pod and container security.
	psc := pod.SecurityContext
	require.NotNil(t, psc)
	assert.True(t, *psc.RunAsNonRoot)
	assert.Equal(t, int64(65532), *psc.RunAsUser)
	assert.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, psc.SeccompProfile.Type)
	sc := c.SecurityContext
	require.NotNil(t, sc)
	assert.False(t, *sc.AllowPrivilegeEscalation)
	assert.True(t, *sc.ReadOnlyRootFilesystem)
	assert.True(t, *sc.RunAsNonRoot)
	assert.Nil(t, sc.Privileged)
	assert.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop)
	assert.Empty(t, sc.Capabilities.Add)
	assert.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, sc.SeccompProfile.Type)
	assert.False(t, pod.HostNetwork || pod.HostPID || pod.HostIPC)

	// Probes on the probe port, on the paths controller-runtime serves.
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	assert.Equal(t, map[string]int32{"metrics": 8080, "probes": 8081, "webhook": 8090}, ports)
	require.NotNil(t, c.ReadinessProbe.HTTPGet)
	require.NotNil(t, c.LivenessProbe.HTTPGet)
	assert.Equal(t, "/readyz", c.ReadinessProbe.HTTPGet.Path)
	assert.Equal(t, "/healthz", c.LivenessProbe.HTTPGet.Path)
	assert.Equal(t, "probes", c.ReadinessProbe.HTTPGet.Port.String())
	assert.Equal(t, "probes", c.LivenessProbe.HTTPGet.Port.String())

	// Resources, and GOMEMLIMIT from the memory limit.
	assert.False(t, c.Resources.Requests.Cpu().IsZero())
	assert.False(t, c.Resources.Requests.Memory().IsZero())
	require.False(t, c.Resources.Limits.Memory().IsZero(), "GOMEMLIMIT needs a memory limit")
	assert.Positive(t, c.Resources.Limits.Memory().Cmp(*c.Resources.Requests.Memory()))
	var memlimit *corev1.EnvVar
	for i := range c.Env {
		if c.Env[i].Name == "GOMEMLIMIT" {
			memlimit = &c.Env[i]
		}
	}
	require.NotNil(t, memlimit)
	ref := memlimit.ValueFrom.ResourceFieldRef
	require.NotNil(t, ref)
	assert.Equal(t, "limits.memory", ref.Resource)
	assert.Equal(t, c.Name, ref.ContainerName)
	assert.True(t, ref.Divisor.IsZero() || ref.Divisor.Cmp(resource.MustParse("1")) == 0,
		"GOMEMLIMIT is in bytes: a divisor would make it bytes of the wrong unit")

	// Writable paths are volumes: the Git cache (where --git-cache-dir
	// points), /tmp, and the webhook secrets read-only.
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	cacheMount, ok := mounts["/var/cache/gitover"]
	require.True(t, ok)
	assert.True(t, strings.HasPrefix(args["--git-cache-dir"], cacheMount.MountPath+"/"))
	assert.NotNil(t, volumes[cacheMount.Name].EmptyDir, "the Git cache is an emptyDir")
	assert.NotNil(t, volumes[mounts["/tmp"].Name].EmptyDir)
	secretMount, ok := mounts["/etc/gitover/webhook"]
	require.True(t, ok)
	assert.True(t, secretMount.ReadOnly)
	secretVolume := volumes[secretMount.Name].Secret
	require.NotNil(t, secretVolume)
	assert.Equal(t, int32(0o440), *secretVolume.DefaultMode)
	for _, flag := range []string{"--webhook-github-secret-file", "--webhook-gitlab-token-file"} {
		assert.Equal(t, secretMount.MountPath, filepath.Dir(args[flag]), flag)
	}

	// The Secret the volume names is the one the template describes, with
	// one key per secret file, and empty values (never a usable secret).
	var tmpl corev1.Secret
	b, err := os.ReadFile(filepath.Join("manager", "webhook-secrets.template.yaml"))
	require.NoError(t, err)
	require.NoError(t, yaml.UnmarshalStrict(b, &tmpl))
	assert.Equal(t, secretVolume.SecretName, tmpl.Name)
	assert.Equal(t, systemNamespace, tmpl.Namespace)
	assert.Equal(t, map[string]string{"github": "", "gitlab": ""}, tmpl.StringData)
	for _, flag := range []string{"--webhook-github-secret-file", "--webhook-gitlab-token-file"} {
		assert.Contains(t, tmpl.StringData, filepath.Base(args[flag]))
	}
}

func TestServices(t *testing.T) {
	objs := install(t)
	d := decode[appsv1.Deployment](t, objs, "Deployment/gitover-controller")
	tests := []struct {
		service, port string
		number        int32
	}{
		{"gitover-webhook", "webhook", 8090},
		{"gitover-metrics", "metrics", 8080},
	}
	for _, tt := range tests {
		t.Run(tt.service, func(t *testing.T) {
			s := decode[corev1.Service](t, objs, "Service/"+tt.service)
			for k, v := range s.Spec.Selector {
				assert.Equal(t, v, d.Spec.Template.Labels[k], "the selector must match the Pod")
			}
			assert.Equal(t, d.Spec.Selector.MatchLabels, s.Spec.Selector)
			require.Len(t, s.Spec.Ports, 1)
			assert.Equal(t, tt.number, s.Spec.Ports[0].Port)
			assert.Equal(t, tt.port, s.Spec.Ports[0].TargetPort.String())
		})
	}
}
