package controllers

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	argov1alpha1 "github.com/gitover/gitover/api/argocd/v1alpha1"
	"github.com/gitover/gitover/api/v1alpha1"
)

// verifying proves the end state: every Placement's decisions select
// exactly the expected clusters, every target Application is Synced at the
// failover's commit (or a descendant) and Healthy, and the source's
// Applications are gone — or, when the source site is lost, the Failover
// succeeds with SourceCleanupPending, which clears itself once the site is
// back and Argo CD removed them. A lost site never fails a Failover.
type verifying struct{}

// Phase implements step.
func (verifying) Phase() v1alpha1.FailoverPhase { return v1alpha1.PhaseVerifying }

// Run implements step.
func (verifying) Run(ctx context.Context, op *operation) (stepResult, error) {
	if err := op.checkTimeout(ctx); err != nil {
		return stepResult{}, err
	}
	fo := op.fo
	lv, err := op.observe(ctx)
	if err != nil {
		return stepResult{}, err
	}
	var problems []string
	problems = append(problems, lv.undecided()...)
	for _, m := range lv.missingTargets() {
		problems = append(problems, "no Application for "+m)
	}
	unready := lv.unready(ctx, op)
	problems = append(problems, unready...)
	if len(lv.missingTargets()) == 0 && len(unready) == 0 {
		op.milestone(&fo.Status.Timeline.Synced, "Synced", "the Applications on %s are Synced at %s or later", fo.Spec.TargetSite, short(fo.Status.Commit))
		op.milestone(&fo.Status.Timeline.Healthy, "Healthy", "the Applications on %s are Healthy", fo.Spec.TargetSite)
	} else if lv.allSynced(ctx, op) {
		op.milestone(&fo.Status.Timeline.Synced, "Synced", "the Applications on %s are Synced at %s or later", fo.Spec.TargetSite, short(fo.Status.Commit))
	}
	for _, app := range lv.targetApps() {
		if !op.syncedAtCommit(ctx, app) {
			if _, err := op.nudgeApp(ctx, app, op.landed()); err != nil {
				return stepResult{}, err
			}
		}
	}

	var pending []string
	for _, s := range lv.strayApps() {
		if s.Cluster != nil && !s.Cluster.Available {
			pending = append(pending, fmt.Sprintf("%s (on %s, not available)", s.App.Name, s.Cluster.Name))
			continue
		}
		problems = append(problems, fmt.Sprintf("Application %s still exists on %s", s.App.Name, clusterName(s.Cluster)))
	}
	if len(problems) > 0 {
		if len(lv.strayApps()) > len(pending) {
			if err := op.nudgeAppSets(ctx, lv.apps); err != nil {
				return stepResult{}, err
			}
		}
		sort.Strings(problems)
		return waiting(op.ConvergePoll, "waiting for: %s", strings.Join(problems, "; "))
	}

	op.milestone(&fo.Status.Timeline.Verified, "Verified", "%s runs on %s at %s", op.plan.Name, fo.Spec.TargetSite, short(fo.Status.Commit))
	msg := fmt.Sprintf("placements decided, Applications Synced and Healthy on %s at %s, source Applications gone", fo.Spec.TargetSite, short(fo.Status.Commit))
	if len(pending) > 0 {
		setCondition(&fo.Status.Conditions, fo.Generation, v1alpha1.ConditionSourceCleanupPending, metav1.ConditionTrue, ReasonSourceLost,
			fmt.Sprintf("the source site %s is not available; Argo CD removes %s when it returns", fo.Status.SourceSite, strings.Join(pending, ", ")))
		op.Recorder.Eventf(fo, op.plan, corev1.EventTypeWarning, "SourceCleanupPending", string(v1alpha1.PhaseVerifying),
			"the source site %s is lost: %s will be removed when it returns", fo.Status.SourceSite, strings.Join(pending, ", "))
		msg = fmt.Sprintf("placements decided, Applications Synced and Healthy on %s at %s; the source site is lost, its Applications are removed when it returns", fo.Spec.TargetSite, short(fo.Status.Commit))
	}
	return done(v1alpha1.PhaseSucceeded, "%s", msg)
}

// unready describes the target Applications that are not Synced at the
// commit (or later) and Healthy.
func (lv *liveView) unready(ctx context.Context, op *operation) []string {
	var out []string
	for _, app := range lv.targetApps() {
		switch {
		case app.Status.Sync.Status != argov1alpha1.SyncStatusSynced:
			out = append(out, fmt.Sprintf("Application %s is %s", app.Name, orUnknown(app.Status.Sync.Status)))
		case !op.syncedAtCommit(ctx, app):
			out = append(out, fmt.Sprintf("Application %s is Synced at %s, not yet at %s", app.Name, short(app.Status.Sync.Revision), short(op.fo.Status.Commit)))
		case !app.Healthy():
			out = append(out, fmt.Sprintf("Application %s is %s", app.Name, orUnknown(app.Status.Health.Status)))
		}
	}
	return out
}

// allSynced reports whether every target Application exists and is Synced
// at the commit or later.
func (lv *liveView) allSynced(ctx context.Context, op *operation) bool {
	if len(lv.missingTargets()) > 0 {
		return false
	}
	for _, app := range lv.targetApps() {
		if !op.syncedAtCommit(ctx, app) {
			return false
		}
	}
	return true
}

// syncedAtCommit reports whether app is Synced at the Failover's commit or
// a descendant of it (Argo CD may already have moved on to a later commit).
func (op *operation) syncedAtCommit(ctx context.Context, app *argov1alpha1.Application) bool {
	if app.Status.Sync.Status != argov1alpha1.SyncStatusSynced {
		return false
	}
	revs := app.Status.Sync.Revisions
	if app.Status.Sync.Revision != "" {
		revs = append([]string{app.Status.Sync.Revision}, revs...)
	}
	for _, rev := range revs {
		if ok, err := op.descends(ctx, rev); err == nil && ok {
			return true
		} else if err != nil {
			op.log.V(1).Info("cannot tell whether a revision descends from the commit", "revision", rev, "err", err.Error())
		}
	}
	return false
}

// descends reports whether rev is the Failover's commit or a descendant,
// remembering positive answers (they never change).
func (op *operation) descends(ctx context.Context, rev string) (bool, error) {
	commit := op.fo.Status.Commit
	if rev == commit {
		return true, nil
	}
	if len(rev) != 40 {
		return false, nil
	}
	key := commit + ".." + rev
	if _, ok := op.ancestry.Load(key); ok {
		return true, nil
	}
	repo, err := op.repository(ctx)
	if err != nil {
		return false, err
	}
	ok, err := op.Git.client.IsAncestor(ctx, repo.URL, repo.Branch, repo.Auth, commit, rev)
	if err == nil && ok {
		op.ancestry.Store(key, true)
	}
	return ok, err
}

// clusterName is a cluster's name, or "an unknown cluster".
func clusterName(c *cluster) string {
	if c == nil {
		return "an unknown cluster"
	}
	return c.Name
}
