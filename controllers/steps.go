package controllers

import "github.com/gitover/gitover/api/v1alpha1"

// registeredSteps is the one place the Failover's steps are registered.
// The state machine is
//
//	Pending → Checking → Committing ─────────────────→ Converging → Verifying → Succeeded
//	                   ↘ Proposing → AwaitingMerge ↗                          ↘ Failed
//
// (any step may end in Failed; Checking chooses Committing or Proposing by
// the Git mode).
func registeredSteps() map[v1alpha1.FailoverPhase]step {
	out := map[v1alpha1.FailoverPhase]step{}
	for _, s := range []step{
		checking{},
		committing{},
		proposing{},
		awaitingMerge{},
		converging{},
		verifying{},
	} {
		out[s.Phase()] = s
	}
	return out
}
