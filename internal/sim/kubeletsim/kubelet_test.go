package kubeletsim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// TestHookJobsRunGitover: the generated disk-protection Jobs, created as
// Argo CD creates them, run `gitover hook protect-disks` for real through
// the simulation, and the real Job controller completes them.
func TestHookJobsRunGitover(t *testing.T) {
	cs, d := clients(t)
	ctx := testContext(t)
	ns := namespace(ctx, t, cs)
	p := generatedProtection(ctx, t)
	p.install(ctx, t, cs, ns, p.Role)

	t.Run("PostSync strips the VM owner references", func(t *testing.T) {
		vmWithDisk(ctx, t, cs, d, ns, "db")
		require.True(t, ownedByVM(ctx, t, d, ns, "db-disk"))
		job := createJob(ctx, t, cs, ns, p.Jobs["PostSync"])
		waitJob(ctx, t, cs, ns, job.Name, batchv1.JobComplete)

		assert.False(t, ownedByVM(ctx, t, d, ns, "db-disk"), "the hook removed the VM owner reference")
		pods := jobPods(ctx, t, cs, ns, job.Name)
		require.Len(t, pods, 1)
		pod := pods[0]
		assert.Equal(t, DefaultNodeName, pod.Spec.NodeName, "bound to the simulated node")
		assert.Equal(t, corev1.PodSucceeded, pod.Status.Phase)
		require.Len(t, pod.Status.ContainerStatuses, 1)
		term := pod.Status.ContainerStatuses[0].State.Terminated
		require.NotNil(t, term)
		assert.Equal(t, int32(0), term.ExitCode)
		logs := podLogs(t, ns, job.Name)
		assert.Contains(t, logs, `"unowned"`, "the hook's report is in the container log")
		assert.Contains(t, logs, "db-disk")
	})

	t.Run("PreDelete orphan-deletes the VM and keeps its disks", func(t *testing.T) {
		vmWithDisk(ctx, t, cs, d, ns, "app")
		job := createJob(ctx, t, cs, ns, p.Jobs["PreDelete"])
		waitJob(ctx, t, cs, ns, job.Name, batchv1.JobComplete)
		_, err := d.Resource(vmGVR).Namespace(ns).Get(ctx, "app", metav1.GetOptions{})
		assert.True(t, gone(err), "the VM was deleted: %v", err)
		assert.False(t, ownedByVM(ctx, t, d, ns, "app-disk"), "the disk survives without owner")
		_, err = cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "app-disk", metav1.GetOptions{})
		assert.NoError(t, err, "the PVC survives")
	})
}

// TestFailingContainerFailsJob: a gitover command that exits non-zero
// fails its Pod and, through the real Job controller, its Job.
func TestFailingContainerFailsJob(t *testing.T) {
	cs, _ := clients(t)
	ctx := testContext(t)
	ns := namespace(ctx, t, cs)
	p := generatedProtection(ctx, t)
	p.install(ctx, t, cs, ns, p.Role)
	j := p.Jobs["PostSync"].DeepCopy()
	j.Name = "bogus-phase"
	j.Spec.BackoffLimit = ptr.To(int32(0))
	c := &j.Spec.Template.Spec.Containers[0]
	c.Args = []string{"hook", "protect-disks", "--phase=Bogus"}
	c.TerminationMessagePolicy = corev1.TerminationMessageFallbackToLogsOnError
	createJob(ctx, t, cs, ns, j)
	waitJob(ctx, t, cs, ns, j.Name, batchv1.JobFailed)

	pods := jobPods(ctx, t, cs, ns, j.Name)
	require.Len(t, pods, 1)
	assert.Equal(t, corev1.PodFailed, pods[0].Status.Phase)
	term := pods[0].Status.ContainerStatuses[0].State.Terminated
	require.NotNil(t, term)
	assert.Equal(t, int32(1), term.ExitCode)
	assert.Equal(t, "Error", term.Reason)
	assert.Contains(t, term.Message, "unknown phase", "FallbackToLogsOnError puts the log tail in the message")
}

// TestHookRoleIsEnforced: the process acts as the Pod's ServiceAccount,
// so a Role lacking a verb the hook needs makes it fail with Forbidden.
func TestHookRoleIsEnforced(t *testing.T) {
	cs, d := clients(t)
	ctx := testContext(t)
	ns := namespace(ctx, t, cs)
	p := generatedProtection(ctx, t)
	role := p.Role.DeepCopy()
	cut := false
	for i, r := range role.Rules {
		if slices.Contains(r.Resources, "virtualmachines") {
			role.Rules[i].Verbs = slices.DeleteFunc(slices.Clone(r.Verbs), func(v string) bool { return v == "list" })
			cut = true
		}
	}
	require.True(t, cut, "the generated Role lists VirtualMachines")
	p.install(ctx, t, cs, ns, role)
	vmWithDisk(ctx, t, cs, d, ns, "db")
	j := p.Jobs["PostSync"].DeepCopy()
	j.Spec.BackoffLimit = ptr.To(int32(0))
	createJob(ctx, t, cs, ns, j)
	waitJob(ctx, t, cs, ns, j.Name, batchv1.JobFailed)

	logs := podLogs(t, ns, j.Name)
	assert.Contains(t, logs, "forbidden")
	assert.Contains(t, logs, "system:serviceaccount:"+ns+":"+p.ServiceAccount.Name, "the request was made as the Pod's ServiceAccount")
	assert.True(t, ownedByVM(ctx, t, d, ns, "db-disk"), "nothing was changed")
}

// TestDeploymentBecomesAvailable: the real ReplicaSet and Deployment
// controllers see the simulated Pods running and ready; deleted Pods are
// stopped and removed, so replacements come and namespaces can go.
func TestDeploymentBecomesAvailable(t *testing.T) {
	cs, _ := clients(t)
	ctx := testContext(t)
	ns := namespace(ctx, t, cs)
	labels := map[string]string{"app": "web"}
	_, err := cs.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(2)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "web", Image: "docker.io/library/busybox:1.36.1", Command: []string{"httpd", "-f"},
				}}},
			},
		},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	waitAvailable(ctx, t, cs, ns, "web", 2)

	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	require.NoError(t, err)
	require.Len(t, pods.Items, 2)
	for _, pod := range pods.Items {
		assert.Equal(t, DefaultNodeName, pod.Spec.NodeName)
		assert.Equal(t, corev1.PodRunning, pod.Status.Phase)
		require.Len(t, pod.Status.ContainerStatuses, 1)
		assert.True(t, pod.Status.ContainerStatuses[0].Ready)
		assert.NotNil(t, pod.Status.ContainerStatuses[0].State.Running)
	}

	t.Run("a deleted pod is stopped, removed and replaced", func(t *testing.T) {
		victim := pods.Items[0]
		// A grace period far longer than the wait: only the simulation's
		// confirmation (grace period 0) removes the pod in time.
		require.NoError(t, cs.CoreV1().Pods(ns).Delete(ctx, victim.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(3600))}))
		require.True(t, waitUntil(ctx, time.Minute, func() bool {
			_, err := cs.CoreV1().Pods(ns).Get(ctx, victim.Name, metav1.GetOptions{})
			return gone(err)
		}), "pod %s removed after its deletion", victim.Name)
		waitAvailable(ctx, t, cs, ns, "web", 2)
	})

	t.Run("namespace deletion completes", func(t *testing.T) {
		require.NoError(t, cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}))
		require.True(t, waitUntil(ctx, 2*time.Minute, func() bool {
			_, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
			return gone(err)
		}), "namespace %s finalized", ns)
	})
}

// TestDeletingPodStopsItsProcess: deleting a Pod whose gitover process
// runs stops the process and removes the Pod.
func TestDeletingPodStopsItsProcess(t *testing.T) {
	cs, d := clients(t)
	ctx := testContext(t)
	ns := namespace(ctx, t, cs)
	p := generatedProtection(ctx, t)
	p.install(ctx, t, cs, ns, p.Role)
	// The VM keeps a finalizer: the PreDelete hook waits for it to go, so
	// the process runs until it is stopped.
	const hold = "test.gitover.io/hold"
	vmWithDisk(ctx, t, cs, d, ns, "db", hold)
	t.Cleanup(func() {
		_, _ = d.Resource(vmGVR).Namespace(ns).Patch(context.Background(), "db", types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
	})
	marker := randomHex(8)
	_, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "waiting-hook"},
		Spec: corev1.PodSpec{
			ServiceAccountName: p.ServiceAccount.Name,
			RestartPolicy:      corev1.RestartPolicyNever,
			Containers: []corev1.Container{{
				Name: "hook", Image: "ghcr.io/gitover/gitover:test",
				Args: []string{"hook", "protect-disks", "--phase=PreDelete", "--wait-timeout=10m"},
				Env: []corev1.EnvVar{
					{Name: "NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
					{Name: "TEST_MARKER", Value: marker},
				},
			}},
		},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	require.True(t, waitUntil(ctx, time.Minute, func() bool {
		vm, err := d.Resource(vmGVR).Namespace(ns).Get(ctx, "db", metav1.GetOptions{})
		return err == nil && vm.GetDeletionTimestamp() != nil
	}), "the hook process runs (it deleted the VM, which its finalizer keeps)\n%s", podLogs(t, ns, "waiting-hook"))
	require.NotEmpty(t, processesWith("TEST_MARKER="+marker), "the hook's process runs")
	pod, err := cs.CoreV1().Pods(ns).Get(ctx, "waiting-hook", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, corev1.PodRunning, pod.Status.Phase)

	require.NoError(t, cs.CoreV1().Pods(ns).Delete(ctx, "waiting-hook", metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(3600))}))
	require.True(t, waitUntil(ctx, time.Minute, func() bool {
		_, err := cs.CoreV1().Pods(ns).Get(ctx, "waiting-hook", metav1.GetOptions{})
		return gone(err)
	}), "the pod is removed")
	assert.Empty(t, processesWith("TEST_MARKER="+marker), "the hook's process was stopped")
}

// TestUnresolvableEnvironment: a container whose environment the
// simulation cannot build waits with CreateContainerConfigError, as the
// kubelet reports it; nothing runs.
func TestUnresolvableEnvironment(t *testing.T) {
	cs, _ := clients(t)
	ctx := testContext(t)
	ns := namespace(ctx, t, cs)
	_, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "limits"},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{
				Name: "hook", Image: "ghcr.io/gitover/gitover:test", Args: []string{"version"},
				Env: []corev1.EnvVar{{Name: "LIMIT", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory"}}}},
			}},
		},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	var last *corev1.Pod
	require.True(t, waitUntil(ctx, time.Minute, func() bool {
		last, err = cs.CoreV1().Pods(ns).Get(ctx, "limits", metav1.GetOptions{})
		if err != nil || len(last.Status.ContainerStatuses) == 0 {
			return false
		}
		w := last.Status.ContainerStatuses[0].State.Waiting
		return w != nil && w.Reason == "CreateContainerConfigError"
	}), "the container waits with CreateContainerConfigError")
	assert.Equal(t, corev1.PodPending, last.Status.Phase)
	assert.Contains(t, last.Status.ContainerStatuses[0].State.Waiting.Message, "resourceFieldRef")
}

// waitAvailable waits until a Deployment is Available with n ready replicas.
func waitAvailable(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, name string, n int32) {
	t.Helper()
	var last *appsv1.Deployment
	ok := waitUntil(ctx, 2*time.Minute, func() bool {
		dep, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false
		}
		last = dep
		for _, c := range dep.Status.Conditions {
			if c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionTrue {
				return dep.Status.AvailableReplicas == n && dep.Status.ReadyReplicas == n && dep.Status.UpdatedReplicas == n
			}
		}
		return false
	})
	require.True(t, ok, "deployment %s/%s available with %d replicas; last status %+v", ns, name, n, last)
}

// processesWith returns the PIDs whose environment holds entry.
func processesWith(entry string) []int {
	var pids []int
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range dirs {
		data, err := os.ReadFile(filepath.Join(dir, "environ"))
		if err != nil {
			continue
		}
		if slices.Contains(strings.Split(string(data), "\x00"), entry) {
			if pid, err := strconv.Atoi(filepath.Base(dir)); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
