package diskhook_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"slices"
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
	"k8s.io/client-go/dynamic"

	"github.com/gitover/gitover/internal/diskhook"
	"github.com/gitover/gitover/internal/sim/kubevirtsim"
)

var (
	namespacesGVR = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	configMapsGVR = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
)

const (
	argoInstanceLabel = "app.kubernetes.io/instance"
	argoTrackingID    = "argocd.argoproj.io/tracking-id"
	argoSyncOptions   = "argocd.argoproj.io/sync-options"
)

// spoke returns a dynamic client for the test cluster, skipping when the
// control-plane binaries are missing.
func spoke(t *testing.T) dynamic.Interface {
	t.Helper()
	if env == nil {
		t.Skip(skipReason)
	}
	d, err := dynamic.NewForConfig(env.Cluster("spoke").Config)
	require.NoError(t, err)
	return d
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// startKubeVirt runs the KubeVirt/CDI simulation until the test ends.
func startKubeVirt(t *testing.T, readopt bool) {
	t.Helper()
	o := kubevirtsim.DefaultOptions()
	o.ClusterName = "spoke"
	o.ReAdopt = readopt
	o.StepDelay = 50 * time.Millisecond
	o.WriteInterval = 100 * time.Millisecond
	o.InstallCRDs = false
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- kubevirtsim.Run(ctx, env.Cluster("spoke").Config, o, testr.NewWithOptions(t, testr.Options{Verbosity: 0}))
	}()
	var once sync.Once
	t.Cleanup(func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				assert.NoError(t, err)
			case <-time.After(30 * time.Second):
				t.Error("the simulation did not stop")
			}
		})
	})
}

func newNamespace(t *testing.T, ctx context.Context, d dynamic.Interface, prefix string) string {
	t.Helper()
	buf := make([]byte, 3)
	_, _ = rand.Read(buf)
	name := prefix + "-" + hex.EncodeToString(buf)
	ns := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": name}}}
	_, err := d.Resource(namespacesGVR).Create(ctx, ns, metav1.CreateOptions{})
	require.NoError(t, err)
	return name
}

// track marks an object as managed by an Argo CD application, with the
// label (tracking method "label") or the annotation ("annotation").
func track(obj *unstructured.Unstructured, app, method string) {
	if app == "" {
		return
	}
	if method == "annotation" {
		gvk := obj.GroupVersionKind()
		ann := obj.GetAnnotations()
		if ann == nil {
			ann = map[string]string{}
		}
		ann[argoTrackingID] = app + ":" + gvk.Group + "/" + gvk.Kind + ":" + obj.GetNamespace() + "/" + obj.GetName()
		obj.SetAnnotations(ann)
		return
	}
	labels := obj.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[argoInstanceLabel] = app
	obj.SetLabels(labels)
}

// vm builds a running VM whose disks come from dataVolumeTemplates.
func vm(ns, name string, disks ...string) *unstructured.Unstructured {
	var tmpls, vols []any
	for _, d := range disks {
		tmpls = append(tmpls, map[string]any{
			"metadata": map[string]any{"name": d},
			"spec": map[string]any{
				"source":  map[string]any{"blank": map[string]any{}},
				"storage": map[string]any{"resources": map[string]any{"requests": map[string]any{"storage": "1Gi"}}},
			},
		})
		vols = append(vols, map[string]any{"name": d, "dataVolume": map[string]any{"name": d}})
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
		"metadata": map[string]any{"name": name, "namespace": ns},
		"spec": map[string]any{
			"runStrategy":         "Always",
			"dataVolumeTemplates": tmpls,
			"template":            map[string]any{"spec": map[string]any{"domain": map[string]any{}, "volumes": vols}},
		},
	}}
	return u
}

// pvc builds a standalone PVC.
func pvc(ns, name string, annotations map[string]string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "PersistentVolumeClaim",
		"metadata": map[string]any{"name": name, "namespace": ns},
		"spec": map[string]any{
			"accessModes": []any{"ReadWriteOnce"},
			"resources":   map[string]any{"requests": map[string]any{"storage": "1Gi"}},
		},
	}}
	u.SetAnnotations(annotations)
	return u
}

// hookJob builds the hook's own Job, tracked by an application.
func hookJob(ns, name string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "batch/v1", "kind": "Job",
		"metadata": map[string]any{"name": name, "namespace": ns},
		"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
			"restartPolicy": "Never",
			"containers":    []any{map[string]any{"name": "hook", "image": "ghcr.io/gitover/gitover:test"}},
		}}},
	}}
}

func create(t *testing.T, ctx context.Context, d dynamic.Interface, gvr schema.GroupVersionResource, obj *unstructured.Unstructured) *unstructured.Unstructured {
	t.Helper()
	out, err := d.Resource(gvr).Namespace(obj.GetNamespace()).Create(ctx, obj, metav1.CreateOptions{})
	require.NoError(t, err, "creating %s %s", gvr.Resource, obj.GetName())
	return out
}

func get(t *testing.T, ctx context.Context, d dynamic.Interface, gvr schema.GroupVersionResource, ns, name string) *unstructured.Unstructured {
	t.Helper()
	obj, err := d.Resource(gvr).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	require.NoError(t, err)
	return obj
}

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

// hasVMOwner reports an owner reference to a VirtualMachine.
func hasVMOwner(obj *unstructured.Unstructured) bool {
	if obj == nil {
		return false
	}
	return slices.ContainsFunc(obj.GetOwnerReferences(), func(o metav1.OwnerReference) bool { return o.Kind == "VirtualMachine" })
}

// vmReady waits until a VM runs, owns its disks and its guest has written
// to each of them.
func vmReady(t *testing.T, ctx context.Context, d dynamic.Interface, ns, name string, disks ...string) {
	t.Helper()
	waitFor(t, 30*time.Second, "VM "+name+" to run with its disks", func() bool {
		v := get(t, ctx, d, diskhook.VirtualMachines, ns, name)
		if s, _, _ := unstructured.NestedString(v.Object, "status", "printableStatus"); s != "Running" {
			return false
		}
		for _, disk := range disks {
			c, err := kubevirtsim.ReadContent(ctx, d, ns, disk)
			if err != nil || c.LastSeq == 0 || !hasVMOwner(get(t, ctx, d, diskhook.DataVolumes, ns, disk)) {
				return false
			}
		}
		return true
	})
}

// runHook runs the disk-protection hook as its Job would.
func runHook(t *testing.T, ctx context.Context, d dynamic.Interface, ns, job string, phase diskhook.Phase) *diskhook.Report {
	t.Helper()
	rep, err := diskhook.Run(ctx, d, diskhook.Options{Namespace: ns, Phase: phase, JobName: job, WaitTimeout: 30 * time.Second, PollInterval: 50 * time.Millisecond}, testr.New(t))
	require.NoError(t, err, "protect-disks --phase %s", phase)
	return rep
}

// argoDelete deletes an application's resources the way Argo CD's
// application controller does when the Application goes (resources
// finalizer, default foreground propagation): every live resource tracked
// by the application, except those annotated Delete=false, and waits until
// they are gone.
func argoDelete(t *testing.T, ctx context.Context, d dynamic.Interface, ns, app string) []string {
	t.Helper()
	fg := metav1.DeletePropagationForeground
	type ref struct {
		gvr  schema.GroupVersionResource
		name string
	}
	var deleted []ref
	var names []string
	for _, gvr := range []schema.GroupVersionResource{diskhook.VirtualMachines, diskhook.DataVolumes, diskhook.PVCs} {
		list, err := d.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{})
		require.NoError(t, err)
		for _, obj := range list.Items {
			if !trackedBy(&obj, app) || keep(&obj) {
				continue
			}
			err := d.Resource(gvr).Namespace(ns).Delete(ctx, obj.GetName(), metav1.DeleteOptions{PropagationPolicy: &fg})
			if apierrors.IsNotFound(err) {
				continue
			}
			require.NoError(t, err)
			deleted = append(deleted, ref{gvr, obj.GetName()})
			names = append(names, obj.GetKind()+"/"+obj.GetName())
		}
	}
	for _, r := range deleted {
		waitFor(t, 30*time.Second, r.gvr.Resource+"/"+r.name+" to be deleted", func() bool {
			_, err := d.Resource(r.gvr).Namespace(ns).Get(ctx, r.name, metav1.GetOptions{})
			return apierrors.IsNotFound(err)
		})
	}
	return names
}

func trackedBy(obj *unstructured.Unstructured, app string) bool {
	if id := obj.GetAnnotations()[argoTrackingID]; id != "" {
		got, _, _ := strings.Cut(id, ":")
		return got == app
	}
	return obj.GetLabels()[argoInstanceLabel] == app
}

// keep reports Argo CD's Delete=false sync option.
func keep(obj *unstructured.Unstructured) bool {
	for _, o := range strings.Split(obj.GetAnnotations()[argoSyncOptions], ",") {
		if strings.TrimSpace(o) == "Delete=false" {
			return true
		}
	}
	return false
}

// lastRecord reads the newest record of a disk's simulated content.
func lastRecord(t *testing.T, ctx context.Context, d dynamic.Interface, ns, disk string) kubevirtsim.Record {
	t.Helper()
	c, err := kubevirtsim.ReadContent(ctx, d, ns, disk)
	require.NoError(t, err)
	r, ok := c.Last()
	require.True(t, ok, "disk %s has records", disk)
	return r
}

var errGone = errors.New("gone")

// alive returns the object when it exists and is not being deleted.
func alive(t *testing.T, ctx context.Context, d dynamic.Interface, gvr schema.GroupVersionResource, ns, name string) (*unstructured.Unstructured, error) {
	t.Helper()
	obj := get(t, ctx, d, gvr, ns, name)
	if obj == nil || obj.GetDeletionTimestamp() != nil {
		return nil, errGone
	}
	return obj, nil
}
