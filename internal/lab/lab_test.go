package lab

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/clientcmd"
	clusterfake "open-cluster-management.io/api/client/cluster/clientset/versioned/fake"
	clusterv1 "open-cluster-management.io/api/cluster/v1"

	gitoverv1alpha1 "github.com/gitover/gitover/api/v1alpha1"
)

// siteList builds sites from name/label-value pairs.
func siteList(kv ...string) []gitoverv1alpha1.Site {
	var out []gitoverv1alpha1.Site
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, gitoverv1alpha1.Site{Name: kv[i], LabelValue: kv[i+1]})
	}
	return out
}

func TestLoadPlan(t *testing.T) {
	tests := []struct {
		name      string
		yaml      string
		wantErr   string
		wantNS    string
		wantApp   string
		wantSites []string
	}{
		{
			name: "demo-like plan",
			yaml: `apiVersion: gitover.io/v1alpha1
kind: DRPlan
metadata: {name: shop, namespace: argocd}
spec:
  clusters:
    labelKey: cluster-role
    inactiveValue: invalid
    sites: [{name: dr1, labelValue: primary}, {name: dr2, labelValue: secondary}]
  placements: [{file: hub/placement.yaml, name: p}]
  argoCD: {namespace: openshift-gitops, hubApplication: hub}
`,
			wantNS: "openshift-gitops", wantApp: "hub", wantSites: []string{"dr1", "dr2"},
		},
		{
			name: "defaults for Argo CD",
			yaml: `apiVersion: gitover.io/v1alpha1
kind: DRPlan
metadata: {name: shop}
spec:
  clusters: {labelKey: role, inactiveValue: none, sites: [{name: a, labelValue: x}, {name: b, labelValue: y}]}
  placements: [{file: p.yaml, name: p}]
`,
			wantNS: DefaultArgoCDNamespace, wantApp: "shop-hub", wantSites: []string{"a", "b"},
		},
		{
			name:    "wrong kind",
			yaml:    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
			wantErr: "want DRPlan",
		},
		{
			name: "site named hub",
			yaml: `apiVersion: gitover.io/v1alpha1
kind: DRPlan
metadata: {name: shop}
spec:
  clusters: {labelKey: role, inactiveValue: none, sites: [{name: hub, labelValue: x}, {name: b, labelValue: y}]}
  placements: [{file: p.yaml, name: p}]
`,
			wantErr: "reserved",
		},
		{
			name: "no label key",
			yaml: `apiVersion: gitover.io/v1alpha1
kind: DRPlan
metadata: {name: shop}
spec:
  clusters: {inactiveValue: none, sites: [{name: a, labelValue: x}]}
  placements: [{file: p.yaml, name: p}]
`,
			wantErr: "labelKey",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "plan.yaml")
			require.NoError(t, os.WriteFile(path, []byte(tt.yaml), 0o644))
			p, err := loadPlan(path)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantNS, p.ArgoCDNamespace)
			assert.Equal(t, tt.wantApp, p.HubApplication)
			var names []string
			for _, s := range p.Sites {
				names = append(names, s.Name)
			}
			assert.Equal(t, tt.wantSites, names)
		})
	}
}

// The repository's own fixtures must load: the lab's defaults point at them.
func TestLoadFixturePlans(t *testing.T) {
	for _, tc := range []struct{ plan, repo, placementNS, set string }{
		{"testdata/plans/mini.yaml", "testdata/repos/mini", "openshift-gitops", "gitover-demo"},
		{"../../testdata/plans/demo-single.yaml", "../../testdata/repos/demo", "argocd", "shop"},
		{"../../testdata/plans/demo-dual.yaml", "../../testdata/repos/demo", "argocd", "shop"},
	} {
		t.Run(tc.plan, func(t *testing.T) {
			if _, err := os.Stat(tc.plan); err != nil {
				t.Skipf("fixture %s not present", tc.plan)
			}
			p, err := loadPlan(tc.plan)
			require.NoError(t, err)
			assert.Equal(t, "cluster-role", p.LabelKey)
			sets, nss, err := p.clusterSets(tc.repo)
			require.NoError(t, err)
			assert.Equal(t, []string{tc.set}, sets)
			assert.Equal(t, []string{tc.placementNS}, nss)
		})
	}
}

func TestClusterSetsMissingFile(t *testing.T) {
	p := &plan{ArgoCDNamespace: "argocd", PlacementFiles: []gitoverv1alpha1.PlacementRef{{File: "nope.yaml", Name: "x"}}}
	_, _, err := p.clusterSets(t.TempDir())
	require.ErrorContains(t, err, "nope.yaml")
}

func TestSplitYAML(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want int
	}{
		{"single", "a: 1\n", 1},
		{"two with separator", "a: 1\n---\nb: 2\n", 2},
		{"leading separator and comment-only doc", "---\n# just a comment\n---\na: 1\n", 1},
		{"empty", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs, err := splitYAML([]byte(tt.in))
			require.NoError(t, err)
			assert.Len(t, docs, tt.want)
		})
	}
}

func TestEnsurePKIIsStableAndValid(t *testing.T) {
	dir := t.TempDir()
	p1, err := ensurePKI(dir)
	require.NoError(t, err)
	p2, err := ensurePKI(dir)
	require.NoError(t, err)
	assert.Equal(t, p1.Token, p2.Token, "a second call reuses the credentials")

	caPEM, err := os.ReadFile(p1.CACert)
	require.NoError(t, err)
	srvPEM, err := os.ReadFile(p1.ServerCert)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(caPEM))
	block, _ := pem.Decode(srvPEM)
	require.NotNil(t, block)
	cert, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	_, err = cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: "127.0.0.1"})
	require.NoError(t, err, "the serving certificate is valid for 127.0.0.1 under the lab CA")

	csv, err := os.ReadFile(p1.TokenFile)
	require.NoError(t, err)
	assert.Contains(t, string(csv), p1.Token+",lab-admin,lab-admin,\"system:masters\"")
	fi, err := os.Stat(p1.SAKey)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "private keys are not world-readable")
}

func TestStateRoundTripAndKubeconfigs(t *testing.T) {
	dir := t.TempDir()
	p, err := ensurePKI(dir)
	require.NoError(t, err)
	st := &state{
		Dir:             dir,
		Sites:           siteList("dr1", "primary", "dr2", "secondary"),
		ArgoCDNamespace: "argocd",
		RepoName:        DefaultRepoName,
		Ports:           Ports{APIServers: map[string]int{"hub": 6443, "dr1": 6444, "dr2": 6445}, Git: 8000},
	}
	st.setProcess(&Process{Name: "etcd", PID: 1})
	st.setFailed("dr1", true)
	require.NoError(t, st.save())
	got, err := loadState(dir)
	require.NoError(t, err)
	assert.Equal(t, st, got)
	assert.True(t, got.isFailed("dr1"))
	got.setFailed("dr1", false)
	assert.False(t, got.isFailed("dr1"))
	assert.Equal(t, []string{"hub", "dr1", "dr2"}, got.clusters())
	assert.Equal(t, "http://127.0.0.1:8000/gitover/demo.git", got.gitURL())

	require.NoError(t, writeKubeconfigs(st, p))
	for _, c := range st.clusters() {
		cfg, err := clientcmd.LoadFromFile(kubeconfigPath(dir, c))
		require.NoError(t, err)
		assert.Equal(t, c, cfg.CurrentContext)
		assert.Equal(t, st.server(c), cfg.Clusters[c].Server)
	}
	all, err := clientcmd.LoadFromFile(mergedKubeconfigPath(dir))
	require.NoError(t, err)
	assert.Len(t, all.Contexts, 3)
	assert.Equal(t, HubCluster, all.CurrentContext)

	_, err = loadState(t.TempDir())
	require.True(t, isNotExist(err))
}

func TestAssignPortsReusesFreePorts(t *testing.T) {
	dir := t.TempDir()
	l := &Lab{cfg: Config{Dir: dir}}
	st := &state{Dir: dir, RepoName: DefaultRepoName, Sites: siteList("dr1", "primary"), Ports: Ports{APIServers: map[string]int{}}}
	require.NoError(t, l.assignPorts(st, nil))
	seen := map[int]bool{}
	for _, p := range st.Ports.all() {
		require.NotZero(t, *p)
		require.False(t, seen[*p], "ports are distinct")
		seen[*p] = true
	}
	for _, c := range st.clusters() {
		require.NotZero(t, st.Ports.APIServers[c])
		require.False(t, seen[st.Ports.APIServers[c]])
		seen[st.Ports.APIServers[c]] = true
	}
	next := &state{Dir: dir, RepoName: DefaultRepoName, Sites: st.Sites, Ports: Ports{APIServers: map[string]int{}}}
	require.NoError(t, l.assignPorts(next, st))
	assert.Equal(t, st.Ports, next.Ports, "free ports of the previous run are kept")
}

func TestProcessLifecycle(t *testing.T) {
	dir := t.TempDir()
	sleep, err := exec.LookPath("sleep")
	require.NoError(t, err)
	// A shell whose child ignores nothing: stop must take the whole group.
	sh, err := exec.LookPath("sh")
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		spec ProcessSpec
	}{
		{"single process", ProcessSpec{Name: "sleeper", Path: sleep, Args: []string{"300"}}},
		{"process group with a child", ProcessSpec{Name: "group", Path: sh, Args: []string{"-c", sleep + " 300 & " + sleep + " 300; wait"}}},
		{"ignores SIGTERM", ProcessSpec{Name: "stubborn", Path: sh, Args: []string{"-c", "trap '' TERM; " + sleep + " 300 & wait"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := startProcess(tc.spec, dir, filepath.Join(dir, "logs"))
			require.NoError(t, err)
			require.True(t, p.Alive())
			require.Eventually(t, func() bool { return len(groupMembers(p.PID)) >= 1 }, 5*time.Second, 20*time.Millisecond)
			assert.NotZero(t, p.rssBytes())
			require.NoError(t, p.stop(context.Background(), 500*time.Millisecond))
			assert.False(t, p.Alive())
			assert.Empty(t, groupMembers(p.PID), "no member of the group survives")
			_, err = os.Stat(p.Log)
			require.NoError(t, err)
		})
	}
}

func TestProcessAliveChecksStartTime(t *testing.T) {
	p := &Process{Name: "self", PID: os.Getpid()}
	assert.False(t, p.Alive(), "a PID with another start time is not our process")
	start, err := procStartTime(os.Getpid())
	require.NoError(t, err)
	p.Start = start
	assert.True(t, p.Alive())
}

func TestSetClusterAvailable(t *testing.T) {
	ctx := context.Background()
	cc := clusterfake.NewSimpleClientset(&clusterv1.ManagedCluster{ObjectMeta: metav1.ObjectMeta{Name: "dr1"}})

	require.NoError(t, setClusterAvailable(ctx, cc, "dr1", true))
	mc, err := cc.ClusterV1().ManagedClusters().Get(ctx, "dr1", metav1.GetOptions{})
	require.NoError(t, err)
	assert.True(t, meta.IsStatusConditionTrue(mc.Status.Conditions, clusterv1.ManagedClusterConditionAvailable))
	assert.True(t, meta.IsStatusConditionTrue(mc.Status.Conditions, clusterv1.ManagedClusterConditionJoined))
	assert.Empty(t, mc.Spec.Taints)

	require.NoError(t, setClusterAvailable(ctx, cc, "dr1", false))
	mc, err = cc.ClusterV1().ManagedClusters().Get(ctx, "dr1", metav1.GetOptions{})
	require.NoError(t, err)
	cond := meta.FindStatusCondition(mc.Status.Conditions, clusterv1.ManagedClusterConditionAvailable)
	require.NotNil(t, cond)
	assert.Equal(t, metav1.ConditionUnknown, cond.Status)
	assert.Equal(t, "ManagedClusterLeaseUpdateStopped", cond.Reason)
	require.Len(t, mc.Spec.Taints, 1)
	assert.Equal(t, clusterv1.ManagedClusterTaintUnreachable, mc.Spec.Taints[0].Key)
	assert.Equal(t, clusterv1.TaintEffectNoSelect, mc.Spec.Taints[0].Effect)

	// Idempotent: a second failure adds no second taint.
	require.NoError(t, setClusterAvailable(ctx, cc, "dr1", false))
	mc, err = cc.ClusterV1().ManagedClusters().Get(ctx, "dr1", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Len(t, mc.Spec.Taints, 1)

	require.NoError(t, setClusterAvailable(ctx, cc, "dr1", true))
	mc, err = cc.ClusterV1().ManagedClusters().Get(ctx, "dr1", metav1.GetOptions{})
	require.NoError(t, err)
	assert.True(t, meta.IsStatusConditionTrue(mc.Status.Conditions, clusterv1.ManagedClusterConditionAvailable))
	assert.Empty(t, mc.Spec.Taints)

	require.Error(t, setClusterAvailable(ctx, cc, "nope", true))
}

func TestEnvAndHubObjects(t *testing.T) {
	dir := t.TempDir()
	p, err := ensurePKI(dir)
	require.NoError(t, err)
	st := &state{
		Dir: dir, RepoName: DefaultRepoName, Branch: "main", HubPath: "hub/single", HubApplication: "hub",
		LabelKey: "cluster-role", Sites: siteList("dr1", "primary", "dr2", "secondary"),
		ClusterSets: []string{"shop"}, PlacementNamespaces: []string{"argocd"}, ArgoCDNamespace: "argocd",
		Ports: Ports{APIServers: map[string]int{"hub": 1, "dr1": 2, "dr2": 3}, Git: 4},
	}
	l := &Lab{st: st, pki: p}
	env := strings.Join(l.Env(), "\n")
	assert.Contains(t, env, "KUBECONFIG="+mergedKubeconfigPath(dir))
	assert.Contains(t, env, "GITOVER_LAB_KUBECONFIG_DR1="+kubeconfigPath(dir, "dr1"))
	pw, err := gitPassword(dir)
	require.NoError(t, err)
	assert.NotContains(t, env, pw, "the Git password is referenced by file, never printed")

	objs, err := l.hubObjects()
	require.NoError(t, err)
	byKey := map[string]map[string]string{}
	for _, o := range objs {
		byKey[o.GetKind()+"/"+o.GetName()] = o.GetLabels()
	}
	assert.Equal(t, "primary", byKey["ManagedCluster/dr1"]["cluster-role"], "labels come from the plan")
	assert.Equal(t, "secondary", byKey["ManagedCluster/dr2"]["cluster-role"])
	assert.Equal(t, "shop", byKey["ManagedCluster/dr1"]["cluster.open-cluster-management.io/clusterset"])
	for _, c := range []string{"hub", "dr1", "dr2"} {
		assert.Equal(t, "cluster", byKey["Secret/"+c]["argocd.argoproj.io/secret-type"], "cluster secret %s", c)
	}
	assert.Contains(t, byKey, "ConfigMap/acm-placement")
	assert.Contains(t, byKey, "ManagedClusterSetBinding/shop")
	assert.Equal(t, "argocd", byKey["ConfigMap/argocd-cm"]["app.kubernetes.io/part-of"])

	app := l.hubApplication()
	path, _, _ := unstructured.NestedString(app.Object, "spec", "source", "path")
	assert.Equal(t, "hub/single", path)
	url, _, _ := unstructured.NestedString(app.Object, "spec", "source", "repoURL")
	assert.Equal(t, "http://127.0.0.1:4/gitover/demo.git", url)
}

func TestMissingTools(t *testing.T) {
	missing := MissingTools(t.TempDir())
	joined := strings.Join(missing, " ")
	for _, tool := range requiredTools {
		assert.Contains(t, joined, tool)
	}
	assert.Contains(t, joined, filepath.Join("crds", "ocm"))
}

func TestSeedRepositoryReplacesPlaceholder(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	dir := t.TempDir()
	st := &state{Dir: dir, RepoName: DefaultRepoName, Branch: "main", Ports: Ports{Git: 4242}}
	ctx := context.Background()
	require.NoError(t, seedRepository(ctx, st, "testdata/repos/mini", DefaultRepoURLPlaceholder))
	out, err := exec.Command("git", "--git-dir", st.barePath(), "show", "main:hub/single/appset.yaml").CombinedOutput()
	require.NoError(t, err, string(out))
	assert.Contains(t, string(out), "repoURL: http://127.0.0.1:4242/gitover/demo.git")
	assert.NotContains(t, string(out), "git.example.com")
	// A second seed keeps the existing history.
	head1, err := exec.Command("git", "--git-dir", st.barePath(), "rev-parse", "main").Output()
	require.NoError(t, err)
	require.NoError(t, seedRepository(ctx, st, "testdata/repos/mini", DefaultRepoURLPlaceholder))
	head2, err := exec.Command("git", "--git-dir", st.barePath(), "rev-parse", "main").Output()
	require.NoError(t, err)
	assert.Equal(t, head1, head2)
}
