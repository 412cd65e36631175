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
	"github.com/gitover/gitover/overlays"
)

// checking verifies that the Failover may start: the plan is valid and its
// repository consistent at the branch head, the target's ManagedClusters
// are available, no other Failover of the plan is in flight, and the
// source is reachable (Relocate) or its loss is recorded (Failover, the
// start of "detect"). It records the source site and the base revision.
type checking struct{}

// Phase implements step.
func (checking) Phase() v1alpha1.FailoverPhase { return v1alpha1.PhaseChecking }

// Run implements step.
func (checking) Run(ctx context.Context, op *operation) (stepResult, error) {
	plan, fo := op.plan, op.fo
	target := fo.Spec.TargetSite
	if err := plan.Validate(); err != nil {
		return stepResult{}, failf("DRPlan %s is not valid: %v", plan.Name, err)
	}
	if plan.Spec.Site(target) == nil {
		return stepResult{}, failf("DRPlan %s has no site %q (sites: %s)", plan.Name, target, strings.Join(plan.Spec.SiteNames(), ", "))
	}
	if op.mode() == v1alpha1.ModePullRequest && plan.Spec.Git.Provider == nil {
		return stepResult{}, failf("PullRequest mode needs spec.git.provider in DRPlan %s (or mode Direct on the plan or the Failover)", plan.Name)
	}
	if msg, err := op.inFlight(ctx); err != nil {
		return stepResult{}, err
	} else if msg != "" {
		return stepResult{}, failf("%s", msg)
	}

	// Git: consistent at the freshest head, and not already there.
	repo, err := op.repository(ctx)
	if err != nil {
		return stepResult{}, fmt.Errorf("resolving the repository: %w", err)
	}
	op.Git.Invalidate(repo.URL, repo.Branch)
	var source string
	head, err := op.Git.Read(ctx, repo.URL, repo.Branch, repo.Auth, func(_ context.Context, tree fs.FS, _ string) error {
		sites, err := overlays.Inspect(tree, []*v1alpha1.DRPlan{plan})
		source = sites[plan.Name]
		return err
	})
	if err != nil {
		return stepResult{}, planError("reading the repository", err)
	}
	if source == target {
		return stepResult{}, failf("%s is already the active site in Git at %s: nothing to do", target, short(head))
	}
	fo.Status.SourceSite, fo.Status.BaseRevision = source, head

	// Sites: the target must be up; the source must be up for a relocation.
	cv, err := readClusters(ctx, op.Client, plan)
	if err != nil {
		return stepResult{}, err
	}
	targets := cv.Site(target)
	if len(targets) == 0 {
		return stepResult{}, failf("no ManagedCluster carries %s=%s (site %s)", plan.Spec.Clusters.LabelKey, plan.Spec.Site(target).LabelValue, target)
	}
	if down := unavailable(targets); len(down) > 0 {
		return stepResult{}, failf("the target site %s is not available: %s", target, strings.Join(down, "; "))
	}
	lost, since := cv.Lost(source)
	sourceNote := fmt.Sprintf("source %s reachable", source)
	switch {
	case op.action() == v1alpha1.ActionRelocate:
		if down := unavailable(cv.Site(source)); len(down) > 0 {
			return stepResult{}, failf("a relocation needs the source site %s up, but %s; to move off a lost site, use action Failover", source, strings.Join(down, "; "))
		}
	case lost:
		t := metav1.NewMicroTime(since)
		fo.Status.Timeline.SourceLost = &t
		sourceNote = fmt.Sprintf("source %s lost since %s", source, since.UTC().Format(time.RFC3339))
	}

	// Disks: a warning, never a refusal (see docs/controller.md).
	if err := op.checkSourceProtection(ctx, cv, source); err != nil {
		return stepResult{}, err
	}
	next := v1alpha1.PhaseCommitting
	if op.mode() == v1alpha1.ModePullRequest {
		next = v1alpha1.PhaseProposing
	}
	return done(next, "%s at %s: %s active, %s; target %s available (%d clusters)",
		repo.Branch, short(head), source, sourceNote, target, len(targets))
}

// unavailable describes the clusters that are not available.
func unavailable(cls []*cluster) []string {
	var out []string
	for _, cl := range cls {
		if !cl.Available {
			out = append(out, fmt.Sprintf("ManagedCluster %s not available since %s", cl.Name, cl.Since.UTC().Format(time.RFC3339)))
		}
	}
	return out
}

// inFlight returns why another Failover of the same plan keeps this one
// from running: one that is already past Checking, or an older one still
// in Pending or Checking. The older one wins; "" means none.
func (op *operation) inFlight(ctx context.Context) (string, error) {
	var list v1alpha1.FailoverList
	if err := op.List(ctx, &list, client.InNamespace(op.fo.Namespace), client.MatchingFields{indexFailoverPlan: op.plan.Name}); err != nil {
		return "", fmt.Errorf("listing the Failovers of DRPlan %s: %w", op.plan.Name, err)
	}
	for i := range list.Items {
		other := &list.Items[i]
		if other.UID == op.fo.UID || terminal(other.Status.Phase) {
			continue
		}
		switch other.Status.Phase {
		case "", v1alpha1.PhasePending, v1alpha1.PhaseChecking:
			if older(other, op.fo) {
				return fmt.Sprintf("Failover %s of DRPlan %s was requested earlier and is still in progress (phase %s); only one Failover of a plan runs at a time",
					other.Name, op.plan.Name, orPending(other.Status.Phase)), nil
			}
		default:
			return fmt.Sprintf("Failover %s of DRPlan %s is already in progress (phase %s); only one Failover of a plan runs at a time",
				other.Name, op.plan.Name, other.Status.Phase), nil
		}
	}
	return "", nil
}

// older orders Failovers by creation, then by name.
func older(a, b *v1alpha1.Failover) bool {
	ta, tb := a.CreationTimestamp.Time, b.CreationTimestamp.Time
	if !ta.Equal(tb) {
		return ta.Before(tb)
	}
	return a.Name < b.Name
}

// orPending names the empty phase.
func orPending(p v1alpha1.FailoverPhase) v1alpha1.FailoverPhase {
	if p == "" {
		return v1alpha1.PhasePending
	}
	return p
}

// terminal reports whether a phase is final.
func terminal(p v1alpha1.FailoverPhase) bool {
	return p == v1alpha1.PhaseSucceeded || p == v1alpha1.PhaseFailed
}

// checkSourceProtection records whether the source site's Applications
// carry Argo CD's PreDelete finalizer (the disk-protection hooks are armed)
// as the SourceDisksProtected condition, with a warning Event when not.
func (op *operation) checkSourceProtection(ctx context.Context, cv *clusterView, source string) error {
	fo := op.fo
	set := func(status metav1.ConditionStatus, reason, msg string) {
		setCondition(&fo.Status.Conditions, fo.Generation, ConditionSourceDisksProtected, status, reason, msg)
		if status != metav1.ConditionTrue {
			op.Recorder.Eventf(fo, op.plan, corev1.EventTypeWarning, "DisksNotProtected", "Checking", "%s", msg)
		}
	}
	if !op.plan.Spec.DiskProtection.Enabled {
		set(metav1.ConditionFalse, ReasonProtectionOff, fmt.Sprintf("DRPlan %s does not enable disk protection: when Argo CD removes the application from %s, its VM disks may be deleted with the VMs", op.plan.Name, source))
		return nil
	}
	apps, err := readApps(ctx, op.Client, op.plan)
	if err != nil {
		return err
	}
	var bare, armed []string
	for _, oa := range apps.Apps {
		cl := cv.byName[cv.ClusterOfApp(oa.App)]
		if cl == nil || cl.Site != source {
			continue
		}
		if hasFinalizer(oa.App, argov1alpha1.FinalizerPreDelete) {
			armed = append(armed, oa.App.Name)
		} else {
			bare = append(bare, oa.App.Name)
		}
	}
	switch {
	case len(bare) > 0:
		set(metav1.ConditionFalse, ReasonPreDeleteMissing, fmt.Sprintf("the Applications %s on %s lack Argo CD's %s finalizer: the PreDelete disk-protection hook is not armed there, so the VM disks may be deleted when Argo CD removes them (Argo CD 3.3 or later arms it after a sync that saw the hooks)",
			strings.Join(bare, ", "), source, argov1alpha1.FinalizerPreDelete))
	case len(armed) > 0:
		set(metav1.ConditionTrue, ReasonPreDeleteArmed, fmt.Sprintf("the PreDelete disk-protection hook is armed on %s", strings.Join(armed, ", ")))
	default:
		set(metav1.ConditionTrue, ReasonNoSourceApps, fmt.Sprintf("no Application of DRPlan %s runs on %s", op.plan.Name, source))
	}
	return nil
}
