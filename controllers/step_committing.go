package controllers

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitover/gitover/api/v1alpha1"
	"github.com/gitover/gitover/gitops/git"
	"github.com/gitover/gitover/overlays"
)

// findCommitLimit bounds how far back Committing looks for a commit an
// interrupted run already pushed.
const findCommitLimit = 200

// committing pushes the engine's change straight to the target branch
// (Direct mode). A commit carrying this operation's Gitover-Operation
// trailer is adopted instead of committing again; a branch that already
// has the target active gets no commit at all.
type committing struct{}

// Phase implements step.
func (committing) Phase() v1alpha1.FailoverPhase { return v1alpha1.PhaseCommitting }

// Run implements step.
func (committing) Run(ctx context.Context, op *operation) (stepResult, error) {
	fo := op.fo
	repo, err := op.repository(ctx)
	if err != nil {
		return stepResult{}, fmt.Errorf("resolving the repository: %w", err)
	}
	// An earlier run may have pushed and stopped before recording it.
	sha, found, err := op.Git.client.FindCommit(ctx, repo.URL, repo.Branch, repo.Auth, op.isOurs, findCommitLimit)
	if err != nil {
		return stepResult{}, fmt.Errorf("looking for this operation's commit on %s: %w", repo.Branch, err)
	}
	if found {
		op.committed(sha)
		return done(v1alpha1.PhaseConverging, "found this operation's commit %s on %s (pushed by an earlier run)", short(sha), repo.Branch)
	}

	var change *overlays.Change
	res, err := op.Git.client.Apply(ctx, git.Request{
		URL: repo.URL, Branch: repo.Branch, Auth: repo.Auth, Author: author(op.plan),
		Replan: op.replan(repo.URL, &change),
	})
	if err != nil {
		return stepResult{}, planError(fmt.Sprintf("committing to %s", repo.Branch), err)
	}
	op.committed(res.Head)
	if res.State == git.NothingToDo {
		return done(v1alpha1.PhaseConverging, "nothing to commit: %s is already active on %s at %s", fo.Spec.TargetSite, repo.Branch, short(res.Head))
	}
	op.event(v1alpha1.PhaseCommitting, "Committed", "committed %s to %s (%d edits, %d attempts)", short(res.Head), repo.Branch, len(change.Edits), res.Attempts)
	return done(v1alpha1.PhaseConverging, "committed %s on %s (base %s, %d edits, %d attempts)", short(res.Head), repo.Branch, short(res.Base), len(change.Edits), res.Attempts)
}

// committed records the commit that carries the change, and when it landed.
func (op *operation) committed(sha string) {
	op.fo.Status.Commit = sha
	if op.fo.Status.Timeline.Committed == nil {
		t := metav1.NewMicroTime(op.Now())
		op.fo.Status.Timeline.Committed = &t
	}
}
