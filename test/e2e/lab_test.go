//go:build e2e

package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/gitover/gitover/internal/lab"
)

// TestLab starts one lab through the CLI (a process that exits while the
// lab keeps running), then proves in order: Argo CD deploys the app where
// OCM decides and follows a Placement flip committed to Git; garbage
// collection and namespace deletion work on every spoke; dr1 can be failed
// and restored; `lab down` from another process leaves no process and no
// listening port behind.
func TestLab(t *testing.T) {
	requireTools(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	dir := t.TempDir()

	start := time.Now()
	out, err := labCLI(ctx, t, upArgs(dir)...)
	require.NoError(t, err, "lab up:\n%s", out)
	t.Logf("lab up (CLI) returned after %s", time.Since(start).Round(time.Millisecond))

	l, err := lab.Open(dir, testLogger(t))
	require.NoError(t, err)
	downDone := false
	t.Cleanup(func() {
		if !downDone {
			if out, err := labCLI(context.Background(), t, "down", "--dir", dir); err != nil {
				t.Logf("cleanup lab down: %v\n%s", err, out)
			}
		}
	})

	t.Run("processes outlive lab up", func(t *testing.T) {
		procs := l.Processes()
		require.NotEmpty(t, procs)
		for _, p := range procs {
			assert.True(t, p.Alive, "%s (pid %d) is running after `lab up` exited (log %s)", p.Name, p.PID, p.Log)
		}
	})

	t.Run("a second lab up is a no-op", func(t *testing.T) {
		before := l.Processes()
		out, err := labCLI(ctx, t, upArgs(dir)...)
		require.NoError(t, err, "second lab up:\n%s", out)
		assert.Contains(t, out, "lab already up")
		after := l.Processes()
		require.Len(t, after, len(before))
		for i := range before {
			assert.Equal(t, before[i].PID, after[i].PID, "%s was not restarted", before[i].Name)
		}
	})

	t.Run("flip in Git moves the app from dr1 to dr2 through OCM and Argo CD", func(t *testing.T) {
		testFlip(ctx, t, l)
	})

	for _, spoke := range l.Spokes() {
		t.Run("garbage collection on "+spoke, func(t *testing.T) {
			testGarbageCollection(ctx, t, kube(t, l, spoke))
		})
		t.Run("namespace deletion on "+spoke, func(t *testing.T) {
			testNamespaceDeletion(ctx, t, kube(t, l, spoke))
		})
	}

	t.Run("fail and restore dr1", func(t *testing.T) {
		testFailRestore(ctx, t, l, dir)
	})

	t.Run("status and env", func(t *testing.T) {
		out, err := labCLI(ctx, t, "status", "--dir", dir)
		require.NoError(t, err, out)
		assert.Contains(t, out, "lab running")
		for _, name := range []string{"kube-apiserver-hub", "kube-apiserver-dr1", "kube-apiserver-dr2", "ocm-placement", "argocd-application-controller", "argocd-applicationset-controller", "argocd-repo-server", "redis", "git-server", "etcd"} {
			assert.Contains(t, out, name)
		}
		assert.Contains(t, out, "mini-dr2")
		out, err = labCLI(ctx, t, "env", "--dir", dir)
		require.NoError(t, err, out)
		assert.Contains(t, out, "export KUBECONFIG='"+l.KubeconfigAll()+"'")
		info, err := l.Git()
		require.NoError(t, err)
		assert.NotContains(t, out, info.Password, "lab env never prints the Git password")
	})

	t.Run("lab down leaves no process and no port", func(t *testing.T) {
		before := l.Processes()
		require.NotEmpty(t, before)
		out, err := labCLI(ctx, t, "down", "--dir", dir)
		require.NoError(t, err, "lab down:\n%s", out)
		downDone = true
		for _, p := range before {
			assert.False(t, processRunning(p.PID), "%s (pid %d) still running", p.Name, p.PID)
			for _, port := range p.Ports {
				assert.False(t, listening(port), "port %d of %s still listening", port, p.Name)
			}
		}
		assert.Empty(t, l.Processes(), "the state records no process")
		// And the lab comes back with its data.
		_, err = os.Stat(filepath.Join(dir, "etcd"))
		require.NoError(t, err)
	})
}

// testFlip: initial deploy to dr1, then a pushed commit flips the
// Placement and the overlay; OCM re-decides, Argo CD deploys to dr2 and
// removes the app from dr1.
func testFlip(ctx context.Context, t *testing.T, l *lab.Lab) {
	dr1, dr2 := kube(t, l, "dr1"), kube(t, l, "dr2")
	waitDecision(ctx, t, l, miniPlacement, []string{"dr1"}, 60*time.Second)
	require.NoError(t, l.NudgeApplicationSet(ctx, miniAppSet))
	require.NoError(t, l.WaitApplication(ctx, "mini-dr1", 120*time.Second, lab.SyncedAndHealthy("")))
	cm, err := dr1.CoreV1().ConfigMaps(miniNamespace).Get(ctx, "mini-config", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "primary", cm.Data["site"], "dr1 runs the primary overlay")
	_, err = dr2.CoreV1().ConfigMaps(miniNamespace).Get(ctx, "mini-config", metav1.GetOptions{})
	require.True(t, apierrors.IsNotFound(err), "nothing on dr2 yet: %v", err)

	work := cloneLabRepo(ctx, t, l)
	sha := work.flip(ctx, t, "primary", "secondary", true)
	require.NoError(t, l.RefreshApplication(ctx, l.HubApplication()))
	require.NoError(t, l.WaitApplication(ctx, l.HubApplication(), 60*time.Second, lab.SyncedAndHealthy(sha)))

	// The real OCM placement controller re-decides between Git and Argo CD.
	waitDecision(ctx, t, l, miniPlacement, []string{"dr2"}, 60*time.Second)

	require.NoError(t, l.NudgeApplicationSet(ctx, miniAppSet))
	require.NoError(t, l.WaitApplication(ctx, "mini-dr2", 120*time.Second, lab.SyncedAndHealthy(sha)))
	require.NoError(t, l.WaitApplication(ctx, "mini-dr1", 120*time.Second, lab.Gone()))

	cm, err = dr2.CoreV1().ConfigMaps(miniNamespace).Get(ctx, "mini-config", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "secondary", cm.Data["site"], "dr2 runs the secondary overlay")
	_, err = dr2.AppsV1().Deployments(miniNamespace).Get(ctx, "mini", metav1.GetOptions{})
	require.NoError(t, err)
	// Argo CD removed the app's resources from dr1 (through the spoke's
	// garbage collector and its own finalizer).
	require.Eventually(t, func() bool {
		_, errCM := dr1.CoreV1().ConfigMaps(miniNamespace).Get(ctx, "mini-config", metav1.GetOptions{})
		_, errDep := dr1.AppsV1().Deployments(miniNamespace).Get(ctx, "mini", metav1.GetOptions{})
		return apierrors.IsNotFound(errCM) && apierrors.IsNotFound(errDep)
	}, 60*time.Second, 100*time.Millisecond, "the app's resources are gone from dr1")
}

// testGarbageCollection: background deletion removes dependents; orphan
// deletion keeps them and strips the owner reference.
func testGarbageCollection(ctx context.Context, t *testing.T, cs kubernetes.Interface) {
	ns := "gc-test"
	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	require.NoError(t, err)
	tests := []struct {
		name        string
		propagation metav1.DeletionPropagation
		wantKept    bool
	}{
		{"background deletes the dependent", metav1.DeletePropagationBackground, false},
		{"orphan keeps the dependent without owner reference", metav1.DeletePropagationOrphan, true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			owner, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
				ObjectMeta: metav1.ObjectMeta{Name: "owner-" + string(rune('a'+i))},
			}, metav1.CreateOptions{})
			require.NoError(t, err)
			dep, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
				ObjectMeta: metav1.ObjectMeta{
					Name: "dependent-" + string(rune('a'+i)),
					OwnerReferences: []metav1.OwnerReference{{
						APIVersion: "v1", Kind: "ConfigMap", Name: owner.Name, UID: owner.UID,
					}},
				},
			}, metav1.CreateOptions{})
			require.NoError(t, err)
			require.NoError(t, cs.CoreV1().ConfigMaps(ns).Delete(ctx, owner.Name, metav1.DeleteOptions{PropagationPolicy: ptr.To(tt.propagation)}))
			require.Eventually(t, func() bool {
				_, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, owner.Name, metav1.GetOptions{})
				return apierrors.IsNotFound(err)
			}, 30*time.Second, 50*time.Millisecond, "owner deleted")
			if !tt.wantKept {
				require.Eventually(t, func() bool {
					_, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, dep.Name, metav1.GetOptions{})
					return apierrors.IsNotFound(err)
				}, 30*time.Second, 50*time.Millisecond, "the garbage collector deletes the dependent")
				return
			}
			got, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, dep.Name, metav1.GetOptions{})
			require.NoError(t, err, "the orphaned dependent survives")
			assert.Empty(t, got.OwnerReferences, "the garbage collector removed the owner reference")
		})
	}
	require.NoError(t, cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}))
}

// testNamespaceDeletion: deleting a namespace with content completes.
func testNamespaceDeletion(ctx context.Context, t *testing.T, cs kubernetes.Interface) {
	ns := "ns-delete-test"
	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "content"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	require.NoError(t, cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}))
	require.Eventually(t, func() bool {
		_, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	}, 60*time.Second, 100*time.Millisecond, "the namespace controller finalizes the namespace")
}

var placementGVR = schema.GroupVersionResource{Group: "cluster.open-cluster-management.io", Version: "v1beta1", Resource: "placements"}

// testFailRestore: lab fail dr1 stops dr1's apiserver and makes OCM drop it
// from decisions; lab restore brings it back with its data.
func testFailRestore(ctx context.Context, t *testing.T, l *lab.Lab, dir string) {
	dr1 := kube(t, l, "dr1")
	_, err := dr1.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "survivor"}, Data: map[string]string{"written": "before the disaster"},
	}, metav1.CreateOptions{})
	require.NoError(t, err)

	// A Placement selecting the primary label: OCM decides dr1 while it is available.
	hub, err := l.Dynamic(lab.HubCluster)
	require.NoError(t, err)
	probe := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "cluster.open-cluster-management.io/v1beta1",
		"kind":       "Placement",
		"metadata":   map[string]any{"name": "probe-primary", "namespace": l.ArgoCDNamespace()},
		"spec": map[string]any{
			"predicates": []any{map[string]any{"requiredClusterSelector": map[string]any{
				"labelSelector": map[string]any{"matchLabels": map[string]any{l.LabelKey(): "primary"}},
			}}},
		},
	}}
	_, err = hub.Resource(placementGVR).Namespace(l.ArgoCDNamespace()).Create(ctx, probe, metav1.CreateOptions{})
	require.NoError(t, err)
	defer func() {
		_ = hub.Resource(placementGVR).Namespace(l.ArgoCDNamespace()).Delete(context.Background(), "probe-primary", metav1.DeleteOptions{})
	}()
	waitDecision(ctx, t, l, "probe-primary", []string{"dr1"}, 60*time.Second)

	out, err := labCLI(ctx, t, "fail", "dr1", "--dir", dir)
	require.NoError(t, err, "lab fail:\n%s", out)
	l, err = lab.Open(dir, testLogger(t))
	require.NoError(t, err)

	_, err = dr1.CoreV1().ConfigMaps("default").Get(ctx, "survivor", metav1.GetOptions{})
	require.Error(t, err, "dr1's apiserver is down")
	mc, err := hub.Resource(lab.ManagedClusterGVR).Get(ctx, "dr1", metav1.GetOptions{})
	require.NoError(t, err)
	cond := managedClusterAvailable(t, mc)
	require.NotNil(t, cond)
	assert.Equal(t, metav1.ConditionUnknown, cond.Status)
	assert.Equal(t, "ManagedClusterLeaseUpdateStopped", cond.Reason)
	assert.True(t, hasTaint(mc, "cluster.open-cluster-management.io/unreachable"), "unreachable taint")
	waitDecision(ctx, t, l, "probe-primary", nil, 60*time.Second)
	assert.Equal(t, []string{"dr1"}, l.Failed())

	out, err = labCLI(ctx, t, "restore", "dr1", "--dir", dir)
	require.NoError(t, err, "lab restore:\n%s", out)
	got, err := dr1.CoreV1().ConfigMaps("default").Get(ctx, "survivor", metav1.GetOptions{})
	require.NoError(t, err, "dr1 is back with its data")
	assert.Equal(t, "before the disaster", got.Data["written"])
	mc, err = hub.Resource(lab.ManagedClusterGVR).Get(ctx, "dr1", metav1.GetOptions{})
	require.NoError(t, err)
	cond = managedClusterAvailable(t, mc)
	require.NotNil(t, cond)
	assert.Equal(t, metav1.ConditionTrue, cond.Status)
	assert.False(t, hasTaint(mc, "cluster.open-cluster-management.io/unreachable"))
	waitDecision(ctx, t, l, "probe-primary", []string{"dr1"}, 60*time.Second)
	_ = dr1.CoreV1().ConfigMaps("default").Delete(ctx, "survivor", metav1.DeleteOptions{})
}

func managedClusterAvailable(t *testing.T, mc *unstructured.Unstructured) *metav1.Condition {
	t.Helper()
	raw, _, _ := unstructured.NestedSlice(mc.Object, "status", "conditions")
	var conds []metav1.Condition
	for _, r := range raw {
		m, _ := r.(map[string]any)
		conds = append(conds, metav1.Condition{
			Type: str(m["type"]), Status: metav1.ConditionStatus(str(m["status"])), Reason: str(m["reason"]),
		})
	}
	return meta.FindStatusCondition(conds, "ManagedClusterConditionAvailable")
}

func hasTaint(mc *unstructured.Unstructured, key string) bool {
	taints, _, _ := unstructured.NestedSlice(mc.Object, "spec", "taints")
	for _, tt := range taints {
		if m, ok := tt.(map[string]any); ok && m["key"] == key {
			return true
		}
	}
	return false
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// processRunning reports whether pid exists and is not a zombie.
func processRunning(pid int) bool {
	data, err := os.ReadFile(filepath.Join("/proc", itoa(pid), "stat"))
	if err != nil {
		return false
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] != 'Z' && s[i+2] != 'X'
}
