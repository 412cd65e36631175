// Package v1alpha1 holds gitover's own, minimal, wire-compatible types for
// Argo CD's Application and ApplicationSet (group argoproj.io, version
// v1alpha1): only the fields gitover reads or writes. Importing Argo CD's
// module would pin the whole build (see DESIGN.md, "Argo CD Go types");
// test/argocdcompat, a separate Go module, proves these fields round-trip
// with Argo CD's official types.
//
// +kubebuilder:object:generate=true
// +groupName=argoproj.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is Argo CD's API group and version.
	GroupVersion = schema.GroupVersion{Group: "argoproj.io", Version: "v1alpha1"}
	// SchemeBuilder registers the types.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}
	// AddToScheme adds the types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// Annotations gitover sets to make Argo CD act now instead of at its next poll.
const (
	// AnnotationRefresh on an Application asks the application controller
	// to compare it again ("normal") or also regenerate manifests ("hard").
	AnnotationRefresh = "argocd.argoproj.io/refresh"
	// AnnotationAppSetRefresh on an ApplicationSet asks the
	// applicationset controller to regenerate its Applications now.
	AnnotationAppSetRefresh = "argocd.argoproj.io/application-set-refresh"
	// AnnotationTrackingID is Argo CD's resource tracking annotation.
	AnnotationTrackingID = "argocd.argoproj.io/tracking-id"
	// FinalizerResources makes Argo CD delete an Application's resources (foreground).
	FinalizerResources = "resources-finalizer.argocd.argoproj.io"
	// FinalizerPreDelete is set by Argo CD (>= 3.3) on Applications whose
	// manifests hold PreDelete hooks: proof the hooks will run on deletion.
	FinalizerPreDelete = "pre-delete-finalizer.argocd.argoproj.io"
)
