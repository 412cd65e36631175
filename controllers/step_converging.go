package controllers

import (
	"context"
	"fmt"
	"io/fs"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	argov1alpha1 "github.com/gitover/gitover/api/argocd/v1alpha1"
	"github.com/gitover/gitover/api/v1alpha1"
)

// DefaultVerificationTimeout bounds Converging and Verifying together,
// from the moment the change landed (spec.verification.timeout).
const DefaultVerificationTimeout = 10 * time.Minute

// converging makes Argo CD act now instead of at its next poll: it
// refreshes the hub Application (which applies the new Placements), waits
// for OCM's PlacementDecisions to select the target's clusters, refreshes
// the plan's ApplicationSets (which then create the target's Applications
// and delete the source's), and refreshes the new Applications. It ends
// when every Placement decided as expected and every target Application
// exists.
type converging struct{}

// Phase implements step.
func (converging) Phase() v1alpha1.FailoverPhase { return v1alpha1.PhaseConverging }

// Run implements step.
func (converging) Run(ctx context.Context, op *operation) (stepResult, error) {
	if err := op.checkTimeout(ctx); err != nil {
		return stepResult{}, err
	}
	landed := op.landed()
	lv, err := op.observe(ctx)
	if err != nil {
		return stepResult{}, err
	}
	if err := op.nudgeHub(ctx, landed); err != nil {
		return stepResult{}, err
	}
	if pending := lv.undecided(); len(pending) > 0 {
		return waiting(op.ConvergePoll, "waiting for the PlacementDecisions: %s", strings.Join(pending, "; "))
	}
	op.milestone(&op.fo.Status.Timeline.PlacementDecided, "PlacementDecided", "the PlacementDecisions select the clusters of %s", op.fo.Spec.TargetSite)

	missing := lv.missingTargets()
	if len(missing) > 0 {
		if err := op.nudgeAppSets(ctx, lv.apps); err != nil {
			return stepResult{}, err
		}
		return waiting(op.ConvergePoll, "placement decided; waiting for the ApplicationSets to create %s", strings.Join(missing, ", "))
	}
	var names []string
	for _, app := range lv.targetApps() {
		if _, err := op.nudgeApp(ctx, app, landed); err != nil {
			return stepResult{}, err
		}
		names = append(names, app.Name)
	}
	// The source's Applications go when the ApplicationSets regenerate.
	if len(lv.strayApps()) > 0 {
		if err := op.nudgeAppSets(ctx, lv.apps); err != nil {
			return stepResult{}, err
		}
	}
	return done(v1alpha1.PhaseVerifying, "placement decided; Applications %s exist on %s and were refreshed", strings.Join(names, ", "), op.fo.Spec.TargetSite)
}

// liveView is the live state a converging or verifying Failover compares
// with its expectation.
type liveView struct {
	clusters *clusterView
	apps     *planApps
	want     expectation
	decided  map[string][]string
}

// observe reads the ManagedClusters, the plan's Applications and the
// decisions of its Placements (in the namespaces Git gives them at the
// landed commit), and computes what they should be with the target active.
func (op *operation) observe(ctx context.Context) (*liveView, error) {
	cv, err := readClusters(ctx, op.Client, op.plan)
	if err != nil {
		return nil, err
	}
	apps, err := readApps(ctx, op.Client, op.plan)
	if err != nil {
		return nil, err
	}
	nss, err := op.placementNamespaces(ctx)
	if err != nil {
		return nil, err
	}
	lv := &liveView{clusters: cv, apps: apps, want: expect(op.plan, cv, apps, op.fo.Spec.TargetSite), decided: map[string][]string{}}
	for _, ref := range op.plan.Spec.Placements {
		got, err := decided(ctx, op.Client, nss[ref.Name], ref.Name)
		if err != nil {
			return nil, err
		}
		lv.decided[ref.Name] = got
	}
	return lv, nil
}

// placementNamespaces reads the Placements' namespaces from Git at the
// landed commit, once per Failover and commit.
func (op *operation) placementNamespaces(ctx context.Context) (map[string]string, error) {
	key := string(op.fo.UID) + "@" + op.fo.Status.Commit
	if v, ok := op.namespaces.Load(key); ok {
		return v.(map[string]string), nil
	}
	repo, err := op.repository(ctx)
	if err != nil {
		return nil, fmt.Errorf("resolving the repository: %w", err)
	}
	var nss map[string]string
	err = op.Git.ReadCommit(ctx, repo.URL, repo.Branch, repo.Auth, op.fo.Status.Commit, func(_ context.Context, tree fs.FS, _ string) error {
		var err error
		nss, err = placementNamespaces(tree, op.plan)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reading the Placements at %s: %w", short(op.fo.Status.Commit), err)
	}
	op.namespaces.Store(key, nss)
	return nss, nil
}

// undecided describes the Placements whose decisions differ from the
// expectation.
func (lv *liveView) undecided() []string {
	var out []string
	for _, name := range sortedKeysOf(lv.want.Placements) {
		want, got := lv.want.Placements[name], lv.decided[name]
		if !sameSet(want, got) {
			out = append(out, fmt.Sprintf("%s selects [%s], want [%s]", name, strings.Join(got, ", "), strings.Join(want, ", ")))
		}
	}
	return out
}

// byCluster indexes an ApplicationSet's Applications by cluster.
func (lv *liveView) byCluster(appset string) map[string]*argov1alpha1.Application {
	out := map[string]*argov1alpha1.Application{}
	for _, oa := range lv.apps.Apps {
		if oa.AppSet == appset {
			out[lv.clusters.ClusterOfApp(oa.App)] = oa.App
		}
	}
	return out
}

// missingTargets names the target Applications that do not exist yet, as
// "ApplicationSet on cluster".
func (lv *liveView) missingTargets() []string {
	var out []string
	for _, name := range sortedKeysOf(lv.want.AppClusters) {
		have := lv.byCluster(name)
		for _, c := range lv.want.AppClusters[name] {
			if have[c] == nil {
				out = append(out, fmt.Sprintf("%s on %s", name, c))
			}
		}
	}
	return out
}

// targetApps returns the Applications on the clusters the expectation
// wants them on.
func (lv *liveView) targetApps() []*argov1alpha1.Application {
	var out []*argov1alpha1.Application
	for _, name := range sortedKeysOf(lv.want.AppClusters) {
		have := lv.byCluster(name)
		for _, c := range lv.want.AppClusters[name] {
			if app := have[c]; app != nil {
				out = append(out, app)
			}
		}
	}
	return out
}

// strayApp is an Application of an Active ApplicationSet on a cluster
// where it should no longer run (the source's, until Argo CD removes it).
type strayApp struct {
	App     *argov1alpha1.Application
	Cluster *cluster // nil when the cluster is unknown
}

// strayApps returns the Applications that should be gone.
func (lv *liveView) strayApps() []strayApp {
	var out []strayApp
	for _, name := range sortedKeysOf(lv.want.AppClusters) {
		want := map[string]bool{}
		for _, c := range lv.want.AppClusters[name] {
			want[c] = true
		}
		for c, app := range lv.byCluster(name) {
			if !want[c] {
				out = append(out, strayApp{App: app, Cluster: lv.clusters.byName[c]})
			}
		}
	}
	return out
}

// nudgeHub refreshes the hub Application, unless Argo CD looked at it
// after the change landed.
func (op *operation) nudgeHub(ctx context.Context, landed time.Time) error {
	name := op.plan.Spec.ArgoCD.HubApplication
	if name == "" {
		return nil
	}
	var hub argov1alpha1.Application
	err := op.Get(ctx, client.ObjectKey{Namespace: argoNamespace(op.plan), Name: name}, &hub)
	if err != nil {
		return client.IgnoreNotFound(fmt.Errorf("reading the hub Application %s: %w", name, err))
	}
	_, err = op.nudgeApp(ctx, &hub, landed)
	return err
}

// nudgeAppSets asks each of the plan's ApplicationSets to regenerate now.
func (op *operation) nudgeAppSets(ctx context.Context, apps *planApps) error {
	for _, name := range sortedKeysOf(apps.AppSets) {
		if _, err := op.nudgeAppSet(ctx, apps.AppSets[name]); err != nil {
			return err
		}
	}
	return nil
}

// milestone records a timeline milestone the first time it is reached,
// with an Event.
func (op *operation) milestone(at **metav1.MicroTime, reason, format string, args ...any) {
	if *at != nil {
		return
	}
	t := metav1.NewMicroTime(op.Now())
	*at = &t
	op.Recorder.Eventf(op.fo, op.plan, corev1.EventTypeNormal, reason, string(op.fo.Status.Phase), format, args...)
}

// checkTimeout fails the Failover when the verification timeout has passed
// since the change landed, saying what is still missing.
func (op *operation) checkTimeout(ctx context.Context) error {
	timeout := DefaultVerificationTimeout
	if d := op.plan.Spec.Verification.Timeout; d != nil && d.Duration > 0 {
		timeout = d.Duration
	}
	if op.Now().Sub(op.landed()) < timeout {
		return nil
	}
	missing := "unknown"
	if lv, err := op.observe(ctx); err == nil {
		var parts []string
		parts = append(parts, lv.undecided()...)
		for _, m := range lv.missingTargets() {
			parts = append(parts, "no Application for "+m)
		}
		parts = append(parts, lv.unready(ctx, op)...)
		for _, s := range lv.strayApps() {
			parts = append(parts, fmt.Sprintf("Application %s still exists", s.App.Name))
		}
		if len(parts) > 0 {
			missing = strings.Join(parts, "; ")
		}
	}
	return failf("not converged %s after the change landed (spec.verification.timeout): still missing: %s", timeout, missing)
}
