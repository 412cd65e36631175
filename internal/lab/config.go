package lab

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-logr/logr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	gitoverv1alpha1 "github.com/gitover/gitover/api/v1alpha1"
)

// Defaults of Config.
const (
	// DefaultRepoURLPlaceholder is the repoURL the demo fixtures carry; the
	// lab replaces it with its own Git server's URL when it seeds the repository.
	DefaultRepoURLPlaceholder = "https://git.example.com/gitover/demo.git"
	// DefaultRepoName is the repository's path on the lab's Git server.
	DefaultRepoName = "gitover/demo.git"
	// DefaultBranch is the branch the lab seeds and Argo CD follows.
	DefaultBranch = "main"
	// DefaultArgoCDNamespace is used when the plan names no Argo CD namespace.
	DefaultArgoCDNamespace = "argocd"
	// HubCluster is the name of the hub cluster (kubeconfig context and Argo
	// CD cluster secret).
	HubCluster = "hub"
	// PlacementNamespace is where the OCM placement controller runs.
	PlacementNamespace = "open-cluster-management-hub"
	// GitUsername is the basic-auth user of the lab's Git server.
	GitUsername = "gitover"
)

// DefaultKCMControllers are the kube-controller-manager controllers every lab
// cluster runs, the fewest that let Argo CD's changes take effect:
// garbage collection and namespace deletion (without them Argo CD
// deletions hang in "Pending deletion"); default service accounts (the
// ServiceAccount admission plugin rejects Pods without them); Deployments,
// ReplicaSets and Jobs, whose controllers create Pods and turn the Pods'
// status (reported by the kubelet simulation) into theirs — Available,
// Complete, Failed; and PVC protection, which lifts the
// kubernetes.io/pvc-protection finalizer of a deleted PVC (without it a
// deleted disk stays Terminating forever).
var DefaultKCMControllers = []string{"garbagecollector", "namespace", "serviceaccount", "deployment", "replicaset", "job", "pvc-protection"}

// Cluster describes one lab cluster to ExtraProcesses.
type Cluster struct {
	// Name is hub, or a site name of the plan (dr1, dr2).
	Name string
	// Hub is true for the hub cluster.
	Hub bool
	// Kubeconfig is the path of the cluster's admin kubeconfig.
	Kubeconfig string
	// Server is the apiserver URL (https://127.0.0.1:PORT).
	Server string
	// LabDir is the lab directory (logs in LabDir/logs).
	LabDir string
	// Peers are the other spokes (empty for the hub), e.g. for a replicator
	// that copies from each of them into this cluster.
	Peers []Cluster
}

// Config configures a lab. The zero value of every field has a default
// (see New), except Helper, which the Git server needs.
type Config struct {
	// Dir holds everything the lab writes: state (lab.json), credentials,
	// kubeconfigs, etcd and redis data, Git repositories, logs. Default
	// $HOME/.cache/gitover/lab.
	Dir string
	// BinDir holds the tool binaries and CRDs installed by `make tools`.
	// Default: $GITOVER_LAB_BIN, else the directory of the running
	// executable when it holds kube-apiserver, else ./bin.
	BinDir string
	// Helper is the command prefix that runs the lab's hidden helper
	// subcommands in a background process, e.g. ["/path/gitover", "lab"]:
	// the lab runs Helper + ["serve-git", "--dir", Dir].
	Helper []string
	// PlanFile is the DRPlan whose sites become the spokes and whose
	// cluster label (spec.clusters.labelKey / sites[].labelValue) the
	// ManagedClusters carry. Default testdata/plans/demo-single.yaml.
	PlanFile string
	// RepoDir is the directory copied into the lab's Git repository.
	// Default testdata/repos/demo.
	RepoDir string
	// HubPath is the repository folder the hub Application syncs into the
	// hub (Placements, ApplicationSets). Default hub/single.
	HubPath string
	// RepoURLPlaceholder is replaced by the lab's Git URL in every seeded
	// file. Default DefaultRepoURLPlaceholder.
	RepoURLPlaceholder string
	// RepoName is the repository path on the Git server. Default DefaultRepoName.
	RepoName string
	// Branch is the seeded branch. Default DefaultBranch.
	Branch string
	// KCMControllers are the kube-controller-manager controllers of every
	// cluster. Default DefaultKCMControllers.
	KCMControllers []string
	// PrepareCluster runs for each cluster once its apiserver is ready and
	// before its kube-controller-manager starts — the place to install
	// CRDs, so that the garbage collector watches them from its first
	// discovery (it notices new resources only at its next resync, up to
	// 30 s later). Called for the hub and each spoke.
	PrepareCluster func(ctx context.Context, c Cluster, cfg *rest.Config) error
	// ExtraProcesses returns further background processes for a cluster,
	// started once the controllers run and stopped by Down (the hook for
	// the simulations: see labcmd.WithSimulations). Called for the hub and
	// each spoke.
	ExtraProcesses func(Cluster) []ProcessSpec
	// WaitApplications makes Up also wait, once the hub Application is
	// Synced and Healthy, until every Application the hub's
	// ApplicationSets generated is Synced and Healthy (the demo
	// application deployed where OCM decided).
	WaitApplications bool
	// KeepOnFailure leaves the processes running when Up fails, for
	// debugging (`lab down` stops them).
	KeepOnFailure bool
	// Logger receives progress messages. Default: discard.
	Logger logr.Logger
}

// plan is what the lab takes from the DRPlan.
type plan struct {
	Name            string
	Namespace       string
	LabelKey        string
	Sites           []gitoverv1alpha1.Site
	ArgoCDNamespace string
	HubApplication  string
	PlacementFiles  []gitoverv1alpha1.PlacementRef
}

// loadPlan reads a DRPlan YAML file.
func loadPlan(path string) (*plan, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading plan %s: %w", path, err)
	}
	var p gitoverv1alpha1.DRPlan
	if err := yaml.UnmarshalStrict(data, &p); err != nil {
		// Unknown fields may be newer API additions: retry leniently.
		if err2 := yaml.Unmarshal(data, &p); err2 != nil {
			return nil, fmt.Errorf("parsing plan %s: %w", path, err2)
		}
	}
	if p.Kind != "DRPlan" {
		return nil, fmt.Errorf("plan %s: kind is %q, want DRPlan", path, p.Kind)
	}
	if p.Spec.Clusters.LabelKey == "" {
		return nil, fmt.Errorf("plan %s: spec.clusters.labelKey is empty", path)
	}
	if len(p.Spec.Clusters.Sites) == 0 {
		return nil, fmt.Errorf("plan %s: spec.clusters.sites is empty", path)
	}
	for _, s := range p.Spec.Clusters.Sites {
		if s.Name == "" || s.LabelValue == "" {
			return nil, fmt.Errorf("plan %s: a site lacks name or labelValue", path)
		}
		if s.Name == HubCluster {
			return nil, fmt.Errorf("plan %s: site name %q is reserved for the lab's hub", path, HubCluster)
		}
	}
	out := &plan{
		Name:            p.Name,
		Namespace:       p.Namespace,
		LabelKey:        p.Spec.Clusters.LabelKey,
		Sites:           p.Spec.Clusters.Sites,
		ArgoCDNamespace: p.Spec.ArgoCD.Namespace,
		HubApplication:  p.Spec.ArgoCD.HubApplication,
		PlacementFiles:  p.Spec.Placements,
	}
	if out.ArgoCDNamespace == "" {
		out.ArgoCDNamespace = DefaultArgoCDNamespace
	}
	if out.HubApplication == "" {
		out.HubApplication = strings.TrimSuffix(p.Name+"-hub", "-")
		if p.Name == "" {
			out.HubApplication = "gitover-hub"
		}
	}
	return out, nil
}

// clusterSets reads the plan's Placement manifests in repoDir and returns the
// ManagedClusterSets they select from and the namespaces they live in.
func (p *plan) clusterSets(repoDir string) (sets, namespaces []string, err error) {
	seenSet, seenNS := map[string]bool{}, map[string]bool{}
	for _, ref := range p.PlacementFiles {
		data, err := os.ReadFile(filepath.Join(repoDir, filepath.FromSlash(ref.File)))
		if err != nil {
			return nil, nil, fmt.Errorf("reading placement %s of the plan: %w", ref.File, err)
		}
		docs, err := splitYAML(data)
		if err != nil {
			return nil, nil, fmt.Errorf("parsing %s: %w", ref.File, err)
		}
		for _, doc := range docs {
			var obj struct {
				Kind     string `json:"kind"`
				Metadata struct {
					Name      string `json:"name"`
					Namespace string `json:"namespace"`
				} `json:"metadata"`
				Spec struct {
					ClusterSets []string `json:"clusterSets"`
				} `json:"spec"`
			}
			if err := yaml.Unmarshal(doc, &obj); err != nil {
				return nil, nil, fmt.Errorf("parsing %s: %w", ref.File, err)
			}
			if obj.Kind != "Placement" || obj.Metadata.Name != ref.Name {
				continue
			}
			ns := obj.Metadata.Namespace
			if ns == "" {
				ns = p.ArgoCDNamespace
			}
			if !seenNS[ns] {
				seenNS[ns] = true
				namespaces = append(namespaces, ns)
			}
			for _, s := range obj.Spec.ClusterSets {
				if !seenSet[s] {
					seenSet[s] = true
					sets = append(sets, s)
				}
			}
		}
	}
	if len(sets) == 0 {
		sets = []string{"default"}
	}
	if len(namespaces) == 0 {
		namespaces = []string{p.ArgoCDNamespace}
	}
	return sets, namespaces, nil
}

// splitYAML splits a multi-document YAML stream, dropping documents that
// hold nothing but comments or whitespace.
func splitYAML(data []byte) ([][]byte, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("splitting YAML documents: %w", err)
		}
		var v any
		if err := yaml.Unmarshal(doc, &v); err != nil {
			return nil, fmt.Errorf("parsing YAML document: %w", err)
		}
		if v == nil {
			continue
		}
		docs = append(docs, doc)
	}
}

// defaultBinDir finds the tool binaries.
func defaultBinDir() string {
	if d := os.Getenv("GITOVER_LAB_BIN"); d != "" {
		return d
	}
	if exe, err := os.Executable(); err == nil {
		d := filepath.Dir(exe)
		if _, err := os.Stat(filepath.Join(d, "kube-apiserver")); err == nil {
			return d
		}
	}
	if abs, err := filepath.Abs("bin"); err == nil {
		return abs
	}
	return "bin"
}

// defaultDir is $HOME/.cache/gitover/lab.
func defaultDir() (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("finding the home directory for the default lab directory: %w", err)
	}
	return filepath.Join(home, ".cache", "gitover", "lab"), nil
}

// DefaultDir returns the lab directory used when none is given.
func DefaultDir() (string, error) { return defaultDir() }

// ErrNotRunning is returned (wrapped) when no lab is recorded in a directory
// or its core processes are not running.
var ErrNotRunning = errors.New("lab is not running")
