package roundtrip

import (
	"time"

	argo "github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
	"github.com/argoproj/gitops-engine/pkg/health"
	synccommon "github.com/argoproj/gitops-engine/pkg/sync/common"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The fixtures are Argo CD v2 objects as the application and applicationset
// controllers write them for a gitover-managed site, with every field
// gitover's types declare set to a distinctive value, and many fields
// gitover does not declare set as well (they must not disturb the decoding).

func ptr[T any](v T) *T { return &v }

func at(minute int) metav1.Time {
	return metav1.NewTime(time.Date(2026, 5, 6, 7, minute, 9, 0, time.UTC))
}

// source returns a fully populated ApplicationSource; n makes its values unique.
func source(n string) argo.ApplicationSource {
	return argo.ApplicationSource{
		RepoURL:        "https://git.example.com/dr/" + n + ".git",
		Path:           "apps/" + n + "/overlays/east",
		TargetRevision: "release-" + n,
		Chart:          "chart-" + n,
		Ref:            "ref-" + n,
		Name:           "source-" + n,
		Helm: &argo.ApplicationSourceHelm{
			ValueFiles:  []string{"values-" + n + ".yaml"},
			ReleaseName: "release-" + n,
			Parameters:  []argo.HelmParameter{{Name: "replicas", Value: "2", ForceString: true}},
		},
		Kustomize: &argo.ApplicationSourceKustomize{
			NamePrefix:   "pre-" + n,
			Images:       argo.KustomizeImages{argo.KustomizeImage("ghcr.io/example/storefront=ghcr.io/example/storefront:2.8." + n)},
			CommonLabels: map[string]string{"dr.example.com/site": "east"},
		},
		Directory: &argo.ApplicationSourceDirectory{Recurse: true, Include: "*.yaml"},
		Plugin: &argo.ApplicationSourcePlugin{
			Name: "plugin-" + n,
			Env:  argo.Env{{Name: "SITE", Value: "east"}},
		},
	}
}

// spec returns a fully populated ApplicationSpec.
func spec(n string) argo.ApplicationSpec {
	src := source(n + "0")
	return argo.ApplicationSpec{
		Source:  &src,
		Sources: argo.ApplicationSources{source(n + "1"), source(n + "2")},
		Destination: argo.ApplicationDestination{
			Server:    "https://spoke-" + n + ".example.com:6443",
			Namespace: "shop-" + n,
			Name:      "cluster-" + n,
		},
		Project: "project-" + n,
		SyncPolicy: &argo.SyncPolicy{
			Automated:   &argo.SyncPolicyAutomated{Prune: true, SelfHeal: true, AllowEmpty: true},
			SyncOptions: argo.SyncOptions{"CreateNamespace=true", "PruneLast=" + n},
			Retry: &argo.RetryStrategy{
				Limit:   5,
				Backoff: &argo.Backoff{Duration: "5s", Factor: ptr(int64(2)), MaxDuration: "3m"},
			},
			ManagedNamespaceMetadata: &argo.ManagedNamespaceMetadata{Labels: map[string]string{"team": "dr"}},
		},
		IgnoreDifferences: argo.IgnoreDifferences{{
			Group: "kubevirt.io", Kind: "VirtualMachine", JSONPointers: []string{"/spec/running"},
		}},
		Info:                 []argo.Info{{Name: "owner", Value: "dr-team"}},
		RevisionHistoryLimit: ptr(int64(3)),
	}
}

func objectMeta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:              name,
		Namespace:         "argocd",
		UID:               "6f1c2b1e-0000-4000-8000-" + "00000000000a",
		ResourceVersion:   "4242",
		Generation:        7,
		CreationTimestamp: at(1),
		Labels:            map[string]string{"app.kubernetes.io/part-of": "storefront"},
		Annotations: map[string]string{
			argo.AnnotationKeyRefresh:                    string(argo.RefreshTypeHard),
			"argocd.argoproj.io/manifest-generate-paths": ".",
		},
		Finalizers: []string{argo.ResourcesFinalizerName, "example.com/keep"},
		OwnerReferences: []metav1.OwnerReference{{
			APIVersion: "argoproj.io/v1alpha1", Kind: "ApplicationSet", Name: "storefront", UID: "appset-uid",
			Controller: ptr(true), BlockOwnerDeletion: ptr(true),
		}},
	}
}

func fixtureApplication() *argo.Application {
	t2, t3, t4 := at(2), at(3), at(4)
	return &argo.Application{
		TypeMeta:   metav1.TypeMeta{APIVersion: "argoproj.io/v1alpha1", Kind: "Application"},
		ObjectMeta: objectMeta("east-storefront"),
		Spec:       spec("a"),
		Status: argo.ApplicationStatus{
			Resources: []argo.ResourceStatus{
				{
					Group: "kubevirt.io", Version: "v1", Kind: "VirtualMachine", Namespace: "shop", Name: "db",
					Status: argo.SyncStatusCodeSynced,
					Health: &argo.HealthStatus{Status: health.HealthStatusHealthy, Message: "Running", LastTransitionTime: &t2},
					Hook:   true, RequiresPruning: true, SyncWave: 2, RequiresDeletionConfirmation: true,
				},
				{
					Version: "v1", Kind: "PersistentVolumeClaim", Namespace: "shop", Name: "db-disk",
					Status: argo.SyncStatusCodeOutOfSync,
					Health: &argo.HealthStatus{Status: health.HealthStatusProgressing, Message: "Pending"},
				},
			},
			Sync: argo.SyncStatus{
				Status: argo.SyncStatusCodeOutOfSync,
				ComparedTo: argo.ComparedTo{
					Source:      source("c"),
					Destination: argo.ApplicationDestination{Server: "https://kubernetes.default.svc", Namespace: "shop"},
				},
				Revision:  "0f1e2d3c4b5a69788796a5b4c3d2e1f001234567",
				Revisions: []string{"1111111111111111111111111111111111111111", "2222222222222222222222222222222222222222"},
			},
			Health: argo.HealthStatus{Status: health.HealthStatusDegraded, Message: "VirtualMachine is not ready", LastTransitionTime: &t3},
			History: argo.RevisionHistories{{
				ID: 4, Revision: "3333333333333333333333333333333333333333", DeployedAt: at(5), Source: source("h"),
				DeployStartedAt: &t2, InitiatedBy: argo.OperationInitiator{Username: "gitover", Automated: true},
			}},
			Conditions: []argo.ApplicationCondition{
				{Type: argo.ApplicationConditionSyncError, Message: "one or more objects failed to apply", LastTransitionTime: &t4},
				{Type: argo.ApplicationConditionComparisonError, Message: "rpc error"},
			},
			ReconciledAt: &t3,
			OperationState: &argo.OperationState{
				Operation: argo.Operation{Sync: &argo.SyncOperation{Revision: "4444444444444444444444444444444444444444", Prune: true}},
				Phase:     synccommon.OperationRunning,
				Message:   "waiting for healthy state of kubevirt.io/VirtualMachine/db",
				SyncResult: &argo.SyncOperationResult{
					Resources: argo.ResourceResults{{
						Group: "kubevirt.io", Version: "v1", Kind: "VirtualMachine", Namespace: "shop", Name: "db",
						Status: synccommon.ResultCodeSynced, Message: "configured",
						HookPhase: synccommon.OperationRunning, SyncPhase: synccommon.SyncPhaseSync,
					}},
					Revision:  "5555555555555555555555555555555555555555",
					Source:    source("r"),
					Sources:   argo.ApplicationSources{source("r1")},
					Revisions: []string{"6666666666666666666666666666666666666666", "7777777777777777777777777777777777777777"},
				},
				StartedAt:  at(6),
				FinishedAt: &t4,
				RetryCount: 2,
			},
			ObservedAt:           &t2,
			SourceType:           argo.ApplicationSourceTypeKustomize,
			Summary:              argo.ApplicationSummary{Images: []string{"ghcr.io/example/storefront:2.8.1"}},
			ResourceHealthSource: argo.ResourceHealthLocationInline,
			SourceTypes:          []argo.ApplicationSourceType{argo.ApplicationSourceTypeKustomize, argo.ApplicationSourceTypeHelm},
			ControllerNamespace:  "argocd",
		},
		Operation: &argo.Operation{
			Sync:        &argo.SyncOperation{Revision: "8888888888888888888888888888888888888888"},
			InitiatedBy: argo.OperationInitiator{Username: "admin"},
		},
	}
}

func rawJSON(s string) apiextensionsv1.JSON { return apiextensionsv1.JSON{Raw: []byte(s)} }

func selector(v string) metav1.LabelSelector {
	return metav1.LabelSelector{
		MatchLabels: map[string]string{"cluster.open-cluster-management.io/placement": v},
		MatchExpressions: []metav1.LabelSelectorRequirement{{
			Key: "dr.example.com/site", Operator: metav1.LabelSelectorOpIn, Values: []string{"east", v},
		}},
	}
}

func fixtureApplicationSet() *argo.ApplicationSet {
	t1 := at(11)
	list := &argo.ListGenerator{Elements: []apiextensionsv1.JSON{rawJSON(`{"cluster":"east","url":"https://east.example.com"}`)}}
	clusters := &argo.ClusterGenerator{Selector: selector("clusters"), Values: map[string]string{"site": "east"}, FlatList: true}
	return &argo.ApplicationSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "argoproj.io/v1alpha1", Kind: "ApplicationSet"},
		ObjectMeta: objectMeta("storefront"),
		Spec: argo.ApplicationSetSpec{
			GoTemplate:        true,
			GoTemplateOptions: []string{"missingkey=error"},
			Generators: []argo.ApplicationSetGenerator{
				{ClusterDecisionResource: &argo.DuckTypeGenerator{
					ConfigMapRef:        "ocm-placement-generator",
					Name:                "storefront-placement",
					RequeueAfterSeconds: ptr(int64(30)),
					LabelSelector:       selector("storefront-placement"),
					Values:              map[string]string{"overlay": "east"},
				}},
				{List: list, Selector: ptr(selector("post-filter"))},
				{Clusters: clusters},
				{Git: &argo.GitGenerator{
					RepoURL: "https://git.example.com/dr/hub.git", Revision: "main",
					Directories: []argo.GitDirectoryGeneratorItem{{Path: "apps/*"}, {Path: "apps/tmp", Exclude: true}},
				}},
				{Matrix: &argo.MatrixGenerator{Generators: []argo.ApplicationSetNestedGenerator{{List: list}, {Clusters: clusters}}}},
				{Merge: &argo.MergeGenerator{
					Generators: []argo.ApplicationSetNestedGenerator{{Clusters: clusters}, {List: list}},
					MergeKeys:  []string{"server"},
				}},
				{Plugin: &argo.PluginGenerator{ConfigMapRef: argo.PluginConfigMapRef{Name: "plugin"}, Values: map[string]string{"a": "b"}}},
				{PullRequest: &argo.PullRequestGenerator{Github: &argo.PullRequestGeneratorGithub{Owner: "example", Repo: "dr"}}},
			},
			Template: argo.ApplicationSetTemplate{
				ApplicationSetTemplateMeta: argo.ApplicationSetTemplateMeta{
					Name:        "{{.name}}-storefront",
					Namespace:   "argocd",
					Labels:      map[string]string{"app.kubernetes.io/part-of": "storefront", "dr.example.com/site": "{{.name}}"},
					Annotations: map[string]string{"argocd.argoproj.io/manifest-generate-paths": "."},
					Finalizers:  []string{argo.ResourcesFinalizerName},
				},
				Spec: spec("t"),
			},
			SyncPolicy: &argo.ApplicationSetSyncPolicy{
				PreserveResourcesOnDeletion: true,
				ApplicationsSync:            ptr(argo.ApplicationsSyncPolicyCreateUpdate),
			},
			Strategy: &argo.ApplicationSetStrategy{
				Type: "RollingSync",
				RollingSync: &argo.ApplicationSetRolloutStrategy{Steps: []argo.ApplicationSetRolloutStep{{
					MatchExpressions: []argo.ApplicationMatchExpression{{Key: "site", Operator: "In", Values: []string{"east"}}},
					MaxUpdate:        ptr(intstr.FromString("50%")),
				}}},
			},
			PreservedFields:              &argo.ApplicationPreservedFields{Annotations: []string{"note"}, Labels: []string{"keep"}},
			ApplyNestedSelectors:         true,
			IgnoreApplicationDifferences: argo.ApplicationSetIgnoreDifferences{{JSONPointers: []string{"/spec/syncPolicy"}}},
			TemplatePatch:                ptr(`spec: {project: "{{.project}}"}`),
		},
		Status: argo.ApplicationSetStatus{
			Conditions: []argo.ApplicationSetCondition{
				{
					Type:               argo.ApplicationSetConditionResourcesUpToDate,
					Message:            "All applications have been generated successfully",
					LastTransitionTime: &t1,
					Status:             argo.ApplicationSetConditionStatusTrue,
					Reason:             argo.ApplicationSetReasonApplicationSetUpToDate,
				},
				{
					Type:    argo.ApplicationSetConditionErrorOccurred,
					Message: "Successfully generated parameters for all Applications",
					Status:  argo.ApplicationSetConditionStatusFalse,
					Reason:  argo.ApplicationSetReasonApplicationSetUpToDate,
				},
			},
			ApplicationStatus: []argo.ApplicationSetApplicationStatus{{
				Application: "east-storefront", Message: "Application resource is already Healthy", Status: "Healthy", Step: "1",
				TargetRevisions: []string{"9999999999999999999999999999999999999999"},
			}},
			Resources: []argo.ResourceStatus{
				{
					Group: "argoproj.io", Version: "v1alpha1", Kind: "Application", Namespace: "argocd", Name: "east-storefront",
					Status: argo.SyncStatusCodeSynced,
					Health: &argo.HealthStatus{Status: health.HealthStatusHealthy, Message: "all resources healthy", LastTransitionTime: &t1},
				},
				{
					Group: "argoproj.io", Version: "v1alpha1", Kind: "Application", Namespace: "argocd", Name: "west-storefront",
					Status: argo.SyncStatusCodeOutOfSync,
					Health: &argo.HealthStatus{Status: health.HealthStatusMissing},
				},
			},
		},
	}
}
