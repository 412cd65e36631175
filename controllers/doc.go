// Package controllers holds gitover's reconcilers.
//
//   - DRPlanReconciler reads each plan's repository at the branch head
//     (through the Git layer's clone cache), derives the active site from
//     Git, reads the live OCM PlacementDecisions and Argo CD Applications,
//     and reports Ready, Converged and Protected. It also plans, without
//     pushing anything, a failover to every other site whenever the
//     revision changes, so that a broken target overlay shows up before a
//     disaster and a real failover finds every render cached.
//   - FailoverReconciler carries one Failover through its phases —
//     Checking, Committing or Proposing, AwaitingMerge, Converging,
//     Verifying — one step per phase (step_*.go, registered in steps.go),
//     each recorded in status.steps so that a restarted controller resumes
//     where it stopped and repeats nothing: no second commit, no second
//     pull request.
//   - Notifier turns verified GitHub/GitLab webhook events into immediate
//     reconciles: pushes refresh the plans on that branch, merged and closed
//     pull requests wake the Failovers waiting for them.
//
// docs/controller.md describes the flags, RBAC, state machine, conditions
// and metrics.
package controllers
