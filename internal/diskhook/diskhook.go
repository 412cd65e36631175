// Package diskhook is what the generated disk-protection hooks run
// (`gitover hook protect-disks`): it keeps a KubeVirt application's disks —
// DataVolumes and PersistentVolumeClaims — alive when Argo CD removes the
// application from a cluster. See docs/disk-protection.md for the trap it
// avoids.
package diskhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
)

// Phase is the Argo CD hook phase the command runs in.
type Phase string

// The phases.
const (
	// PostSync strips VirtualMachine owner references from the disks.
	PostSync Phase = "PostSync"
	// PreDelete additionally marks Argo CD-managed disks Delete=false,
	// deletes each VM with propagationPolicy=Orphan and stops its VMI.
	PreDelete Phase = "PreDelete"
)

// The resources the hook reads and writes.
var (
	VirtualMachines  = schema.GroupVersionResource{Group: "kubevirt.io", Version: "v1", Resource: "virtualmachines"}
	VMInstances      = schema.GroupVersionResource{Group: "kubevirt.io", Version: "v1", Resource: "virtualmachineinstances"}
	DataVolumes      = schema.GroupVersionResource{Group: "cdi.kubevirt.io", Version: "v1beta1", Resource: "datavolumes"}
	PVCs             = schema.GroupVersionResource{Version: "v1", Resource: "persistentvolumeclaims"}
	Jobs             = schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "jobs"}
	argoTrackingID   = "argocd.argoproj.io/tracking-id"
	argoInstance     = "app.kubernetes.io/instance"
	argoSyncOptions  = "argocd.argoproj.io/sync-options"
	syncDeleteFalse  = "Delete=false"
	kubevirtAPIGroup = "kubevirt.io"
)

// Options configure one run.
type Options struct {
	Namespace string
	Phase     Phase
	// JobName is the hook's own Job; its Argo CD tracking tells which
	// application's VMs are in scope. Empty, or untracked: every VM in the namespace.
	JobName string
	// WaitTimeout bounds the wait for orphaned VMs to disappear (PreDelete).
	WaitTimeout time.Duration
	// PollInterval for that wait; default 500ms.
	PollInterval time.Duration
}

// Report says what a run did.
type Report struct {
	Application  string   `json:"application,omitempty"`
	VMs          []string `json:"vms"`
	Disks        []string `json:"disks"`        // kind/name of every disk in scope
	Unowned      []string `json:"unowned"`      // disks whose VM owner references were removed
	MarkedKeep   []string `json:"markedKeep"`   // disks annotated Delete=false
	OrphanedVMs  []string `json:"orphanedVMs"`  // VMs deleted with propagationPolicy=Orphan
	StoppedVMIs  []string `json:"stoppedVMIs"`  // VMIs deleted after their VM was orphan-deleted
	KubeVirtSeen bool     `json:"kubevirtSeen"` // the VirtualMachine API exists here
}

// Run protects the disks of the VMs in scope.
func Run(ctx context.Context, c dynamic.Interface, o Options, log logr.Logger) (*Report, error) {
	if o.Namespace == "" {
		return nil, errors.New("no namespace: set --namespace or the NAMESPACE environment variable")
	}
	if o.Phase != PostSync && o.Phase != PreDelete {
		return nil, fmt.Errorf("unknown phase %q (want %s or %s)", o.Phase, PostSync, PreDelete)
	}
	if o.WaitTimeout == 0 {
		o.WaitTimeout = 5 * time.Minute
	}
	if o.PollInterval == 0 {
		o.PollInterval = 500 * time.Millisecond
	}
	rep := &Report{}
	app, err := owningApplication(ctx, c, o)
	if err != nil {
		return nil, err
	}
	rep.Application = app
	if app == "" {
		log.Info("hook Job carries no Argo CD tracking; protecting every VM in the namespace", "namespace", o.Namespace)
	}

	vms, err := list(ctx, c, VirtualMachines, o.Namespace)
	switch {
	case isMissingAPI(err):
		log.Info("no VirtualMachine API on this cluster; nothing to protect")
	case err != nil:
		return nil, fmt.Errorf("listing VirtualMachines in %s: %w", o.Namespace, err)
	default:
		rep.KubeVirtSeen = true
	}
	var inScope []unstructured.Unstructured
	for _, vm := range vms {
		if app == "" || trackedBy(&vm, app) {
			inScope = append(inScope, vm)
			rep.VMs = append(rep.VMs, vm.GetName())
		}
	}

	disks, err := collectDisks(ctx, c, o.Namespace, inScope, app)
	if err != nil {
		return nil, err
	}
	for _, d := range disks {
		rep.Disks = append(rep.Disks, d.id())
	}

	if o.Phase == PreDelete {
		for _, d := range disks {
			if !d.argoManaged {
				continue
			}
			changed, err := markKeep(ctx, c, d)
			if err != nil {
				return rep, err
			}
			if changed {
				rep.MarkedKeep = append(rep.MarkedKeep, d.id())
			}
		}
	}
	strip := func() error {
		for _, d := range disks {
			changed, err := stripVMOwners(ctx, c, d.gvr, o.Namespace, d.name)
			if err != nil {
				return err
			}
			if changed && !slices.Contains(rep.Unowned, d.id()) {
				rep.Unowned = append(rep.Unowned, d.id())
			}
		}
		return nil
	}
	if o.Phase == PostSync {
		if err := strip(); err != nil {
			return rep, err
		}
		log.Info("disk owner references removed", "vms", rep.VMs, "unowned", rep.Unowned)
		return rep, nil
	}

	// PreDelete: orphan-delete the VMs, then stop their instances, and wait
	// until the VMs are gone so that Argo CD's own (foreground) delete, which
	// follows this hook, finds nothing left to cascade from.
	//
	// Owner references are NOT stripped before the orphan deletion: a strip
	// makes KubeVirt re-adopt the DataVolume at once, and a re-adoption the
	// garbage collector observes only after it orphaned the VM's dependents
	// leaves an owner reference to a deleted VM, so the disk is collected as
	// garbage. The orphan deletion alone removes the references atomically;
	// the strip afterwards only cleans up what it did not know about.
	for _, vm := range inScope {
		orphan := metav1.DeletePropagationOrphan
		uid := vm.GetUID()
		err := c.Resource(VirtualMachines).Namespace(o.Namespace).Delete(ctx, vm.GetName(), metav1.DeleteOptions{
			PropagationPolicy: &orphan, Preconditions: &metav1.Preconditions{UID: &uid},
		})
		if err != nil && !apierrors.IsNotFound(err) {
			return rep, fmt.Errorf("deleting VirtualMachine %s/%s with orphan propagation: %w", o.Namespace, vm.GetName(), err)
		}
		rep.OrphanedVMs = append(rep.OrphanedVMs, vm.GetName())
	}
	if err := waitOrphaned(ctx, c, o, inScope); err != nil {
		return rep, err
	}
	if err := strip(); err != nil {
		return rep, err
	}
	for _, vm := range inScope {
		stopped, err := stopInstance(ctx, c, o.Namespace, vm.GetName())
		if err != nil {
			return rep, err
		}
		if stopped {
			rep.StoppedVMIs = append(rep.StoppedVMIs, vm.GetName())
		}
	}
	if err := waitGone(ctx, c, o, inScope); err != nil {
		return rep, err
	}
	log.Info("VMs removed with their disks kept", "vms", rep.OrphanedVMs, "disks", rep.Disks, "markedKeep", rep.MarkedKeep)
	return rep, nil
}

// owningApplication reads the Argo CD application of the hook's own Job.
func owningApplication(ctx context.Context, c dynamic.Interface, o Options) (string, error) {
	if o.JobName == "" {
		return "", nil
	}
	job, err := c.Resource(Jobs).Namespace(o.Namespace).Get(ctx, o.JobName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading the hook's Job %s/%s: %w", o.Namespace, o.JobName, err)
	}
	return applicationOf(job), nil
}

// applicationOf returns the Argo CD application an object is tracked by.
func applicationOf(obj *unstructured.Unstructured) string {
	if id := obj.GetAnnotations()[argoTrackingID]; id != "" {
		if app, _, ok := strings.Cut(id, ":"); ok {
			return app
		}
	}
	return obj.GetLabels()[argoInstance]
}

// trackedBy reports whether obj belongs to application app.
func trackedBy(obj *unstructured.Unstructured, app string) bool {
	got := applicationOf(obj)
	// Argo CD's instance names may be "<namespace>_<app>" in apps-in-any-namespace mode.
	return got == app || strings.HasSuffix(got, "_"+app) || strings.HasSuffix(app, "_"+got)
}

// disk is a DataVolume or PVC in scope.
type disk struct {
	gvr         schema.GroupVersionResource
	kind        string
	namespace   string
	name        string
	argoManaged bool
}

func (d disk) id() string { return d.kind + "/" + d.name }

// collectDisks finds the disks of vms: DataVolumes they own or name, and
// PVCs they own or name or their DataVolumes own; plus, for the
// application, every disk Argo CD itself manages.
func collectDisks(ctx context.Context, c dynamic.Interface, ns string, vms []unstructured.Unstructured, app string) ([]disk, error) {
	vmUIDs := map[types.UID]bool{}
	named := map[string]bool{} // DataVolume/PVC names referenced by the VMs
	for _, vm := range vms {
		vmUIDs[vm.GetUID()] = true
		tmpls, _, _ := unstructured.NestedSlice(vm.Object, "spec", "dataVolumeTemplates")
		for _, t := range tmpls {
			if m, ok := t.(map[string]any); ok {
				if n, _, _ := unstructured.NestedString(m, "metadata", "name"); n != "" {
					named[n] = true
				}
			}
		}
		vols, _, _ := unstructured.NestedSlice(vm.Object, "spec", "template", "spec", "volumes")
		for _, v := range vols {
			m, _ := v.(map[string]any)
			if n, _, _ := unstructured.NestedString(m, "dataVolume", "name"); n != "" {
				named[n] = true
			}
			if n, _, _ := unstructured.NestedString(m, "persistentVolumeClaim", "claimName"); n != "" {
				named[n] = true
			}
		}
	}
	var out []disk
	dvUIDs := map[types.UID]bool{}
	dvs, err := list(ctx, c, DataVolumes, ns)
	if err != nil && !isMissingAPI(err) {
		return nil, fmt.Errorf("listing DataVolumes in %s: %w", ns, err)
	}
	for i := range dvs {
		dv := &dvs[i]
		managed := app != "" && trackedBy(dv, app)
		if ownedByAny(dv, vmUIDs) || named[dv.GetName()] || managed {
			dvUIDs[dv.GetUID()] = true
			out = append(out, disk{gvr: DataVolumes, kind: "DataVolume", namespace: ns, name: dv.GetName(), argoManaged: managed})
		}
	}
	pvcs, err := list(ctx, c, PVCs, ns)
	if err != nil {
		return nil, fmt.Errorf("listing PersistentVolumeClaims in %s: %w", ns, err)
	}
	for i := range pvcs {
		pvc := &pvcs[i]
		managed := app != "" && trackedBy(pvc, app)
		if ownedByAny(pvc, vmUIDs) || ownedByAny(pvc, dvUIDs) || named[pvc.GetName()] || managed {
			out = append(out, disk{gvr: PVCs, kind: "PersistentVolumeClaim", namespace: ns, name: pvc.GetName(), argoManaged: managed})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id() < out[j].id() })
	return out, nil
}

func ownedByAny(obj *unstructured.Unstructured, uids map[types.UID]bool) bool {
	for _, o := range obj.GetOwnerReferences() {
		if uids[o.UID] {
			return true
		}
	}
	return false
}

// isVMOwner tells a KubeVirt VirtualMachine owner reference.
func isVMOwner(o metav1.OwnerReference) bool {
	gv, err := schema.ParseGroupVersion(o.APIVersion)
	return err == nil && gv.Group == kubevirtAPIGroup && o.Kind == "VirtualMachine"
}

// stripVMOwners removes VirtualMachine owner references from one object.
// The patch tests the current list first, so a concurrent change (KubeVirt
// re-adopting the disk) makes it retry on fresh data instead of clobbering.
func stripVMOwners(ctx context.Context, c dynamic.Interface, gvr schema.GroupVersionResource, ns, name string) (bool, error) {
	for attempt := 0; attempt < 5; attempt++ {
		obj, err := c.Resource(gvr).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("reading %s %s/%s: %w", gvr.Resource, ns, name, err)
		}
		refs := obj.GetOwnerReferences()
		var keep []metav1.OwnerReference
		for _, o := range refs {
			if !isVMOwner(o) {
				keep = append(keep, o)
			}
		}
		if len(keep) == len(refs) {
			return false, nil
		}
		if keep == nil {
			keep = []metav1.OwnerReference{}
		}
		patch, err := json.Marshal([]map[string]any{
			{"op": "test", "path": "/metadata/resourceVersion", "value": obj.GetResourceVersion()},
			{"op": "replace", "path": "/metadata/ownerReferences", "value": keep},
		})
		if err != nil {
			return false, err
		}
		_, err = c.Resource(gvr).Namespace(ns).Patch(ctx, name, types.JSONPatchType, patch, metav1.PatchOptions{})
		switch {
		case err == nil:
			return true, nil
		case apierrors.IsInvalid(err) || apierrors.IsConflict(err):
			continue // the object moved under us; look again
		default:
			return false, fmt.Errorf("removing VM owner references from %s %s/%s: %w", gvr.Resource, ns, name, err)
		}
	}
	return false, fmt.Errorf("removing VM owner references from %s %s/%s: it kept changing", gvr.Resource, ns, name)
}

// markKeep adds Delete=false to a disk's Argo CD sync options, so that
// Argo CD skips it when it deletes the application's resources.
func markKeep(ctx context.Context, c dynamic.Interface, d disk) (bool, error) {
	obj, err := c.Resource(d.gvr).Namespace(d.namespace).Get(ctx, d.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", d.id(), err)
	}
	current := obj.GetAnnotations()[argoSyncOptions]
	var opts []string
	for _, o := range strings.Split(current, ",") {
		if o = strings.TrimSpace(o); o == "" || strings.HasPrefix(o, "Delete=") {
			continue
		}
		opts = append(opts, o)
	}
	opts = append(opts, syncDeleteFalse)
	want := strings.Join(opts, ",")
	if want == current {
		return false, nil
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{
		"resourceVersion": obj.GetResourceVersion(),
		"annotations":     map[string]string{argoSyncOptions: want},
	}})
	if _, err := c.Resource(d.gvr).Namespace(d.namespace).Patch(ctx, d.name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return false, fmt.Errorf("marking %s %s: %w", d.id(), syncDeleteFalse, err)
	}
	return true, nil
}

// waitOrphaned waits until garbage collection has orphaned each VM's
// dependents: the VM is gone, or no longer carries the orphan finalizer.
func waitOrphaned(ctx context.Context, c dynamic.Interface, o Options, vms []unstructured.Unstructured) error {
	return poll(ctx, o, "garbage collection to orphan the VMs' disks", func() (bool, error) {
		for _, vm := range vms {
			cur, err := c.Resource(VirtualMachines).Namespace(o.Namespace).Get(ctx, vm.GetName(), metav1.GetOptions{})
			if apierrors.IsNotFound(err) || (err == nil && cur.GetUID() != vm.GetUID()) {
				continue
			}
			if err != nil {
				return false, err
			}
			for _, f := range cur.GetFinalizers() {
				if f == metav1.FinalizerOrphanDependents {
					return false, nil
				}
			}
		}
		return true, nil
	})
}

// waitGone waits until the VMs no longer exist.
func waitGone(ctx context.Context, c dynamic.Interface, o Options, vms []unstructured.Unstructured) error {
	return poll(ctx, o, "the VMs to be deleted", func() (bool, error) {
		for _, vm := range vms {
			cur, err := c.Resource(VirtualMachines).Namespace(o.Namespace).Get(ctx, vm.GetName(), metav1.GetOptions{})
			if apierrors.IsNotFound(err) || (err == nil && cur.GetUID() != vm.GetUID()) {
				continue
			}
			return false, err
		}
		return true, nil
	})
}

func poll(ctx context.Context, o Options, what string, done func() (bool, error)) error {
	err := wait.PollUntilContextTimeout(ctx, o.PollInterval, o.WaitTimeout, true, func(context.Context) (bool, error) { return done() })
	if err != nil {
		return fmt.Errorf("waiting for %s in %s: %w", what, o.Namespace, err)
	}
	return nil
}

// stopInstance deletes the VMI of an orphan-deleted VM, which would
// otherwise keep the guest running with nothing to stop it.
func stopInstance(ctx context.Context, c dynamic.Interface, ns, name string) (bool, error) {
	bg := metav1.DeletePropagationBackground
	err := c.Resource(VMInstances).Namespace(ns).Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &bg})
	switch {
	case err == nil:
		return true, nil
	case apierrors.IsNotFound(err) || isMissingAPI(err):
		return false, nil
	}
	return false, fmt.Errorf("stopping VirtualMachineInstance %s/%s: %w", ns, name, err)
}

func list(ctx context.Context, c dynamic.Interface, gvr schema.GroupVersionResource, ns string) ([]unstructured.Unstructured, error) {
	l, err := c.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	return l.Items, nil
}

// isMissingAPI tells an API the cluster does not serve (no KubeVirt or CDI).
func isMissingAPI(err error) bool {
	return err != nil && (apierrors.IsNotFound(err) || meta.IsNoMatchError(err))
}
