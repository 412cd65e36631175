package kubevirtsim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/gitover/gitover/internal/sim/testenv"
)

// cluster returns a started test cluster, skipping when there is none.
func cluster(t *testing.T, name string) *testenv.Cluster {
	t.Helper()
	if env == nil {
		t.Skip(skipReason)
	}
	c := env.Cluster(name)
	require.NotNil(t, c, "no test cluster %q", name)
	return c
}

// testContext is a context bounded by the test's deadline (or 2 minutes).
func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// dyn is a dynamic client for a cluster.
func dyn(t *testing.T, c *testenv.Cluster) dynamic.Interface {
	t.Helper()
	d, err := dynamic.NewForConfig(c.Config)
	require.NoError(t, err)
	return d
}

// testOptions are fast simulator options.
func testOptions(cluster string) Options {
	o := DefaultOptions()
	o.ClusterName = cluster
	o.StepDelay = 50 * time.Millisecond
	o.WriteInterval = 0
	o.InstallCRDs = false // TestMain installed them before the garbage collector started
	o.ResyncPeriod = 10 * time.Second
	return o
}

// startSim runs the simulator on a cluster until the test ends, or until
// the returned function stops it.
func startSim(t *testing.T, c *testenv.Cluster, o Options) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, c.Config, o, testr.NewWithOptions(t, testr.Options{Verbosity: 1})) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				assert.NoError(t, err)
			case <-time.After(30 * time.Second):
				t.Error("the simulator did not stop")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

var nsGVR = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}

// newNamespace creates a namespace with a unique name on a cluster.
func newNamespace(t *testing.T, ctx context.Context, d dynamic.Interface, prefix string) string {
	t.Helper()
	buf := make([]byte, 3)
	_, _ = rand.Read(buf)
	name := strings.ToLower(prefix) + "-" + hex.EncodeToString(buf)
	ns := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": name}}}
	_, err := d.Resource(nsGVR).Create(ctx, ns, metav1.CreateOptions{})
	require.NoError(t, err)
	return name
}

// vmSpec describes a test VM.
type vmSpec struct {
	name        string
	runStrategy string // "" with running unset: Halted
	running     *bool
	disks       []string // dataVolumeTemplates, also the VM's volumes
	labels      map[string]string
	annotations map[string]string
}

// vmObject builds a VirtualMachine like the demo's: blank DataVolume
// templates sized 1Gi, used as the VM's disks.
func vmObject(ns string, s vmSpec) *unstructured.Unstructured {
	var tmpls, vols, disks []any
	for _, d := range s.disks {
		tmpls = append(tmpls, map[string]any{
			"metadata": map[string]any{"name": d},
			"spec": map[string]any{
				"source":  map[string]any{"blank": map[string]any{}},
				"storage": map[string]any{"resources": map[string]any{"requests": map[string]any{"storage": "1Gi"}}},
			},
		})
		vols = append(vols, map[string]any{"name": d, "dataVolume": map[string]any{"name": d}})
		disks = append(disks, map[string]any{"name": d, "disk": map[string]any{"bus": "virtio"}})
	}
	spec := map[string]any{
		"dataVolumeTemplates": tmpls,
		"template": map[string]any{
			"metadata": map[string]any{"labels": map[string]any{"kubevirt.io/domain": s.name}},
			"spec": map[string]any{
				"domain":  map[string]any{"devices": map[string]any{"disks": disks}, "resources": map[string]any{"requests": map[string]any{"memory": "64Mi"}}},
				"volumes": vols,
			},
		},
	}
	if s.runStrategy != "" {
		spec["runStrategy"] = s.runStrategy
	}
	if s.running != nil {
		spec["running"] = *s.running
	}
	vm := newU(VirtualMachineGVK)
	vm.SetNamespace(ns)
	vm.SetName(s.name)
	vm.SetLabels(s.labels)
	vm.SetAnnotations(s.annotations)
	vm.Object["spec"] = spec
	return vm
}

// create creates an object and returns the stored version.
func create(t *testing.T, ctx context.Context, d dynamic.Interface, gvr schema.GroupVersionResource, obj *unstructured.Unstructured) *unstructured.Unstructured {
	t.Helper()
	out, err := d.Resource(gvr).Namespace(obj.GetNamespace()).Create(ctx, obj, metav1.CreateOptions{})
	require.NoError(t, err, "creating %s %s/%s", gvr.Resource, obj.GetNamespace(), obj.GetName())
	return out
}

// get reads an object; nil when it does not exist.
func get(t *testing.T, ctx context.Context, d dynamic.Interface, gvr schema.GroupVersionResource, ns, name string) *unstructured.Unstructured {
	t.Helper()
	obj, err := d.Resource(gvr).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	require.NoError(t, err)
	return obj
}

// waitFor polls cond every 50ms until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// holds checks that cond stays true for d (polled every 50ms).
func holds(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if !cond() {
			t.Fatalf("%s stopped holding", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// controller returns an object's controller reference, or nil.
func controller(obj *unstructured.Unstructured) *metav1.OwnerReference {
	if obj == nil {
		return nil
	}
	return metav1.GetControllerOf(obj)
}

// ownedBy reports whether obj's controller is owner, blocking its deletion.
func ownedBy(obj, owner *unstructured.Unstructured) bool {
	ref := controller(obj)
	return ref != nil && owner != nil && ref.UID == owner.GetUID() && ref.BlockOwnerDeletion != nil && *ref.BlockOwnerDeletion
}

// stripOwners removes every owner reference of an object (what a
// PostSync-only disk-protection hook does to a DataVolume).
func stripOwners(t *testing.T, ctx context.Context, d dynamic.Interface, gvr schema.GroupVersionResource, ns, name string) {
	t.Helper()
	patch, err := json.Marshal([]map[string]any{{"op": "replace", "path": "/metadata/ownerReferences", "value": []any{}}})
	require.NoError(t, err)
	_, err = d.Resource(gvr).Namespace(ns).Patch(ctx, name, types.JSONPatchType, patch, metav1.PatchOptions{})
	require.NoError(t, err)
}

// deleteWith deletes an object with a propagation policy.
func deleteWith(t *testing.T, ctx context.Context, d dynamic.Interface, gvr schema.GroupVersionResource, ns, name string, policy metav1.DeletionPropagation) {
	t.Helper()
	err := d.Resource(gvr).Namespace(ns).Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &policy})
	require.NoError(t, err)
}

// vmRunning waits until a VM reports Running and Ready.
func vmRunning(t *testing.T, ctx context.Context, d dynamic.Interface, ns, name string) *unstructured.Unstructured {
	t.Helper()
	var vm *unstructured.Unstructured
	waitFor(t, 20*time.Second, "VM "+name+" to be Running and Ready", func() bool {
		vm = get(t, ctx, d, VirtualMachineGVR, ns, name)
		return vm != nil && str(vm, "status", "printableStatus") == "Running" && conditionStatus(vm, "Ready") == "True"
	})
	return vm
}
