package controllers

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"
)

// statusPatcher writes an object's status as a merge patch against the
// status it last read or wrote, with the object's resourceVersion as an
// optimistic lock, so that a reconciler never overwrites a status it has
// not seen. The Failover reconciler patches after every step, the DRPlan
// reconciler once per reconcile.
type statusPatcher struct {
	c      client.Client
	before client.Object
}

// newStatusPatcher remembers obj as it is now.
func newStatusPatcher(c client.Client, obj client.Object) *statusPatcher {
	return &statusPatcher{c: c, before: obj.DeepCopyObject().(client.Object)}
}

// Patch sends the difference between the remembered object and obj, if
// any, and remembers obj as written (with the apiserver's answer).
func (p *statusPatcher) Patch(ctx context.Context, obj client.Object) error {
	diff, err := client.MergeFrom(p.before).Data(obj)
	if err != nil {
		return fmt.Errorf("computing the status patch of %s: %w", client.ObjectKeyFromObject(obj), err)
	}
	if string(diff) == "{}" {
		return nil
	}
	patch := client.MergeFromWithOptions(p.before, client.MergeFromWithOptimisticLock{})
	if err := p.c.Status().Patch(ctx, obj, patch); err != nil {
		return fmt.Errorf("patching the status of %s: %w", client.ObjectKeyFromObject(obj), err)
	}
	p.before = obj.DeepCopyObject().(client.Object)
	return nil
}
