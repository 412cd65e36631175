package kubevirtsim

import (
	"context"
	"embed"
	"fmt"
	"path"
	"sort"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"
)

//go:embed crds/*.yaml
var crdFS embed.FS

// CRDs returns the simulated CustomResourceDefinitions: VirtualMachine and
// VirtualMachineInstance (kubevirt.io/v1), DataVolume (cdi.kubevirt.io/v1beta1),
// ReplicationSource and ReplicationDestination (volsync.backube/v1alpha1).
// Each carries the sim.gitover.io/simulation annotation.
func CRDs() ([]*apiextensionsv1.CustomResourceDefinition, error) {
	entries, err := crdFS.ReadDir("crds")
	if err != nil {
		return nil, fmt.Errorf("reading the embedded CRDs: %w", err)
	}
	var out []*apiextensionsv1.CustomResourceDefinition
	for _, e := range entries {
		data, err := crdFS.ReadFile(path.Join("crds", e.Name()))
		if err != nil {
			return nil, fmt.Errorf("reading embedded CRD %s: %w", e.Name(), err)
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.UnmarshalStrict(data, crd); err != nil {
			return nil, fmt.Errorf("parsing embedded CRD %s: %w", e.Name(), err)
		}
		out = append(out, crd)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// CRDYAML returns the embedded CRD manifests by file name, for callers
// that apply them their own way.
func CRDYAML() (map[string][]byte, error) {
	entries, err := crdFS.ReadDir("crds")
	if err != nil {
		return nil, fmt.Errorf("reading the embedded CRDs: %w", err)
	}
	out := map[string][]byte{}
	for _, e := range entries {
		data, err := crdFS.ReadFile(path.Join("crds", e.Name()))
		if err != nil {
			return nil, fmt.Errorf("reading embedded CRD %s: %w", e.Name(), err)
		}
		out[e.Name()] = data
	}
	return out, nil
}

// InstallCRDs creates (or updates) the simulated CRDs and waits until the
// apiserver serves them. Install them before the cluster's
// kube-controller-manager starts, or its garbage collector only learns of
// the new kinds at its next discovery resync (up to 30 s later).
func InstallCRDs(ctx context.Context, cfg *rest.Config) error {
	crds, err := CRDs()
	if err != nil {
		return err
	}
	cs, err := apiextensionsclient.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("building an apiextensions client for %s: %w", cfg.Host, err)
	}
	api := cs.ApiextensionsV1().CustomResourceDefinitions()
	for _, crd := range crds {
		cur, err := api.Get(ctx, crd.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			if _, err := api.Create(ctx, crd, metav1.CreateOptions{FieldManager: LoggerName}); err != nil && !apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("creating CRD %s: %w", crd.Name, err)
			}
		case err != nil:
			return fmt.Errorf("reading CRD %s: %w", crd.Name, err)
		default:
			cur.Spec = crd.Spec
			cur.Labels = crd.Labels
			cur.Annotations = crd.Annotations
			if _, err := api.Update(ctx, cur, metav1.UpdateOptions{FieldManager: LoggerName}); err != nil {
				return fmt.Errorf("updating CRD %s: %w", crd.Name, err)
			}
		}
	}
	for _, crd := range crds {
		err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			cur, err := api.Get(ctx, crd.Name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			for _, c := range cur.Status.Conditions {
				if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			return fmt.Errorf("waiting for CRD %s to be established: %w", crd.Name, err)
		}
	}
	return nil
}
