package controllers

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	argov1alpha1 "github.com/gitover/gitover/api/argocd/v1alpha1"
	"github.com/gitover/gitover/api/v1alpha1"
	"github.com/gitover/gitover/gitops/webhook"
	"github.com/gitover/gitover/internal/gitserver"
)

// eventually is the tests' bound for something the controllers do.
const eventually = 30 * time.Second

// getPlan reads the world's plan.
func (w *world) getPlan(ctx context.Context) *v1alpha1.DRPlan {
	w.t.Helper()
	var p v1alpha1.DRPlan
	require.NoError(w.t, testClient.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: "shop"}, &p))
	return &p
}

// waitCondition waits until the plan's condition has status and reason,
// and returns the plan.
func (w *world) waitCondition(ctx context.Context, typ string, status metav1.ConditionStatus, reason string) *v1alpha1.DRPlan {
	w.t.Helper()
	var last *metav1.Condition
	var p *v1alpha1.DRPlan
	ok := assert.Eventually(w.t, func() bool {
		p = w.getPlan(ctx)
		last = meta.FindStatusCondition(p.Status.Conditions, typ)
		return last != nil && last.Status == status && last.Reason == reason
	}, eventually, 50*time.Millisecond)
	if !ok {
		require.FailNowf(w.t, "condition not reached", "%s: want %s/%s, last %+v", typ, status, reason, last)
	}
	return p
}

func TestDRPlanReportsGitAndLiveState(t *testing.T) {
	w := newWorld(t, worldOptions{})
	ctx := background(t)
	startManager(t, t.TempDir(), managerOptions{})

	p := w.waitCondition(ctx, v1alpha1.ConditionConverged, metav1.ConditionTrue, ReasonConverged)
	assert.Equal(t, "dr1", p.Status.ActiveSite)
	assert.Equal(t, "dr1", p.Status.ObservedSite)
	assert.Equal(t, w.head(), p.Status.Revision)
	assert.Nil(t, p.Status.DivergedSince)
	ready := meta.FindStatusCondition(p.Status.Conditions, v1alpha1.ConditionReady)
	require.NotNil(t, ready)
	assert.Equal(t, metav1.ConditionTrue, ready.Status, ready.Message)
	assert.Contains(t, ready.Message, "a failover to dr2 plans cleanly")
	// The demo repository has no disk protection yet.
	p = w.waitCondition(ctx, v1alpha1.ConditionProtected, metav1.ConditionFalse, ReasonHooksMissing)
	assert.Contains(t, meta.FindStatusCondition(p.Status.Conditions, v1alpha1.ConditionProtected).Message, "app/overlays/primary")
}

func TestDRPlanProtectedNeedsHooksInGitAndArmedApplications(t *testing.T) {
	w := newWorld(t, worldOptions{protect: true})
	ctx := background(t)
	startManager(t, t.TempDir(), managerOptions{})

	// Hooks in every overlay, but Argo CD has not put its PreDelete
	// finalizer on the running Application.
	p := w.waitCondition(ctx, v1alpha1.ConditionProtected, metav1.ConditionFalse, ReasonNotArmed)
	assert.Contains(t, meta.FindStatusCondition(p.Status.Conditions, v1alpha1.ConditionProtected).Message, "shop-"+w.clusters["dr1"])

	app := w.app(ctx, "dr1")
	require.NotNil(t, app)
	app.Finalizers = append(app.Finalizers, argov1alpha1.FinalizerPreDelete)
	require.NoError(t, testClient.Update(ctx, app))
	w.waitCondition(ctx, v1alpha1.ConditionProtected, metav1.ConditionTrue, ReasonArmed)
	t.Cleanup(func() {
		if app := w.app(context.Background(), "dr1"); app != nil {
			app.Finalizers = nil
			_ = testClient.Update(context.Background(), app)
		}
	})
}

func TestDRPlanReadyReasons(t *testing.T) {
	for _, tc := range []struct {
		name   string
		break_ func(t *testing.T, w *world)
		reason string
		says   string
	}{
		{
			name: "inconsistent repository",
			break_: func(t *testing.T, w *world) {
				// The Placement says dr2 while the ApplicationSet deploys dr1's overlay.
				w.commitFile(t, "hub/single/placement.yaml", "- primary", "- secondary")
			},
			reason: ReasonInconsistent, says: "app/overlays/primary",
		},
		{
			name: "wrong credentials",
			break_: func(t *testing.T, w *world) {
				w.patchSecret(t, "password", "wrong")
			},
			reason: ReasonGitCredentials, says: "authentication",
		},
		{
			name: "repository gone",
			break_: func(t *testing.T, w *world) {
				w.patchPlan(t, func(p *v1alpha1.DRPlan) { p.Spec.Git.URL = strings.Replace(w.url, "demo.git", "nothing.git", 1) })
			},
			reason: ReasonGitUnreachable, says: "nothing.git",
		},
		{
			name: "target overlay broken",
			break_: func(t *testing.T, w *world) {
				w.commitFile(t, "app/overlays/secondary/kustomization.yaml", "- ../../base", "- ../../base\n- missing.yaml")
			},
			reason: ReasonFailoverBlocked, says: "a failover to dr2 would fail",
		},
		{
			name: "invalid plan",
			break_: func(t *testing.T, w *world) {
				w.patchPlan(t, func(p *v1alpha1.DRPlan) { p.Spec.Clusters.Sites[1].LabelValue = "invalid" })
			},
			reason: ReasonInvalidPlan, says: "equals inactiveValue",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, worldOptions{})
			ctx := background(t)
			startManager(t, t.TempDir(), managerOptions{})
			w.waitCondition(ctx, v1alpha1.ConditionReady, metav1.ConditionTrue, ReasonReady)
			tc.break_(t, w)
			p := w.waitCondition(ctx, v1alpha1.ConditionReady, metav1.ConditionFalse, tc.reason)
			assert.Contains(t, meta.FindStatusCondition(p.Status.Conditions, v1alpha1.ConditionReady).Message, tc.says)
		})
	}
}

func TestDRPlanDivergence(t *testing.T) {
	w := newWorld(t, worldOptions{divergence: 3 * time.Second})
	ctx := background(t)
	startManager(t, t.TempDir(), managerOptions{})
	w.waitCondition(ctx, v1alpha1.ConditionConverged, metav1.ConditionTrue, ReasonConverged)

	// Somebody patches the live Placement's decision behind Git's back.
	w.setDecision(ctx, "shop-placement", []string{w.clusters["dr2"]})
	p := w.waitCondition(ctx, v1alpha1.ConditionConverged, metav1.ConditionFalse, ReasonSiteMismatch)
	assert.Equal(t, "dr2", p.Status.ObservedSite)
	assert.Equal(t, "dr1", p.Status.ActiveSite)
	require.NotNil(t, p.Status.DivergedSince)
	since := p.Status.DivergedSince.Time

	// Longer than spec.verification.divergenceThreshold: a condition, not a log line.
	p = w.waitCondition(ctx, v1alpha1.ConditionConverged, metav1.ConditionFalse, ReasonDivergedTooLong)
	assert.Contains(t, meta.FindStatusCondition(p.Status.Conditions, v1alpha1.ConditionConverged).Message, "dr2")
	assert.True(t, p.Status.DivergedSince.Time.Equal(since), "DivergedSince keeps the start of the divergence")

	// Back in line: converged again, DivergedSince cleared.
	w.setDecision(ctx, "shop-placement", []string{w.clusters["dr1"]})
	p = w.waitCondition(ctx, v1alpha1.ConditionConverged, metav1.ConditionTrue, ReasonConverged)
	assert.Nil(t, p.Status.DivergedSince)

	// An Application that is not Healthy is a divergence too.
	app := w.app(ctx, "dr1")
	app.Status.Health.Status = argov1alpha1.HealthDegraded
	require.NoError(t, testClient.Update(ctx, app))
	p = w.waitCondition(ctx, v1alpha1.ConditionConverged, metav1.ConditionFalse, ReasonApplicationsNotReady)
	assert.Contains(t, meta.FindStatusCondition(p.Status.Conditions, v1alpha1.ConditionConverged).Message, "Degraded")
}

func TestDRPlanPushWebhookRefreshesAtOnce(t *testing.T) {
	w := newWorld(t, worldOptions{})
	ctx := background(t)
	m := startManager(t, t.TempDir(), managerOptions{fetchInterval: time.Hour})
	p := w.waitCondition(ctx, v1alpha1.ConditionReady, metav1.ConditionTrue, ReasonReady)
	old := p.Status.Revision

	sha := w.commitFile(t, "README.md", "gitover demo", "gitover demo (edited)")
	// Without a webhook the plan keeps the head it fetched (the next
	// fetch is an hour away), even when reconciled.
	w.patchPlan(t, func(p *v1alpha1.DRPlan) { p.Annotations = map[string]string{"poke": "1"} })
	assert.Never(t, func() bool { return w.getPlan(ctx).Status.Revision != old }, time.Second, 100*time.Millisecond)

	require.NoError(t, m.ctrls.Notifier.Handle(ctx, webhook.Event{
		Provider: webhook.ProviderGitHub, Kind: webhook.KindPush, Branch: "main", After: sha,
		Repository: webhook.Repository{FullName: "someone/demo", CloneURL: w.url},
	}))
	require.Eventually(t, func() bool { return w.getPlan(ctx).Status.Revision == sha }, eventually, 50*time.Millisecond)
}

// commitFile replaces old with new in a file on main, as another engineer
// would, and returns the new head.
func (w *world) commitFile(t *testing.T, file, old, new string) string {
	t.Helper()
	ctx := context.Background()
	out, err := gitShow(w.bare, "main:"+file)
	require.NoError(t, err)
	require.Contains(t, out, old)
	sha, err := gitserver.CommitFiles(ctx, w.bare, "main", map[string][]byte{file: []byte(strings.Replace(out, old, new, 1))}, "edit "+file)
	require.NoError(t, err)
	return sha
}

// patchPlan changes the plan's spec (or metadata).
func (w *world) patchPlan(t *testing.T, f func(p *v1alpha1.DRPlan)) {
	t.Helper()
	p := w.getPlan(context.Background())
	f(p)
	require.NoError(t, testClient.Update(context.Background(), p))
}

// patchSecret sets one key of the plan's Secret.
func (w *world) patchSecret(t *testing.T, key, value string) {
	t.Helper()
	patch := client.RawPatch("application/merge-patch+json", []byte(`{"stringData":{"`+key+`":"`+value+`"}}`))
	var s = newSecretRef(w.ns, "gitops")
	require.NoError(t, testClient.Patch(context.Background(), s, patch))
}
