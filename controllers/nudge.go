package controllers

import (
	"context"
	"fmt"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	argov1alpha1 "github.com/gitover/gitover/api/argocd/v1alpha1"
)

// Nudges ask Argo CD to look now instead of at its next poll. They are
// metadata patches of one annotation, which Argo CD removes once it has
// acted: gitover never writes an Application's or ApplicationSet's spec.

// nudgeApp asks Argo CD to refresh app (argocd.argoproj.io/refresh:
// normal) unless a refresh is pending or Argo CD reconciled it after since
// (reconciledAt has whole seconds: a reconcile in the same second as since
// does not count, so a nudge is never skipped that was needed).
// It reports whether it patched.
func nudgeApp(ctx context.Context, c client.Client, app *argov1alpha1.Application, since time.Time) (bool, error) {
	if app.Annotations[argov1alpha1.AnnotationRefresh] != "" || app.DeletionTimestamp != nil {
		return false, nil
	}
	if at := app.Status.ReconciledAt; at != nil && at.Time.After(since) {
		return false, nil
	}
	return annotate(ctx, c, app, argov1alpha1.AnnotationRefresh, "normal")
}

// nudgeAppSet asks the ApplicationSet controller to regenerate as now
// (argocd.argoproj.io/application-set-refresh: "true") unless it is
// already asked. It reports whether it patched.
func nudgeAppSet(ctx context.Context, c client.Client, as *argov1alpha1.ApplicationSet) (bool, error) {
	if as.Annotations[argov1alpha1.AnnotationAppSetRefresh] != "" {
		return false, nil
	}
	return annotate(ctx, c, as, argov1alpha1.AnnotationAppSetRefresh, "true")
}

// annotate sets one annotation with a merge patch of the metadata alone.
func annotate(ctx context.Context, c client.Client, obj client.Object, key, value string) (bool, error) {
	patch := client.RawPatch("application/merge-patch+json",
		[]byte(fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, key, value)))
	if err := c.Patch(ctx, obj, patch); err != nil {
		return false, client.IgnoreNotFound(fmt.Errorf("annotating %T %s with %s: %w", obj, client.ObjectKeyFromObject(obj), key, err))
	}
	return true, nil
}

// nudgeApp refreshes an Application unless nudges are disabled.
func (r *FailoverReconciler) nudgeApp(ctx context.Context, app *argov1alpha1.Application, since time.Time) (bool, error) {
	if r.DisableNudges {
		return false, nil
	}
	return nudgeApp(ctx, r.Client, app, since)
}

// nudgeAppSet refreshes an ApplicationSet unless nudges are disabled.
func (r *FailoverReconciler) nudgeAppSet(ctx context.Context, as *argov1alpha1.ApplicationSet) (bool, error) {
	if r.DisableNudges {
		return false, nil
	}
	return nudgeAppSet(ctx, r.Client, as)
}
