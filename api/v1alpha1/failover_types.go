package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Failover is one requested move of a DRPlan's application to another site:
// a failover (the source site is lost or being abandoned) or a relocation
// (both sites are up; the application moves back). Its status records each
// step so that a restarted controller resumes without repeating one.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=fo,categories=gitover
// +kubebuilder:printcolumn:name="Plan",type=string,JSONPath=`.spec.planRef.name`
// +kubebuilder:printcolumn:name="Action",type=string,JSONPath=`.spec.action`
// +kubebuilder:printcolumn:name="From",type=string,JSONPath=`.status.sourceSite`
// +kubebuilder:printcolumn:name="To",type=string,JSONPath=`.spec.targetSite`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Commit",type=string,JSONPath=`.status.commit`,priority=1
// +kubebuilder:printcolumn:name="PR",type=string,JSONPath=`.status.pullRequest.url`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Failover struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   FailoverSpec   `json:"spec"`
	Status FailoverStatus `json:"status,omitempty"`
}

// Action is what a Failover does.
// +kubebuilder:validation:Enum=Failover;Relocate
type Action string

const (
	// ActionFailover moves the application off a lost (or abandoned) site.
	ActionFailover Action = "Failover"
	// ActionRelocate moves it back while both sites are up.
	ActionRelocate Action = "Relocate"
	// ActionProtect adds disk protection without moving anything (CLI and commit trailers only).
	ActionProtect Action = "Protect"
)

// FailoverSpec is immutable once the operation has started.
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="a Failover's spec cannot change; create a new Failover"
type FailoverSpec struct {
	// PlanRef names the DRPlan in the same namespace.
	PlanRef LocalObjectReference `json:"planRef"`

	// Action is Failover (default) or Relocate.
	// +kubebuilder:default=Failover
	// +optional
	Action Action `json:"action,omitempty"`

	// TargetSite is the site that becomes active.
	// +kubebuilder:validation:MinLength=1
	TargetSite string `json:"targetSite"`

	// Mode overrides the plan's Git mode for this operation.
	// +optional
	Mode GitMode `json:"mode,omitempty"`
}

// FailoverPhase is where the state machine stands.
// +kubebuilder:validation:Enum=Pending;Checking;Committing;Proposing;AwaitingMerge;Converging;Verifying;Succeeded;Failed
type FailoverPhase string

// The phases of a Failover, in order.
const (
	PhasePending       FailoverPhase = "Pending"
	PhaseChecking      FailoverPhase = "Checking"
	PhaseCommitting    FailoverPhase = "Committing"
	PhaseProposing     FailoverPhase = "Proposing"
	PhaseAwaitingMerge FailoverPhase = "AwaitingMerge"
	PhaseConverging    FailoverPhase = "Converging"
	PhaseVerifying     FailoverPhase = "Verifying"
	PhaseSucceeded     FailoverPhase = "Succeeded"
	PhaseFailed        FailoverPhase = "Failed"
)

// StepState is the state of one step.
// +kubebuilder:validation:Enum=Running;Succeeded;Failed;Skipped
type StepState string

// Step states.
const (
	StepRunning   StepState = "Running"
	StepSucceeded StepState = "Succeeded"
	StepFailed    StepState = "Failed"
	StepSkipped   StepState = "Skipped"
)

// StepStatus records one step of the state machine.
type StepStatus struct {
	// Name is the phase the step implements (Checking, Committing, ...).
	Name FailoverPhase `json:"name"`
	// State of the step.
	State StepState `json:"state"`
	// Message says what the step did or why it failed.
	// +optional
	Message string `json:"message,omitempty"`
	// StartedAt is when the step began (microseconds: steps take well
	// under a second).
	StartedAt metav1.MicroTime `json:"startedAt"`
	// FinishedAt is when it ended.
	// +optional
	FinishedAt *metav1.MicroTime `json:"finishedAt,omitempty"`
}

// PullRequestStatus tracks the pull/merge request of a PullRequest-mode operation.
type PullRequestStatus struct {
	// URL a person opens to review the change.
	URL string `json:"url"`
	// Number (GitHub) or IID (GitLab).
	Number int `json:"number"`
	// Branch holding the change.
	Branch string `json:"branch"`
	// State is open, merged or closed.
	// +kubebuilder:validation:Enum=open;merged;closed
	State string `json:"state"`
	// MergeCommit is the SHA the request was merged as.
	// +optional
	MergeCommit string `json:"mergeCommit,omitempty"`
}

// Timeline records when each milestone of the operation happened, to the
// microsecond (a nudged failover converges in about a second).
type Timeline struct {
	// SourceLost is when the source site's ManagedClusters stopped being
	// available (a Failover of a lost site only): the start of "detect".
	// +optional
	SourceLost *metav1.MicroTime `json:"sourceLost,omitempty"`
	// +optional
	Requested *metav1.MicroTime `json:"requested,omitempty"`
	// +optional
	Committed *metav1.MicroTime `json:"committed,omitempty"`
	// +optional
	ProposalOpened *metav1.MicroTime `json:"proposalOpened,omitempty"`
	// +optional
	Merged *metav1.MicroTime `json:"merged,omitempty"`
	// +optional
	PlacementDecided *metav1.MicroTime `json:"placementDecided,omitempty"`
	// +optional
	Synced *metav1.MicroTime `json:"synced,omitempty"`
	// +optional
	Healthy *metav1.MicroTime `json:"healthy,omitempty"`
	// +optional
	Verified *metav1.MicroTime `json:"verified,omitempty"`
}

// RTOBreakdown splits the recovery time into the seed's phases.
type RTOBreakdown struct {
	// Detect: from the source site's loss (ManagedCluster unavailable) to the request.
	// +optional
	Detect *metav1.Duration `json:"detect,omitempty"`
	// Switch: from the request to the change landing on the target branch.
	// +optional
	Switch *metav1.Duration `json:"switch,omitempty"`
	// AppDeploy: from the change landing to the target Applications Synced and Healthy.
	// +optional
	AppDeploy *metav1.Duration `json:"appDeploy,omitempty"`
	// Total is detect + switch + appdeploy.
	// +optional
	Total *metav1.Duration `json:"total,omitempty"`
}

// FailoverStatus is the persisted state of the operation.
type FailoverStatus struct {
	// ObservedGeneration is the generation the status reflects.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Phase is the current phase.
	// +optional
	Phase FailoverPhase `json:"phase,omitempty"`
	// SourceSite is the site that was active when the operation started.
	// +optional
	SourceSite string `json:"sourceSite,omitempty"`
	// BaseRevision is the commit the change was planned on.
	// +optional
	BaseRevision string `json:"baseRevision,omitempty"`
	// Commit is the change's commit (Direct) or the merge commit (PullRequest).
	// +optional
	Commit string `json:"commit,omitempty"`
	// PullRequest is set in PullRequest mode.
	// +optional
	PullRequest *PullRequestStatus `json:"pullRequest,omitempty"`
	// Steps, in the order they ran.
	// +optional
	Steps []StepStatus `json:"steps,omitempty"`
	// Timeline of milestones.
	// +optional
	Timeline Timeline `json:"timeline,omitempty"`
	// RTO derived from the timeline.
	// +optional
	RTO *RTOBreakdown `json:"rto,omitempty"`
	// Conditions, e.g. SourceCleanupPending.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Failover condition types.
const (
	// ConditionSourceCleanupPending: the source site was unreachable, so its
	// copy of the application is still to be removed when it returns.
	ConditionSourceCleanupPending = "SourceCleanupPending"
)

// +kubebuilder:object:root=true

// FailoverList is a list of Failovers.
type FailoverList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Failover `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Failover{}, &FailoverList{})
}
