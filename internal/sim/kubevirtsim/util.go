package kubevirtsim

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// getOptional reads an object from the cache; nil when it does not exist.
func getOptional(ctx context.Context, c client.Reader, gvk schema.GroupVersionKind, key types.NamespacedName) (*unstructured.Unstructured, error) {
	u := newU(gvk)
	if err := c.Get(ctx, key, u); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("reading %s %s: %w", gvk.Kind, key, err)
	}
	return u, nil
}

// controllerRef returns an object's controller owner reference, or nil.
func controllerRef(obj metav1.Object) *metav1.OwnerReference {
	return metav1.GetControllerOf(obj)
}

// controlledBy reports whether owner is obj's controller.
func controlledBy(obj, owner metav1.Object) bool {
	ref := controllerRef(obj)
	return ref != nil && ref.UID == owner.GetUID()
}

// newControllerRef is a controller owner reference that blocks the
// owner's foreground deletion, as metav1.NewControllerRef builds it.
func newControllerRef(owner metav1.Object, gvk schema.GroupVersionKind) metav1.OwnerReference {
	t := true
	return metav1.OwnerReference{
		APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind,
		Name: owner.GetName(), UID: owner.GetUID(),
		Controller: &t, BlockOwnerDeletion: &t,
	}
}

// adopt adds a controller reference to obj, guarded by its resourceVersion
// so that a concurrent change makes the patch fail instead of clobbering.
func adopt(ctx context.Context, c client.Client, obj client.Object, ref metav1.OwnerReference) error {
	refs := append(slices.Clone(obj.GetOwnerReferences()), ref)
	patch, err := json.Marshal([]map[string]any{
		{"op": "test", "path": "/metadata/resourceVersion", "value": obj.GetResourceVersion()},
		{"op": "add", "path": "/metadata/ownerReferences", "value": refs},
	})
	if err != nil {
		return err
	}
	return c.Patch(ctx, obj, client.RawPatch(types.JSONPatchType, patch))
}

// setFinalizers replaces obj's finalizers, guarded by the current list.
func setFinalizers(ctx context.Context, c client.Client, obj client.Object, want []string) error {
	if want == nil {
		want = []string{}
	}
	cur := obj.GetFinalizers()
	if cur == nil {
		cur = []string{}
	}
	ops := []map[string]any{{"op": "test", "path": "/metadata/finalizers", "value": cur}}
	if len(obj.GetFinalizers()) == 0 {
		ops = []map[string]any{{"op": "add", "path": "/metadata/finalizers", "value": want}}
	} else {
		ops = append(ops, map[string]any{"op": "replace", "path": "/metadata/finalizers", "value": want})
	}
	patch, err := json.Marshal(ops)
	if err != nil {
		return err
	}
	return c.Patch(ctx, obj, client.RawPatch(types.JSONPatchType, patch))
}

// without returns list without the given items.
func without(list []string, drop ...string) []string {
	var out []string
	for _, s := range list {
		if !slices.Contains(drop, s) {
			out = append(out, s)
		}
	}
	return out
}

// condition is one entry of status.conditions.
type condition struct {
	Type, Status, Reason, Message string
}

// setConditions merges conds into obj's status.conditions, keeping the
// lastTransitionTime of conditions whose status did not change, and
// leaving other condition types alone.
func setConditions(obj *unstructured.Unstructured, now metav1.Time, conds ...condition) {
	existing, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	byType := map[string]map[string]any{}
	var order []string
	for _, e := range existing {
		m, ok := e.(map[string]any)
		if !ok {
			continue
		}
		t, _ := m["type"].(string)
		byType[t] = m
		order = append(order, t)
	}
	for _, c := range conds {
		prev, had := byType[c.Type]
		transition := now.UTC().Format(time.RFC3339)
		if had && prev["status"] == c.Status {
			if ts, ok := prev["lastTransitionTime"].(string); ok {
				transition = ts
			}
		}
		if !had {
			order = append(order, c.Type)
		}
		byType[c.Type] = map[string]any{
			"type": c.Type, "status": c.Status, "reason": c.Reason, "message": c.Message,
			"lastProbeTime": nil, "lastTransitionTime": transition,
		}
	}
	out := make([]any, 0, len(order))
	for _, t := range order {
		out = append(out, byType[t])
	}
	_ = unstructured.SetNestedSlice(obj.Object, out, "status", "conditions")
}

// conditionStatus returns the status of a condition type ("" when absent).
func conditionStatus(obj *unstructured.Unstructured, typ string) string {
	if obj == nil {
		return ""
	}
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if ok && m["type"] == typ {
			s, _ := m["status"].(string)
			return s
		}
	}
	return ""
}

// str reads a nested string ("" when absent or obj is nil).
func str(obj *unstructured.Unstructured, fields ...string) string {
	if obj == nil {
		return ""
	}
	s, _, _ := unstructured.NestedString(obj.Object, fields...)
	return s
}
