package controllers

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gitover/gitover/api/v1alpha1"
	"github.com/gitover/gitover/gitops/commitmsg"
	"github.com/gitover/gitover/gitops/forge/forgesim"
	"github.com/gitover/gitover/gitops/webhook"
)

// request creates a Failover of the world's plan.
func (w *world) request(ctx context.Context, name string, action v1alpha1.Action, target string, mode v1alpha1.GitMode) *v1alpha1.Failover {
	w.t.Helper()
	fo := &v1alpha1.Failover{
		ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: name},
		Spec:       v1alpha1.FailoverSpec{PlanRef: v1alpha1.LocalObjectReference{Name: "shop"}, Action: action, TargetSite: target, Mode: mode},
	}
	require.NoError(w.t, testClient.Create(ctx, fo))
	return fo
}

// failover reads a Failover.
func (w *world) failover(ctx context.Context, name string) *v1alpha1.Failover {
	w.t.Helper()
	var fo v1alpha1.Failover
	require.NoError(w.t, testClient.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: name}, &fo))
	return &fo
}

// waitPhase waits for a Failover to reach a phase and returns it.
func (w *world) waitPhase(ctx context.Context, name string, phase v1alpha1.FailoverPhase) *v1alpha1.Failover {
	w.t.Helper()
	var fo *v1alpha1.Failover
	ok := assert.Eventually(w.t, func() bool {
		fo = w.failover(ctx, name)
		return fo.Status.Phase == phase || (terminal(fo.Status.Phase) && fo.Status.Phase != phase)
	}, eventually, 20*time.Millisecond)
	if !ok || fo.Status.Phase != phase {
		require.FailNowf(w.t, "phase not reached", "Failover %s: want %s, have %s; steps %s", name, phase, fo.Status.Phase, describeSteps(fo))
	}
	return fo
}

// describeSteps renders the steps for failure messages.
func describeSteps(fo *v1alpha1.Failover) string {
	var parts []string
	for _, s := range fo.Status.Steps {
		parts = append(parts, fmt.Sprintf("%s=%s (%s)", s.Name, s.State, s.Message))
	}
	return strings.Join(parts, "; ")
}

// stepNames lists the steps' names and states.
func stepNames(fo *v1alpha1.Failover) []string {
	var out []string
	for _, s := range fo.Status.Steps {
		out = append(out, string(s.Name)+"/"+string(s.State))
	}
	return out
}

// opCommits counts the commits on main carrying the Failover's trailer.
func (w *world) opCommits(fo *v1alpha1.Failover) int {
	return w.commits(commitmsg.TrailerOperation + ": " + fo.Namespace + "/" + fo.Name + "/" + string(fo.UID))
}

// counter reads a counter's value from a manager's registry.
func (m *manager) counter(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	fams, err := m.reg.Gather()
	require.NoError(t, err)
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, mt := range f.GetMetric() {
			if matchLabels(mt, labels) {
				if c := mt.GetCounter(); c != nil {
					return c.GetValue()
				}
				if h := mt.GetHistogram(); h != nil {
					return float64(h.GetSampleCount())
				}
				return mt.GetGauge().GetValue()
			}
		}
	}
	return 0
}

// matchLabels reports whether a metric carries the labels.
func matchLabels(m *dto.Metric, labels map[string]string) bool {
	n := 0
	for _, l := range m.GetLabel() {
		if v, ok := labels[l.GetName()]; ok && v == l.GetValue() {
			n++
		}
	}
	return n == len(labels)
}

// eventReasons lists the reasons of the Events about an object.
func eventReasons(ctx context.Context, t *testing.T, ns, name string) []string {
	t.Helper()
	var list eventsv1.EventList
	require.NoError(t, testClient.List(ctx, &list, client.InNamespace(ns)))
	var out []string
	for _, e := range list.Items {
		if e.Regarding.Name == name {
			out = append(out, e.Reason)
		}
	}
	return out
}

func TestFailoverDirect(t *testing.T) {
	w := newWorld(t, worldOptions{protect: true})
	ctx := background(t)
	m := startManager(t, t.TempDir(), managerOptions{})
	w.waitCondition(ctx, v1alpha1.ConditionReady, metav1.ConditionTrue, ReasonReady)
	base := w.head()
	hubBefore, appsetBefore := w.did("hub"), w.did("appset")

	w.request(ctx, "to-dr2", v1alpha1.ActionFailover, "dr2", "")
	fo := w.waitPhase(ctx, "to-dr2", v1alpha1.PhaseSucceeded)

	assert.Equal(t, []string{"Checking/Succeeded", "Committing/Succeeded", "Converging/Succeeded", "Verifying/Succeeded"}, stepNames(fo))
	for _, s := range fo.Status.Steps {
		require.NotNil(t, s.FinishedAt, s.Name)
		assert.False(t, s.FinishedAt.Before(&s.StartedAt), s.Name)
	}
	assert.Equal(t, "dr1", fo.Status.SourceSite)
	assert.Equal(t, base, fo.Status.BaseRevision)
	assert.Equal(t, w.head(), fo.Status.Commit, "the failover's commit is the head")
	assert.Equal(t, 1, w.opCommits(fo), "exactly one commit carries the operation's trailer")
	placement, err := gitShow(w.bare, "main:hub/single/placement.yaml")
	require.NoError(t, err)
	assert.Contains(t, placement, "- secondary")

	tl := fo.Status.Timeline
	for name, at := range map[string]*metav1.MicroTime{"requested": tl.Requested, "committed": tl.Committed,
		"placementDecided": tl.PlacementDecided, "synced": tl.Synced, "healthy": tl.Healthy, "verified": tl.Verified} {
		assert.NotNil(t, at, name)
	}
	assert.Nil(t, tl.SourceLost)
	require.NotNil(t, fo.Status.RTO)
	assert.Equal(t, time.Duration(0), fo.Status.RTO.Detect.Duration)
	assert.Equal(t, fo.Status.RTO.Switch.Duration+fo.Status.RTO.AppDeploy.Duration, fo.Status.RTO.Total.Duration)
	assert.False(t, meta.IsStatusConditionTrue(fo.Status.Conditions, v1alpha1.ConditionSourceCleanupPending))

	// Argo CD (the stand-in) acts only when nudged: gitover nudged the hub
	// Application and the ApplicationSet.
	assert.Greater(t, w.did("nudge"), 0)
	assert.Greater(t, w.did("hub"), hubBefore, "hub Application refreshed")
	assert.Greater(t, w.did("appset"), appsetBefore, "ApplicationSet refreshed")
	assert.NotNil(t, w.app(ctx, "dr2"))
	assert.Nil(t, w.app(ctx, "dr1"), "the source Application is gone")

	// Observability.
	assert.Equal(t, 1.0, m.counter(t, "gitover_failovers_total", map[string]string{"action": "Failover", "result": "Succeeded"}))
	for _, ph := range []string{"Checking", "Committing", "Converging", "Verifying"} {
		assert.Equal(t, 1.0, m.counter(t, "gitover_failover_phase_duration_seconds", map[string]string{"phase": ph}), ph)
	}
	assert.Equal(t, 0.0, m.counter(t, "gitover_failovers_in_flight", nil))
	assert.Eventually(t, func() bool {
		r := eventReasons(ctx, t, w.ns, "to-dr2")
		return contains(r, "Requested") && contains(r, "Committed") && contains(r, "PlacementDecided") && contains(r, "Verified")
	}, eventually, 100*time.Millisecond)

	// The plan follows.
	p := w.waitCondition(ctx, v1alpha1.ConditionConverged, metav1.ConditionTrue, ReasonConverged)
	assert.Equal(t, "dr2", p.Status.ActiveSite)
	assert.Equal(t, "dr2", p.Status.ObservedSite)
}

func TestFailoverWithoutNudgesWaitsForArgoCD(t *testing.T) {
	// Nudges are an acceleration, not a dependency: with them disabled the
	// Failover still succeeds once Argo CD (the stand-in, polling on its
	// own here) gets there — and Argo CD saw no nudge at all.
	w := newWorld(t, worldOptions{})
	ctx := background(t)
	startManager(t, t.TempDir(), managerOptions{noNudges: true})
	w.setPoll(300 * time.Millisecond)
	w.request(ctx, "to-dr2", v1alpha1.ActionFailover, "dr2", "")
	w.waitPhase(ctx, "to-dr2", v1alpha1.PhaseSucceeded)
	assert.Equal(t, 0, w.did("nudge"))
}

func TestFailoverAdoptsTheCommitOfAnInterruptedRun(t *testing.T) {
	w := newWorld(t, worldOptions{})
	ctx := background(t)
	// A first controller ran Checking and pushed the commit, then died
	// before recording it: status says Committing, Running.
	fo := w.request(ctx, "to-dr2", v1alpha1.ActionFailover, "dr2", "")
	base := w.head()
	m1 := startManager(t, t.TempDir(), managerOptions{})
	w.waitPhase(ctx, "to-dr2", v1alpha1.PhaseSucceeded)
	m1.stop()
	fo = w.failover(ctx, "to-dr2")
	commit := fo.Status.Commit
	require.Equal(t, 1, w.opCommits(fo))
	now := metav1.NowMicro()
	requested := metav1.NewMicroTime(fo.CreationTimestamp.Time)
	fo.Status = v1alpha1.FailoverStatus{Phase: v1alpha1.PhaseCommitting, SourceSite: "dr1", BaseRevision: base,
		Timeline: v1alpha1.Timeline{Requested: &requested},
		Steps: []v1alpha1.StepStatus{
			{Name: v1alpha1.PhaseChecking, State: v1alpha1.StepSucceeded, StartedAt: now, FinishedAt: &now},
			{Name: v1alpha1.PhaseCommitting, State: v1alpha1.StepRunning, StartedAt: now},
		}}
	require.NoError(t, testClient.Status().Update(ctx, fo))

	startManager(t, t.TempDir(), managerOptions{}) // a fresh Git cache, as after a reschedule
	fo = w.waitPhase(ctx, "to-dr2", v1alpha1.PhaseSucceeded)
	assert.Equal(t, commit, fo.Status.Commit)
	assert.Equal(t, 1, w.opCommits(fo), "no second commit")
	assert.Contains(t, fo.Status.Steps[1].Message, "found this operation's commit")
	assert.Equal(t, []string{"Checking/Succeeded", "Committing/Succeeded", "Converging/Succeeded", "Verifying/Succeeded"}, stepNames(fo))
}

func TestFailoverResumesAfterRestartInConverging(t *testing.T) {
	w := newWorld(t, worldOptions{})
	ctx := background(t)
	w.mu.Lock()
	w.stopped = true // Argo CD is slow today: nothing converges yet
	w.mu.Unlock()
	m1 := startManager(t, t.TempDir(), managerOptions{})
	w.request(ctx, "to-dr2", v1alpha1.ActionFailover, "dr2", "")
	fo := w.waitPhase(ctx, "to-dr2", v1alpha1.PhaseConverging)
	m1.stop() // the controller dies while converging

	// Argo CD comes back; a new controller picks the Failover up.
	w.mu.Lock()
	w.stopped = false
	w.mu.Unlock()
	go w.run(ctx)
	startManager(t, t.TempDir(), managerOptions{})
	fo = w.waitPhase(ctx, "to-dr2", v1alpha1.PhaseSucceeded)
	assert.Equal(t, 1, w.opCommits(fo), "no second commit")
	assert.Equal(t, []string{"Checking/Succeeded", "Committing/Succeeded", "Converging/Succeeded", "Verifying/Succeeded"}, stepNames(fo),
		"the Converging step resumed, not restarted")
}

func TestConcurrentFailoversOfOnePlan(t *testing.T) {
	w := newWorld(t, worldOptions{})
	ctx := background(t)
	w.request(ctx, "first", v1alpha1.ActionFailover, "dr2", "")
	w.request(ctx, "second", v1alpha1.ActionFailover, "dr2", "")
	startManager(t, t.TempDir(), managerOptions{})

	first := w.waitPhase(ctx, "first", v1alpha1.PhaseSucceeded)
	second := w.waitPhase(ctx, "second", v1alpha1.PhaseFailed)
	assert.Contains(t, second.Status.Steps[len(second.Status.Steps)-1].Message, "Failover first of DRPlan shop")
	assert.Equal(t, 1, w.opCommits(first))
	assert.Equal(t, 0, w.opCommits(second))
}

func TestFailoverOfALostSiteThenCleanup(t *testing.T) {
	w := newWorld(t, worldOptions{})
	ctx := background(t)
	startManager(t, t.TempDir(), managerOptions{})
	w.waitCondition(ctx, v1alpha1.ConditionConverged, metav1.ConditionTrue, ReasonConverged)

	w.setAvailable(ctx, "dr1", false) // disaster
	lostFor := time.Since(w.lostSince(ctx, "dr1")).Truncate(time.Second)
	w.request(ctx, "to-dr2", v1alpha1.ActionFailover, "dr2", "")
	fo := w.waitPhase(ctx, "to-dr2", v1alpha1.PhaseSucceeded)
	cond := meta.FindStatusCondition(fo.Status.Conditions, v1alpha1.ConditionSourceCleanupPending)
	require.NotNil(t, cond)
	assert.Equal(t, metav1.ConditionTrue, cond.Status)
	assert.Contains(t, cond.Message, "shop-"+w.clusters["dr1"])
	require.NotNil(t, fo.Status.Timeline.SourceLost, "detect starts when the site was lost")
	assert.GreaterOrEqual(t, fo.Status.RTO.Detect.Duration, lostFor, "detect runs from the loss to the request")
	assert.NotNil(t, w.app(ctx, "dr1"), "Argo CD cannot remove the Application from a lost site")

	w.setAvailable(ctx, "dr1", true) // the site returns
	require.Eventually(t, func() bool {
		c := meta.FindStatusCondition(w.failover(ctx, "to-dr2").Status.Conditions, v1alpha1.ConditionSourceCleanupPending)
		return c != nil && c.Status == metav1.ConditionFalse && c.Reason == ReasonCleanedUp
	}, eventually, 50*time.Millisecond)
	assert.Nil(t, w.app(ctx, "dr1"))
	assert.Equal(t, v1alpha1.PhaseSucceeded, w.failover(ctx, "to-dr2").Status.Phase, "a lost site never fails a failover")
}

func TestFailoverChecks(t *testing.T) {
	for _, tc := range []struct {
		name    string
		prepare func(ctx context.Context, w *world)
		action  v1alpha1.Action
		target  string
		says    string
	}{
		{name: "target unavailable", target: "dr2", action: v1alpha1.ActionFailover,
			prepare: func(ctx context.Context, w *world) { w.setAvailable(ctx, "dr2", false) },
			says:    "the target site dr2 is not available"},
		{name: "relocate needs the source", target: "dr2", action: v1alpha1.ActionRelocate,
			prepare: func(ctx context.Context, w *world) { w.setAvailable(ctx, "dr1", false) },
			says:    "a relocation needs the source site dr1 up"},
		{name: "already active", target: "dr1", action: v1alpha1.ActionFailover,
			says: "dr1 is already the active site"},
		{name: "unknown site", target: "dr9", action: v1alpha1.ActionFailover,
			says: `has no site "dr9"`},
		{name: "pull request without a forge", target: "dr2", action: v1alpha1.ActionFailover,
			prepare: func(ctx context.Context, w *world) {
				w.patchPlan(w.t, func(p *v1alpha1.DRPlan) { p.Spec.Git.Mode = v1alpha1.ModePullRequest })
			},
			says: "PullRequest mode needs spec.git.provider"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, worldOptions{})
			ctx := background(t)
			if tc.prepare != nil {
				tc.prepare(ctx, w)
			}
			m := startManager(t, t.TempDir(), managerOptions{})
			w.request(ctx, "fo", tc.action, tc.target, "")
			fo := w.waitPhase(ctx, "fo", v1alpha1.PhaseFailed)
			assert.Equal(t, []string{"Checking/Failed"}, stepNames(fo))
			assert.Contains(t, fo.Status.Steps[0].Message, tc.says)
			assert.Equal(t, 0, w.opCommits(fo))
			assert.Equal(t, 1.0, m.counter(t, "gitover_failovers_total", map[string]string{"result": "Failed"}))
		})
	}
}

func TestFailoverVerificationTimeout(t *testing.T) {
	w := newWorld(t, worldOptions{verifyFor: 2 * time.Second})
	ctx := background(t)
	w.mu.Lock()
	w.stopped = true // Argo CD never converges
	w.mu.Unlock()
	startManager(t, t.TempDir(), managerOptions{})
	w.request(ctx, "to-dr2", v1alpha1.ActionFailover, "dr2", "")
	fo := w.waitPhase(ctx, "to-dr2", v1alpha1.PhaseFailed)
	last := fo.Status.Steps[len(fo.Status.Steps)-1]
	assert.Equal(t, v1alpha1.PhaseConverging, last.Name)
	assert.Contains(t, last.Message, "still missing: shop-placement selects")
}

func TestFailoverPullRequest(t *testing.T) {
	w := newWorld(t, worldOptions{github: true, mode: v1alpha1.ModePullRequest})
	ctx := background(t)
	m := startManager(t, t.TempDir(), managerOptions{})
	base := w.head()
	w.request(ctx, "to-dr2", v1alpha1.ActionFailover, "dr2", "")
	fo := w.waitPhase(ctx, "to-dr2", v1alpha1.PhaseAwaitingMerge)

	pr := fo.Status.PullRequest
	require.NotNil(t, pr)
	assert.Equal(t, "open", pr.State)
	assert.Equal(t, "gitover/shop/failover-dr2-"+base[:12], pr.Branch)
	pulls := w.github.Pulls()
	require.Len(t, pulls, 1)
	assert.Equal(t, "gitover: failover shop to dr2", pulls[0].Title)
	assert.Contains(t, pulls[0].Body, "Failover "+w.ns+"/to-dr2")
	assert.Equal(t, base, w.head(), "nothing is pushed to main in PullRequest mode")

	// A person merges; GitHub sends the webhook.
	merge := w.merge(t, pulls[0])
	require.NoError(t, m.ctrls.Notifier.Handle(ctx, webhook.Event{Provider: webhook.ProviderGitHub, Kind: webhook.KindMerged,
		Number: int64(pr.Number), HeadBranch: pr.Branch, BaseBranch: "main", MergeCommitSHA: merge,
		Repository: webhook.Repository{FullName: "acme/gitops"}}))
	fo = w.waitPhase(ctx, "to-dr2", v1alpha1.PhaseSucceeded)
	assert.Equal(t, merge, fo.Status.Commit)
	assert.Equal(t, "merged", fo.Status.PullRequest.State)
	assert.Equal(t, merge, fo.Status.PullRequest.MergeCommit)
	assert.NotNil(t, fo.Status.Timeline.ProposalOpened)
	assert.NotNil(t, fo.Status.Timeline.Merged)
	assert.Equal(t, []string{"Checking/Succeeded", "Proposing/Succeeded", "AwaitingMerge/Succeeded", "Converging/Succeeded", "Verifying/Succeeded"}, stepNames(fo))
	assert.Len(t, w.github.Pulls(), 1)
}

func TestFailoverPullRequestSurvivesRestarts(t *testing.T) {
	w := newWorld(t, worldOptions{github: true, mode: v1alpha1.ModePullRequest})
	ctx := background(t)
	m1 := startManager(t, t.TempDir(), managerOptions{})
	w.request(ctx, "to-dr2", v1alpha1.ActionFailover, "dr2", "")
	fo := w.waitPhase(ctx, "to-dr2", v1alpha1.PhaseAwaitingMerge)
	m1.stop()

	// The status write after Ensure was lost: the next controller starts
	// Proposing again and must adopt the open request.
	fo.Status.Phase = v1alpha1.PhaseProposing
	fo.Status.PullRequest = nil
	fo.Status.Steps = fo.Status.Steps[:2]
	fo.Status.Steps[1].State, fo.Status.Steps[1].FinishedAt = v1alpha1.StepRunning, nil
	require.NoError(t, testClient.Status().Update(ctx, fo))
	m2 := startManager(t, t.TempDir(), managerOptions{})
	fo = w.waitPhase(ctx, "to-dr2", v1alpha1.PhaseAwaitingMerge)
	assert.Contains(t, fo.Status.Steps[1].Message, "adopted")
	require.Len(t, w.github.Pulls(), 1, "no second pull request")
	m2.stop()

	// Merged while no controller ran: the next one polls once at start.
	merge := w.merge(t, w.github.Pulls()[0])
	startManager(t, t.TempDir(), managerOptions{})
	fo = w.waitPhase(ctx, "to-dr2", v1alpha1.PhaseSucceeded)
	assert.Equal(t, merge, fo.Status.Commit)
	assert.Len(t, w.github.Pulls(), 1)
	assert.Equal(t, 1, w.opCommits(fo), "one commit carries the operation: the proposal's, merged into main")
}

func TestFailoverPullRequestClosedUnmerged(t *testing.T) {
	w := newWorld(t, worldOptions{github: true, mode: v1alpha1.ModePullRequest})
	ctx := background(t)
	m := startManager(t, t.TempDir(), managerOptions{})
	base := w.head()
	w.request(ctx, "to-dr2", v1alpha1.ActionFailover, "dr2", "")
	fo := w.waitPhase(ctx, "to-dr2", v1alpha1.PhaseAwaitingMerge)
	require.NoError(t, w.github.ClosePull(fo.Status.PullRequest.Number))
	require.NoError(t, m.ctrls.Notifier.Handle(ctx, webhook.Event{Provider: webhook.ProviderGitHub, Kind: webhook.KindClosed,
		Number: int64(fo.Status.PullRequest.Number), HeadBranch: fo.Status.PullRequest.Branch, BaseBranch: "main",
		Repository: webhook.Repository{FullName: "acme/gitops"}}))
	fo = w.waitPhase(ctx, "to-dr2", v1alpha1.PhaseFailed)
	assert.Contains(t, fo.Status.Steps[len(fo.Status.Steps)-1].Message, "closed without being merged")
	assert.Equal(t, "closed", fo.Status.PullRequest.State)
	assert.Equal(t, base, w.head())
}

func TestFailoverPullRequestRespectsRateLimits(t *testing.T) {
	w := newWorld(t, worldOptions{github: true, mode: v1alpha1.ModePullRequest})
	ctx := background(t)
	startManager(t, t.TempDir(), managerOptions{prPoll: 100 * time.Millisecond})
	w.request(ctx, "to-dr2", v1alpha1.ActionFailover, "dr2", "")
	fo := w.waitPhase(ctx, "to-dr2", v1alpha1.PhaseAwaitingMerge)
	number := fo.Status.PullRequest.Number

	// GitHub's primary limit runs out for a few seconds.
	reset := time.Now().Add(3 * time.Second).Truncate(time.Second).Add(time.Second)
	w.github.ClearRequests()
	w.github.Inject(forgesim.Fault{Method: "GET", PathSuffix: fmt.Sprintf("/pulls/%d", number), Status: 403,
		Header: forgesim.GitHubPrimaryRateLimit(403, reset).Header, Body: forgesim.GitHubPrimaryRateLimit(403, reset).Body})
	var limitedAt time.Time
	require.Eventually(t, func() bool {
		for _, r := range w.github.Requests() {
			if r.Status == 403 {
				limitedAt = r.Time
				return true
			}
		}
		return false
	}, eventually, 20*time.Millisecond)
	merge := w.merge(t, w.github.Pulls()[0])
	fo = w.waitPhase(ctx, "to-dr2", v1alpha1.PhaseSucceeded)
	assert.Equal(t, merge, fo.Status.Commit)
	for _, r := range w.github.Requests() {
		if r.Time.After(limitedAt) && r.Status != 403 {
			assert.False(t, r.Time.Before(reset.Add(-time.Second)), "request %s at %s, before the rate limit reset at %s", r, r.Time, reset)
		}
	}
}

// merge merges a pull request as a person on GitHub would: a merge commit
// of the proposal branch lands on main, and the simulation records it.
func (w *world) merge(t *testing.T, pr forgesim.GitHubPull) string {
	t.Helper()
	git := func(args ...string) string {
		out, err := exec.Command("git", append([]string{"--git-dir", w.bare}, args...)...).CombinedOutput()
		require.NoError(t, err, "git %v: %s", args, out)
		return strings.TrimSpace(string(out))
	}
	main, head := git("rev-parse", "refs/heads/main"), git("rev-parse", "refs/heads/"+pr.Head)
	tree := git("rev-parse", head+"^{tree}")
	merge := git("-c", "user.name=Reviewer", "-c", "user.email=reviewer@example.com",
		"commit-tree", tree, "-p", main, "-p", head, "-m", fmt.Sprintf("Merge pull request #%d from acme/%s", pr.Number, pr.Head))
	git("update-ref", "refs/heads/main", merge, main)
	require.NoError(t, w.github.Merge(pr.Number, merge))
	return merge
}

// contains reports whether list holds s.
func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
