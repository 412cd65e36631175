package controllers

import (
	"errors"

	"github.com/gitover/gitover/gitops/git"
	"github.com/gitover/gitover/overlays"
)

// Reasons of the DRPlan's Ready condition.
const (
	ReasonReady           = "Ready"
	ReasonInvalidPlan     = "InvalidPlan"
	ReasonGitUnreachable  = "GitUnreachable"
	ReasonGitCredentials  = "GitCredentials"
	ReasonInconsistent    = "Inconsistent"
	ReasonRepository      = "RepositoryInvalid"
	ReasonRenderFailed    = "RenderFailed"
	ReasonFailoverBlocked = "FailoverBlocked"
)

// Reasons of the DRPlan's Converged condition.
const (
	ReasonConverged            = "Converged"
	ReasonGitUnknown           = "GitUnknown"
	ReasonNoLiveSite           = "NoLiveSite"
	ReasonSplitSites           = "SeveralLiveSites"
	ReasonSiteMismatch         = "SiteMismatch"
	ReasonApplicationsNotReady = "ApplicationsNotReady"
	ReasonDivergedTooLong      = "DivergedTooLong"
)

// Reasons of the DRPlan's Protected condition.
const (
	ReasonArmed        = "Armed"
	ReasonInGit        = "InGit"
	ReasonDisabled     = "Disabled"
	ReasonHooksMissing = "HooksMissing"
	ReasonNotArmed     = "NotArmed"
)

// Failover condition types besides v1alpha1.ConditionSourceCleanupPending.
const (
	// ConditionSourceDisksProtected is False when the source site's
	// Applications lack Argo CD's PreDelete finalizer: the disk-protection
	// hooks are not armed there, and the VM disks may go with the VMs.
	ConditionSourceDisksProtected = "SourceDisksProtected"
)

// Reasons of the Failover's conditions.
const (
	ReasonSourceLost       = "SourceLost"
	ReasonCleanedUp        = "CleanedUp"
	ReasonSuperseded       = "Superseded"
	ReasonPreDeleteArmed   = "PreDeleteArmed"
	ReasonPreDeleteMissing = "PreDeleteNotArmed"
	ReasonProtectionOff    = "ProtectionDisabled"
	ReasonNoSourceApps     = "NoSourceApplications"
)

// gitReason classifies an error from reading or planning a repository
// into a Ready reason.
func gitReason(err error) string {
	switch {
	case errors.Is(err, errNoGitURL), errors.Is(err, overlays.ErrInvalidRequest):
		return ReasonInvalidPlan
	case errors.Is(err, git.ErrAuthentication), errors.Is(err, errCredentials):
		return ReasonGitCredentials
	case errors.Is(err, overlays.ErrInconsistent):
		return ReasonInconsistent
	case errors.Is(err, overlays.ErrRender):
		return ReasonRenderFailed
	case errors.Is(err, overlays.ErrMissing), errors.Is(err, overlays.ErrMalformed), errors.Is(err, overlays.ErrUnsupported):
		return ReasonRepository
	}
	return ReasonGitUnreachable
}

// errCredentials marks a problem with the plan's Git Secret.
var errCredentials = errors.New("git credentials")
