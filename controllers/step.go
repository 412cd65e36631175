package controllers

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/gitover/gitover/api/v1alpha1"
	"github.com/gitover/gitover/gitops/commitmsg"
	"github.com/gitover/gitover/gitops/forge"
	"github.com/gitover/gitover/gitops/git"
	"github.com/gitover/gitover/overlays"
)

// step is one phase of a Failover. Run must be idempotent: it may run
// again after a crash or restart, with status as last persisted, and must
// then find what an earlier run did (the commit by its Gitover-Operation
// trailer, the pull request by its branch) instead of doing it twice.
type step interface {
	// Phase is the phase the step implements.
	Phase() v1alpha1.FailoverPhase
	// Run does (or checks) the step's work and says whether it is done.
	// A *failure error ends the Failover as Failed; any other error is
	// retried with backoff.
	Run(ctx context.Context, op *operation) (stepResult, error)
}

// stepResult is what a step's Run reports.
type stepResult struct {
	// Done ends the step; the Failover moves to Next.
	Done bool
	Next v1alpha1.FailoverPhase
	// Message is recorded in the step's status (and its Event when Done).
	Message string
	// RequeueAfter is when to run a step that is not done again (watches
	// may wake it earlier).
	RequeueAfter time.Duration
}

// done finishes a step.
func done(next v1alpha1.FailoverPhase, format string, args ...any) (stepResult, error) {
	return stepResult{Done: true, Next: next, Message: fmt.Sprintf(format, args...)}, nil
}

// waiting keeps a step running and looks again after d.
func waiting(d time.Duration, format string, args ...any) (stepResult, error) {
	return stepResult{RequeueAfter: d, Message: fmt.Sprintf(format, args...)}, nil
}

// failure is an error that ends the Failover as Failed: retrying cannot
// help (the repository is broken, the pull request was closed, the target
// site is unavailable, verification timed out).
type failure struct{ msg string }

func (f *failure) Error() string { return f.msg }

// failf returns a *failure.
func failf(format string, args ...any) error {
	return &failure{msg: fmt.Sprintf(format, args...)}
}

// isFailure reports whether err ends the Failover, and its message.
func isFailure(err error) (string, bool) {
	var f *failure
	if errors.As(err, &f) {
		return f.msg, true
	}
	return "", false
}

// operation is what the steps work with: the Failover, its DRPlan, and the
// reconciler's clients and caches. It lives for one reconcile.
type operation struct {
	*FailoverReconciler
	fo   *v1alpha1.Failover
	plan *v1alpha1.DRPlan
	log  logr.Logger

	repoOnce sync.Once
	repo     planRepo
	repoErr  error
}

// ID is the operation's identity in commit trailers: namespace/name/uid.
func (op *operation) ID() string {
	return op.fo.Namespace + "/" + op.fo.Name + "/" + string(op.fo.UID)
}

// action is the Failover's action with the default applied.
func (op *operation) action() v1alpha1.Action {
	if op.fo.Spec.Action == "" {
		return v1alpha1.ActionFailover
	}
	return op.fo.Spec.Action
}

// mode is the Failover's Git mode: its own, else the plan's.
func (op *operation) mode() v1alpha1.GitMode {
	if op.fo.Spec.Mode != "" {
		return op.fo.Spec.Mode
	}
	return op.plan.Spec.Git.EffectiveMode()
}

// repository resolves the plan's repository and credentials once per reconcile.
func (op *operation) repository(ctx context.Context) (planRepo, error) {
	op.repoOnce.Do(func() { op.repo, op.repoErr = repoOf(ctx, op.APIReader, op.plan) })
	return op.repo, op.repoErr
}

// request is the engine request the Failover carries out.
func (op *operation) request() overlays.Request {
	return overlays.Request{Action: op.action(), Target: op.fo.Spec.TargetSite}
}

// replan is the Git layer's Replan for this operation: the engine's change
// on the fetched tree (with the shared render cache, which the DRPlan
// reconciler's dry runs keep warm), committed with the Gitover-Operation
// trailer. It returns no files when the target is already active there.
// The last change planned is left in *out for the pull request's body.
func (op *operation) replan(url string, out **overlays.Change) git.ReplanFunc {
	return func(ctx context.Context, tree fs.FS, head string) (map[string][]byte, string, error) {
		change, err := overlays.Plan(ctx, tree, []*v1alpha1.DRPlan{op.plan}, op.request(), overlays.WithRenderCache(op.Git.RenderCache(url)))
		if err != nil {
			return nil, "", err
		}
		*out = change
		for _, p := range change.Plans {
			if p.Plan == op.plan.Name && p.AlreadyActive {
				return nil, "", nil
			}
		}
		if change.Empty() {
			return nil, "", nil
		}
		return change.Files, commitmsg.Message(change, "", [2]string{commitmsg.TrailerOperation, op.ID()}), nil
	}
}

// isOurs reports whether a commit message carries this operation's trailer.
func (op *operation) isOurs(msg string) bool {
	for _, v := range git.ParseTrailers(msg)[commitmsg.TrailerOperation] {
		if v == op.ID() {
			return true
		}
	}
	return false
}

// forge builds the plan's pull/merge request provider.
func (op *operation) forge(repo planRepo) (forge.Provider, error) {
	p := op.plan.Spec.Git.Provider
	if p == nil {
		return nil, failf("DRPlan %s has no spec.git.provider, which PullRequest mode needs (or set mode Direct)", op.plan.Name)
	}
	prov, err := forge.New(*p, repo.URL, repo.APIToken, op.HTTPClient, forge.WithLogger(op.log))
	if err != nil {
		return nil, failf("the plan's pull request provider: %v", err)
	}
	return prov, nil
}

// forgeKey identifies the plan's forge repository for the rate-limit gate.
func (op *operation) forgeKey(repo planRepo) string {
	p := op.plan.Spec.Git.Provider
	if p == nil {
		return repo.URL
	}
	return p.Type + "|" + p.APIURL + "|" + p.Repository + "|" + repo.URL
}

// landed is when the change reached the target branch: the commit
// (Direct) or the merge (PullRequest).
func (op *operation) landed() time.Time {
	t := op.fo.Status.Timeline
	switch {
	case t.Merged != nil:
		return t.Merged.Time
	case t.Committed != nil:
		return t.Committed.Time
	}
	return op.Now()
}

// planError turns an engine error into a failure and leaves other errors
// (transport, cancellation) to be retried.
func planError(doing string, err error) error {
	for _, class := range []error{overlays.ErrInconsistent, overlays.ErrMissing, overlays.ErrMalformed,
		overlays.ErrUnsupported, overlays.ErrRender, overlays.ErrInvalidRequest, overlays.ErrInternal, git.ErrForeignBranch} {
		if errors.Is(err, class) {
			return failf("%s: %v", doing, err)
		}
	}
	return fmt.Errorf("%s: %w", doing, err)
}
