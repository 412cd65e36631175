package v1alpha1

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ApplicationSet generates Applications, here from OCM PlacementDecisions.
//
// +kubebuilder:object:root=true
type ApplicationSet struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              ApplicationSetSpec   `json:"spec"`
	Status            ApplicationSetStatus `json:"status,omitempty"`
}

// ApplicationSetSpec is the generator list and the Application template.
type ApplicationSetSpec struct {
	GoTemplate bool                      `json:"goTemplate,omitempty"`
	Generators []ApplicationSetGenerator `json:"generators"`
	Template   ApplicationSetTemplate    `json:"template"`
}

// ApplicationSetGenerator keeps the clusterDecisionResource generator
// gitover reads; every other generator is carried opaquely.
type ApplicationSetGenerator struct {
	ClusterDecisionResource *DuckTypeGenerator    `json:"clusterDecisionResource,omitempty"`
	List                    *apiextensionsv1.JSON `json:"list,omitempty"`
	Clusters                *apiextensionsv1.JSON `json:"clusters,omitempty"`
	Git                     *apiextensionsv1.JSON `json:"git,omitempty"`
	Matrix                  *apiextensionsv1.JSON `json:"matrix,omitempty"`
	Merge                   *apiextensionsv1.JSON `json:"merge,omitempty"`
}

// DuckTypeGenerator reads cluster decisions (OCM PlacementDecisions).
type DuckTypeGenerator struct {
	ConfigMapRef        string               `json:"configMapRef"`
	Name                string               `json:"name,omitempty"`
	RequeueAfterSeconds *int64               `json:"requeueAfterSeconds,omitempty"`
	LabelSelector       metav1.LabelSelector `json:"labelSelector,omitempty"`
}

// ApplicationSetTemplate is the generated Applications' template.
type ApplicationSetTemplate struct {
	ApplicationSetTemplateMeta `json:"metadata"`
	Spec                       ApplicationSpec `json:"spec"`
}

// ApplicationSetTemplateMeta is the template's metadata.
type ApplicationSetTemplateMeta struct {
	Name        string            `json:"name,omitempty"`
	Namespace   string            `json:"namespace,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Finalizers  []string          `json:"finalizers,omitempty"`
}

// ApplicationSetStatus reports generation problems and the Applications.
type ApplicationSetStatus struct {
	Conditions []ApplicationSetCondition      `json:"conditions,omitempty"`
	Resources  []ApplicationSetResourceStatus `json:"resources,omitempty"`
}

// ApplicationSetCondition is a condition of the ApplicationSet.
type ApplicationSetCondition struct {
	Type               string       `json:"type"`
	Message            string       `json:"message"`
	LastTransitionTime *metav1.Time `json:"lastTransitionTime,omitempty"`
	Status             string       `json:"status"`
	Reason             string       `json:"reason"`
}

// ApplicationSetResourceStatus is one generated Application's status.
type ApplicationSetResourceStatus struct {
	Name      string        `json:"name,omitempty"`
	Namespace string        `json:"namespace,omitempty"`
	Status    string        `json:"status,omitempty"`
	Health    *HealthStatus `json:"health,omitempty"`
}

// +kubebuilder:object:root=true

// ApplicationSetList is a list of ApplicationSets.
type ApplicationSetList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`
	Items           []ApplicationSet `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ApplicationSet{}, &ApplicationSetList{})
}
