package kubevirtsim

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// dvReconciler simulates CDI's DataVolume controller: it creates the PVC
// of a DataVolume (same name, controlled by the DataVolume), "imports"
// (Pending -> ImportScheduled -> Succeeded, one StepDelay each), and adopts
// an existing PVC of the same name when claim adoption is allowed.
type dvReconciler struct {
	c   client.Client
	dyn dynamic.Interface
	o   Options
	log logr.Logger
}

func (r *dvReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	dv, err := getOptional(ctx, r.c, DataVolumeGVK, req.NamespacedName)
	if err != nil || dv == nil || dv.GetDeletionTimestamp() != nil {
		return ctrl.Result{}, err
	}
	log := r.log.WithValues("dataVolume", req.NamespacedName)
	pvc := &corev1.PersistentVolumeClaim{}
	if err := r.c.Get(ctx, req.NamespacedName, pvc); apierrors.IsNotFound(err) {
		pvc = nil
	} else if err != nil {
		return ctrl.Result{}, fmt.Errorf("reading PVC %s: %w", req.NamespacedName, err)
	}
	phase := str(dv, "status", "phase")

	switch {
	case pvc == nil:
		// A new DataVolume, or one whose PVC was deleted: CDI (re)creates
		// the claim and imports again.
		if err := r.createPVC(ctx, dv); err != nil {
			return requeueOn(err)
		}
		log.Info("created PVC for DataVolume", "pvc", req.Name)
		return r.setStatus(ctx, dv, DVPending, "N/A", r.o.StepDelay,
			condition{Type: "Bound", Status: "False", Reason: "Pending", Message: "PVC " + req.Name + " Pending"},
			condition{Type: "Ready", Status: "False"},
			condition{Type: "Running", Status: "False"})
	case pvc.DeletionTimestamp != nil:
		return ctrl.Result{RequeueAfter: r.o.StepDelay}, nil
	}

	owner := controllerRef(pvc)
	switch {
	case owner != nil && owner.UID == dv.GetUID():
		// Ours.
	case owner != nil:
		return r.setStatus(ctx, dv, DVPending, "N/A", 0,
			condition{Type: "Bound", Status: "False", Reason: "ErrResourceExists",
				Message: fmt.Sprintf("Resource %q already exists and is not managed by DataVolume", pvc.Name)})
	case dv.GetAnnotations()[AnnAllowClaimAdoption] == "true" || r.o.ClaimAdoptionFeatureGate:
		if err := adopt(ctx, r.c, pvc, newControllerRef(dv, DataVolumeGVK)); err != nil {
			return requeueOn(fmt.Errorf("adopting PVC %s: %w", req.NamespacedName, err))
		}
		log.Info("adopted existing PVC (simulated CDI claim adoption)", "pvc", pvc.Name)
		if phase == DVSucceeded {
			return ctrl.Result{}, nil
		}
		return r.succeed(ctx, dv, "N/A")
	default:
		return r.setStatus(ctx, dv, DVPending, "N/A", 0,
			condition{Type: "Bound", Status: "False", Reason: "ErrResourceExists",
				Message: fmt.Sprintf("Resource %q already exists and is not managed by DataVolume (claim adoption not allowed)", pvc.Name)})
	}

	if pvc.Annotations[AnnCreatedForDataVolume] != string(dv.GetUID()) {
		// Adopted earlier: populated already.
		if phase != DVSucceeded {
			return r.succeed(ctx, dv, "N/A")
		}
		return ctrl.Result{}, nil
	}
	switch phase {
	case "", DVPending:
		if wait := r.o.StepDelay - time.Since(stepStart(dv)); wait > 0 && phase != "" {
			return ctrl.Result{RequeueAfter: wait}, nil
		}
		return r.setStatus(ctx, dv, DVImportScheduled, "N/A", r.o.StepDelay,
			condition{Type: "Bound", Status: "True", Reason: "Bound", Message: "PVC " + pvc.Name + " Bound"},
			condition{Type: "Ready", Status: "False"},
			condition{Type: "Running", Status: "False", Reason: "Pending", Message: "simulated import scheduled"})
	case DVImportScheduled, "ImportInProgress":
		if wait := r.o.StepDelay - time.Since(stepStart(dv)); wait > 0 {
			return ctrl.Result{RequeueAfter: wait}, nil
		}
		if err := EnsureContent(ctx, r.dyn, pvc.Namespace, pvc.Name); err != nil && !errors.Is(err, errPVCGone) {
			return ctrl.Result{}, err
		}
		log.Info("simulated import succeeded", "pvc", pvc.Name)
		return r.succeed(ctx, dv, "100.0%")
	}
	return ctrl.Result{}, nil
}

// stepStart is when the DataVolume entered its current phase.
func stepStart(dv *unstructured.Unstructured) time.Time {
	conds, _, _ := unstructured.NestedSlice(dv.Object, "status", "conditions")
	var latest time.Time
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if ts, ok := m["lastTransitionTime"].(string); ok {
			if t, err := time.Parse(time.RFC3339, ts); err == nil && t.After(latest) {
				latest = t
			}
		}
	}
	if latest.IsZero() {
		return dv.GetCreationTimestamp().Time
	}
	return latest
}

// succeed marks a DataVolume populated.
func (r *dvReconciler) succeed(ctx context.Context, dv *unstructured.Unstructured, progress string) (ctrl.Result, error) {
	return r.setStatus(ctx, dv, DVSucceeded, progress, 0,
		condition{Type: "Bound", Status: "True", Reason: "Bound", Message: "PVC " + dv.GetName() + " Bound"},
		condition{Type: "Ready", Status: "True"},
		condition{Type: "Running", Status: "False", Reason: "Completed"})
}

// setStatus writes phase, progress, claimName and conditions when they
// changed, and asks to be called again after requeue (0: not).
func (r *dvReconciler) setStatus(ctx context.Context, dv *unstructured.Unstructured, phase, progress string, requeue time.Duration, conds ...condition) (ctrl.Result, error) {
	next := dv.DeepCopy()
	_ = unstructured.SetNestedField(next.Object, phase, "status", "phase")
	_ = unstructured.SetNestedField(next.Object, progress, "status", "progress")
	_ = unstructured.SetNestedField(next.Object, dv.GetName(), "status", "claimName")
	if _, found, _ := unstructured.NestedInt64(next.Object, "status", "restartCount"); !found {
		_ = unstructured.SetNestedField(next.Object, int64(0), "status", "restartCount")
	}
	setConditions(next, metav1.Now(), conds...)
	if !equality.Semantic.DeepEqual(dv.Object["status"], next.Object["status"]) {
		if err := r.c.Status().Update(ctx, next); err != nil {
			return requeueOn(fmt.Errorf("updating the status of DataVolume %s: %w", dv.GetName(), err))
		}
	}
	return ctrl.Result{RequeueAfter: requeue}, nil
}

// createPVC creates the claim of a DataVolume from spec.pvc or spec.storage.
func (r *dvReconciler) createPVC(ctx context.Context, dv *unstructured.Unstructured) error {
	spec, err := claimSpec(dv)
	if err != nil {
		return err
	}
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{
			Name:      dv.GetName(),
			Namespace: dv.GetNamespace(),
			Labels: map[string]string{
				"app":                          "containerized-data-importer",
				"app.kubernetes.io/component":  "storage",
				"app.kubernetes.io/managed-by": "cdi-controller",
			},
			Annotations: map[string]string{
				AnnCreatedForDataVolume:               string(dv.GetUID()),
				"cdi.kubevirt.io/storage.contentType": "kubevirt",
				AnnSimulation:                         SimulationNote,
			},
			OwnerReferences: []metav1.OwnerReference{newControllerRef(dv, DataVolumeGVK)},
		},
		Spec: spec,
	}
	if err := r.c.Create(ctx, pvc); err != nil {
		return fmt.Errorf("creating PVC %s/%s for its DataVolume: %w", pvc.Namespace, pvc.Name, err)
	}
	return nil
}

// claimSpec derives a PVC spec from a DataVolume: spec.pvc verbatim, or
// spec.storage with CDI's defaults (ReadWriteOnce, 1Gi when unsized).
func claimSpec(dv *unstructured.Unstructured) (corev1.PersistentVolumeClaimSpec, error) {
	var spec corev1.PersistentVolumeClaimSpec
	src, ok, _ := unstructured.NestedMap(dv.Object, "spec", "pvc")
	if !ok {
		src, _, _ = unstructured.NestedMap(dv.Object, "spec", "storage")
	}
	if src != nil {
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(src, &spec); err != nil {
			return spec, fmt.Errorf("DataVolume %s/%s: reading its storage spec: %w", dv.GetNamespace(), dv.GetName(), err)
		}
	}
	spec.DataSource, spec.DataSourceRef = nil, nil
	if len(spec.AccessModes) == 0 {
		spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
	}
	if spec.Resources.Requests == nil {
		spec.Resources.Requests = corev1.ResourceList{}
	}
	if _, ok := spec.Resources.Requests[corev1.ResourceStorage]; !ok {
		spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("1Gi")
	}
	return spec, nil
}
