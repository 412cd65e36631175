package controllers

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	"github.com/gitover/gitover/api/v1alpha1"
	"github.com/gitover/gitover/gitops/webhook"
)

// Notifier consumes the webhook receiver's verified events and turns them
// into immediate reconciles: a push to a plan's branch makes the next read
// of that branch fetch and reconciles the plan at once; a merged or closed
// pull/merge request wakes the Failovers waiting for it (which then ask
// the forge: the event is a hint, the forge's answer decides). It runs on
// the leader only, like the reconcilers it feeds.
type Notifier struct {
	Client client.Reader
	Git    *gitSource
	// Events is the receiver's queue (webhook.ChanQueue.C()).
	Events <-chan webhook.Event

	plans     chan<- event.TypedGenericEvent[*v1alpha1.DRPlan]
	failovers chan<- event.TypedGenericEvent[*v1alpha1.Failover]
	log       logr.Logger
}

// NeedLeaderElection implements manager.LeaderElectionRunnable.
func (n *Notifier) NeedLeaderElection() bool { return true }

// Start implements manager.Runnable: it handles events until ctx ends.
func (n *Notifier) Start(ctx context.Context) error {
	if n.Events == nil {
		<-ctx.Done()
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-n.Events:
			if err := n.Handle(ctx, ev); err != nil {
				n.log.Error(err, "handling a webhook event", "provider", ev.Provider, "kind", ev.Kind, "delivery", ev.DeliveryID)
			}
		}
	}
}

// Handle acts on one event.
func (n *Notifier) Handle(ctx context.Context, ev webhook.Event) error {
	var plans v1alpha1.DRPlanList
	if err := n.Client.List(ctx, &plans); err != nil {
		return fmt.Errorf("listing DRPlans: %w", err)
	}
	branch := ev.Branch
	if ev.Kind == webhook.KindMerged || ev.Kind == webhook.KindClosed {
		branch = ev.BaseBranch
	}
	woken := 0
	for i := range plans.Items {
		plan := &plans.Items[i]
		if !sameRepository(plan, ev.Repository) {
			continue
		}
		if branch != "" && branch == plan.Spec.Git.EffectiveBranch() && (ev.Kind == webhook.KindPush || ev.Kind == webhook.KindMerged) {
			n.Git.Invalidate(plan.Spec.Git.URL, branch)
			if err := send(ctx, n.plans, plan); err != nil {
				return err
			}
			woken++
		}
		if ev.Kind != webhook.KindMerged && ev.Kind != webhook.KindClosed {
			continue
		}
		var fos v1alpha1.FailoverList
		if err := n.Client.List(ctx, &fos, client.InNamespace(plan.Namespace), client.MatchingFields{indexFailoverPlan: plan.Name}); err != nil {
			return fmt.Errorf("listing the Failovers of DRPlan %s/%s: %w", plan.Namespace, plan.Name, err)
		}
		for j := range fos.Items {
			fo := &fos.Items[j]
			pr := fo.Status.PullRequest
			if fo.Status.Phase != v1alpha1.PhaseAwaitingMerge || pr == nil {
				continue
			}
			if int64(pr.Number) == ev.Number || (ev.HeadBranch != "" && pr.Branch == ev.HeadBranch) {
				if err := send(ctx, n.failovers, fo); err != nil {
					return err
				}
				woken++
			}
		}
	}
	n.log.V(1).Info("webhook event", "provider", ev.Provider, "kind", ev.Kind, "repository", ev.Repository.FullName, "branch", branch, "number", ev.Number, "woken", woken)
	return nil
}

// send enqueues obj for its reconciler.
func send[T client.Object](ctx context.Context, ch chan<- event.TypedGenericEvent[T], obj T) error {
	select {
	case ch <- event.TypedGenericEvent[T]{Object: obj}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// sameRepository reports whether an event's repository is the plan's: one
// of its clone or web URLs names the same host and path as spec.git.url,
// or its full name is the plan's forge repository.
func sameRepository(plan *v1alpha1.DRPlan, repo webhook.Repository) bool {
	if p := plan.Spec.Git.Provider; p != nil && p.Repository != "" && strings.EqualFold(strings.Trim(p.Repository, "/"), repo.FullName) {
		return true
	}
	want := repoIdentity(plan.Spec.Git.URL)
	if want == "" {
		return false
	}
	for _, u := range []string{repo.CloneURL, repo.SSHURL, repo.WebURL} {
		if repoIdentity(u) == want {
			return true
		}
	}
	return false
}

// repoIdentity reduces a Git URL (https, ssh, scp-like) to lower-case
// host/path without ".git", or "" when it cannot be parsed.
func repoIdentity(raw string) string {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return ""
	}
	var host, path string
	if strings.Contains(raw, "://") {
		u, err := url.Parse(raw)
		if err != nil {
			return ""
		}
		host, path = u.Hostname(), u.Path
	} else {
		h, p, ok := strings.Cut(raw, ":")
		if !ok {
			return ""
		}
		if i := strings.LastIndex(h, "@"); i >= 0 {
			h = h[i+1:]
		}
		host, path = h, p
	}
	path = strings.TrimSuffix(strings.Trim(path, "/"), ".git")
	if host == "" || path == "" {
		return ""
	}
	return strings.ToLower(host + "/" + path)
}
