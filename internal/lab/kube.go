package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/yaml"
)

// fieldManager owns everything the lab applies.
const fieldManager = "gitover-lab"

// server returns the apiserver URL of a cluster.
func (s *state) server(cluster string) string {
	return fmt.Sprintf("https://127.0.0.1:%d", s.Ports.APIServers[cluster])
}

// kubeconfigPath is the admin kubeconfig of one cluster.
func kubeconfigPath(dir, cluster string) string {
	return filepath.Join(dir, "kubeconfig", cluster+".yaml")
}

// mergedKubeconfigPath holds one context per cluster (current: hub).
func mergedKubeconfigPath(dir string) string {
	return filepath.Join(dir, "kubeconfig", "lab.yaml")
}

// writeKubeconfigs writes one kubeconfig per cluster and a merged one.
func writeKubeconfigs(s *state, p *pki) error {
	ca, err := os.ReadFile(p.CACert)
	if err != nil {
		return fmt.Errorf("reading the lab CA: %w", err)
	}
	merged := clientcmdapi.NewConfig()
	for _, c := range s.clusters() {
		one := clientcmdapi.NewConfig()
		for _, cfg := range []*clientcmdapi.Config{one, merged} {
			cfg.Clusters[c] = &clientcmdapi.Cluster{Server: s.server(c), CertificateAuthorityData: ca}
			cfg.AuthInfos[c+"-admin"] = &clientcmdapi.AuthInfo{Token: p.Token}
			cfg.Contexts[c] = &clientcmdapi.Context{Cluster: c, AuthInfo: c + "-admin"}
		}
		one.CurrentContext = c
		path := kubeconfigPath(s.Dir, c)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return fmt.Errorf("creating kubeconfig directory: %w", err)
		}
		if err := clientcmd.WriteToFile(*one, path); err != nil {
			return fmt.Errorf("writing kubeconfig of %s: %w", c, err)
		}
	}
	merged.CurrentContext = HubCluster
	if err := clientcmd.WriteToFile(*merged, mergedKubeconfigPath(s.Dir)); err != nil {
		return fmt.Errorf("writing the lab kubeconfig: %w", err)
	}
	return nil
}

// restConfig builds the admin rest.Config of a cluster.
func restConfig(s *state, p *pki, cluster string) (*rest.Config, error) {
	if _, ok := s.Ports.APIServers[cluster]; !ok {
		return nil, fmt.Errorf("no cluster %q in the lab (have %v)", cluster, s.clusters())
	}
	ca, err := os.ReadFile(p.CACert)
	if err != nil {
		return nil, fmt.Errorf("reading the lab CA: %w", err)
	}
	return &rest.Config{
		Host:            s.server(cluster),
		BearerToken:     p.Token,
		TLSClientConfig: rest.TLSClientConfig{CAData: ca},
		QPS:             100,
		Burst:           200,
		Timeout:         30 * time.Second,
	}, nil
}

// waitAPIServer waits until /readyz answers ok, failing early when the
// process died.
func waitAPIServer(ctx context.Context, cfg *rest.Config, proc *Process, timeout time.Duration) error {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("building client for %s: %w", cfg.Host, err)
	}
	return waitFor(ctx, timeout, 100*time.Millisecond, "apiserver "+cfg.Host+" to be ready", func(ctx context.Context) (bool, error) {
		if proc != nil && !proc.Alive() {
			return false, fmt.Errorf("%w: %s (see %s)", errProcessExited, proc.Name, proc.Log)
		}
		body, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").Timeout(2 * time.Second).Do(ctx).Raw()
		if err != nil {
			return false, err
		}
		return string(body) == "ok", nil
	})
}

// applier applies unstructured objects with server-side apply.
type applier struct {
	dyn    dynamic.Interface
	mapper *restmapper.DeferredDiscoveryRESTMapper
}

func newApplier(cfg *rest.Config) (*applier, error) {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("building dynamic client for %s: %w", cfg.Host, err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("building discovery client for %s: %w", cfg.Host, err)
	}
	return &applier{dyn: dyn, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))}, nil
}

// resource returns the dynamic resource interface of obj's kind.
func (a *applier) resource(gvk schema.GroupVersionKind, namespace string) (dynamic.ResourceInterface, error) {
	m, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		a.mapper.Reset()
		m, err = a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	if err != nil {
		return nil, fmt.Errorf("mapping %s: %w", gvk, err)
	}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		return a.dyn.Resource(m.Resource).Namespace(namespace), nil
	}
	return a.dyn.Resource(m.Resource), nil
}

// apply server-side applies obj (forcing ownership: the lab is the owner).
func (a *applier) apply(ctx context.Context, obj *unstructured.Unstructured) error {
	ri, err := a.resource(obj.GroupVersionKind(), obj.GetNamespace())
	if err != nil {
		return err
	}
	if _, err := ri.Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: fieldManager, Force: true}); err != nil {
		return fmt.Errorf("applying %s %s/%s: %w", obj.GetKind(), obj.GetNamespace(), obj.GetName(), err)
	}
	return nil
}

// applyYAML applies every document of a YAML stream.
func (a *applier) applyYAML(ctx context.Context, data []byte) ([]*unstructured.Unstructured, error) {
	docs, err := splitYAML(data)
	if err != nil {
		return nil, err
	}
	var objs []*unstructured.Unstructured
	for _, doc := range docs {
		var m map[string]any
		if err := yaml.Unmarshal(doc, &m); err != nil {
			return nil, fmt.Errorf("parsing manifest: %w", err)
		}
		u := &unstructured.Unstructured{Object: m}
		if err := a.apply(ctx, u); err != nil {
			return nil, err
		}
		objs = append(objs, u)
	}
	return objs, nil
}

// obj builds an unstructured object.
func obj(apiVersion, kind, namespace, name string, fields map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{}}
	for k, v := range fields {
		u.Object[k] = v
	}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetName(name)
	if namespace != "" {
		u.SetNamespace(namespace)
	}
	return u
}

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// waitCRDsEstablished waits until every named CRD reports Established.
func waitCRDsEstablished(ctx context.Context, dyn dynamic.Interface, names []string, timeout time.Duration) error {
	for _, name := range names {
		err := waitFor(ctx, timeout, 100*time.Millisecond, "CRD "+name+" to be established", func(ctx context.Context) (bool, error) {
			u, err := dyn.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
			for _, c := range conds {
				cm, _ := c.(map[string]any)
				if cm["type"] == "Established" && cm["status"] == "True" {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
