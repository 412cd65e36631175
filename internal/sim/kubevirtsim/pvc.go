package kubevirtsim

import (
	"context"
	"fmt"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// pvcBinder stands in for a storage provisioner: it reports every PVC
// Bound with the requested capacity (status only; no PersistentVolume), so
// that Argo CD's PVC health check sees Healthy.
type pvcBinder struct {
	c   client.Client
	log logr.Logger
}

func (r *pvcBinder) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	pvc := &corev1.PersistentVolumeClaim{}
	if err := r.c.Get(ctx, req.NamespacedName, pvc); err != nil {
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("reading PVC %s: %w", req.NamespacedName, err)
	}
	if pvc.DeletionTimestamp != nil || pvc.Status.Phase == corev1.ClaimBound {
		return ctrl.Result{}, nil
	}
	pvc.Status.Phase = corev1.ClaimBound
	pvc.Status.AccessModes = pvc.Spec.AccessModes
	if size, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; ok {
		pvc.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: size}
	}
	if err := r.c.Status().Update(ctx, pvc); err != nil {
		return requeueOn(fmt.Errorf("binding PVC %s: %w", req.NamespacedName, err))
	}
	r.log.V(1).Info("PVC bound (simulated provisioner)", "pvc", req.NamespacedName)
	return ctrl.Result{}, nil
}
