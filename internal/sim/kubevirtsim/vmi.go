package kubevirtsim

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// vmiReconciler stands in for the VMI controller, virt-launcher and
// virt-handler: a VMI is scheduled to NodeName and runs after StepDelay;
// a deleted VMI shuts down (phase Succeeded) and loses its finalizers.
type vmiReconciler struct {
	c   client.Client
	o   Options
	log logr.Logger
}

func (r *vmiReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	vmi, err := getOptional(ctx, r.c, VirtualMachineInstanceGVK, req.NamespacedName)
	if err != nil || vmi == nil {
		return ctrl.Result{}, err
	}
	now := metav1.Now()
	if vmi.GetDeletionTimestamp() != nil {
		if !vmiFinal(vmi) {
			next := vmi.DeepCopy()
			_ = unstructured.SetNestedField(next.Object, "Succeeded", "status", "phase")
			setConditions(next, now, condition{Type: "Ready", Status: "False", Reason: "PodTerminating", Message: "the simulated guest shut down"})
			if err := r.c.Status().Update(ctx, next); err != nil {
				return requeueOn(err)
			}
			return ctrl.Result{}, nil
		}
		if fins := vmi.GetFinalizers(); slices.Contains(fins, VMIForegroundFinalizer) || slices.Contains(fins, VMControllerFinalizer) {
			if err := setFinalizers(ctx, r.c, vmi, without(fins, VMIForegroundFinalizer, VMControllerFinalizer)); err != nil {
				return requeueOn(fmt.Errorf("removing the finalizers of VMI %s: %w", req.NamespacedName, err))
			}
			r.log.Info("VirtualMachineInstance shut down", "vmi", req.NamespacedName)
		}
		return ctrl.Result{}, nil
	}

	next := vmi.DeepCopy()
	switch vmiPhase(vmi) {
	case "", "Pending":
		_ = unstructured.SetNestedField(next.Object, "Scheduling", "status", "phase")
		setConditions(next, now, condition{Type: "Ready", Status: "False", Reason: "GuestNotRunning", Message: "the simulated guest is being scheduled"})
	case "Scheduling", "Scheduled":
		if age := now.Sub(vmi.GetCreationTimestamp().Time); age < r.o.StepDelay {
			return ctrl.Result{RequeueAfter: r.o.StepDelay - age}, nil
		}
		_ = unstructured.SetNestedField(next.Object, "Running", "status", "phase")
		_ = unstructured.SetNestedField(next.Object, NodeName, "status", "nodeName")
		setConditions(next, now, condition{Type: "Ready", Status: "True"})
	default:
		return ctrl.Result{}, nil
	}
	if err := r.c.Status().Update(ctx, next); err != nil {
		return requeueOn(err)
	}
	if vmiPhase(next) != "Running" {
		return ctrl.Result{RequeueAfter: r.o.StepDelay}, nil
	}
	r.log.Info("VirtualMachineInstance running (simulated guest)", "vmi", req.NamespacedName, "node", NodeName)
	return ctrl.Result{}, nil
}

// requeueOn retries quietly after conflicts and vanished objects.
func requeueOn(err error) (ctrl.Result, error) {
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) || apierrors.IsInvalid(err) || apierrors.IsAlreadyExists(err) {
		return ctrl.Result{RequeueAfter: 50 * time.Millisecond}, nil
	}
	return ctrl.Result{}, err
}
