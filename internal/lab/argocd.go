package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// GVRs of the Argo CD and OCM objects the lab reads.
var (
	ApplicationGVR       = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "applications"}
	ApplicationSetGVR    = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "applicationsets"}
	PlacementDecisionGVR = schema.GroupVersionResource{Group: "cluster.open-cluster-management.io", Version: "v1beta1", Resource: "placementdecisions"}
	ManagedClusterGVR    = schema.GroupVersionResource{Group: "cluster.open-cluster-management.io", Version: "v1", Resource: "managedclusters"}
)

// AppStatus is the part of an Argo CD Application's status the lab reports.
type AppStatus struct {
	Name string
	// Exists is false when the Application is absent.
	Exists bool
	// Deleting is true once the Application has a deletion timestamp.
	Deleting bool
	// Destination is spec.destination.name or .server.
	Destination string
	// Sync is status.sync.status (Synced, OutOfSync, Unknown).
	Sync string
	// Revision is status.sync.revision (the Git commit compared).
	Revision string
	// Health is status.health.status (Healthy, Progressing, Missing, ...).
	Health string
	// OperationPhase is status.operationState.phase.
	OperationPhase string
	// Resources are the managed resources of status.resources.
	Resources []AppResource
}

// AppResource is one entry of an Application's status.resources.
type AppResource struct {
	Group, Kind, Namespace, Name string
	// Sync and Health are the resource's sync and health status.
	Sync, Health string
}

// AppCondition is a predicate on an Application's status.
type AppCondition func(AppStatus) bool

// SyncedAndHealthy holds when the Application exists, is Synced and Healthy,
// and (when revision is not empty) synced at that revision.
func SyncedAndHealthy(revision string) AppCondition {
	return func(s AppStatus) bool {
		return s.Exists && !s.Deleting && s.Sync == "Synced" && s.Health == "Healthy" &&
			(revision == "" || s.Revision == revision)
	}
}

// Gone holds when the Application no longer exists.
func Gone() AppCondition { return func(s AppStatus) bool { return !s.Exists } }

// Application reads one Application in the Argo CD namespace.
func (l *Lab) Application(ctx context.Context, name string) (AppStatus, error) {
	d, err := l.Dynamic(HubCluster)
	if err != nil {
		return AppStatus{}, err
	}
	u, err := d.Resource(ApplicationGVR).Namespace(l.st.ArgoCDNamespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return AppStatus{Name: name}, nil
	}
	if err != nil {
		return AppStatus{}, fmt.Errorf("reading Application %s: %w", name, err)
	}
	return appStatus(u), nil
}

// Applications lists the Applications in the Argo CD namespace.
func (l *Lab) Applications(ctx context.Context) ([]AppStatus, error) {
	d, err := l.Dynamic(HubCluster)
	if err != nil {
		return nil, err
	}
	list, err := d.Resource(ApplicationGVR).Namespace(l.st.ArgoCDNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing Applications: %w", err)
	}
	out := make([]AppStatus, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, appStatus(&list.Items[i]))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func appStatus(u *unstructured.Unstructured) AppStatus {
	s := AppStatus{Name: u.GetName(), Exists: true, Deleting: u.GetDeletionTimestamp() != nil}
	s.Destination, _, _ = unstructured.NestedString(u.Object, "spec", "destination", "name")
	if s.Destination == "" {
		s.Destination, _, _ = unstructured.NestedString(u.Object, "spec", "destination", "server")
	}
	s.Sync, _, _ = unstructured.NestedString(u.Object, "status", "sync", "status")
	s.Revision, _, _ = unstructured.NestedString(u.Object, "status", "sync", "revision")
	s.Health, _, _ = unstructured.NestedString(u.Object, "status", "health", "status")
	s.OperationPhase, _, _ = unstructured.NestedString(u.Object, "status", "operationState", "phase")
	res, _, _ := unstructured.NestedSlice(u.Object, "status", "resources")
	for _, r := range res {
		m, ok := r.(map[string]any)
		if !ok {
			continue
		}
		ar := AppResource{}
		ar.Group, _ = m["group"].(string)
		ar.Kind, _ = m["kind"].(string)
		ar.Namespace, _ = m["namespace"].(string)
		ar.Name, _ = m["name"].(string)
		ar.Sync, _ = m["status"].(string)
		if h, ok := m["health"].(map[string]any); ok {
			ar.Health, _ = h["status"].(string)
		}
		s.Resources = append(s.Resources, ar)
	}
	return s
}

// WaitApplication polls the Application until cond holds or timeout passes.
func (l *Lab) WaitApplication(ctx context.Context, name string, timeout time.Duration, cond AppCondition) error {
	var last AppStatus
	err := waitFor(ctx, timeout, 100*time.Millisecond, "Application "+name, func(ctx context.Context) (bool, error) {
		s, err := l.Application(ctx, name)
		if err != nil {
			return false, err
		}
		last = s
		return cond(s), nil
	})
	if err != nil {
		return fmt.Errorf("%w (last seen: exists=%t sync=%q health=%q revision=%q operation=%q)",
			err, last.Exists, last.Sync, last.Health, last.Revision, last.OperationPhase)
	}
	return nil
}

// annotate merge-patches one annotation onto an object of the hub.
func (l *Lab) annotate(ctx context.Context, gvr schema.GroupVersionResource, name, key, value string) error {
	d, err := l.Dynamic(HubCluster)
	if err != nil {
		return err
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]any{key: value}}})
	if err != nil {
		return fmt.Errorf("encoding annotation patch: %w", err)
	}
	if _, err := d.Resource(gvr).Namespace(l.st.ArgoCDNamespace).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("annotating %s %s with %s: %w", gvr.Resource, name, key, err)
	}
	return nil
}

// NudgeApplicationSet asks the applicationset-controller to regenerate an
// ApplicationSet now (argocd.argoproj.io/application-set-refresh: "true")
// instead of at its next requeue.
func (l *Lab) NudgeApplicationSet(ctx context.Context, name string) error {
	return l.annotate(ctx, ApplicationSetGVR, name, appSetRefreshAnno, "true")
}

// RefreshApplication asks the application-controller to re-read Git for an
// Application now (argocd.argoproj.io/refresh: normal).
func (l *Lab) RefreshApplication(ctx context.Context, name string) error {
	return l.annotate(ctx, ApplicationGVR, name, appRefreshAnno, "normal")
}

// PlacementDecisions returns the clusters the PlacementDecisions of a
// Placement select (sorted).
func (l *Lab) PlacementDecisions(ctx context.Context, namespace, placement string) ([]string, error) {
	d, err := l.Dynamic(HubCluster)
	if err != nil {
		return nil, err
	}
	list, err := d.Resource(PlacementDecisionGVR).Namespace(namespace).List(ctx, metav1.ListOptions{
		LabelSelector: "cluster.open-cluster-management.io/placement=" + placement,
	})
	if err != nil {
		return nil, fmt.Errorf("listing PlacementDecisions of %s/%s: %w", namespace, placement, err)
	}
	var out []string
	for _, pd := range list.Items {
		decisions, _, _ := unstructured.NestedSlice(pd.Object, "status", "decisions")
		for _, dec := range decisions {
			if m, ok := dec.(map[string]any); ok {
				if c, ok := m["clusterName"].(string); ok {
					out = append(out, c)
				}
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// ClusterStatus is one cluster in Status.
type ClusterStatus struct {
	Name   string
	Server string
	// Ready is true when the apiserver answers /readyz.
	Ready bool
	// Failed is true while the cluster is failed with Fail.
	Failed bool
	// Available is the ManagedCluster's ManagedClusterConditionAvailable
	// status (spokes only): True, Unknown, False or "" when unknown.
	Available string
	// Labels are the ManagedCluster's labels (spokes only).
	Labels map[string]string
}

// Status is a snapshot of the lab.
type Status struct {
	Dir          string
	Running      bool
	Clusters     []ClusterStatus
	Processes    []ProcessStatus
	Applications []AppStatus
	GitURL       string
	MemoryBytes  uint64
}

// Status reports processes, clusters (readiness, OCM availability) and the
// Argo CD Applications. It never fails because a component is down: that
// is what it reports.
func (l *Lab) Status(ctx context.Context) (*Status, error) {
	s := &Status{Dir: l.st.Dir, GitURL: l.st.gitURL(), Processes: l.Processes()}
	for _, p := range s.Processes {
		s.MemoryBytes += p.RSSBytes
		if p.Alive {
			s.Running = true
		}
	}
	hubUp := false
	for _, c := range l.st.clusters() {
		cs := ClusterStatus{Name: c, Server: l.st.server(c), Failed: l.st.isFailed(c)}
		if p := l.st.process(apiserverProc(c)); p != nil && p.Alive() {
			cfg, err := l.RESTConfig(c)
			if err == nil {
				cfg.Timeout = 2 * time.Second
				cs.Ready = waitAPIServer(ctx, cfg, p, time.Second) == nil
			}
		}
		if c == HubCluster {
			hubUp = cs.Ready
		}
		s.Clusters = append(s.Clusters, cs)
	}
	if !hubUp {
		return s, nil
	}
	d, err := l.Dynamic(HubCluster)
	if err != nil {
		return s, err
	}
	for i := range s.Clusters {
		c := &s.Clusters[i]
		if c.Name == HubCluster {
			continue
		}
		mc, err := d.Resource(ManagedClusterGVR).Get(ctx, c.Name, metav1.GetOptions{})
		if err != nil {
			continue
		}
		c.Labels = mc.GetLabels()
		conds, _, _ := unstructured.NestedSlice(mc.Object, "status", "conditions")
		for _, cond := range conds {
			if m, ok := cond.(map[string]any); ok && m["type"] == "ManagedClusterConditionAvailable" {
				c.Available, _ = m["status"].(string)
			}
		}
	}
	if apps, err := l.Applications(ctx); err == nil {
		s.Applications = apps
	}
	return s, nil
}

// appsSyncTimeout bounds Up's wait for the generated Applications (the
// demo's VM needs its simulated disks imported and its instance booted).
const appsSyncTimeout = 180 * time.Second

// waitApplications waits until every Application other than the hub's —
// those the hub's ApplicationSets generated — is Synced and Healthy, and
// fails at once when a lab process exits meanwhile.
func (l *Lab) waitApplications(ctx context.Context) error {
	var pending []string
	err := waitFor(ctx, appsSyncTimeout, 200*time.Millisecond, "the generated Applications to be Synced and Healthy", func(ctx context.Context) (bool, error) {
		if err := l.checkAlive(); err != nil {
			return false, err
		}
		apps, err := l.Applications(ctx)
		if err != nil {
			return false, err
		}
		pending = pending[:0]
		ok := SyncedAndHealthy("")
		for _, a := range apps {
			if a.Name != l.st.HubApplication && !ok(a) {
				pending = append(pending, fmt.Sprintf("%s (sync=%s health=%s operation=%s)", a.Name, a.Sync, a.Health, a.OperationPhase))
			}
		}
		return len(pending) == 0, nil
	})
	if err != nil {
		return fmt.Errorf("%w; not yet: %v (see %s)", err, pending, filepath.Join(l.st.Dir, "logs"))
	}
	l.log.V(1).Info("generated Applications Synced and Healthy")
	return nil
}

// checkAlive fails when a recorded process (other than a failed cluster's
// apiserver) is no longer running.
func (l *Lab) checkAlive() error {
	l.mu.Lock()
	procs := append([]*Process(nil), l.st.Processes...)
	l.mu.Unlock()
	for _, p := range procs {
		if !p.Alive() {
			return fmt.Errorf("%w: %s (see %s)", errProcessExited, p.Name, p.Log)
		}
	}
	return nil
}
