package controllers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	clusterv1beta1 "open-cluster-management.io/api/cluster/v1beta1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	argov1alpha1 "github.com/gitover/gitover/api/argocd/v1alpha1"
	"github.com/gitover/gitover/api/v1alpha1"
)

// FailoverReconciler carries each Failover through its steps (steps.go),
// persisting status after every step, so that a restarted controller
// resumes in the step it stopped in and repeats nothing.
//
// +kubebuilder:rbac:groups=gitover.io,resources=failovers,verbs=get;list;watch
// +kubebuilder:rbac:groups=gitover.io,resources=failovers/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=gitover.io,resources=drplans,verbs=get;list;watch
// +kubebuilder:rbac:groups=cluster.open-cluster-management.io,resources=managedclusters,verbs=get;list;watch
// +kubebuilder:rbac:groups=cluster.open-cluster-management.io,resources=placementdecisions,verbs=get;list;watch
// +kubebuilder:rbac:groups=argoproj.io,resources=applications;applicationsets,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
type FailoverReconciler struct {
	client.Client
	// APIReader reads Secrets without caching them.
	APIReader client.Reader
	Git       *gitSource
	Recorder  events.EventRecorder
	Metrics   *Metrics
	// HTTPClient calls the forge APIs.
	HTTPClient *http.Client
	// PollInterval is how often an open request is read without a webhook.
	PollInterval time.Duration
	// ConvergePoll is how often Converging and Verifying look again when
	// no watched object changed.
	ConvergePoll time.Duration
	// CleanupPoll is how often SourceCleanupPending is re-evaluated.
	CleanupPoll time.Duration
	// DisableNudges leaves Argo CD to its own polling (only to measure
	// what the nudges save).
	DisableNudges bool
	Now           func() time.Time

	gate       *forgeGate
	stepsOnce  sync.Once
	steps      map[v1alpha1.FailoverPhase]step
	namespaces sync.Map // Failover UID@commit -> Placement namespaces
	ancestry   sync.Map // commit..revision -> true
}

// Reconcile reads the Failover, runs reconcile, and writes the status
// whatever happened.
func (r *FailoverReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	fo := &v1alpha1.Failover{}
	if err := r.Get(ctx, req.NamespacedName, fo); err != nil {
		if apierrors.IsNotFound(err) {
			r.Metrics.track(req.String(), "", true)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("reading Failover %s: %w", req.NamespacedName, err)
	}
	patcher := newStatusPatcher(r.Client, fo)
	defer func() {
		fo.Status.ObservedGeneration = fo.Generation
		if err := patcher.Patch(ctx, fo); err != nil {
			retErr = errors.Join(retErr, err)
		}
		r.Metrics.track(req.String(), fo.Status.Phase, false)
	}()
	return r.reconcile(ctx, fo, patcher)
}

// reconcile walks the state machine: it starts a new Failover, then runs
// the current phase's step; a finished step is persisted before the next
// one runs in the same reconcile, so that no step's result can be lost.
func (r *FailoverReconciler) reconcile(ctx context.Context, fo *v1alpha1.Failover, patcher *statusPatcher) (ctrl.Result, error) {
	switch fo.Status.Phase {
	case v1alpha1.PhaseFailed:
		return ctrl.Result{}, nil
	case v1alpha1.PhaseSucceeded:
		return r.followCleanup(ctx, fo)
	case "", v1alpha1.PhasePending:
		r.start(fo)
		if err := patcher.Patch(ctx, fo); err != nil {
			return ctrl.Result{}, err
		}
	}
	op, err := r.operation(ctx, fo)
	if err != nil {
		if msg, ok := isFailure(err); ok {
			r.fail(fo, msg)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	for {
		phase := fo.Status.Phase
		s, ok := r.registry()[phase]
		if !ok {
			r.fail(fo, fmt.Sprintf("internal error: no step for phase %q", phase))
			return ctrl.Result{}, nil
		}
		r.begin(fo, phase)
		res, err := s.Run(ctx, op)
		if msg, failed := isFailure(err); failed {
			r.fail(fo, msg)
			return ctrl.Result{}, nil
		}
		if err != nil {
			r.note(fo, "retrying: "+err.Error())
			return ctrl.Result{}, err
		}
		if !res.Done {
			r.note(fo, res.Message)
			return ctrl.Result{RequeueAfter: res.RequeueAfter}, nil
		}
		r.finish(fo, v1alpha1.StepSucceeded, res.Message)
		fo.Status.Phase = res.Next
		r.Recorder.Eventf(fo, op.plan, corev1.EventTypeNormal, string(phase), string(phase), "%s", res.Message)
		if fo.Status.Phase == v1alpha1.PhaseSucceeded {
			r.succeeded(fo)
			if err := patcher.Patch(ctx, fo); err != nil {
				return ctrl.Result{}, err
			}
			return r.followCleanup(ctx, fo)
		}
		if err := patcher.Patch(ctx, fo); err != nil {
			return ctrl.Result{}, err
		}
	}
}

// registry returns the registered steps.
func (r *FailoverReconciler) registry() map[v1alpha1.FailoverPhase]step {
	r.stepsOnce.Do(func() { r.steps = registeredSteps() })
	return r.steps
}

// operation loads the Failover's DRPlan and wraps both for the steps. A
// plan that does not exist fails the Failover.
func (r *FailoverReconciler) operation(ctx context.Context, fo *v1alpha1.Failover) (*operation, error) {
	plan := &v1alpha1.DRPlan{}
	key := client.ObjectKey{Namespace: fo.Namespace, Name: fo.Spec.PlanRef.Name}
	if err := r.Get(ctx, key, plan); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, failf("DRPlan %s does not exist", key)
		}
		return nil, fmt.Errorf("reading DRPlan %s: %w", key, err)
	}
	log := ctrl.LoggerFrom(ctx).WithValues("plan", plan.Name, "target", fo.Spec.TargetSite)
	return &operation{FailoverReconciler: r, fo: fo, plan: plan, log: log}, nil
}

// start turns a new Failover into a Checking one and records the request.
func (r *FailoverReconciler) start(fo *v1alpha1.Failover) {
	if fo.Status.Timeline.Requested == nil {
		// creationTimestamp has whole seconds; the first sight of the
		// Failover, a few milliseconds after its creation, is closer — unless
		// no controller ran when it was created.
		t := metav1.NewMicroTime(r.Now())
		if created := fo.CreationTimestamp.Time; !created.IsZero() && t.Sub(created) > time.Second {
			t = metav1.NewMicroTime(created)
		}
		fo.Status.Timeline.Requested = &t
	}
	fo.Status.Phase = v1alpha1.PhaseChecking
	r.Recorder.Eventf(fo, nil, corev1.EventTypeNormal, "Requested", "Pending", "%s of DRPlan %s to %s requested",
		actionOf(fo), fo.Spec.PlanRef.Name, fo.Spec.TargetSite)
}

// begin appends a Running step for phase unless it is the running one.
func (r *FailoverReconciler) begin(fo *v1alpha1.Failover, phase v1alpha1.FailoverPhase) {
	if n := len(fo.Status.Steps); n > 0 && fo.Status.Steps[n-1].Name == phase && fo.Status.Steps[n-1].State == v1alpha1.StepRunning {
		return
	}
	fo.Status.Steps = append(fo.Status.Steps, v1alpha1.StepStatus{Name: phase, State: v1alpha1.StepRunning, StartedAt: metav1.NewMicroTime(r.Now())})
}

// note sets the running step's message.
func (r *FailoverReconciler) note(fo *v1alpha1.Failover, msg string) {
	if n := len(fo.Status.Steps); n > 0 {
		fo.Status.Steps[n-1].Message = truncate(msg)
	}
}

// finish ends the running step and observes its duration.
func (r *FailoverReconciler) finish(fo *v1alpha1.Failover, state v1alpha1.StepState, msg string) {
	n := len(fo.Status.Steps)
	if n == 0 {
		return
	}
	s := &fo.Status.Steps[n-1]
	now := metav1.NewMicroTime(r.Now())
	s.State, s.Message, s.FinishedAt = state, truncate(msg), &now
	r.Metrics.PhaseDuration.WithLabelValues(string(s.Name)).Observe(now.Sub(s.StartedAt.Time).Seconds())
}

// fail ends the Failover as Failed with msg.
func (r *FailoverReconciler) fail(fo *v1alpha1.Failover, msg string) {
	if n := len(fo.Status.Steps); n > 0 && fo.Status.Steps[n-1].State == v1alpha1.StepRunning {
		r.finish(fo, v1alpha1.StepFailed, msg)
	} else {
		now := metav1.NewMicroTime(r.Now())
		fo.Status.Steps = append(fo.Status.Steps, v1alpha1.StepStatus{Name: orPending(fo.Status.Phase), State: v1alpha1.StepFailed, Message: truncate(msg), StartedAt: now, FinishedAt: &now})
	}
	fo.Status.Phase = v1alpha1.PhaseFailed
	r.Metrics.Failovers.WithLabelValues(string(actionOf(fo)), string(v1alpha1.PhaseFailed)).Inc()
	r.Recorder.Eventf(fo, nil, corev1.EventTypeWarning, "Failed", "Failed", "%s", msg)
}

// succeeded computes the RTO and counts the Failover.
func (r *FailoverReconciler) succeeded(fo *v1alpha1.Failover) {
	fo.Status.RTO = computeRTO(fo.Status.Timeline)
	r.Metrics.Failovers.WithLabelValues(string(actionOf(fo)), string(v1alpha1.PhaseSucceeded)).Inc()
	if fo.Status.RTO != nil && fo.Status.RTO.Total != nil {
		r.Metrics.RTO.WithLabelValues(string(actionOf(fo))).Observe(fo.Status.RTO.Total.Seconds())
	}
}

// followCleanup re-evaluates SourceCleanupPending on a Succeeded Failover:
// it clears once the source site is back and Argo CD removed the source's
// Applications (or a later Failover of the plan took over), and nudges
// Argo CD while the site is back but the Applications remain.
func (r *FailoverReconciler) followCleanup(ctx context.Context, fo *v1alpha1.Failover) (ctrl.Result, error) {
	if !meta.IsStatusConditionTrue(fo.Status.Conditions, v1alpha1.ConditionSourceCleanupPending) {
		return ctrl.Result{}, nil
	}
	op, err := r.operation(ctx, fo)
	if err != nil {
		if _, ok := isFailure(err); ok {
			return ctrl.Result{}, nil // the plan is gone: nothing to follow
		}
		return ctrl.Result{}, err
	}
	if later, err := op.supersededBy(ctx); err != nil {
		return ctrl.Result{}, err
	} else if later != "" {
		setCondition(&fo.Status.Conditions, fo.Generation, v1alpha1.ConditionSourceCleanupPending, metav1.ConditionFalse, ReasonSuperseded,
			fmt.Sprintf("Failover %s of the plan came later and owns the cleanup", later))
		return ctrl.Result{}, nil
	}
	lv, err := op.observe(ctx)
	if err != nil {
		return ctrl.Result{}, err
	}
	strays := lv.strayApps()
	if len(strays) == 0 {
		setCondition(&fo.Status.Conditions, fo.Generation, v1alpha1.ConditionSourceCleanupPending, metav1.ConditionFalse, ReasonCleanedUp,
			fmt.Sprintf("the source site %s is back and its Applications are gone", fo.Status.SourceSite))
		r.Recorder.Eventf(fo, op.plan, corev1.EventTypeNormal, "SourceCleanedUp", "Cleanup", "the source site %s is back and Argo CD removed its Applications", fo.Status.SourceSite)
		return ctrl.Result{}, nil
	}
	var names []string
	requeue := r.CleanupPoll
	for _, s := range strays {
		names = append(names, s.App.Name)
		if s.Cluster != nil && s.Cluster.Available {
			// The site is back: unless Argo CD looked at the Application
			// since then, ask it to now, and look again soon.
			if _, err := r.nudgeApp(ctx, s.App, s.Cluster.Since); err != nil {
				return ctrl.Result{}, err
			}
			requeue = min(requeue, r.ConvergePoll)
		}
	}
	if err := op.nudgeAppSets(ctx, lv.apps); err != nil {
		return ctrl.Result{}, err
	}
	setCondition(&fo.Status.Conditions, fo.Generation, v1alpha1.ConditionSourceCleanupPending, metav1.ConditionTrue, ReasonSourceLost,
		fmt.Sprintf("waiting for Argo CD to remove %s from %s", strings.Join(names, ", "), fo.Status.SourceSite))
	return ctrl.Result{RequeueAfter: requeue}, nil
}

// supersededBy names a later, not failed, Failover of the same plan, or "".
func (op *operation) supersededBy(ctx context.Context) (string, error) {
	var list v1alpha1.FailoverList
	if err := op.List(ctx, &list, client.InNamespace(op.fo.Namespace), client.MatchingFields{indexFailoverPlan: op.plan.Name}); err != nil {
		return "", fmt.Errorf("listing the Failovers of DRPlan %s: %w", op.plan.Name, err)
	}
	for i := range list.Items {
		other := &list.Items[i]
		if other.UID != op.fo.UID && other.Status.Phase != v1alpha1.PhaseFailed && other.Status.Phase != "" && older(op.fo, other) {
			return other.Name, nil
		}
	}
	return "", nil
}

// event records a Normal Event about the Failover.
func (op *operation) event(phase v1alpha1.FailoverPhase, reason, format string, args ...any) {
	op.Recorder.Eventf(op.fo, op.plan, corev1.EventTypeNormal, reason, string(phase), format, args...)
}

// actionOf is the Failover's action with the default applied.
func actionOf(fo *v1alpha1.Failover) v1alpha1.Action {
	if fo.Spec.Action == "" {
		return v1alpha1.ActionFailover
	}
	return fo.Spec.Action
}

// truncate keeps step messages within a reasonable size.
func truncate(s string) string {
	const max = 4096
	if len(s) > max {
		return s[:max-3] + "..."
	}
	return s
}

// setupWithManager watches Failovers and everything their steps wait on.
func (r *FailoverReconciler) setupWithManager(mgr ctrl.Manager, wake <-chan event.TypedGenericEvent[*v1alpha1.Failover], workers int) error {
	if workers <= 0 {
		workers = 1
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("failover").
		For(&v1alpha1.Failover{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&clusterv1beta1.PlacementDecision{}, handler.EnqueueRequestsFromMapFunc(r.failoversOfDecision)).
		Watches(&clusterv1.ManagedCluster{}, handler.EnqueueRequestsFromMapFunc(r.allActive)).
		Watches(&argov1alpha1.Application{}, handler.EnqueueRequestsFromMapFunc(r.failoversOfApp)).
		Watches(&argov1alpha1.ApplicationSet{}, handler.EnqueueRequestsFromMapFunc(r.failoversOfAppSet)).
		WatchesRawSource(source.Channel(wake, &handler.TypedEnqueueRequestForObject[*v1alpha1.Failover]{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers}).
		Complete(r)
}

// failoversOfDecision maps a PlacementDecision to the active Failovers of
// the plans naming its Placement.
func (r *FailoverReconciler) failoversOfDecision(ctx context.Context, o client.Object) []reconcile.Request {
	p := o.GetLabels()[clusterv1beta1.PlacementLabel]
	if p == "" {
		return nil
	}
	return r.activeOf(ctx, planRequests(ctx, r.Client, client.MatchingFields{indexPlanPlacements: p}))
}

// failoversOfApp maps an Application to the active Failovers of the plans
// naming its ApplicationSet; the hub Application maps to every active one.
func (r *FailoverReconciler) failoversOfApp(ctx context.Context, o client.Object) []reconcile.Request {
	var plans []reconcile.Request
	for _, ref := range o.GetOwnerReferences() {
		if ref.Kind == "ApplicationSet" {
			plans = append(plans, planRequests(ctx, r.Client, client.MatchingFields{indexPlanAppSets: ref.Name})...)
		}
	}
	if len(plans) == 0 {
		return nil
	}
	return r.activeOf(ctx, plans)
}

// failoversOfAppSet maps an ApplicationSet to the active Failovers of the
// plans naming it.
func (r *FailoverReconciler) failoversOfAppSet(ctx context.Context, o client.Object) []reconcile.Request {
	return r.activeOf(ctx, planRequests(ctx, r.Client, client.MatchingFields{indexPlanAppSets: o.GetName()}))
}

// allActive maps a ManagedCluster change to every active Failover.
func (r *FailoverReconciler) allActive(ctx context.Context, _ client.Object) []reconcile.Request {
	var list v1alpha1.FailoverList
	if err := r.List(ctx, &list); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing Failovers to map a watch event")
		return nil
	}
	return activeRequests(list.Items)
}

// activeOf returns the active Failovers of the given plans.
func (r *FailoverReconciler) activeOf(ctx context.Context, plans []reconcile.Request) []reconcile.Request {
	var out []reconcile.Request
	for _, p := range plans {
		var list v1alpha1.FailoverList
		if err := r.List(ctx, &list, client.InNamespace(p.Namespace), client.MatchingFields{indexFailoverPlan: p.Name}); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "listing Failovers to map a watch event")
			continue
		}
		out = append(out, activeRequests(list.Items)...)
	}
	return out
}

// activeRequests keeps the Failovers that a watch event may move on: those
// in flight and the succeeded ones still waiting for the source's cleanup.
func activeRequests(items []v1alpha1.Failover) []reconcile.Request {
	var out []reconcile.Request
	for i := range items {
		fo := &items[i]
		if !terminal(fo.Status.Phase) || meta.IsStatusConditionTrue(fo.Status.Conditions, v1alpha1.ConditionSourceCleanupPending) {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(fo)})
		}
	}
	return out
}
