package kubevirtsim

import (
	"context"
	"fmt"
	"slices"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// vmReconciler simulates virt-controller's VirtualMachine controller
// (kubevirt pkg/virt-controller/watch/vm): template DataVolumes, the VMI of
// a running VM, the VM finalizer, status, and the claiming of orphaned
// template DataVolumes and same-named VMIs.
type vmReconciler struct {
	c    client.Client
	live client.Reader // uncached, for the deletion recheck before adopting
	o    Options
	log  logr.Logger
}

// indexTemplateDV indexes VMs by the names of their template DataVolumes.
const indexTemplateDV = "sim.gitover.io/template-datavolume"

func templateDVIndex(obj client.Object) []string {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return nil
	}
	return templateNames(u)
}

// templates returns spec.dataVolumeTemplates.
func templates(vm *unstructured.Unstructured) []map[string]any {
	list, _, _ := unstructured.NestedSlice(vm.Object, "spec", "dataVolumeTemplates")
	var out []map[string]any
	for _, t := range list {
		if m, ok := t.(map[string]any); ok {
			if n, _, _ := unstructured.NestedString(m, "metadata", "name"); n != "" {
				out = append(out, m)
			}
		}
	}
	return out
}

func templateNames(vm *unstructured.Unstructured) []string {
	var out []string
	for _, t := range templates(vm) {
		n, _, _ := unstructured.NestedString(t, "metadata", "name")
		out = append(out, n)
	}
	return out
}

// volumeClaims returns the claim names behind a VM's or VMI's volumes
// (dataVolume.name and persistentVolumeClaim.claimName), in order.
func volumeClaims(spec map[string]any) (dataVolumes, claims []string) {
	vols, _, _ := unstructured.NestedSlice(spec, "volumes")
	for _, v := range vols {
		m, ok := v.(map[string]any)
		if !ok {
			continue
		}
		if n, _, _ := unstructured.NestedString(m, "dataVolume", "name"); n != "" {
			dataVolumes = append(dataVolumes, n)
			claims = append(claims, n)
		}
		if n, _, _ := unstructured.NestedString(m, "persistentVolumeClaim", "claimName"); n != "" {
			claims = append(claims, n)
		}
	}
	return dataVolumes, claims
}

// vmsForDataVolume maps a DataVolume to the VMs that name it in their
// templates and to its controller VM (virt-controller's
// queueVMsForDataVolume).
func (r *vmReconciler) vmsForDataVolume(ctx context.Context, obj client.Object) []reconcile.Request {
	var reqs []reconcile.Request
	if ref := controllerRef(obj); ref != nil && ref.Kind == VirtualMachineGVK.Kind {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: obj.GetNamespace(), Name: ref.Name}})
	}
	vms := &unstructured.UnstructuredList{}
	vms.SetGroupVersionKind(VirtualMachineGVK.GroupVersion().WithKind("VirtualMachineList"))
	if err := r.c.List(ctx, vms, client.InNamespace(obj.GetNamespace()), client.MatchingFields{indexTemplateDV: obj.GetName()}); err != nil {
		r.log.Error(err, "listing VMs for DataVolume", "dataVolume", client.ObjectKeyFromObject(obj))
		return reqs
	}
	for _, vm := range vms.Items {
		req := reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&vm)}
		if !slices.Contains(reqs, req) {
			reqs = append(reqs, req)
		}
	}
	return reqs
}

// runStrategy is spec.runStrategy, else Always/Halted from spec.running.
func runStrategy(vm *unstructured.Unstructured) string {
	if rs := str(vm, "spec", "runStrategy"); rs != "" {
		return rs
	}
	if running, found, _ := unstructured.NestedBool(vm.Object, "spec", "running"); found && running {
		return RunStrategyAlways
	}
	return RunStrategyHalted
}

// vmiPhase is a VMI's status.phase.
func vmiPhase(vmi *unstructured.Unstructured) string { return str(vmi, "status", "phase") }

// vmiFinal reports a VMI that has stopped.
func vmiFinal(vmi *unstructured.Unstructured) bool {
	p := vmiPhase(vmi)
	return p == "Succeeded" || p == "Failed"
}

// dvReady reports a DataVolume phase that lets its VM start
// (virt-controller's handleDataVolumes).
func dvReady(dv *unstructured.Unstructured) bool {
	switch str(dv, "status", "phase") {
	case DVSucceeded, "WaitForFirstConsumer", "PendingPopulation":
		return true
	}
	return false
}

func (r *vmReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	vm, err := getOptional(ctx, r.c, VirtualMachineGVK, req.NamespacedName)
	if err != nil || vm == nil {
		return ctrl.Result{}, err
	}
	log := r.log.WithValues("vm", req.NamespacedName)
	deleting := vm.GetDeletionTimestamp() != nil

	vmi, err := getOptional(ctx, r.c, VirtualMachineInstanceGVK, req.NamespacedName)
	if err != nil {
		return ctrl.Result{}, err
	}
	if vmi != nil && !controlledBy(vmi, vm) {
		if r.o.ReAdopt && controllerRef(vmi) == nil && vmi.GetDeletionTimestamp() == nil && !deleting {
			if err := r.claim(ctx, vm, vmi, log); err != nil {
				return requeueOn(err)
			}
		}
		if !controlledBy(vmi, vm) {
			vmi = nil // someone else's
		}
	}

	// The DataVolumes the VM names: its templates and its volumes.
	dvs := map[string]*unstructured.Unstructured{}
	tmplNames := templateNames(vm)
	spec, _, _ := unstructured.NestedMap(vm.Object, "spec", "template", "spec")
	volDVs, _ := volumeClaims(spec)
	for _, n := range append(slices.Clone(tmplNames), volDVs...) {
		if _, seen := dvs[n]; seen {
			continue
		}
		dv, err := getOptional(ctx, r.c, DataVolumeGVK, types.NamespacedName{Namespace: vm.GetNamespace(), Name: n})
		if err != nil {
			return ctrl.Result{}, err
		}
		dvs[n] = dv
	}
	rs := runStrategy(vm)

	if deleting {
		// Orphan deletion or no VMI: let the VM go. Otherwise stop the VMI first.
		if vmi == nil || slices.Contains(vm.GetFinalizers(), metav1.FinalizerOrphanDependents) {
			if slices.Contains(vm.GetFinalizers(), VMControllerFinalizer) {
				if err := setFinalizers(ctx, r.c, vm, without(vm.GetFinalizers(), VMControllerFinalizer)); err != nil {
					return requeueOn(fmt.Errorf("removing the VM finalizer: %w", err))
				}
				log.V(1).Info("VM finalizer removed")
			}
		} else if vmi.GetDeletionTimestamp() == nil {
			if err := r.stop(ctx, vmi, log); err != nil {
				return requeueOn(err)
			}
		}
		return r.updateStatus(ctx, vm, vmi, dvs, tmplNames, rs)
	}

	if !slices.Contains(vm.GetFinalizers(), VMControllerFinalizer) {
		if err := setFinalizers(ctx, r.c, vm, append(slices.Clone(vm.GetFinalizers()), VMControllerFinalizer)); err != nil {
			return requeueOn(fmt.Errorf("adding the VM finalizer: %w", err))
		}
	}

	if r.o.ReAdopt {
		for _, n := range tmplNames {
			dv := dvs[n]
			if dv == nil || dv.GetDeletionTimestamp() != nil || controllerRef(dv) != nil {
				continue
			}
			if err := r.claim(ctx, vm, dv, log); err != nil {
				return requeueOn(err)
			}
		}
	}

	ready := true
	if vm.GetAnnotations()[AnnImmediateDataVolumeCreation] != "false" || rs != RunStrategyHalted {
		for _, t := range templates(vm) {
			n, _, _ := unstructured.NestedString(t, "metadata", "name")
			switch dv := dvs[n]; {
			case dv == nil:
				ready = false
				created, err := r.createDataVolume(ctx, vm, t)
				if err != nil {
					return requeueOn(err)
				}
				dvs[n] = created
				log.Info("created DataVolume from template", "dataVolume", n)
			case !dvReady(dv):
				ready = false
			}
		}
	}

	if ready || rs == RunStrategyHalted {
		vmi, err = r.syncRunStrategy(ctx, vm, vmi, rs, log)
		if err != nil {
			return requeueOn(err)
		}
	}
	return r.updateStatus(ctx, vm, vmi, dvs, tmplNames, rs)
}

// claim adds the VM as controller of an orphan, after rechecking with an
// uncached read that the VM is the same and not being deleted (virt-
// controller's RecheckDeletionTimestamp before ClaimMatchedDataVolumes and
// ClaimVirtualMachineInstanceByName adopt).
func (r *vmReconciler) claim(ctx context.Context, vm, orphan *unstructured.Unstructured, log logr.Logger) error {
	fresh := newU(VirtualMachineGVK)
	if err := r.live.Get(ctx, client.ObjectKeyFromObject(vm), fresh); err != nil {
		return fmt.Errorf("rechecking VM %s before adopting %s: %w", vm.GetName(), orphan.GetName(), err)
	}
	if fresh.GetUID() != vm.GetUID() || fresh.GetDeletionTimestamp() != nil {
		return nil
	}
	if err := adopt(ctx, r.c, orphan, newControllerRef(vm, VirtualMachineGVK)); err != nil {
		return fmt.Errorf("adopting %s %s: %w", orphan.GetKind(), orphan.GetName(), err)
	}
	log.Info("re-adopted orphaned "+orphan.GetKind()+" (simulated ClaimMatchedDataVolumes)", "name", orphan.GetName())
	return nil
}

// createDataVolume creates the DataVolume of one template, controlled by
// the VM, with claim adoption allowed (KubeVirt >= 1.3).
func (r *vmReconciler) createDataVolume(ctx context.Context, vm *unstructured.Unstructured, t map[string]any) (*unstructured.Unstructured, error) {
	dv := newU(DataVolumeGVK)
	meta, _, _ := unstructured.NestedMap(t, "metadata")
	dv.SetName(meta["name"].(string))
	dv.SetNamespace(vm.GetNamespace())
	labels, _, _ := unstructured.NestedStringMap(t, "metadata", "labels")
	if labels == nil {
		labels = map[string]string{}
	}
	labels[LabelCreatedBy] = string(vm.GetUID())
	dv.SetLabels(labels)
	ann, _, _ := unstructured.NestedStringMap(t, "metadata", "annotations")
	if ann == nil {
		ann = map[string]string{}
	}
	ann[AnnAllowClaimAdoption] = "true"
	ann[AnnSimulation] = SimulationNote
	dv.SetAnnotations(ann)
	if spec, ok, _ := unstructured.NestedMap(t, "spec"); ok {
		_ = unstructured.SetNestedMap(dv.Object, spec, "spec")
	}
	dv.SetOwnerReferences([]metav1.OwnerReference{newControllerRef(vm, VirtualMachineGVK)})
	if err := r.c.Create(ctx, dv); err != nil {
		return nil, fmt.Errorf("creating DataVolume %s for VM %s: %w", dv.GetName(), vm.GetName(), err)
	}
	return dv, nil
}

// syncRunStrategy starts or stops the VMI as the run strategy says.
func (r *vmReconciler) syncRunStrategy(ctx context.Context, vm, vmi *unstructured.Unstructured, rs string, log logr.Logger) (*unstructured.Unstructured, error) {
	switch rs {
	case RunStrategyAlways, RunStrategyRerunOnFailure, RunStrategyOnce:
		if vmi == nil {
			return r.start(ctx, vm, log)
		}
		restart := (rs == RunStrategyAlways && vmiFinal(vmi)) || (rs == RunStrategyRerunOnFailure && vmiPhase(vmi) == "Failed")
		if restart && vmi.GetDeletionTimestamp() == nil {
			return vmi, r.stop(ctx, vmi, log)
		}
	case RunStrategyHalted:
		if vmi != nil && vmi.GetDeletionTimestamp() == nil {
			return vmi, r.stop(ctx, vmi, log)
		}
	}
	return vmi, nil
}

// start creates the VMI from spec.template, controlled by the VM.
func (r *vmReconciler) start(ctx context.Context, vm *unstructured.Unstructured, log logr.Logger) (*unstructured.Unstructured, error) {
	vmi := newU(VirtualMachineInstanceGVK)
	vmi.SetNamespace(vm.GetNamespace())
	vmi.SetName(vm.GetName())
	labels, _, _ := unstructured.NestedStringMap(vm.Object, "spec", "template", "metadata", "labels")
	vmi.SetLabels(labels)
	ann, _, _ := unstructured.NestedStringMap(vm.Object, "spec", "template", "metadata", "annotations")
	if ann == nil {
		ann = map[string]string{}
	}
	ann[AnnSimulation] = SimulationNote
	vmi.SetAnnotations(ann)
	spec, _, _ := unstructured.NestedMap(vm.Object, "spec", "template", "spec")
	if spec == nil {
		spec = map[string]any{}
	}
	_ = unstructured.SetNestedMap(vmi.Object, spec, "spec")
	vmi.SetOwnerReferences([]metav1.OwnerReference{newControllerRef(vm, VirtualMachineGVK)})
	vmi.SetFinalizers([]string{VMControllerFinalizer, VMIForegroundFinalizer})
	if err := r.c.Create(ctx, vmi); err != nil {
		return nil, fmt.Errorf("starting VM %s (creating its VMI): %w", vm.GetName(), err)
	}
	log.Info("started VM: created VirtualMachineInstance")
	return vmi, nil
}

// stop deletes the VMI.
func (r *vmReconciler) stop(ctx context.Context, vmi *unstructured.Unstructured, log logr.Logger) error {
	if err := r.c.Delete(ctx, vmi); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("stopping VMI %s: %w", vmi.GetName(), err)
	}
	log.Info("stopped VM: deleted VirtualMachineInstance")
	return nil
}

// updateStatus writes created, ready, runStrategy, printableStatus and
// the Ready condition (virt-controller's updateStatus and
// setPrintableStatus), when they changed.
func (r *vmReconciler) updateStatus(ctx context.Context, vm, vmi *unstructured.Unstructured, dvs map[string]*unstructured.Unstructured, tmplNames []string, rs string) (ctrl.Result, error) {
	next := vm.DeepCopy()
	created := vmi != nil
	ready := created && conditionStatus(vmi, "Ready") == "True"
	_ = unstructured.SetNestedField(next.Object, created, "status", "created")
	_ = unstructured.SetNestedField(next.Object, ready, "status", "ready")
	if prev := str(vm, "status", "runStrategy"); prev != "" || created {
		_ = unstructured.SetNestedField(next.Object, rs, "status", "runStrategy")
	}
	_ = unstructured.SetNestedField(next.Object, printableStatus(vm, vmi, dvs, rs), "status", "printableStatus")
	readyCond := condition{Type: "Ready", Status: "False", Reason: "VMINotExists", Message: "VMI does not exist"}
	if vmi != nil {
		readyCond = condition{Type: "Ready", Status: "False", Reason: "VMIConditionMissing", Message: "VMI is missing the Ready condition"}
		conds, _, _ := unstructured.NestedSlice(vmi.Object, "status", "conditions")
		for _, c := range conds {
			if m, ok := c.(map[string]any); ok && m["type"] == "Ready" {
				readyCond.Status, _ = m["status"].(string)
				readyCond.Reason, _ = m["reason"].(string)
				readyCond.Message, _ = m["message"].(string)
			}
		}
	}
	setConditions(next, metav1.Now(), readyCond)
	if equality.Semantic.DeepEqual(vm.Object["status"], next.Object["status"]) {
		return ctrl.Result{}, nil
	}
	if err := r.c.Status().Update(ctx, next); err != nil {
		return requeueOn(fmt.Errorf("updating the status of VM %s: %w", vm.GetName(), err))
	}
	return ctrl.Result{}, nil
}

// printableStatus follows virt-controller's precedence (first match wins).
func printableStatus(vm, vmi *unstructured.Unstructured, dvs map[string]*unstructured.Unstructured, rs string) string {
	provisioning := false
	for _, dv := range dvs {
		if dv == nil {
			provisioning = true
			continue
		}
		if p := str(dv, "status", "phase"); !dvReady(dv) && p != "Failed" {
			provisioning = true
		}
	}
	switch {
	case vm.GetDeletionTimestamp() != nil:
		return "Terminating"
	case vmi != nil && vmi.GetDeletionTimestamp() != nil && !vmiFinal(vmi):
		return "Stopping"
	case vmi != nil && vmiPhase(vmi) == "Running":
		return "Running"
	case provisioning && rs != RunStrategyHalted:
		return "Provisioning"
	case vmi != nil && !vmiFinal(vmi):
		return "Starting"
	case vmi == nil && (rs == RunStrategyAlways || rs == RunStrategyRerunOnFailure || rs == RunStrategyOnce):
		return "Starting"
	}
	return "Stopped"
}
