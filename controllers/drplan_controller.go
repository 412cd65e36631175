package controllers

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	argov1alpha1 "github.com/gitover/gitover/api/argocd/v1alpha1"
	"github.com/gitover/gitover/api/v1alpha1"
	"github.com/gitover/gitover/overlays"
)

// DefaultDivergenceThreshold is how long Git and the live state may
// disagree before Converged turns to DivergedTooLong (spec.verification).
const DefaultDivergenceThreshold = 5 * time.Minute

// DRPlanReconciler reports, for each DRPlan, the active site according to
// Git and according to the live PlacementDecisions, and the conditions
// Ready, Converged and Protected. It never writes to Git or to anything
// but the plan's status.
//
// +kubebuilder:rbac:groups=gitover.io,resources=drplans,verbs=get;list;watch
// +kubebuilder:rbac:groups=gitover.io,resources=drplans/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=gitover.io,resources=failovers,verbs=get;list;watch
// +kubebuilder:rbac:groups=cluster.open-cluster-management.io,resources=managedclusters,verbs=get;list;watch
// +kubebuilder:rbac:groups=cluster.open-cluster-management.io,resources=placementdecisions,verbs=get;list;watch
// +kubebuilder:rbac:groups=argoproj.io,resources=applications;applicationsets,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
type DRPlanReconciler struct {
	client.Client
	// APIReader reads Secrets without caching them.
	APIReader client.Reader
	Git       *gitSource
	Recorder  events.EventRecorder
	Metrics   *Metrics
	// Resync is the longest time between two reconciles of a plan.
	Resync time.Duration
	Now    func() time.Time

	mu    sync.Mutex
	memos map[types.NamespacedName]*planMemo
}

// planMemo is what the reconciler remembers of one plan generation: the
// Git facts at the last revision read, and the active site at the other
// revisions Applications were found synced at.
type planMemo struct {
	uid        types.UID
	generation int64
	facts      *gitFacts
	sites      map[string]string // revision -> active site
}

// maxMemoSites bounds the revisions a planMemo remembers sites for.
const maxMemoSites = 32

// memo returns the plan's memo, starting a new one when the plan was
// replaced or its spec changed.
func (r *DRPlanReconciler) memo(plan *v1alpha1.DRPlan) *planMemo {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.memos == nil {
		r.memos = map[types.NamespacedName]*planMemo{}
	}
	key := client.ObjectKeyFromObject(plan)
	m := r.memos[key]
	if m == nil || m.uid != plan.UID || m.generation != plan.Generation {
		m = &planMemo{uid: plan.UID, generation: plan.Generation, sites: map[string]string{}}
		r.memos[key] = m
	}
	return m
}

// planLive is what the live objects say about a plan.
type planLive struct {
	Clusters *clusterView
	Apps     *planApps
	// Decided maps each Placement to the clusters its decisions select.
	Decided map[string][]string
	// ObservedSite is the one site the Active placements select, or "".
	ObservedSite string
	// Why says why ObservedSite is empty (reason, message).
	WhyReason, WhyMessage string
}

// Reconcile reads the plan, runs the phases of reconcile, and writes the
// status (with an Event for every condition that changed) whatever happened.
func (r *DRPlanReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	plan := &v1alpha1.DRPlan{}
	if err := r.Get(ctx, req.NamespacedName, plan); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(req.NamespacedName)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("reading DRPlan %s: %w", req.NamespacedName, err)
	}
	patcher := newStatusPatcher(r.Client, plan)
	before := plan.Status.DeepCopy()
	defer func() {
		plan.Status.ObservedGeneration = plan.Generation
		r.recordTransitions(plan, before)
		r.Metrics.PlanConverged.WithLabelValues(plan.Namespace, plan.Name).Set(boolGauge(meta.IsStatusConditionTrue(plan.Status.Conditions, v1alpha1.ConditionConverged)))
		if err := patcher.Patch(ctx, plan); err != nil {
			retErr = errors.Join(retErr, err)
		}
	}()
	return r.reconcile(ctx, plan)
}

// reconcile walks the phases: the plan itself, Git, the live state, then
// the three conditions.
func (r *DRPlanReconciler) reconcile(ctx context.Context, plan *v1alpha1.DRPlan) (ctrl.Result, error) {
	// 1. The plan: everything that can be checked without the repository.
	if err := plan.Validate(); err != nil {
		r.setInvalid(plan, ReasonInvalidPlan, err.Error())
		return ctrl.Result{}, nil
	}
	// 2. Git: the active site at the branch head, the protection, and a
	// dry run of a failover to every other site.
	facts := r.readGit(ctx, plan)
	if facts.Err == nil {
		plan.Status.ActiveSite, plan.Status.Revision = facts.ActiveSite, facts.Revision
	}
	// 3. Live: ManagedClusters, PlacementDecisions, Applications.
	live, err := r.readLive(ctx, plan, facts)
	if err != nil {
		return ctrl.Result{}, err
	}
	// 4. Conditions.
	r.setReady(plan, facts)
	next := r.setConverged(ctx, plan, facts, live)
	r.setProtected(plan, facts, live)

	requeue := r.Resync
	if next > 0 && next < requeue {
		requeue = next
	}
	return ctrl.Result{RequeueAfter: requeue}, nil
}

// readGit returns the plan's Git facts at the branch head, computing them
// only when the plan's generation or the revision changed.
func (r *DRPlanReconciler) readGit(ctx context.Context, plan *v1alpha1.DRPlan) *gitFacts {
	repo, err := repoOf(ctx, r.APIReader, plan)
	if err != nil {
		return &gitFacts{Err: err}
	}
	m := r.memo(plan)
	var facts *gitFacts
	sha, err := r.Git.Read(ctx, repo.URL, repo.Branch, repo.Auth, func(ctx context.Context, tree fs.FS, sha string) error {
		r.mu.Lock()
		cached := m.facts
		r.mu.Unlock()
		if cached != nil && cached.Revision == sha {
			facts = cached
			return nil
		}
		facts = readGitFacts(ctx, tree, sha, plan, r.Git.RenderCache(repo.URL))
		return nil
	})
	if err != nil {
		return &gitFacts{Err: fmt.Errorf("reading %s of %s: %w", repo.Branch, repo.URL, err)}
	}
	if ctx.Err() == nil {
		r.mu.Lock()
		m.facts = facts
		r.mu.Unlock()
	}
	ctrl.LoggerFrom(ctx).V(1).Info("read Git", "revision", sha, "active", facts.ActiveSite, "err", facts.Err)
	return facts
}

// forget drops what the reconciler remembers of a deleted plan.
func (r *DRPlanReconciler) forget(key types.NamespacedName) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.memos, key)
	r.Metrics.PlanConverged.DeleteLabelValues(key.Namespace, key.Name)
}

// readLive reads the ManagedClusters, the decisions of every Placement of
// the plan and the Applications of its ApplicationSets, and derives the
// observed site from the Active placements' decisions.
func (r *DRPlanReconciler) readLive(ctx context.Context, plan *v1alpha1.DRPlan, facts *gitFacts) (*planLive, error) {
	cv, err := readClusters(ctx, r.Client, plan)
	if err != nil {
		return nil, err
	}
	apps, err := readApps(ctx, r.Client, plan)
	if err != nil {
		return nil, err
	}
	live := &planLive{Clusters: cv, Apps: apps, Decided: map[string][]string{}}
	sites := map[string]bool{}
	var strays []string
	for _, ref := range plan.Spec.Placements {
		ns := argoNamespace(plan)
		if n, ok := facts.PlacementNamespaces[ref.Name]; ok {
			ns = n
		}
		got, err := decided(ctx, r.Client, ns, ref.Name)
		if err != nil {
			return nil, err
		}
		live.Decided[ref.Name] = got
		if ref.EffectiveRole() != v1alpha1.RoleActive {
			continue
		}
		for _, c := range got {
			if cl := cv.byName[c]; cl != nil && cl.Site != "" {
				sites[cl.Site] = true
			} else {
				strays = append(strays, c)
			}
		}
	}
	switch list := sortedKeys(sites); len(list) {
	case 1:
		live.ObservedSite = list[0]
	case 0:
		live.WhyReason = ReasonNoLiveSite
		live.WhyMessage = "no PlacementDecision of the plan's Active placements selects a cluster of a site"
		if len(strays) > 0 {
			live.WhyMessage += fmt.Sprintf(" (they select %s, which carry no site's %s label value)", strings.Join(strays, ", "), plan.Spec.Clusters.LabelKey)
		}
	default:
		live.WhyReason = ReasonSplitSites
		live.WhyMessage = fmt.Sprintf("the Active placements' decisions select clusters of %d sites: %s", len(list), strings.Join(list, ", "))
	}
	plan.Status.ObservedSite = live.ObservedSite
	return live, nil
}

// setInvalid marks every condition for a plan that cannot be evaluated.
func (r *DRPlanReconciler) setInvalid(plan *v1alpha1.DRPlan, reason, msg string) {
	setCondition(&plan.Status.Conditions, plan.Generation, v1alpha1.ConditionReady, metav1.ConditionFalse, reason, msg)
	setCondition(&plan.Status.Conditions, plan.Generation, v1alpha1.ConditionConverged, metav1.ConditionUnknown, reason, "the plan is not valid")
	setCondition(&plan.Status.Conditions, plan.Generation, v1alpha1.ConditionProtected, metav1.ConditionUnknown, reason, "the plan is not valid")
}

// setReady says whether the plan and its repository are usable: valid,
// reachable, consistent, and able to fail over to every other site.
func (r *DRPlanReconciler) setReady(plan *v1alpha1.DRPlan, f *gitFacts) {
	set := func(status metav1.ConditionStatus, reason, msg string) {
		setCondition(&plan.Status.Conditions, plan.Generation, v1alpha1.ConditionReady, status, reason, msg)
	}
	if f.Err != nil {
		set(metav1.ConditionFalse, gitReason(f.Err), f.Err.Error())
		return
	}
	if len(f.Blocked) > 0 {
		var parts []string
		for _, site := range sortedErrKeys(f.Blocked) {
			parts = append(parts, fmt.Sprintf("a failover to %s would fail: %v", site, f.Blocked[site]))
		}
		set(metav1.ConditionFalse, ReasonFailoverBlocked, strings.Join(parts, "; "))
		return
	}
	var others []string
	for _, s := range plan.Spec.SiteNames() {
		if s != f.ActiveSite {
			others = append(others, s)
		}
	}
	set(metav1.ConditionTrue, ReasonReady, fmt.Sprintf("repository consistent at %s: %s active; a failover to %s plans cleanly",
		short(f.Revision), f.ActiveSite, strings.Join(others, ", ")))
}

// setConverged compares Git with the live state and tracks how long they
// have disagreed. It returns when to look again so that DivergedTooLong
// appears on time (0: no need).
func (r *DRPlanReconciler) setConverged(ctx context.Context, plan *v1alpha1.DRPlan, f *gitFacts, live *planLive) time.Duration {
	set := func(status metav1.ConditionStatus, reason, msg string) {
		setCondition(&plan.Status.Conditions, plan.Generation, v1alpha1.ConditionConverged, status, reason, msg)
	}
	if f.Err != nil {
		set(metav1.ConditionUnknown, ReasonGitUnknown, "the repository cannot be read: "+f.Err.Error())
		return 0
	}
	reason, problem := r.divergence(ctx, plan, f, live)
	now := r.Now()
	if reason == "" {
		plan.Status.DivergedSince = nil
		set(metav1.ConditionTrue, ReasonConverged, fmt.Sprintf("%s is active in Git (%s) and live; its Applications are Synced and Healthy", f.ActiveSite, short(f.Revision)))
		return 0
	}
	if plan.Status.DivergedSince == nil {
		t := metav1.NewTime(now)
		plan.Status.DivergedSince = &t
	}
	threshold := DefaultDivergenceThreshold
	if d := plan.Spec.Verification.DivergenceThreshold; d != nil && d.Duration > 0 {
		threshold = d.Duration
	}
	since := plan.Status.DivergedSince.Time
	if elapsed := now.Sub(since); elapsed >= threshold {
		set(metav1.ConditionFalse, ReasonDivergedTooLong, fmt.Sprintf("Git and the live state have disagreed for %s (since %s, threshold %s): %s",
			elapsed.Round(time.Second), since.UTC().Format(time.RFC3339), threshold, problem))
		return 0
	}
	set(metav1.ConditionFalse, reason, problem)
	return since.Add(threshold).Sub(now) + time.Second
}

// divergence returns why Git and the live state disagree ("" when they
// agree): the observed site differs, or the active site's Applications are
// missing, not Synced at a revision with the same active site, not
// Healthy, or still running elsewhere.
func (r *DRPlanReconciler) divergence(ctx context.Context, plan *v1alpha1.DRPlan, f *gitFacts, live *planLive) (string, string) {
	switch {
	case live.ObservedSite == "":
		return live.WhyReason, live.WhyMessage
	case live.ObservedSite != f.ActiveSite:
		return ReasonSiteMismatch, fmt.Sprintf("Git (%s) says %s is active, the PlacementDecisions select %s", short(f.Revision), f.ActiveSite, live.ObservedSite)
	}
	e := expect(plan, live.Clusters, live.Apps, f.ActiveSite)
	var problems []string
	for _, name := range sortedKeysOf(e.AppClusters) {
		want := e.AppClusters[name]
		have := map[string]*argov1alpha1.Application{}
		for _, oa := range live.Apps.Apps {
			if oa.AppSet == name {
				have[live.Clusters.ClusterOfApp(oa.App)] = oa.App
			}
		}
		for _, c := range want {
			app := have[c]
			switch {
			case app == nil:
				problems = append(problems, fmt.Sprintf("ApplicationSet %s has no Application on %s yet", name, c))
			case app.Status.Sync.Status != argov1alpha1.SyncStatusSynced:
				problems = append(problems, fmt.Sprintf("Application %s is %s", app.Name, orUnknown(app.Status.Sync.Status)))
			case !app.Healthy():
				problems = append(problems, fmt.Sprintf("Application %s is %s", app.Name, orUnknown(app.Status.Health.Status)))
			default:
				if rev := app.Status.Sync.Revision; rev != "" && rev != f.Revision {
					if site, err := r.siteAt(ctx, plan, rev); err == nil && site != f.ActiveSite {
						problems = append(problems, fmt.Sprintf("Application %s is Synced at %s, where Git said %s was active", app.Name, short(rev), site))
					}
				}
			}
			delete(have, c)
		}
		for c, app := range have {
			if c == "" {
				continue
			}
			problems = append(problems, fmt.Sprintf("Application %s still runs on %s", app.Name, c))
		}
	}
	if len(problems) == 0 {
		return "", ""
	}
	sort.Strings(problems)
	return ReasonApplicationsNotReady, strings.Join(problems, "; ")
}

// siteAt returns the active site Git names at an older (or newer) revision,
// remembered per plan generation and revision.
func (r *DRPlanReconciler) siteAt(ctx context.Context, plan *v1alpha1.DRPlan, rev string) (string, error) {
	m := r.memo(plan)
	r.mu.Lock()
	site, ok := m.sites[rev]
	r.mu.Unlock()
	if ok {
		return site, nil
	}
	repo, err := repoOf(ctx, r.APIReader, plan)
	if err != nil {
		return "", err
	}
	err = r.Git.ReadCommit(ctx, repo.URL, repo.Branch, repo.Auth, rev, func(_ context.Context, tree fs.FS, _ string) error {
		s, err := overlays.Inspect(tree, []*v1alpha1.DRPlan{plan})
		site = s[plan.Name]
		return err
	})
	if err != nil {
		return "", err
	}
	r.mu.Lock()
	if len(m.sites) >= maxMemoSites {
		clear(m.sites)
	}
	m.sites[rev] = site
	r.mu.Unlock()
	return site, nil
}

// setProtected says whether the VM disks are protected: the generated hooks
// in every overlay (Git), and Argo CD's PreDelete finalizer on the active
// site's Applications (live proof that Argo CD ≥ 3.3 has armed them).
func (r *DRPlanReconciler) setProtected(plan *v1alpha1.DRPlan, f *gitFacts, live *planLive) {
	set := func(status metav1.ConditionStatus, reason, msg string) {
		setCondition(&plan.Status.Conditions, plan.Generation, v1alpha1.ConditionProtected, status, reason, msg)
	}
	switch {
	case !plan.Spec.DiskProtection.Enabled:
		set(metav1.ConditionFalse, ReasonDisabled, "spec.diskProtection.enabled is false: Argo CD may delete VM disks with their VMs when it removes the application from a site")
		return
	case f.Err != nil:
		set(metav1.ConditionUnknown, ReasonGitUnknown, "the repository cannot be read: "+f.Err.Error())
		return
	case f.ProtectErr != nil:
		set(metav1.ConditionFalse, ReasonRenderFailed, f.ProtectErr.Error())
		return
	case len(f.Unprotected) > 0:
		set(metav1.ConditionFalse, ReasonHooksMissing, fmt.Sprintf("overlays without up-to-date disk-protection hooks: %s; run `gitover protect` (or any failover adds them)", strings.Join(f.Unprotected, ", ")))
		return
	}
	e := expect(plan, live.Clusters, live.Apps, f.ActiveSite)
	var armed, unarmed []string
	for _, oa := range live.Apps.Apps {
		if _, ok := e.AppClusters[oa.AppSet]; !ok {
			continue
		}
		if hasFinalizer(oa.App, argov1alpha1.FinalizerPreDelete) {
			armed = append(armed, oa.App.Name)
		} else {
			unarmed = append(unarmed, oa.App.Name)
		}
	}
	switch {
	case len(unarmed) > 0:
		set(metav1.ConditionFalse, ReasonNotArmed, fmt.Sprintf("the hooks are in Git, but Argo CD has not armed the PreDelete hook of %s (no %s finalizer): it needs Argo CD 3.3 or later and a sync that saw the hooks",
			strings.Join(unarmed, ", "), argov1alpha1.FinalizerPreDelete))
	case len(armed) > 0:
		set(metav1.ConditionTrue, ReasonArmed, fmt.Sprintf("every overlay carries the hooks, and Argo CD armed the PreDelete hook of %s", strings.Join(armed, ", ")))
	default:
		set(metav1.ConditionTrue, ReasonInGit, "every overlay carries the hooks; no Application is deployed yet to arm them")
	}
}

// recordTransitions emits an Event for every condition whose status or
// reason changed.
func (r *DRPlanReconciler) recordTransitions(plan *v1alpha1.DRPlan, before *v1alpha1.DRPlanStatus) {
	for _, c := range plan.Status.Conditions {
		old := meta.FindStatusCondition(before.Conditions, c.Type)
		if old != nil && old.Status == c.Status && old.Reason == c.Reason {
			continue
		}
		typ := corev1.EventTypeNormal
		if c.Status != metav1.ConditionTrue {
			typ = corev1.EventTypeWarning
		}
		r.Recorder.Eventf(plan, nil, typ, c.Reason, c.Type, "%s=%s: %s", c.Type, c.Status, c.Message)
	}
}

// setCondition sets a condition, keeping its transition time when the
// status does not change.
func setCondition(conds *[]metav1.Condition, gen int64, typ string, status metav1.ConditionStatus, reason, msg string) {
	const maxMessage = 32 << 10
	if len(msg) > maxMessage {
		msg = msg[:maxMessage-3] + "..."
	}
	meta.SetStatusCondition(conds, metav1.Condition{Type: typ, Status: status, Reason: reason, Message: msg, ObservedGeneration: gen})
}

// hasFinalizer reports whether obj carries finalizer f.
func hasFinalizer(obj client.Object, f string) bool {
	for _, x := range obj.GetFinalizers() {
		if x == f {
			return true
		}
	}
	return false
}

// short is a SHA's first 12 characters.
func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

// orUnknown returns s, or "Unknown" when empty.
func orUnknown(s string) string {
	if s == "" {
		return "Unknown"
	}
	return s
}

// boolGauge is 1 for true.
func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// sortedKeysOf returns a map's keys in order.
func sortedKeysOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// sortedErrKeys returns an error map's keys in order.
func sortedErrKeys(m map[string]error) []string { return sortedKeysOf(m) }
