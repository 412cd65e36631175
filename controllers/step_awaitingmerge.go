package controllers

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitover/gitover/api/v1alpha1"
	"github.com/gitover/gitover/gitops/forge"
)

// awaitingMerge waits for a person to merge the request. A webhook for the
// request wakes it at once (the Notifier enqueues the Failover); otherwise
// it reads the request every poll interval, never before a rate limit
// allows. The forge's answer decides, not the webhook's payload. Everything
// it needs is in status, so a restarted controller simply reads again.
type awaitingMerge struct{}

// Phase implements step.
func (awaitingMerge) Phase() v1alpha1.FailoverPhase { return v1alpha1.PhaseAwaitingMerge }

// Run implements step.
func (awaitingMerge) Run(ctx context.Context, op *operation) (stepResult, error) {
	fo := op.fo
	pr := fo.Status.PullRequest
	if pr == nil || pr.Number <= 0 {
		return stepResult{}, failf("no pull request is recorded; the Proposing step did not finish")
	}
	repo, err := op.repository(ctx)
	if err != nil {
		return stepResult{}, fmt.Errorf("resolving the repository: %w", err)
	}
	prov, err := op.forge(repo)
	if err != nil {
		return stepResult{}, err
	}
	key := op.forgeKey(repo)
	if d := op.gate.wait(key, op.Now()); d > 0 {
		return waiting(d, "waiting for #%d to be merged (%s); rate limited by %s, next read in %s", pr.Number, pr.URL, prov.Name(), d.Round(time.Second))
	}
	st, err := prov.Get(ctx, pr.Number)
	if d, limited := op.gate.limited(key, err, op.Now()); limited {
		return waiting(d, "waiting for #%d to be merged (%s); rate limited by %s, next read in %s", pr.Number, pr.URL, prov.Name(), d.Round(time.Second))
	}
	if err != nil {
		return stepResult{}, fmt.Errorf("reading request #%d: %w", pr.Number, err)
	}
	switch st.State {
	case forge.StateMerged:
		merge := st.MergeCommit
		if merge == "" {
			merge = st.HeadSHA
		}
		pr.State, pr.MergeCommit, pr.URL = string(forge.StateMerged), merge, st.URL
		fo.Status.Commit = merge
		if fo.Status.Timeline.Merged == nil {
			t := metav1.NewMicroTime(op.Now())
			fo.Status.Timeline.Merged = &t
		}
		op.event(v1alpha1.PhaseAwaitingMerge, "Merged", "request #%d merged as %s", pr.Number, short(merge))
		return done(v1alpha1.PhaseConverging, "request #%d merged as %s", pr.Number, short(merge))
	case forge.StateClosed:
		pr.State = string(forge.StateClosed)
		return stepResult{}, failf("request #%d (%s) was closed without being merged: the failover did not happen; create a new Failover to try again", pr.Number, st.URL)
	}
	return waiting(jitter(op.PollInterval), "waiting for a person to merge #%d: %s", pr.Number, pr.URL)
}

// jitter spreads d by ±10% so that many waiters do not poll in step.
func jitter(d time.Duration) time.Duration {
	return d + time.Duration((rand.Float64()*0.2-0.1)*float64(d))
}
