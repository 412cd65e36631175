package controllers

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitover/gitover/api/v1alpha1"
	"github.com/gitover/gitover/gitops/forge"
	"github.com/gitover/gitover/gitops/git"
	"github.com/gitover/gitover/overlays"
)

// proposalLabel marks the requests gitover opens.
const proposalLabel = "gitover"

// proposing pushes the change to a proposal branch named after the plan,
// action, target and base revision, and opens a pull/merge request for it
// (PullRequest mode). A request an earlier run opened for that branch is
// adopted; the branch is never pushed twice with different content.
type proposing struct{}

// Phase implements step.
func (proposing) Phase() v1alpha1.FailoverPhase { return v1alpha1.PhaseProposing }

// Run implements step.
func (proposing) Run(ctx context.Context, op *operation) (stepResult, error) {
	fo := op.fo
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
		return waiting(d, "rate limited by %s; next call in %s", prov.Name(), d.Round(1e9))
	}
	branch := forge.BranchName([]string{op.plan.Name}, string(op.action()), fo.Spec.TargetSite, fo.Status.BaseRevision)

	// A request an earlier run opened (and maybe a person already merged).
	if fo.Status.PullRequest == nil {
		st, err := prov.FindByHead(ctx, branch)
		if d, limited := op.gate.limited(key, err, op.Now()); limited {
			return waiting(d, "rate limited by %s while looking for an earlier request; next call in %s", prov.Name(), d.Round(1e9))
		}
		if err != nil {
			return stepResult{}, fmt.Errorf("looking for a request from %s: %w", branch, err)
		}
		if st != nil && st.State != forge.StateClosed {
			op.proposed(*st)
			return done(v1alpha1.PhaseAwaitingMerge, "adopted %s request #%d (%s) opened by an earlier run: %s", prov.Name(), st.Number, st.State, st.URL)
		}
	}

	var change *overlays.Change
	res, err := op.Git.client.PushBranch(ctx, git.Request{
		URL: repo.URL, Branch: repo.Branch, Auth: repo.Auth, Author: author(op.plan),
		Base: fo.Status.BaseRevision, Replan: op.replan(repo.URL, &change),
	}, branch)
	if err != nil {
		return stepResult{}, planError(fmt.Sprintf("pushing the proposal branch %s", branch), err)
	}
	if res.State == git.NothingToDo {
		return stepResult{}, failf("nothing to propose: %s is already active at %s", fo.Spec.TargetSite, short(fo.Status.BaseRevision))
	}
	st, created, err := prov.Ensure(ctx, forge.Proposal{
		Base:   repo.Branch,
		Head:   branch,
		Title:  forge.Title(change),
		Body:   forge.RenderBody(change, forge.BodyInfo{BaseBranch: repo.Branch, BaseSHA: fo.Status.BaseRevision, Requester: fmt.Sprintf("Failover %s/%s", fo.Namespace, fo.Name)}),
		Labels: []string{proposalLabel},
	})
	if d, limited := op.gate.limited(key, err, op.Now()); limited {
		return waiting(d, "pushed %s; rate limited by %s before opening the request; next call in %s", branch, prov.Name(), d.Round(1e9))
	}
	if err != nil {
		return stepResult{}, fmt.Errorf("opening the request for %s: %w", branch, err)
	}
	op.proposed(st)
	verb := "adopted"
	if created {
		verb = "opened"
	}
	op.event(v1alpha1.PhaseProposing, "ProposalOpened", "%s %s request #%d: %s", verb, prov.Name(), st.Number, st.URL)
	return done(v1alpha1.PhaseAwaitingMerge, "%s %s request #%d for %s (%s): %s", verb, prov.Name(), st.Number, branch, res.State, st.URL)
}

// proposed records the request and when it was opened.
func (op *operation) proposed(st forge.Status) {
	pr := st.APIStatus()
	op.fo.Status.PullRequest = &pr
	if op.fo.Status.Timeline.ProposalOpened == nil {
		t := metav1.NewMicroTime(op.Now())
		op.fo.Status.Timeline.ProposalOpened = &t
	}
}
