package controllers

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	clusterv1beta1 "open-cluster-management.io/api/cluster/v1beta1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	argov1alpha1 "github.com/gitover/gitover/api/argocd/v1alpha1"
	"github.com/gitover/gitover/api/v1alpha1"
)

// cluster is one ManagedCluster as a plan sees it.
type cluster struct {
	Name string
	Site string // "" when its label value is no site of the plan
	// Available is ManagedClusterConditionAvailable=True.
	Available bool
	// Since is when the Available condition last changed.
	Since time.Time
	// NoSelect is true when a NoSelect taint keeps Placements away from it
	// (OCM taints unavailable and unreachable clusters so).
	NoSelect bool
	// URLs are the apiserver URLs from spec.managedClusterClientConfigs.
	URLs []string
}

// clusterView is the plan's sites as the live ManagedClusters say.
type clusterView struct {
	plan   *v1alpha1.DRPlan
	byName map[string]*cluster
}

// readClusters lists the ManagedClusters and assigns them to the plan's
// sites by spec.clusters.labelKey.
func readClusters(ctx context.Context, c client.Reader, plan *v1alpha1.DRPlan) (*clusterView, error) {
	var list clusterv1.ManagedClusterList
	if err := c.List(ctx, &list); err != nil {
		return nil, fmt.Errorf("listing ManagedClusters: %w", err)
	}
	v := &clusterView{plan: plan, byName: map[string]*cluster{}}
	for i := range list.Items {
		mc := &list.Items[i]
		cl := &cluster{Name: mc.Name, Site: siteOfValue(plan, mc.Labels[plan.Spec.Clusters.LabelKey])}
		if cond := findCondition(mc.Status.Conditions, clusterv1.ManagedClusterConditionAvailable); cond != nil {
			cl.Available = cond.Status == metav1.ConditionTrue
			cl.Since = cond.LastTransitionTime.Time
		} else {
			cl.Since = mc.CreationTimestamp.Time
		}
		for _, t := range mc.Spec.Taints {
			if t.Effect == clusterv1.TaintEffectNoSelect {
				cl.NoSelect = true
			}
		}
		for _, cc := range mc.Spec.ManagedClusterClientConfigs {
			if cc.URL != "" {
				cl.URLs = append(cl.URLs, strings.TrimSuffix(cc.URL, "/"))
			}
		}
		v.byName[mc.Name] = cl
	}
	return v, nil
}

// findCondition returns the condition of type t, or nil.
func findCondition(conds []metav1.Condition, t string) *metav1.Condition {
	for i := range conds {
		if conds[i].Type == t {
			return &conds[i]
		}
	}
	return nil
}

// siteOfValue maps a label value to the plan's site name, or "".
func siteOfValue(plan *v1alpha1.DRPlan, value string) string {
	if value == "" {
		return ""
	}
	for _, s := range plan.Spec.Clusters.Sites {
		if s.LabelValue == value {
			return s.Name
		}
	}
	return ""
}

// Site returns the clusters of a site, sorted by name.
func (v *clusterView) Site(site string) []*cluster {
	var out []*cluster
	for _, cl := range v.byName {
		if cl.Site == site && site != "" {
			out = append(out, cl)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Selected returns the names of the clusters a Placement selecting
// labelKey=value picks: those carrying the value that no NoSelect taint
// keeps away. The inactive value selects none.
func (v *clusterView) Selected(value string) []string {
	if value == "" || value == v.plan.Spec.Clusters.InactiveValue {
		return nil
	}
	site := siteOfValue(v.plan, value)
	var out []string
	for _, cl := range v.Site(site) {
		if !cl.NoSelect {
			out = append(out, cl.Name)
		}
	}
	return out
}

// Lost reports whether none of a site's clusters is available, and since
// when (the latest moment one of them stopped being available).
func (v *clusterView) Lost(site string) (bool, time.Time) {
	cls := v.Site(site)
	if len(cls) == 0 {
		return false, time.Time{}
	}
	var since time.Time
	for _, cl := range cls {
		if cl.Available {
			return false, time.Time{}
		}
		if cl.Since.After(since) {
			since = cl.Since
		}
	}
	return true, since
}

// ClusterOfApp finds the ManagedCluster an Application deploys to: by
// destination name, by apiserver URL, or, as Argo CD's ApplicationSet
// templates usually name them ("shop-{{name}}"), by the name's suffix.
func (v *clusterView) ClusterOfApp(app *argov1alpha1.Application) string {
	d := app.Spec.Destination
	if d.Name != "" {
		if _, ok := v.byName[d.Name]; ok {
			return d.Name
		}
	}
	if d.Server != "" {
		server := strings.TrimSuffix(d.Server, "/")
		for _, cl := range v.byName {
			for _, u := range cl.URLs {
				if u == server {
					return cl.Name
				}
			}
		}
	}
	best := ""
	for name := range v.byName {
		if strings.HasSuffix(app.Name, "-"+name) && len(name) > len(best) {
			best = name
		}
	}
	return best
}

// selectorValue is the label value a Placement of the plan selects while
// site is active — the engine's semantics (overlays/state.go, activeValue
// and passiveValue): an Active placement follows the active site, or, when
// pinned to a site, selects it only while that site is active; a Passive
// placement selects the other site, or, when pinned, its site while
// another is active.
func selectorValue(plan *v1alpha1.DRPlan, ref v1alpha1.PlacementRef, active string) string {
	spec := &plan.Spec
	inactive := spec.Clusters.InactiveValue
	if ref.EffectiveRole() == v1alpha1.RolePassive {
		if ref.Site != "" {
			if ref.Site == active {
				return inactive
			}
			if s := spec.Site(ref.Site); s != nil {
				return s.LabelValue
			}
			return inactive
		}
		for _, s := range spec.Clusters.Sites {
			if s.Name != active {
				return s.LabelValue
			}
		}
		return inactive
	}
	if ref.Site != "" && ref.Site != active {
		return inactive
	}
	if s := spec.Site(active); s != nil {
		return s.LabelValue
	}
	return inactive
}

// decided returns the clusters a Placement's PlacementDecisions select,
// sorted and without duplicates.
func decided(ctx context.Context, c client.Reader, namespace, placement string) ([]string, error) {
	var list clusterv1beta1.PlacementDecisionList
	if err := c.List(ctx, &list, client.InNamespace(namespace),
		client.MatchingLabels{clusterv1beta1.PlacementLabel: placement}); err != nil {
		return nil, fmt.Errorf("listing the PlacementDecisions of %s/%s: %w", namespace, placement, err)
	}
	set := map[string]bool{}
	for _, d := range list.Items {
		for _, cd := range d.Status.Decisions {
			if cd.ClusterName != "" {
				set[cd.ClusterName] = true
			}
		}
	}
	return sortedKeys(set), nil
}

// sortedKeys returns a set's members in order.
func sortedKeys(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// sameSet reports whether two sorted lists hold the same names.
func sameSet(a, b []string) bool {
	return strings.Join(a, "\x00") == strings.Join(b, "\x00")
}

// argoNamespace is where the plan's Applications and ApplicationSets live.
func argoNamespace(plan *v1alpha1.DRPlan) string {
	if ns := plan.Spec.ArgoCD.Namespace; ns != "" {
		return ns
	}
	return plan.Namespace
}

// planApps is the live Argo CD side of a plan: its ApplicationSets (those
// that exist) and the Applications they generated.
type planApps struct {
	AppSets map[string]*argov1alpha1.ApplicationSet // by name
	// Apps maps each Application to the ApplicationSet that generated it.
	Apps []ownedApp
}

// ownedApp is an Application and the ApplicationSet that owns it.
type ownedApp struct {
	App    *argov1alpha1.Application
	AppSet string
}

// readApps finds the Applications generated by the plan's ApplicationSets:
// those with an owner reference to one of them, or listed in its
// status.resources.
func readApps(ctx context.Context, c client.Reader, plan *v1alpha1.DRPlan) (*planApps, error) {
	ns := argoNamespace(plan)
	out := &planApps{AppSets: map[string]*argov1alpha1.ApplicationSet{}}
	listed := map[string]string{} // app name -> appset, from status.resources
	for _, ref := range plan.Spec.ApplicationSets {
		var as argov1alpha1.ApplicationSet
		err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: ref.Name}, &as)
		if client.IgnoreNotFound(err) != nil {
			return nil, fmt.Errorf("reading ApplicationSet %s/%s: %w", ns, ref.Name, err)
		}
		if err == nil {
			out.AppSets[ref.Name] = &as
			for _, r := range as.Status.Resources {
				listed[r.Name] = ref.Name
			}
		}
	}
	var apps argov1alpha1.ApplicationList
	if err := c.List(ctx, &apps, client.InNamespace(ns)); err != nil {
		return nil, fmt.Errorf("listing the Applications in %s: %w", ns, err)
	}
	names := map[string]bool{}
	for _, ref := range plan.Spec.ApplicationSets {
		names[ref.Name] = true
	}
	for i := range apps.Items {
		app := &apps.Items[i]
		owner := ""
		for _, o := range app.OwnerReferences {
			if o.Kind == "ApplicationSet" && names[o.Name] {
				owner = o.Name
			}
		}
		if owner == "" {
			owner = listed[app.Name]
		}
		if owner != "" {
			out.Apps = append(out.Apps, ownedApp{App: app, AppSet: owner})
		}
	}
	sort.Slice(out.Apps, func(i, j int) bool { return out.Apps[i].App.Name < out.Apps[j].App.Name })
	return out, nil
}

// placementsOf returns the names of the Placements an ApplicationSet's
// clusterDecisionResource generators select by, or nil when it has none
// (other generators, or the ApplicationSet does not exist yet).
func placementsOf(as *argov1alpha1.ApplicationSet) []string {
	if as == nil {
		return nil
	}
	var out []string
	for _, g := range as.Spec.Generators {
		if g.ClusterDecisionResource == nil {
			continue
		}
		if p := g.ClusterDecisionResource.LabelSelector.MatchLabels[clusterv1beta1.PlacementLabel]; p != "" {
			out = append(out, p)
		}
	}
	return out
}

// expectation is where, with a given site active, each of the plan's
// Placements and ApplicationSets should put the application.
type expectation struct {
	// Placements maps each Placement name to the clusters its decisions
	// must select.
	Placements map[string][]string
	// AppClusters maps each ApplicationSet that follows the Active
	// placements to the clusters its Applications must run on.
	AppClusters map[string][]string
	// Passive are the ApplicationSets that follow Passive placements only;
	// their Applications are neither required nor expected to go.
	Passive map[string]bool
}

// expect computes the expectation for active, from the plan, the live
// ManagedClusters and the live ApplicationSets' generators.
func expect(plan *v1alpha1.DRPlan, cv *clusterView, apps *planApps, active string) expectation {
	e := expectation{Placements: map[string][]string{}, AppClusters: map[string][]string{}, Passive: map[string]bool{}}
	role := map[string]v1alpha1.PlacementRole{}
	activeUnion := map[string]bool{}
	for _, ref := range plan.Spec.Placements {
		sel := cv.Selected(selectorValue(plan, ref, active))
		e.Placements[ref.Name] = append(e.Placements[ref.Name], sel...)
		role[ref.Name] = ref.EffectiveRole()
		if ref.EffectiveRole() == v1alpha1.RoleActive {
			for _, c := range sel {
				activeUnion[c] = true
			}
		}
	}
	for name, sel := range e.Placements {
		set := map[string]bool{}
		for _, c := range sel {
			set[c] = true
		}
		e.Placements[name] = sortedKeys(set)
	}
	for _, ref := range plan.Spec.ApplicationSets {
		ps := placementsOf(apps.AppSets[ref.Name])
		known, activeRole := false, false
		set := map[string]bool{}
		for _, p := range ps {
			r, ok := role[p]
			if !ok {
				continue
			}
			known = true
			if r == v1alpha1.RoleActive {
				activeRole = true
			}
			for _, c := range e.Placements[p] {
				set[c] = true
			}
		}
		switch {
		case !known:
			// Not generated from the plan's Placements (or not there yet):
			// it follows the active site.
			e.AppClusters[ref.Name] = sortedKeys(activeUnion)
		case activeRole:
			e.AppClusters[ref.Name] = sortedKeys(set)
		default:
			e.Passive[ref.Name] = true
		}
	}
	return e
}
