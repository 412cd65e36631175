package controllers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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
	"github.com/gitover/gitover/gitops/git"
)

// Defaults of Options.
const (
	DefaultGitFetchInterval = time.Minute
	DefaultPlanResync       = 5 * time.Minute
	DefaultPRPollInterval   = 30 * time.Second
	DefaultConvergePoll     = 2 * time.Second
	DefaultCleanupPoll      = 30 * time.Second
)

// Field indexes the controllers look objects up by.
const (
	indexPlanPlacements = "gitover.io/placements"      // DRPlan -> its Placement names
	indexPlanAppSets    = "gitover.io/applicationsets" // DRPlan -> its ApplicationSet names
	indexFailoverPlan   = "gitover.io/plan"            // Failover -> spec.planRef.name
)

// Options configures the controllers.
type Options struct {
	// GitClient reaches the repositories through its clone cache (required).
	GitClient *git.Client
	// GitFetchInterval is the most often a branch is fetched when no
	// webhook says it moved (default 1m).
	GitFetchInterval time.Duration
	// PlanResync is the longest time between two reconciles of a DRPlan
	// (default 5m).
	PlanResync time.Duration
	// PRPollInterval is how often an open pull/merge request is read when
	// no webhook arrives (default 30s).
	PRPollInterval time.Duration
	// ConvergePoll is how often a converging Failover looks again when no
	// watched object changed (default 2s).
	ConvergePoll time.Duration
	// CleanupPoll is how often a Succeeded Failover with SourceCleanupPending
	// looks again (default 30s).
	CleanupPoll time.Duration
	// HTTPClient calls the forges' APIs (default: 30 s timeout).
	HTTPClient *http.Client
	// Registerer receives the metrics (controller-runtime's metrics.Registry
	// in the manager).
	Registerer prometheus.Registerer
	// MaxConcurrentReconciles per controller (default 1 for Failovers, 2
	// for DRPlans).
	MaxConcurrentReconciles int
	// DisableNudges leaves Argo CD to its own polling instead of
	// refreshing the hub Application, ApplicationSets and Applications
	// (only to measure what the nudges save).
	DisableNudges bool
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// defaults fills the zero fields.
func (o *Options) defaults() error {
	if o.GitClient == nil {
		return errors.New("controllers: no Git client")
	}
	if o.GitFetchInterval <= 0 {
		o.GitFetchInterval = DefaultGitFetchInterval
	}
	if o.PlanResync <= 0 {
		o.PlanResync = DefaultPlanResync
	}
	if o.PRPollInterval <= 0 {
		o.PRPollInterval = DefaultPRPollInterval
	}
	if o.ConvergePoll <= 0 {
		o.ConvergePoll = DefaultConvergePoll
	}
	if o.CleanupPoll <= 0 {
		o.CleanupPoll = DefaultCleanupPoll
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}

// Controllers are the reconcilers Setup registered, and the Notifier that
// feeds them webhook events.
type Controllers struct {
	Plans     *DRPlanReconciler
	Failovers *FailoverReconciler
	Notifier  *Notifier
	Metrics   *Metrics
}

// Setup registers the field indexes, the DRPlan and Failover reconcilers
// and their watches with mgr, and returns them with the Notifier (the
// caller connects it to the webhook receiver's queue and adds it to mgr).
func Setup(ctx context.Context, mgr ctrl.Manager, opts Options) (*Controllers, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	if err := setupIndexes(ctx, mgr); err != nil {
		return nil, err
	}
	m, err := NewMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("registering the controllers' metrics: %w", err)
	}
	src := newGitSource(opts.GitClient, opts.GitFetchInterval, opts.Now)
	planEvents := make(chan event.TypedGenericEvent[*v1alpha1.DRPlan], 1024)
	failoverEvents := make(chan event.TypedGenericEvent[*v1alpha1.Failover], 1024)

	plans := &DRPlanReconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Git:       src,
		Recorder:  mgr.GetEventRecorder("gitover-drplan"),
		Metrics:   m,
		Resync:    opts.PlanResync,
		Now:       opts.Now,
	}
	if err := plans.setupWithManager(mgr, planEvents, opts.MaxConcurrentReconciles); err != nil {
		return nil, err
	}
	failovers := &FailoverReconciler{
		Client:        mgr.GetClient(),
		APIReader:     mgr.GetAPIReader(),
		Git:           src,
		Recorder:      mgr.GetEventRecorder("gitover-failover"),
		Metrics:       m,
		HTTPClient:    opts.HTTPClient,
		PollInterval:  opts.PRPollInterval,
		ConvergePoll:  opts.ConvergePoll,
		CleanupPoll:   opts.CleanupPoll,
		DisableNudges: opts.DisableNudges,
		Now:           opts.Now,
		gate:          newForgeGate(),
	}
	if err := failovers.setupWithManager(mgr, failoverEvents, opts.MaxConcurrentReconciles); err != nil {
		return nil, err
	}
	n := &Notifier{Client: mgr.GetClient(), Git: src, plans: planEvents, failovers: failoverEvents, log: mgr.GetLogger().WithName("notifier")}
	return &Controllers{Plans: plans, Failovers: failovers, Notifier: n, Metrics: m}, nil
}

// setupIndexes registers the field indexes the watches map objects by.
func setupIndexes(ctx context.Context, mgr ctrl.Manager) error {
	idx := mgr.GetFieldIndexer()
	if err := idx.IndexField(ctx, &v1alpha1.DRPlan{}, indexPlanPlacements, func(o client.Object) []string {
		var out []string
		for _, p := range o.(*v1alpha1.DRPlan).Spec.Placements {
			out = append(out, p.Name)
		}
		return out
	}); err != nil {
		return fmt.Errorf("indexing DRPlans by Placement: %w", err)
	}
	if err := idx.IndexField(ctx, &v1alpha1.DRPlan{}, indexPlanAppSets, func(o client.Object) []string {
		var out []string
		for _, a := range o.(*v1alpha1.DRPlan).Spec.ApplicationSets {
			out = append(out, a.Name)
		}
		return out
	}); err != nil {
		return fmt.Errorf("indexing DRPlans by ApplicationSet: %w", err)
	}
	if err := idx.IndexField(ctx, &v1alpha1.Failover{}, indexFailoverPlan, func(o client.Object) []string {
		return []string{o.(*v1alpha1.Failover).Spec.PlanRef.Name}
	}); err != nil {
		return fmt.Errorf("indexing Failovers by DRPlan: %w", err)
	}
	return nil
}

// setupWithManager watches DRPlans and everything their status is made of.
func (r *DRPlanReconciler) setupWithManager(mgr ctrl.Manager, wake <-chan event.TypedGenericEvent[*v1alpha1.DRPlan], workers int) error {
	if workers <= 0 {
		workers = 2
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("drplan").
		For(&v1alpha1.DRPlan{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Watches(&clusterv1beta1.PlacementDecision{}, handler.EnqueueRequestsFromMapFunc(r.plansOfDecision)).
		Watches(&clusterv1.ManagedCluster{}, handler.EnqueueRequestsFromMapFunc(r.allPlans)).
		Watches(&argov1alpha1.Application{}, handler.EnqueueRequestsFromMapFunc(r.plansOfApp)).
		Watches(&argov1alpha1.ApplicationSet{}, handler.EnqueueRequestsFromMapFunc(r.plansOfAppSet)).
		WatchesRawSource(source.Channel(wake, &handler.TypedEnqueueRequestForObject[*v1alpha1.DRPlan]{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers}).
		Complete(r)
}

// plansOfDecision maps a PlacementDecision to the plans naming its Placement.
func (r *DRPlanReconciler) plansOfDecision(ctx context.Context, o client.Object) []reconcile.Request {
	p := o.GetLabels()[clusterv1beta1.PlacementLabel]
	if p == "" {
		return nil
	}
	return planRequests(ctx, r.Client, client.MatchingFields{indexPlanPlacements: p})
}

// allPlans maps a ManagedCluster to every plan (any may have a site there).
func (r *DRPlanReconciler) allPlans(ctx context.Context, _ client.Object) []reconcile.Request {
	return planRequests(ctx, r.Client)
}

// plansOfApp maps an Application to the plans naming its ApplicationSet.
func (r *DRPlanReconciler) plansOfApp(ctx context.Context, o client.Object) []reconcile.Request {
	var out []reconcile.Request
	for _, ref := range o.GetOwnerReferences() {
		if ref.Kind == "ApplicationSet" {
			out = append(out, planRequests(ctx, r.Client, client.MatchingFields{indexPlanAppSets: ref.Name})...)
		}
	}
	return out
}

// plansOfAppSet maps an ApplicationSet to the plans naming it.
func (r *DRPlanReconciler) plansOfAppSet(ctx context.Context, o client.Object) []reconcile.Request {
	return planRequests(ctx, r.Client, client.MatchingFields{indexPlanAppSets: o.GetName()})
}

// planRequests lists DRPlans and returns a request for each.
func planRequests(ctx context.Context, c client.Reader, opts ...client.ListOption) []reconcile.Request {
	var list v1alpha1.DRPlanList
	if err := c.List(ctx, &list, opts...); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing DRPlans to map a watch event")
		return nil
	}
	out := make([]reconcile.Request, 0, len(list.Items))
	for _, p := range list.Items {
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&p)})
	}
	return out
}
