package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DRPlan describes one protected application: the sites it can run on, the
// Git files that decide where it runs (OCM Placements and Argo CD
// ApplicationSets), and how its VM disks are protected. The active site is
// never stored here: it is read from the repository (the Placements'
// selector values), which is the source of truth.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=drp,categories=gitover
// +kubebuilder:printcolumn:name="Git site",type=string,JSONPath=`.status.activeSite`
// +kubebuilder:printcolumn:name="Live site",type=string,JSONPath=`.status.observedSite`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Converged",type=string,JSONPath=`.status.conditions[?(@.type=="Converged")].status`
// +kubebuilder:printcolumn:name="Protected",type=string,JSONPath=`.status.conditions[?(@.type=="Protected")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type DRPlan struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   DRPlanSpec   `json:"spec"`
	Status DRPlanStatus `json:"status,omitempty"`
}

// DRPlanSpec is the fixed contract a user writes once per application.
type DRPlanSpec struct {
	// Clusters names the sites and the ManagedCluster label that tells them apart.
	Clusters ClustersSpec `json:"clusters"`

	// Placements are the OCM Placement (or legacy PlacementRule) manifests in
	// Git whose cluster selectors decide where the application runs.
	// +kubebuilder:validation:MinItems=1
	Placements []PlacementRef `json:"placements"`

	// ApplicationSets are the Argo CD ApplicationSet manifests in Git that
	// deploy the application. Their overlays receive disk protection; when
	// Overlays is set, a failover also swaps the source path.
	// +optional
	ApplicationSets []ApplicationSetRef `json:"applicationSets,omitempty"`

	// DiskProtection generates the Argo CD hooks that keep VM disks alive
	// when Argo CD removes a VM from a site.
	// +optional
	DiskProtection DiskProtection `json:"diskProtection,omitempty"`

	// Switches are further fields in Git that must follow the active site:
	// DNS records, proxy back ends, replication endpoints. Each is set to the
	// value listed for the site becoming active.
	// +optional
	Switches []FieldSwitch `json:"switches,omitempty"`

	// Git says where the repository lives and how changes land in it. The
	// CLI may override it with flags; the controller requires URL.
	// +optional
	Git GitSpec `json:"git,omitempty"`

	// ArgoCD names the Argo CD objects gitover nudges after a change lands.
	// +optional
	ArgoCD ArgoCDSpec `json:"argoCD,omitempty"`

	// Verification bounds how long a failover may take to converge.
	// +optional
	Verification VerificationSpec `json:"verification,omitempty"`
}

// ClustersSpec names the sites and the label the Placements select them by.
type ClustersSpec struct {
	// LabelKey is the ManagedCluster label the Placements select on, e.g. cluster-role.
	// +kubebuilder:validation:MinLength=1
	LabelKey string `json:"labelKey"`

	// InactiveValue is a value of LabelKey that no cluster carries; a
	// Placement selecting it deploys nowhere.
	// +kubebuilder:validation:MinLength=1
	InactiveValue string `json:"inactiveValue"`

	// Sites are the places the application can run, at least two.
	// +kubebuilder:validation:MinItems=2
	// +listType=map
	// +listMapKey=name
	Sites []Site `json:"sites"`
}

// Site is one place the application can run.
type Site struct {
	// Name is how the plan, the CLI and Failover objects refer to the site.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`

	// LabelValue is the value of LabelKey carried by the site's ManagedClusters.
	// +kubebuilder:validation:MinLength=1
	LabelValue string `json:"labelValue"`
}

// PlacementRole says which site a Placement follows.
// +kubebuilder:validation:Enum=Active;Passive
type PlacementRole string

const (
	// RoleActive placements select where the application runs (the default).
	RoleActive PlacementRole = "Active"
	// RolePassive placements select where the replica waits, e.g. the
	// Placement of a VolSync ReplicationDestination ApplicationSet.
	RolePassive PlacementRole = "Passive"
)

// PlacementRef points at one Placement manifest in Git.
type PlacementRef struct {
	// File is the repository path of the manifest; it may hold several YAML documents.
	// +kubebuilder:validation:MinLength=1
	File string `json:"file"`

	// Name is the Placement's metadata.name inside File.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`

	// Kind is Placement (cluster.open-cluster-management.io) unless set to
	// PlacementRule (the legacy apps.open-cluster-management.io type).
	// +kubebuilder:validation:Enum=Placement;PlacementRule
	// +optional
	Kind string `json:"kind,omitempty"`

	// Site pins the Placement to one site: it selects that site while the
	// site has Role, and InactiveValue otherwise. Without Site the
	// Placement follows whichever site has Role (single-ApplicationSet topology).
	// +optional
	Site string `json:"site,omitempty"`

	// Role is Active (default) or Passive.
	// +optional
	Role PlacementRole `json:"role,omitempty"`
}

// ApplicationSetRef points at one ApplicationSet manifest in Git.
type ApplicationSetRef struct {
	// File is the repository path of the manifest.
	// +kubebuilder:validation:MinLength=1
	File string `json:"file"`

	// Name is the ApplicationSet's metadata.name inside File.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`

	// Overlays maps each site to the repository path of the Kustomize
	// overlay it deploys. When set, a failover swaps the template's
	// source.path (and sources[].path) to the target's overlay. Omit it when
	// the path never changes; the overlay is then read from the template.
	// +optional
	Overlays map[string]string `json:"overlays,omitempty"`
}

// DiskProtection configures the generated disk-protection hooks.
type DiskProtection struct {
	// Enabled adds the generated hooks to every overlay the plan names.
	// +optional
	Enabled bool `json:"enabled,omitempty"`

	// Image runs `gitover hook protect-disks` in the hooks' Jobs.
	// Defaults to the image of the gitover release that generated them.
	// +optional
	Image string `json:"image,omitempty"`

	// ImagePullPolicy of the hooks' Jobs; defaults to IfNotPresent.
	// +kubebuilder:validation:Enum=Always;IfNotPresent;Never
	// +optional
	ImagePullPolicy string `json:"imagePullPolicy,omitempty"`
}

// FieldSwitch is a field in Git whose value depends on the active site.
type FieldSwitch struct {
	// File is the repository path of the manifest.
	// +kubebuilder:validation:MinLength=1
	File string `json:"file"`

	// Kind and Name identify the object inside File.
	// +kubebuilder:validation:MinLength=1
	Kind string `json:"kind"`
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`

	// FieldPath is a dotted path to a scalar, with [key=value] to pick a
	// list element and [N] to index one, e.g.
	// spec.endpoints[dnsName=shop.example.com].targets[0].
	// +kubebuilder:validation:MinLength=1
	FieldPath string `json:"fieldPath"`

	// Values maps every site to the field's value while that site is active.
	// +kubebuilder:validation:MinProperties=2
	Values map[string]string `json:"values"`
}

// GitMode says how a change lands in the repository.
// +kubebuilder:validation:Enum=PullRequest;Direct
type GitMode string

const (
	// ModePullRequest opens a pull/merge request a person merges (the default).
	ModePullRequest GitMode = "PullRequest"
	// ModeDirect commits straight to the target branch.
	ModeDirect GitMode = "Direct"
)

// GitSpec says where the repository lives and how changes land in it.
type GitSpec struct {
	// URL of the repository (https://, ssh:// or scp-like git@host:path).
	// +optional
	URL string `json:"url,omitempty"`

	// Branch the change is based on and merged into; defaults to main.
	// +optional
	Branch string `json:"branch,omitempty"`

	// Mode is PullRequest (default) or Direct.
	// +optional
	Mode GitMode `json:"mode,omitempty"`

	// SecretRef names a Secret in the plan's namespace with the Git
	// credentials: username/password or token for HTTPS; sshPrivateKey and
	// knownHosts for SSH; and the forge API token as apiToken.
	// +optional
	SecretRef *LocalObjectReference `json:"secretRef,omitempty"`

	// Provider is the forge that hosts pull/merge requests.
	// +optional
	Provider *GitProvider `json:"provider,omitempty"`

	// Author of gitover's commits; defaults to gitover <gitover@localhost>.
	// +optional
	Author *GitAuthor `json:"author,omitempty"`
}

// GitProvider identifies the forge API.
type GitProvider struct {
	// Type is github or gitlab.
	// +kubebuilder:validation:Enum=github;gitlab
	Type string `json:"type"`

	// APIURL is the API base for Enterprise/self-managed installs. Empty
	// means api.github.com or gitlab.com when the repository is hosted
	// there, and otherwise the repository URL's host (GitHub Enterprise
	// Server at https://HOST/api/v3/, self-managed GitLab at /api/v4/).
	// +optional
	APIURL string `json:"apiURL,omitempty"`

	// Repository is owner/name on GitHub or the project path on GitLab;
	// defaults to the path of GitSpec.URL.
	// +optional
	Repository string `json:"repository,omitempty"`
}

// GitAuthor is the identity of gitover's commits.
type GitAuthor struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

// LocalObjectReference names an object in the same namespace.
type LocalObjectReference struct {
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
}

// ArgoCDSpec names the Argo CD objects gitover nudges.
type ArgoCDSpec struct {
	// Namespace where Argo CD's Applications and ApplicationSets live;
	// defaults to the plan's namespace.
	// +optional
	Namespace string `json:"namespace,omitempty"`

	// HubApplication is the Argo CD Application that syncs the hub folder
	// (Placements, ApplicationSets) from Git into the hub cluster.
	// +optional
	HubApplication string `json:"hubApplication,omitempty"`
}

// VerificationSpec bounds convergence.
type VerificationSpec struct {
	// Timeout for a failover to converge after its change lands; default 10m.
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// DivergenceThreshold is how long Git and the live state may disagree
	// before the plan reports Converged=False with a reason; default 5m.
	// +optional
	DivergenceThreshold *metav1.Duration `json:"divergenceThreshold,omitempty"`
}

// DRPlanStatus is what the DRPlan reconciler observed.
type DRPlanStatus struct {
	// ObservedGeneration is the generation the status reflects.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// ActiveSite is the site Git says is active.
	// +optional
	ActiveSite string `json:"activeSite,omitempty"`

	// ObservedSite is the site the live PlacementDecisions and Argo CD
	// Applications say is active; empty when none or several are.
	// +optional
	ObservedSite string `json:"observedSite,omitempty"`

	// Revision is the Git commit ActiveSite was read from.
	// +optional
	Revision string `json:"revision,omitempty"`

	// DivergedSince is when Git and the live state started to disagree.
	// +optional
	DivergedSince *metav1.Time `json:"divergedSince,omitempty"`

	// Conditions: Ready, Converged, Protected.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// DRPlan condition types.
const (
	ConditionReady     = "Ready"
	ConditionConverged = "Converged"
	ConditionProtected = "Protected"
)

// +kubebuilder:object:root=true

// DRPlanList is a list of DRPlans.
type DRPlanList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []DRPlan `json:"items"`
}

func init() {
	SchemeBuilder.Register(&DRPlan{}, &DRPlanList{})
}
