//go:build e2e

package e2e

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitover/gitover/api/v1alpha1"
	"github.com/gitover/gitover/gitops/forge"
	"github.com/gitover/gitover/internal/lab"
)

// convergeTimeout bounds a nudged failover in the lab (about 2-6 s on an
// idle machine; the bound is for a loaded one).
const convergeTimeout = 3 * time.Minute

// TestControllerFailover starts one lab (mini fixture) and `gitover
// controller`, then drives Failover objects through it, in order: dr1 → dr2
// with dr1 alive (Direct), relocate back, the same in PullRequest mode with
// the merge delivered by a signed webhook, the controller killed during
// AwaitingMerge and during Converging (exactly one commit and one pull
// request each), and a failover off a lost dr1 whose cleanup condition
// clears once dr1 is restored, then the relocation back.
func TestControllerFailover(t *testing.T) {
	requireTools(t)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	dir := t.TempDir()
	out, err := labCLI(ctx, t, upArgs(dir)...)
	require.NoError(t, err, "lab up:\n%s", out)
	t.Cleanup(func() {
		if out, err := labCLI(context.Background(), t, "down", "--dir", dir); err != nil {
			t.Logf("lab down: %v\n%s", err, out)
		}
	})
	l, err := lab.Open(dir, testLogger(t))
	require.NoError(t, err)
	h := newControllerHarness(ctx, t, l)
	h.start(ctx)

	// relocate moves the application back to dr1 in Direct mode.
	relocate := func(t *testing.T, name string) {
		h.request(ctx, name, v1alpha1.ActionRelocate, "dr1", v1alpha1.ModeDirect)
		fo := h.waitPhase(ctx, name, convergeTimeout, v1alpha1.PhaseSucceeded)
		h.verifyLab(ctx, fo)
		h.logRun(fo)
	}

	t.Run("direct failover dr1 to dr2 with dr1 alive", func(t *testing.T) {
		h.request(ctx, "direct", v1alpha1.ActionFailover, "dr2", v1alpha1.ModeDirect)
		fo := h.waitPhase(ctx, "direct", convergeTimeout, v1alpha1.PhaseSucceeded)
		assert.Equal(t, "dr1", fo.Status.SourceSite)
		assert.Equal(t, 1, h.opCommits(fo), "exactly one commit")
		for _, s := range fo.Status.Steps {
			assert.Equal(t, v1alpha1.StepSucceeded, s.State, s.Name)
		}
		require.NotNil(t, fo.Status.RTO)
		assert.False(t, meta.IsStatusConditionTrue(fo.Status.Conditions, v1alpha1.ConditionSourceCleanupPending))
		h.verifyLab(ctx, fo)
		h.logRun(fo)
	})
	t.Run("relocate back to dr1", func(t *testing.T) { relocate(t, "back-1") })

	t.Run("pull request mode with the merge webhook", func(t *testing.T) {
		h.request(ctx, "pr", v1alpha1.ActionFailover, "dr2", v1alpha1.ModePullRequest)
		fo := h.waitPhase(ctx, "pr", convergeTimeout, v1alpha1.PhaseAwaitingMerge)
		pulls := h.pullsFor(fo.Status.PullRequest.Branch)
		require.Len(t, pulls, 1)
		merge := h.merge(pulls[0])
		status, err := h.deliverMerged(pulls[0], merge)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, status)
		fo = h.waitPhase(ctx, "pr", convergeTimeout, v1alpha1.PhaseSucceeded)
		assert.Equal(t, merge, fo.Status.Commit)
		assert.Equal(t, string(forge.StateMerged), fo.Status.PullRequest.State)
		assert.Equal(t, 1, h.opCommits(fo), "one commit, the proposal's, merged")
		h.verifyLab(ctx, fo)
		h.logRun(fo)
	})
	t.Run("relocate back to dr1 after the pull request", func(t *testing.T) { relocate(t, "back-2") })

	t.Run("controller killed during AwaitingMerge resumes", func(t *testing.T) {
		h.request(ctx, "pr-kill", v1alpha1.ActionFailover, "dr2", v1alpha1.ModePullRequest)
		fo := h.waitPhase(ctx, "pr-kill", convergeTimeout, v1alpha1.PhaseAwaitingMerge)
		h.kill()
		pulls := h.pullsFor(fo.Status.PullRequest.Branch)
		require.Len(t, pulls, 1)
		merge := h.merge(pulls[0]) // merged while no controller runs: the webhook is lost
		h.start(ctx)
		fo = h.waitPhase(ctx, "pr-kill", convergeTimeout, v1alpha1.PhaseSucceeded)
		assert.Equal(t, merge, fo.Status.Commit)
		assert.Len(t, h.pullsFor(fo.Status.PullRequest.Branch), 1, "exactly one pull request")
		assert.Equal(t, 1, h.opCommits(fo), "exactly one commit")
		h.verifyLab(ctx, fo)
		h.logRun(fo)
	})
	t.Run("relocate back to dr1 after the restart", func(t *testing.T) { relocate(t, "back-3") })

	t.Run("controller killed during Converging resumes", func(t *testing.T) {
		h.request(ctx, "kill", v1alpha1.ActionFailover, "dr2", v1alpha1.ModeDirect)
		fo := h.waitPhase(ctx, "kill", convergeTimeout, v1alpha1.PhaseConverging, v1alpha1.PhaseVerifying)
		h.kill()
		t.Logf("killed in phase %s", fo.Status.Phase)
		h.start(ctx)
		fo = h.waitPhase(ctx, "kill", convergeTimeout, v1alpha1.PhaseSucceeded)
		assert.Equal(t, 1, h.opCommits(fo), "exactly one commit")
		seen := map[v1alpha1.FailoverPhase]int{}
		for _, s := range fo.Status.Steps {
			seen[s.Name]++
		}
		for phase, n := range seen {
			assert.Equal(t, 1, n, "step %s ran once (resumed, not restarted)", phase)
		}
		h.verifyLab(ctx, fo)
		h.logRun(fo)
	})
	t.Run("relocate back to dr1 after the crash", func(t *testing.T) { relocate(t, "back-4") })

	t.Run("failover off a lost dr1, then restore and cleanup", func(t *testing.T) {
		require.NoError(t, l.Fail(ctx, "dr1"))
		h.request(ctx, "disaster", v1alpha1.ActionFailover, "dr2", v1alpha1.ModeDirect)
		fo := h.waitPhase(ctx, "disaster", convergeTimeout, v1alpha1.PhaseSucceeded)
		cond := meta.FindStatusCondition(fo.Status.Conditions, v1alpha1.ConditionSourceCleanupPending)
		require.NotNil(t, cond)
		assert.Equal(t, metav1.ConditionTrue, cond.Status, cond.Message)
		require.NotNil(t, fo.Status.Timeline.SourceLost)
		assert.Equal(t, 1, h.opCommits(fo))
		h.verifyLab(ctx, fo)
		h.logRun(fo)

		require.NoError(t, l.Restore(ctx, "dr1"))
		deadline := time.Now().Add(convergeTimeout)
		for {
			fo = h.failover(ctx, "disaster")
			c := meta.FindStatusCondition(fo.Status.Conditions, v1alpha1.ConditionSourceCleanupPending)
			if c != nil && c.Status == metav1.ConditionFalse {
				assert.Equal(t, "CleanedUp", c.Reason, c.Message)
				break
			}
			require.True(t, time.Now().Before(deadline), "SourceCleanupPending still %+v\n%s", c, h.logTail())
			time.Sleep(100 * time.Millisecond)
		}
		assert.Equal(t, v1alpha1.PhaseSucceeded, fo.Status.Phase)
		st, err := l.Application(ctx, "mini-dr1")
		require.NoError(t, err)
		assert.False(t, st.Exists, "Argo CD removed the application from the restored dr1")
	})
	t.Run("relocate back to the restored dr1", func(t *testing.T) { relocate(t, "back-5") })
}
