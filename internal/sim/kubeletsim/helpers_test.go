package kubeletsim

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	samples "github.com/gitover/gitover"
	"github.com/gitover/gitover/api/v1alpha1"
	"github.com/gitover/gitover/overlays"
)

// clients of the shared test cluster (skips when there is none).
func clients(t *testing.T) (kubernetes.Interface, dynamic.Interface) {
	t.Helper()
	if env == nil {
		t.Skip(skipReason)
	}
	cfg := env.Cluster("k").Config
	cs, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	d, err := dynamic.NewForConfig(cfg)
	require.NoError(t, err)
	return cs, d
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// namespace creates a namespace for one test and deletes it afterwards.
func namespace(ctx context.Context, t *testing.T, cs kubernetes.Interface) string {
	t.Helper()
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	name := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	if len(name) > 40 {
		name = name[:40]
	}
	name = strings.Trim(name, "-") + "-" + hex.EncodeToString(b)
	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = cs.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	// The ServiceAccount admission plugin needs the default account.
	require.Eventually(t, func() bool {
		_, err := cs.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{})
		return err == nil
	}, time.Minute, 50*time.Millisecond, "default ServiceAccount of %s", name)
	return name
}

// protection is the disk-protection file gitover generates for the demo
// application, decoded.
type protection struct {
	ServiceAccount *corev1.ServiceAccount
	Role           *rbacv1.Role
	RoleBinding    *rbacv1.RoleBinding
	Jobs           map[string]*batchv1.Job // by hook phase: PostSync, PreDelete
}

// generatedProtection runs the rewrite engine's protect on the embedded
// demo repository and decodes the file it writes into the primary overlay.
func generatedProtection(ctx context.Context, t *testing.T) *protection {
	t.Helper()
	tree, err := fs.Sub(samples.Samples, samples.SampleRepo)
	require.NoError(t, err)
	data, err := fs.ReadFile(samples.Samples, samples.SamplePlanSingle)
	require.NoError(t, err)
	var plan v1alpha1.DRPlan
	require.NoError(t, yaml.Unmarshal(data, &plan))
	change, err := overlays.Plan(ctx, tree, []*v1alpha1.DRPlan{&plan}, overlays.Request{Action: v1alpha1.ActionProtect})
	require.NoError(t, err)
	file := change.Files["app/overlays/primary/"+overlays.ProtectionFileName]
	require.NotEmpty(t, file, "protect writes %s into the primary overlay", overlays.ProtectionFileName)

	p := &protection{Jobs: map[string]*batchv1.Job{}}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(file)))
	for {
		doc, err := r.Read()
		if err != nil {
			break
		}
		var meta struct{ Kind string }
		require.NoError(t, yaml.Unmarshal(doc, &meta))
		switch meta.Kind {
		case "ServiceAccount":
			p.ServiceAccount = &corev1.ServiceAccount{}
			require.NoError(t, yaml.UnmarshalStrict(doc, p.ServiceAccount))
		case "Role":
			p.Role = &rbacv1.Role{}
			require.NoError(t, yaml.UnmarshalStrict(doc, p.Role))
		case "RoleBinding":
			p.RoleBinding = &rbacv1.RoleBinding{}
			require.NoError(t, yaml.UnmarshalStrict(doc, p.RoleBinding))
		case "Job":
			j := &batchv1.Job{}
			require.NoError(t, yaml.UnmarshalStrict(doc, j))
			p.Jobs[j.Annotations["argocd.argoproj.io/hook"]] = j
		}
	}
	require.NotNil(t, p.ServiceAccount)
	require.NotNil(t, p.Role)
	require.NotNil(t, p.RoleBinding)
	require.Len(t, p.Jobs, 2)
	return p
}

// install creates the ServiceAccount, the Role (as given) and the
// RoleBinding in ns, as Argo CD's sync would.
func (p *protection) install(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns string, role *rbacv1.Role) {
	t.Helper()
	sa := p.ServiceAccount.DeepCopy()
	sa.Namespace = ns
	_, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{})
	require.NoError(t, err)
	role = role.DeepCopy()
	role.Namespace = ns
	_, err = cs.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{})
	require.NoError(t, err)
	rb := p.RoleBinding.DeepCopy()
	rb.Namespace = ns
	_, err = cs.RbacV1().RoleBindings(ns).Create(ctx, rb, metav1.CreateOptions{})
	require.NoError(t, err)
}

// createJob creates a copy of a generated Job in ns.
func createJob(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns string, j *batchv1.Job) *batchv1.Job {
	t.Helper()
	j = j.DeepCopy()
	j.Namespace = ns
	got, err := cs.BatchV1().Jobs(ns).Create(ctx, j, metav1.CreateOptions{})
	require.NoError(t, err)
	return got
}

// waitJob waits until the Job has the condition (Complete or Failed) and
// returns it; it fails early when the Job reaches the other one.
func waitJob(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, name string, want batchv1.JobConditionType) *batchv1.Job {
	t.Helper()
	var last *batchv1.Job
	ok := waitUntil(ctx, 2*time.Minute, func() bool {
		j, err := cs.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false
		}
		last = j
		for _, c := range j.Status.Conditions {
			if c.Status == corev1.ConditionTrue && (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) {
				return true
			}
		}
		return false
	})
	require.True(t, ok, "job %s/%s finished; last status %+v\n%s", ns, name, statusOf(last), podLogs(t, ns, name))
	for _, c := range last.Status.Conditions {
		if c.Status == corev1.ConditionTrue && c.Type == want {
			return last
		}
	}
	require.Failf(t, "job ended in the wrong condition", "want %s, got %+v\n%s", want, last.Status.Conditions, podLogs(t, ns, name))
	return nil
}

func statusOf(j *batchv1.Job) any {
	if j == nil {
		return nil
	}
	return j.Status
}

// podLogs returns what the simulation logged for a Job's pods.
func podLogs(t *testing.T, ns, job string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(simOptions.LogDir, ns+"_"+job+"-*"))
	var b strings.Builder
	for _, f := range files {
		data, _ := os.ReadFile(f)
		b.WriteString("--- " + filepath.Base(f) + "\n" + string(data))
	}
	return b.String()
}

// jobPods lists a Job's pods.
func jobPods(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, job string) []corev1.Pod {
	t.Helper()
	list, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=" + job})
	require.NoError(t, err)
	return list.Items
}

// waitUntil polls cond until it holds or timeout passes.
func waitUntil(ctx context.Context, timeout time.Duration, cond func() bool) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		if cond() {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(100 * time.Millisecond):
		}
	}
}

var (
	vmGVR = schema.GroupVersionResource{Group: "kubevirt.io", Version: "v1", Resource: "virtualmachines"}
	dvGVR = schema.GroupVersionResource{Group: "cdi.kubevirt.io", Version: "v1beta1", Resource: "datavolumes"}
)

// vmWithDisk creates a VirtualMachine with one template DataVolume and
// its PVC, owned as KubeVirt and CDI own them (VM -> DataVolume -> PVC).
// No simulated KubeVirt runs in these tests: nothing re-adopts.
func vmWithDisk(ctx context.Context, t *testing.T, cs kubernetes.Interface, d dynamic.Interface, ns, name string, finalizers ...string) (vm, dv *unstructured.Unstructured) {
	t.Helper()
	disk := name + "-disk"
	vm = &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
		"metadata": map[string]any{"name": name, "namespace": ns},
		"spec": map[string]any{
			"runStrategy":         "Always",
			"dataVolumeTemplates": []any{map[string]any{"metadata": map[string]any{"name": disk}, "spec": map[string]any{"source": map[string]any{"blank": map[string]any{}}}}},
			"template":            map[string]any{"spec": map[string]any{"volumes": []any{map[string]any{"name": "disk", "dataVolume": map[string]any{"name": disk}}}}},
		},
	}}
	if len(finalizers) > 0 {
		vm.SetFinalizers(finalizers)
	}
	vm, err := d.Resource(vmGVR).Namespace(ns).Create(ctx, vm, metav1.CreateOptions{})
	require.NoError(t, err)
	yes := true
	dv = &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "cdi.kubevirt.io/v1beta1", "kind": "DataVolume",
		"metadata": map[string]any{"name": disk, "namespace": ns},
		"spec":     map[string]any{"source": map[string]any{"blank": map[string]any{}}},
	}}
	dv.SetOwnerReferences([]metav1.OwnerReference{{APIVersion: "kubevirt.io/v1", Kind: "VirtualMachine", Name: name, UID: vm.GetUID(), Controller: &yes, BlockOwnerDeletion: &yes}})
	dv, err = d.Resource(dvGVR).Namespace(ns).Create(ctx, dv, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = cs.CoreV1().PersistentVolumeClaims(ns).Create(ctx, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: disk, OwnerReferences: []metav1.OwnerReference{{APIVersion: "cdi.kubevirt.io/v1beta1", Kind: "DataVolume", Name: disk, UID: dv.GetUID(), Controller: &yes, BlockOwnerDeletion: &yes}}},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	return vm, dv
}

// ownedByVM reports whether a DataVolume still has a VirtualMachine owner.
func ownedByVM(ctx context.Context, t *testing.T, d dynamic.Interface, ns, name string) bool {
	t.Helper()
	dv, err := d.Resource(dvGVR).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	require.NoError(t, err)
	for _, o := range dv.GetOwnerReferences() {
		if o.Kind == "VirtualMachine" {
			return true
		}
	}
	return false
}

func gone(err error) bool { return apierrors.IsNotFound(err) }
