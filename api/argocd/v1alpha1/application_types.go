package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Application is Argo CD's deployment of one source to one destination.
//
// +kubebuilder:object:root=true
type Application struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              ApplicationSpec   `json:"spec"`
	Status            ApplicationStatus `json:"status,omitempty"`
}

// ApplicationSpec is what an Application deploys and where.
type ApplicationSpec struct {
	Source      *ApplicationSource     `json:"source,omitempty"`
	Sources     []ApplicationSource    `json:"sources,omitempty"`
	Destination ApplicationDestination `json:"destination"`
	Project     string                 `json:"project"`
	SyncPolicy  *SyncPolicy            `json:"syncPolicy,omitempty"`
}

// ApplicationSource is one Git (or Helm) source.
type ApplicationSource struct {
	RepoURL        string `json:"repoURL"`
	Path           string `json:"path,omitempty"`
	TargetRevision string `json:"targetRevision,omitempty"`
	Chart          string `json:"chart,omitempty"`
	Ref            string `json:"ref,omitempty"`
	Name           string `json:"name,omitempty"`
}

// ApplicationDestination is the cluster and namespace.
type ApplicationDestination struct {
	Server    string `json:"server,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name,omitempty"`
}

// SyncPolicy controls automated syncs.
type SyncPolicy struct {
	Automated   *SyncPolicyAutomated `json:"automated,omitempty"`
	SyncOptions []string             `json:"syncOptions,omitempty"`
}

// SyncPolicyAutomated enables automated sync.
type SyncPolicyAutomated struct {
	Prune    bool `json:"prune,omitempty"`
	SelfHeal bool `json:"selfHeal,omitempty"`
}

// Sync statuses.
const (
	SyncStatusSynced    = "Synced"
	SyncStatusOutOfSync = "OutOfSync"
	SyncStatusUnknown   = "Unknown"
)

// Health statuses.
const (
	HealthHealthy     = "Healthy"
	HealthProgressing = "Progressing"
	HealthDegraded    = "Degraded"
	HealthSuspended   = "Suspended"
	HealthMissing     = "Missing"
	HealthUnknown     = "Unknown"
)

// ApplicationStatus is what Argo CD observed.
type ApplicationStatus struct {
	Sync           SyncStatus             `json:"sync,omitempty"`
	Health         HealthStatus           `json:"health,omitempty"`
	OperationState *OperationState        `json:"operationState,omitempty"`
	ReconciledAt   *metav1.Time           `json:"reconciledAt,omitempty"`
	Conditions     []ApplicationCondition `json:"conditions,omitempty"`
	Resources      []ResourceStatus       `json:"resources,omitempty"`
}

// SyncStatus compares the live state to Git at a revision.
type SyncStatus struct {
	Status    string   `json:"status"`
	Revision  string   `json:"revision,omitempty"`
	Revisions []string `json:"revisions,omitempty"`
}

// HealthStatus is the aggregated health.
type HealthStatus struct {
	Status  string `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
}

// OperationState is the last (or running) sync operation.
type OperationState struct {
	Phase      string       `json:"phase"`
	Message    string       `json:"message,omitempty"`
	SyncResult *SyncResult  `json:"syncResult,omitempty"`
	StartedAt  metav1.Time  `json:"startedAt"`
	FinishedAt *metav1.Time `json:"finishedAt,omitempty"`
}

// SyncResult is a finished sync's outcome.
type SyncResult struct {
	Revision  string   `json:"revision"`
	Revisions []string `json:"revisions,omitempty"`
}

// ApplicationCondition reports a problem (ComparisonError, SyncError, ...).
type ApplicationCondition struct {
	Type               string       `json:"type"`
	Message            string       `json:"message"`
	LastTransitionTime *metav1.Time `json:"lastTransitionTime,omitempty"`
}

// ResourceStatus is one managed resource.
type ResourceStatus struct {
	Group     string        `json:"group,omitempty"`
	Version   string        `json:"version,omitempty"`
	Kind      string        `json:"kind,omitempty"`
	Namespace string        `json:"namespace,omitempty"`
	Name      string        `json:"name,omitempty"`
	Status    string        `json:"status,omitempty"`
	Health    *HealthStatus `json:"health,omitempty"`
	Hook      bool          `json:"hook,omitempty"`
}

// +kubebuilder:object:root=true

// ApplicationList is a list of Applications.
type ApplicationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`
	Items           []Application `json:"items"`
}

// SyncedAt reports whether the Application is Synced at revision.
func (a *Application) SyncedAt(revision string) bool {
	if a.Status.Sync.Status != SyncStatusSynced {
		return false
	}
	if a.Status.Sync.Revision == revision {
		return true
	}
	for _, r := range a.Status.Sync.Revisions {
		if r == revision {
			return true
		}
	}
	return false
}

// Healthy reports whether Argo CD finds the Application Healthy.
func (a *Application) Healthy() bool { return a.Status.Health.Status == HealthHealthy }

func init() {
	SchemeBuilder.Register(&Application{}, &ApplicationList{})
}
