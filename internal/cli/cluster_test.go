package cli

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/gitover/gitover/api/v1alpha1"
	"github.com/gitover/gitover/controllers"
)

// The cluster commands are tested against controller-runtime's fake
// client (the reconcilers' own tests run against a real apiserver); a
// goroutine plays the controller where a test needs the Failover to move.

// fakeHub replaces the hub client for one test.
func fakeHub(t *testing.T, objs ...client.Object) client.Client {
	t.Helper()
	c := fake.NewClientBuilder().WithScheme(controllers.NewScheme()).
		WithStatusSubresource(&v1alpha1.Failover{}, &v1alpha1.DRPlan{}).WithObjects(objs...).Build()
	old, oldPoll := newClusterClient, pollInterval
	newClusterClient = func(o clusterOptions) (client.Client, string, error) {
		ns := o.namespace
		if ns == "" {
			ns = "default"
		}
		return c, ns, nil
	}
	pollInterval = 10 * time.Millisecond
	t.Cleanup(func() { newClusterClient, pollInterval = old, oldPoll })
	return c
}

// shopPlan is a DRPlan with two sites.
func shopPlan() *v1alpha1.DRPlan {
	return &v1alpha1.DRPlan{
		ObjectMeta: metav1.ObjectMeta{Namespace: "argocd", Name: "shop"},
		Spec: v1alpha1.DRPlanSpec{Clusters: v1alpha1.ClustersSpec{LabelKey: "cluster-role", InactiveValue: "invalid",
			Sites: []v1alpha1.Site{{Name: "dr1", LabelValue: "primary"}, {Name: "dr2", LabelValue: "secondary"}}}},
		Status: v1alpha1.DRPlanStatus{ActiveSite: "dr1", ObservedSite: "dr1", Revision: strings.Repeat("a", 40),
			Conditions: []metav1.Condition{{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Ready", Message: "repository consistent"}}},
	}
}

// runCLI runs the gitover command line with args.
func runCLI(ctx context.Context, args ...string) (string, error) {
	var out, errw bytes.Buffer
	root := NewRoot(Streams{Out: &out, Err: &errw})
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	return out.String() + errw.String(), err
}

// playController moves the only Failover in argocd through the given
// steps, ending in phase.
func playController(ctx context.Context, c client.Client, phase v1alpha1.FailoverPhase, failMsg string) {
	go func() {
		var fo *v1alpha1.Failover
		for fo == nil && ctx.Err() == nil {
			var list v1alpha1.FailoverList
			if c.List(ctx, &list, client.InNamespace("argocd")) == nil && len(list.Items) == 1 {
				fo = &list.Items[0]
			}
			time.Sleep(5 * time.Millisecond)
		}
		if fo == nil {
			return
		}
		t0 := time.Now()
		at := func(d time.Duration) metav1.MicroTime { return metav1.NewMicroTime(t0.Add(d)) }
		step := func(name v1alpha1.FailoverPhase, state v1alpha1.StepState, msg string, from, to time.Duration) {
			fin := at(to)
			s := v1alpha1.StepStatus{Name: name, State: state, Message: msg, StartedAt: at(from), FinishedAt: &fin}
			fo.Status.Steps = append(fo.Status.Steps, s)
			fo.Status.Phase = name
			_ = c.Status().Update(ctx, fo)
			time.Sleep(30 * time.Millisecond)
		}
		req := at(0)
		fo.Status.Timeline.Requested = &req
		step(v1alpha1.PhaseChecking, v1alpha1.StepSucceeded, "dr1 active; target dr2 available", 0, 300*time.Millisecond)
		if phase == v1alpha1.PhaseFailed {
			step(v1alpha1.PhaseCommitting, v1alpha1.StepFailed, failMsg, 300*time.Millisecond, 900*time.Millisecond)
			fo.Status.Phase = v1alpha1.PhaseFailed
			_ = c.Status().Update(ctx, fo)
			return
		}
		step(v1alpha1.PhaseCommitting, v1alpha1.StepSucceeded, "committed 0123456789ab on main", 300*time.Millisecond, 900*time.Millisecond)
		step(v1alpha1.PhaseConverging, v1alpha1.StepSucceeded, "placement decided", 900*time.Millisecond, 1600*time.Millisecond)
		step(v1alpha1.PhaseVerifying, v1alpha1.StepSucceeded, "Applications Synced and Healthy on dr2", 1600*time.Millisecond, 2400*time.Millisecond)
		committed, healthy := at(900*time.Millisecond), at(2300*time.Millisecond)
		fo.Status.Timeline.Committed, fo.Status.Timeline.Healthy = &committed, &healthy
		fo.Status.RTO = &v1alpha1.RTOBreakdown{Detect: &metav1.Duration{}, Switch: &metav1.Duration{Duration: 900 * time.Millisecond},
			AppDeploy: &metav1.Duration{Duration: 1400 * time.Millisecond}, Total: &metav1.Duration{Duration: 2300 * time.Millisecond}}
		fo.Status.Phase = v1alpha1.PhaseSucceeded
		_ = c.Status().Update(ctx, fo)
	}()
}

func TestRequestCreatesAFailover(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
		check   func(t *testing.T, fo *v1alpha1.Failover)
	}{
		{name: "failover", args: []string{"request", "failover", "--drplan", "shop", "--to", "dr2", "-n", "argocd"},
			check: func(t *testing.T, fo *v1alpha1.Failover) {
				assert.Equal(t, v1alpha1.ActionFailover, fo.Spec.Action)
				assert.Equal(t, "dr2", fo.Spec.TargetSite)
				assert.Equal(t, "shop", fo.Spec.PlanRef.Name)
				assert.Empty(t, fo.Spec.Mode, "the plan's mode applies")
			}},
		{name: "relocate with mode and name", args: []string{"request", "relocate", "--drplan", "shop", "--to", "dr1", "-n", "argocd", "--mode", "PullRequest", "--name", "back"},
			check: func(t *testing.T, fo *v1alpha1.Failover) {
				assert.Equal(t, "back", fo.Name)
				assert.Equal(t, v1alpha1.ActionRelocate, fo.Spec.Action)
				assert.Equal(t, v1alpha1.ModePullRequest, fo.Spec.Mode)
			}},
		{name: "unknown site", args: []string{"request", "failover", "--drplan", "shop", "--to", "dr9", "-n", "argocd"}, wantErr: `no site "dr9"`},
		{name: "unknown plan", args: []string{"request", "failover", "--drplan", "nope", "--to", "dr2", "-n", "argocd"}, wantErr: "reading DRPlan argocd/nope"},
		{name: "bad mode", args: []string{"request", "failover", "--drplan", "shop", "--to", "dr2", "-n", "argocd", "--mode", "Later"}, wantErr: "want Direct or PullRequest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := fakeHub(t, shopPlan())
			out, err := runCLI(context.Background(), tc.args...)
			var list v1alpha1.FailoverList
			require.NoError(t, c.List(context.Background(), &list))
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				assert.Empty(t, list.Items, "nothing created")
				return
			}
			require.NoError(t, err, out)
			require.Len(t, list.Items, 1)
			assert.Contains(t, out, "failover.gitover.io/"+list.Items[0].Name+" created")
			tc.check(t, &list.Items[0])
		})
	}
}

func TestRequestWaitShowsStepsAndFailsOnFailure(t *testing.T) {
	t.Run("succeeded", func(t *testing.T) {
		ctx := context.Background()
		c := fakeHub(t, shopPlan())
		playController(ctx, c, v1alpha1.PhaseSucceeded, "")
		out, err := runCLI(ctx, "request", "failover", "--drplan", "shop", "--to", "dr2", "-n", "argocd", "--wait")
		require.NoError(t, err, out)
		for _, want := range []string{"Checking", "Committing", "Converging", "Verifying", "committed 0123456789ab", "+   2.4s",
			"RTO:        2.3s (detect 0s + switch 900ms + appDeploy 1.4s)", ": Succeeded"} {
			assert.Contains(t, out, want)
		}
	})
	t.Run("failed", func(t *testing.T) {
		ctx := context.Background()
		c := fakeHub(t, shopPlan())
		playController(ctx, c, v1alpha1.PhaseFailed, "committing to main: render failed")
		out, err := runCLI(ctx, "request", "failover", "--drplan", "shop", "--to", "dr2", "-n", "argocd", "--wait")
		require.Error(t, err)
		var ee *exitError
		require.True(t, errors.As(err, &ee))
		assert.Equal(t, 1, ee.code)
		assert.Contains(t, err.Error(), "render failed")
		assert.Contains(t, out, "Committing    Failed")
	})
}

func TestGetShowsPlanAndLatestFailover(t *testing.T) {
	older := &v1alpha1.Failover{ObjectMeta: metav1.ObjectMeta{Namespace: "argocd", Name: "a-old", CreationTimestamp: metav1.NewTime(time.Now().Add(-time.Hour))},
		Spec: v1alpha1.FailoverSpec{PlanRef: v1alpha1.LocalObjectReference{Name: "shop"}, TargetSite: "dr2"}}
	newer := &v1alpha1.Failover{ObjectMeta: metav1.ObjectMeta{Namespace: "argocd", Name: "b-new", CreationTimestamp: metav1.NewTime(time.Now())},
		Spec: v1alpha1.FailoverSpec{PlanRef: v1alpha1.LocalObjectReference{Name: "shop"}, TargetSite: "dr1", Action: v1alpha1.ActionRelocate},
		Status: v1alpha1.FailoverStatus{Phase: v1alpha1.PhaseSucceeded, SourceSite: "dr2",
			Conditions: []metav1.Condition{{Type: v1alpha1.ConditionSourceCleanupPending, Status: metav1.ConditionTrue, Reason: "SourceLost", Message: "dr2 is not available"}}}}
	fakeHub(t, shopPlan(), older, newer)
	out, err := runCLI(context.Background(), "get", "--drplan", "shop", "-n", "argocd")
	require.NoError(t, err)
	for _, want := range []string{"DRPlan argocd/shop", "Git site:   dr1 (main at aaaaaaaaaaaa)", "Live site:  dr1",
		"Ready", "repository consistent", "Failover argocd/b-new: Relocate of shop dr2 → dr1", "SourceCleanupPending"} {
		assert.Contains(t, out, want)
	}
	assert.NotContains(t, out, "a-old")

	_, err = runCLI(context.Background(), "get", "-n", "argocd")
	assert.ErrorContains(t, err, "exactly one of --drplan and --failover")
}
