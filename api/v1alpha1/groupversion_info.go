// Package v1alpha1 holds gitover's API: DRPlan (one per protected application)
// and Failover (one per requested failover or relocation).
//
// +kubebuilder:object:generate=true
// +groupName=gitover.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the API group and version of gitover's objects.
	GroupVersion = schema.GroupVersion{Group: "gitover.io", Version: "v1alpha1"}

	// SchemeBuilder registers gitover's types with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds gitover's types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
