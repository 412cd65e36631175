package kubeletsim

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// podReconciler binds unscheduled Pods to the node (the scheduler's part)
// and starts, stops and confirms the deletion of the Pods bound to it (the
// kubelet's part).
type podReconciler struct{ k *Kubelet }

func (r *podReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	k := r.k
	pod := &corev1.Pod{}
	if err := k.c.Get(ctx, req.NamespacedName, pod); err != nil {
		if apierrors.IsNotFound(err) {
			// Deleted outright (grace period 0, or terminal): stop whatever
			// still runs for it, without reporting.
			k.forget(req.NamespacedName)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("reading pod %s: %w", req.NamespacedName, err)
	}
	if uid, ok := k.uidOf(req.NamespacedName); ok && uid != pod.UID {
		k.forget(req.NamespacedName) // a new Pod of the same name
	}
	switch {
	case pod.Spec.NodeName == "":
		return ctrl.Result{}, k.bind(ctx, pod)
	case pod.Spec.NodeName != k.o.NodeName:
		return ctrl.Result{}, nil
	case pod.DeletionTimestamp != nil:
		return ctrl.Result{}, k.terminate(ctx, pod)
	case terminal(pod):
		return ctrl.Result{}, nil // finished; nothing runs
	}
	k.ensureWorker(pod)
	return ctrl.Result{}, nil
}

// terminal reports a Pod in phase Succeeded or Failed.
func terminal(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

// bind assigns a Pod to the node through the pods/binding subresource, as
// the scheduler does, when its scheduler is the default one and its
// nodeSelector matches.
func (k *Kubelet) bind(ctx context.Context, pod *corev1.Pod) error {
	if pod.DeletionTimestamp != nil {
		return nil
	}
	if s := pod.Spec.SchedulerName; s != "" && s != corev1.DefaultSchedulerName {
		return nil
	}
	labels := k.nodeLabels()
	for key, v := range pod.Spec.NodeSelector {
		if labels[key] != v {
			k.mu.Lock()
			seen := k.unschedulable[pod.UID]
			k.unschedulable[pod.UID] = true
			k.mu.Unlock()
			if !seen {
				k.log.Info("pod left unscheduled: its nodeSelector does not match the simulated node", "pod", client.ObjectKeyFromObject(pod), "nodeSelector", pod.Spec.NodeSelector)
			}
			return nil
		}
	}
	b := &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: k.o.NodeName},
	}
	if err := k.c.SubResource("binding").Create(ctx, pod, b); err != nil {
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return nil // gone, or bound meanwhile
		}
		return fmt.Errorf("binding pod %s/%s to %s: %w", pod.Namespace, pod.Name, k.o.NodeName, err)
	}
	k.log.V(1).Info("pod bound", "pod", client.ObjectKeyFromObject(pod), "node", k.o.NodeName)
	return nil
}

// uidOf returns the UID of the Pod a worker runs under that name.
func (k *Kubelet) uidOf(key types.NamespacedName) (types.UID, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	uid, ok := k.byName[key]
	return uid, ok
}

// ensureWorker starts the worker of a Pod unless it has one.
func (k *Kubelet) ensureWorker(pod *corev1.Pod) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.workers[pod.UID]; ok {
		return
	}
	if k.ctx.Err() != nil {
		return
	}
	w := newPodWorker(k, pod)
	k.workers[pod.UID] = w
	k.byName[client.ObjectKeyFromObject(pod)] = pod.UID
	k.wg.Add(1)
	go func() {
		defer k.wg.Done()
		w.run()
	}()
}

// forget stops the worker of a Pod that no longer exists (or was
// replaced) at once, without reporting.
func (k *Kubelet) forget(key types.NamespacedName) {
	k.mu.Lock()
	uid, ok := k.byName[key]
	var w *podWorker
	if ok {
		w = k.workers[uid]
		delete(k.byName, key)
		delete(k.workers, uid)
		delete(k.unschedulable, uid)
	}
	k.mu.Unlock()
	if w != nil {
		w.stop(0, false)
	}
}

// terminate handles a Pod being deleted: its worker stops the processes
// within the grace period and confirms the deletion; a Pod without a
// worker (nothing runs) is confirmed at once.
func (k *Kubelet) terminate(ctx context.Context, pod *corev1.Pod) error {
	if g := pod.DeletionGracePeriodSeconds; g != nil && *g == 0 {
		return nil // already confirmed; finalizers keep it
	}
	grace := k.o.MaxGracePeriod
	if g := pod.DeletionGracePeriodSeconds; g != nil {
		grace = min(grace, time.Duration(*g)*time.Second)
	}
	k.mu.Lock()
	w := k.workers[pod.UID]
	k.mu.Unlock()
	if w != nil && !w.finished() {
		w.stop(grace, true)
		return nil
	}
	return k.confirmDeletion(ctx, pod.Namespace, pod.Name, pod.UID)
}

// confirmDeletion deletes a stopped Pod with grace period 0, the way the
// kubelet tells the apiserver that nothing runs any more.
func (k *Kubelet) confirmDeletion(ctx context.Context, namespace, name string, uid types.UID) error {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
	err := k.c.Delete(ctx, pod, client.GracePeriodSeconds(0), client.Preconditions{UID: &uid})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("confirming the deletion of pod %s/%s: %w", namespace, name, err)
	}
	k.log.V(1).Info("pod deletion confirmed", "pod", types.NamespacedName{Namespace: namespace, Name: name})
	return nil
}
