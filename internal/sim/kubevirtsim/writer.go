package kubevirtsim

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// writer is the simulated guest workload: every WriteInterval it appends
// one record to each volume in use by a running VMI (all its PVC-backed
// volumes, or those listed in the VM's sim.gitover.io/write-to annotation)
// and to each PVC labelled sim.gitover.io/writer=true.
type writer struct {
	c   client.Client
	dyn dynamic.Interface
	o   Options
	log logr.Logger
}

// Start implements manager.Runnable.
func (w *writer) Start(ctx context.Context) error {
	t := time.NewTicker(w.o.WriteInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			w.tick(ctx)
		}
	}
}

// NeedLeaderElection implements manager.LeaderElectionRunnable.
func (w *writer) NeedLeaderElection() bool { return false }

// tick writes one record to every volume in use.
func (w *writer) tick(ctx context.Context) {
	for _, key := range w.targets(ctx) {
		rec, err := AppendRecord(ctx, w.dyn, key.Namespace, key.Name, w.o.ClusterName, w.o.MaxRecords)
		switch {
		case err == nil:
			w.log.V(2).Info("record written", "pvc", key, "seq", rec.Seq)
		case errors.Is(err, errPVCGone), ctx.Err() != nil:
		default:
			w.log.Error(err, "writing a record", "pvc", key)
		}
	}
}

// targets lists the PVCs to write to, from the cache.
func (w *writer) targets(ctx context.Context) []types.NamespacedName {
	var out []types.NamespacedName
	add := func(k types.NamespacedName) {
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	vmis := &unstructured.UnstructuredList{}
	vmis.SetGroupVersionKind(VirtualMachineInstanceGVK.GroupVersion().WithKind("VirtualMachineInstanceList"))
	if err := w.c.List(ctx, vmis); err != nil {
		w.log.Error(err, "listing VMIs")
	}
	for i := range vmis.Items {
		vmi := &vmis.Items[i]
		if vmiPhase(vmi) != "Running" || vmi.GetDeletionTimestamp() != nil {
			continue
		}
		spec, _, _ := unstructured.NestedMap(vmi.Object, "spec")
		_, claims := volumeClaims(spec)
		if only := w.writeTo(ctx, vmi); only != nil {
			claims = slices.DeleteFunc(claims, func(c string) bool { return !slices.Contains(only, c) })
		}
		for _, c := range claims {
			add(types.NamespacedName{Namespace: vmi.GetNamespace(), Name: c})
		}
	}
	pvcs := &corev1.PersistentVolumeClaimList{}
	if err := w.c.List(ctx, pvcs, client.MatchingLabels{LabelWriter: "true"}); err != nil {
		w.log.Error(err, "listing PVCs labelled for the writer")
	}
	for _, p := range pvcs.Items {
		if p.DeletionTimestamp == nil {
			add(types.NamespacedName{Namespace: p.Namespace, Name: p.Name})
		}
	}
	return out
}

// writeTo returns the claims the VM's annotation selects (empty slice for
// "none"), or nil when it has no annotation.
func (w *writer) writeTo(ctx context.Context, vmi *unstructured.Unstructured) []string {
	v, ok := vmi.GetAnnotations()[AnnWriteTo]
	if !ok {
		if vm, err := getOptional(ctx, w.c, VirtualMachineGVK, types.NamespacedName{Namespace: vmi.GetNamespace(), Name: vmi.GetName()}); err == nil && vm != nil {
			v, ok = vm.GetAnnotations()[AnnWriteTo]
		}
	}
	if !ok {
		return nil
	}
	out := []string{}
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" && s != "none" {
			out = append(out, s)
		}
	}
	return out
}
