package lab

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/util/retry"
	clusterclient "open-cluster-management.io/api/client/cluster/clientset/versioned"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	clusterv1beta2 "open-cluster-management.io/api/cluster/v1beta2"
	"sigs.k8s.io/yaml"
)

// Argo CD object names and labels the lab relies on.
const (
	argoPartOfLabel      = "app.kubernetes.io/part-of"
	argoSecretTypeLabel  = "argocd.argoproj.io/secret-type"
	argoInClusterServer  = "https://kubernetes.default.svc"
	acmPlacementCM       = "acm-placement"
	appSetRefreshAnno    = "argocd.argoproj.io/application-set-refresh"
	appRefreshAnno       = "argocd.argoproj.io/refresh"
	ocmLeaseStoppedCause = "ManagedClusterLeaseUpdateStopped"
)

// crdHashAnnotation records which manifest a CRD was created from, so a
// restart skips CRDs that did not change.
const crdHashAnnotation = "gitover.io/lab-manifest-sha256"

// applyCRDs creates (or replaces, when changed) the OCM cluster CRDs and the
// Argo CD CRDs staged by `make tools` under BinDir/crds, concurrently, and
// waits until they are established. It uses create/update rather than
// server-side apply: Argo CD's CRDs are megabytes of schema, and computing
// managed fields for them costs the apiserver seconds.
func (l *Lab) applyCRDs(ctx context.Context, a *applier) error {
	var crds []*unstructured.Unstructured
	for _, group := range []string{"ocm", "argocd"} {
		files, err := filepath.Glob(filepath.Join(l.st.BinDir, "crds", group, "*.yaml"))
		if err != nil || len(files) == 0 {
			return fmt.Errorf("no %s CRDs in %s (run `make tools`)", group, filepath.Join(l.st.BinDir, "crds", group))
		}
		sort.Strings(files)
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				return fmt.Errorf("reading CRD %s: %w", f, err)
			}
			docs, err := splitYAML(data)
			if err != nil {
				return fmt.Errorf("reading CRD %s: %w", f, err)
			}
			for _, doc := range docs {
				var m map[string]any
				if err := yaml.Unmarshal(doc, &m); err != nil {
					return fmt.Errorf("parsing CRD %s: %w", f, err)
				}
				stripDescriptions(m)
				u := &unstructured.Unstructured{Object: m}
				sum := sha256.Sum256(doc)
				anns := u.GetAnnotations()
				if anns == nil {
					anns = map[string]string{}
				}
				anns[crdHashAnnotation] = hex.EncodeToString(sum[:])
				u.SetAnnotations(anns)
				crds = append(crds, u)
			}
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	names := make([]string, 0, len(crds))
	for _, crd := range crds {
		names = append(names, crd.GetName())
		g.Go(func() error { return createOrReplaceCRD(gctx, a.dyn, crd) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	l.log.V(1).Info("hub CRDs created", "count", len(crds))
	if err := waitCRDsEstablished(ctx, a.dyn, names, 60*time.Second); err != nil {
		return err
	}
	a.mapper.Reset()
	return nil
}

// stripDescriptions removes the "description" texts of a CRD's schemas
// (they are most of Argo CD's CRDs' megabytes; validation does not read
// them), which saves the hub apiserver seconds and memory.
func stripDescriptions(crd map[string]any) {
	versions, _, _ := unstructured.NestedSlice(crd, "spec", "versions")
	for i, v := range versions {
		vm, ok := v.(map[string]any)
		if !ok {
			continue
		}
		if schema, ok, _ := unstructured.NestedMap(vm, "schema", "openAPIV3Schema"); ok {
			dropKey(schema, "description")
			_ = unstructured.SetNestedMap(vm, schema, "schema", "openAPIV3Schema")
		}
		versions[i] = vm
	}
	if len(versions) > 0 {
		_ = unstructured.SetNestedSlice(crd, versions, "spec", "versions")
	}
}

// dropKey deletes key from every schema node under v. Only schema nodes
// carry "description" as documentation; a property named "description" lives
// under "properties" and is kept.
func dropKey(v any, key string) {
	switch t := v.(type) {
	case map[string]any:
		if d, ok := t[key].(string); ok {
			_ = d
			delete(t, key)
		}
		for k, child := range t {
			if k == "properties" {
				if props, ok := child.(map[string]any); ok {
					for _, p := range props {
						dropKey(p, key)
					}
				}
				continue
			}
			dropKey(child, key)
		}
	case []any:
		for _, c := range t {
			dropKey(c, key)
		}
	}
}

// createOrReplaceCRD creates crd, or replaces it when its manifest hash differs.
func createOrReplaceCRD(ctx context.Context, dyn dynamic.Interface, crd *unstructured.Unstructured) error {
	ri := dyn.Resource(crdGVR)
	_, err := ri.Create(ctx, crd, metav1.CreateOptions{FieldManager: fieldManager})
	if err == nil {
		return nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating CRD %s: %w", crd.GetName(), err)
	}
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := ri.Get(ctx, crd.GetName(), metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("reading CRD %s: %w", crd.GetName(), err)
		}
		if cur.GetAnnotations()[crdHashAnnotation] == crd.GetAnnotations()[crdHashAnnotation] {
			return nil
		}
		crd.SetResourceVersion(cur.GetResourceVersion())
		if _, err := ri.Update(ctx, crd, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
			return fmt.Errorf("updating CRD %s: %w", crd.GetName(), err)
		}
		return nil
	})
}

// hubObjects are the hub's OCM and Argo CD objects, applied on every `lab up`.
func (l *Lab) hubObjects() ([]*unstructured.Unstructured, error) {
	st := l.st
	ns := st.ArgoCDNamespace
	ca, err := os.ReadFile(l.pki.CACert)
	if err != nil {
		return nil, fmt.Errorf("reading the lab CA: %w", err)
	}
	gitPW, err := gitPassword(st.Dir)
	if err != nil {
		return nil, err
	}
	secretKey, err := readOrCreateSecret(filepath.Join(l.pki.Dir, "argocd-server.secretkey"), 24)
	if err != nil {
		return nil, err
	}
	var objs []*unstructured.Unstructured
	namespaces := map[string]bool{ns: true, PlacementNamespace: true}
	for _, n := range st.PlacementNamespaces {
		namespaces[n] = true
	}
	names := make([]string, 0, len(namespaces))
	for n := range namespaces {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		objs = append(objs, obj("v1", "Namespace", "", n, nil))
	}

	// OCM: the cluster sets the plan's Placements select from, bound to
	// the Placements' namespaces, and one ManagedCluster per site.
	for _, set := range st.ClusterSets {
		objs = append(objs, obj("cluster.open-cluster-management.io/v1beta2", "ManagedClusterSet", "", set, map[string]any{
			"spec": map[string]any{"clusterSelector": map[string]any{"selectorType": string(clusterv1beta2.ExclusiveClusterSetLabel)}},
		}))
		for _, n := range st.PlacementNamespaces {
			objs = append(objs, obj("cluster.open-cluster-management.io/v1beta2", "ManagedClusterSetBinding", n, set, map[string]any{
				"spec": map[string]any{"clusterSet": set},
			}))
		}
	}
	for _, site := range st.Sites {
		mc := obj("cluster.open-cluster-management.io/v1", "ManagedCluster", "", site.Name, map[string]any{
			"spec": map[string]any{
				"hubAcceptsClient":     true,
				"leaseDurationSeconds": int64(60),
				"managedClusterClientConfigs": []any{map[string]any{
					"url":      st.server(site.Name),
					"caBundle": base64.StdEncoding.EncodeToString(ca),
				}},
			},
		})
		mc.SetLabels(map[string]string{
			st.LabelKey:                    site.LabelValue,
			clusterv1beta2.ClusterSetLabel: st.ClusterSets[0],
			"name":                         site.Name,
		})
		objs = append(objs, mc)
	}

	// Argo CD configuration.
	partOf := map[string]string{argoPartOfLabel: "argocd"}
	for _, name := range []string{"argocd-cm", "argocd-cmd-params-cm", "argocd-rbac-cm"} {
		cm := obj("v1", "ConfigMap", ns, name, nil)
		cm.SetLabels(partOf)
		if name == "argocd-cm" {
			cm.Object["data"] = map[string]any{"application.resourceTrackingMethod": "annotation"}
		}
		objs = append(objs, cm)
	}
	argoSecret := obj("v1", "Secret", ns, "argocd-secret", map[string]any{
		"type":       "Opaque",
		"stringData": map[string]any{"server.secretkey": secretKey},
	})
	argoSecret.SetLabels(partOf)
	objs = append(objs, argoSecret)
	objs = append(objs, obj("argoproj.io/v1alpha1", "AppProject", ns, "default", map[string]any{
		"spec": map[string]any{
			"sourceRepos":              []any{"*"},
			"destinations":             []any{map[string]any{"server": "*", "namespace": "*"}},
			"clusterResourceWhitelist": []any{map[string]any{"group": "*", "kind": "*"}},
		},
	}))
	// Duck type that lets the clusterDecisionResource generator read OCM
	// PlacementDecisions.
	objs = append(objs, obj("v1", "ConfigMap", ns, acmPlacementCM, map[string]any{
		"data": map[string]any{
			"apiVersion":    "cluster.open-cluster-management.io/v1beta1",
			"kind":          "placementdecisions",
			"statusListKey": "decisions",
			"matchKey":      "clusterName",
		},
	}))
	// Cluster secrets, named after the ManagedClusters so that the generator
	// maps a decision's clusterName to a destination.
	for _, c := range st.clusters() {
		cfg, err := json.Marshal(map[string]any{
			"bearerToken":     l.pki.Token,
			"tlsClientConfig": map[string]any{"insecure": false, "caData": base64.StdEncoding.EncodeToString(ca)},
		})
		if err != nil {
			return nil, fmt.Errorf("encoding cluster secret of %s: %w", c, err)
		}
		sec := obj("v1", "Secret", ns, c, map[string]any{
			"type":       "Opaque",
			"stringData": map[string]any{"name": c, "server": st.server(c), "config": string(cfg)},
		})
		sec.SetLabels(map[string]string{argoSecretTypeLabel: "cluster"})
		objs = append(objs, sec)
	}
	repo := obj("v1", "Secret", ns, "gitover-lab-repo", map[string]any{
		"type": "Opaque",
		"stringData": map[string]any{
			"type": "git", "url": st.gitURL(), "username": GitUsername, "password": gitPW,
		},
	})
	repo.SetLabels(map[string]string{argoSecretTypeLabel: "repository"})
	objs = append(objs, repo)
	return objs, nil
}

// hubApplication syncs the repository's hub folder into the hub.
func (l *Lab) hubApplication() *unstructured.Unstructured {
	st := l.st
	return obj("argoproj.io/v1alpha1", "Application", st.ArgoCDNamespace, st.HubApplication, map[string]any{
		"spec": map[string]any{
			"project": "default",
			"source": map[string]any{
				"repoURL":        st.gitURL(),
				"targetRevision": st.Branch,
				"path":           st.HubPath,
			},
			"destination": map[string]any{"server": argoInClusterServer, "namespace": st.ArgoCDNamespace},
			"syncPolicy": map[string]any{
				"automated":   map[string]any{"prune": true, "selfHeal": true},
				"syncOptions": []any{"CreateNamespace=true"},
			},
		},
	})
}

// setClusterAvailable plays OCM's registration hub controllers for one
// ManagedCluster: available (agent lease fresh) sets
// ManagedClusterConditionAvailable=True and removes the unreachable taint;
// unavailable sets it Unknown with reason ManagedClusterLeaseUpdateStopped
// (as the lease controller does when the agent's lease lapses) and adds the
// cluster.open-cluster-management.io/unreachable NoSelect taint (as the taint
// controller does), so Placements stop selecting the cluster.
func setClusterAvailable(ctx context.Context, cc clusterclient.Interface, name string, available bool) error {
	now := metav1.Now()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		mc, err := cc.ClusterV1().ManagedClusters().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		conds := mc.Status.Conditions
		meta.SetStatusCondition(&conds, metav1.Condition{
			Type: clusterv1.ManagedClusterConditionHubAccepted, Status: metav1.ConditionTrue,
			Reason: "HubClusterAdminAccepted", Message: "Accepted by the gitover lab.",
		})
		meta.SetStatusCondition(&conds, metav1.Condition{
			Type: clusterv1.ManagedClusterConditionJoined, Status: metav1.ConditionTrue,
			Reason: "ManagedClusterJoined", Message: "Managed cluster joined (gitover lab).",
		})
		if available {
			meta.SetStatusCondition(&conds, metav1.Condition{
				Type: clusterv1.ManagedClusterConditionAvailable, Status: metav1.ConditionTrue,
				Reason: "ManagedClusterAvailable", Message: "Managed cluster is available (gitover lab).",
			})
		} else {
			meta.SetStatusCondition(&conds, metav1.Condition{
				Type: clusterv1.ManagedClusterConditionAvailable, Status: metav1.ConditionUnknown,
				Reason: ocmLeaseStoppedCause, Message: "Registration agent stopped updating its lease.",
			})
		}
		mc.Status.Conditions = conds
		_, err = cc.ClusterV1().ManagedClusters().UpdateStatus(ctx, mc, metav1.UpdateOptions{FieldManager: "registration-controller"})
		return err
	})
	if err != nil {
		return fmt.Errorf("updating ManagedCluster %s status: %w", name, err)
	}
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		mc, err := cc.ClusterV1().ManagedClusters().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		var taints []clusterv1.Taint
		has := false
		for _, t := range mc.Spec.Taints {
			if t.Key == clusterv1.ManagedClusterTaintUnreachable {
				has = true
				if available {
					continue
				}
			}
			taints = append(taints, t)
		}
		if !available && !has {
			taints = append(taints, clusterv1.Taint{
				Key: clusterv1.ManagedClusterTaintUnreachable, Effect: clusterv1.TaintEffectNoSelect, TimeAdded: now,
			})
		}
		if has == !available {
			return nil // already as wanted
		}
		mc.Spec.Taints = taints
		_, err = cc.ClusterV1().ManagedClusters().Update(ctx, mc, metav1.UpdateOptions{FieldManager: "registration-controller"})
		return err
	})
	if err != nil {
		return fmt.Errorf("updating ManagedCluster %s taints: %w", name, err)
	}
	return nil
}
