package overlays

import (
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/gitover/gitover/api/v1alpha1"
)

// workspace holds the files one engine run reads and edits. Each file is
// parsed once; every plan's edits accumulate on the same parse.
type workspace struct {
	tree  fs.FS
	yaml  map[string]*yamlFile
	raw   map[string][]byte // generated files' new content
	edits []Edit
}

func newWorkspace(tree fs.FS) *workspace {
	return &workspace{tree: tree, yaml: map[string]*yamlFile{}, raw: map[string][]byte{}}
}

// file returns the parsed YAML file at a repository path.
func (w *workspace) file(p string) (*yamlFile, error) {
	if f, ok := w.yaml[p]; ok {
		return f, nil
	}
	b, err := fs.ReadFile(w.tree, p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fileErr(ErrMissing, p, 0, "", "file does not exist in the repository")
	case err != nil:
		return nil, fileErr(ErrMissing, p, 0, "", "cannot read: %v", err)
	}
	f, err := parseYAMLFile(p, b)
	if err != nil {
		return nil, err
	}
	w.yaml[p] = f
	return f, nil
}

// exists reports whether a path exists in the tree or was generated.
func (w *workspace) exists(p string) bool {
	if _, ok := w.raw[p]; ok {
		return true
	}
	_, err := fs.Stat(w.tree, p)
	return err == nil
}

// isDir reports whether a path is a directory of the tree.
func (w *workspace) isDir(p string) bool {
	fi, err := fs.Stat(w.tree, p)
	return err == nil && fi.IsDir()
}

// edit records an edit.
func (w *workspace) edit(e Edit) { w.edits = append(w.edits, e) }

// results returns the new content of every changed file and its content before.
func (w *workspace) results() (files, before map[string][]byte, err error) {
	files, before = map[string][]byte{}, map[string][]byte{}
	for p, f := range w.yaml {
		if !f.changed() {
			continue
		}
		b, err := f.result()
		if err != nil {
			return nil, nil, err
		}
		files[p], before[p] = b, f.src
	}
	for p, b := range w.raw {
		old, err := fs.ReadFile(w.tree, p)
		if err == nil {
			before[p] = old
		} else {
			before[p] = nil
		}
		files[p] = b
	}
	return files, before, nil
}

// planState is what the repository says about one plan.
type planState struct {
	plan       *v1alpha1.DRPlan
	placements []*placementDoc
	appsets    []*appSetDoc
	switches   []switchDoc
	active     string
	overlays   []string // every overlay the plan names, sorted
}

// switchDoc is a plan's site-dependent field, located in its file.
type switchDoc struct {
	sw    v1alpha1.FieldSwitch
	file  *yamlFile
	obj   *object
	value valueRef
}

// inspect reads a plan's objects from the workspace and derives the active site.
func inspect(w *workspace, plan *v1alpha1.DRPlan) (*planState, error) {
	st := &planState{plan: plan}
	spec := &plan.Spec
	for _, ref := range spec.Placements {
		f, err := w.file(ref.File)
		if err != nil {
			return nil, err
		}
		p, err := locatePlacement(f, ref, spec.Clusters.LabelKey)
		if err != nil {
			return nil, err
		}
		st.placements = append(st.placements, p)
	}
	for _, ref := range spec.ApplicationSets {
		f, err := w.file(ref.File)
		if err != nil {
			return nil, err
		}
		a, err := locateAppSet(f, ref)
		if err != nil {
			return nil, err
		}
		st.appsets = append(st.appsets, a)
	}
	for i, sw := range spec.Switches {
		f, err := w.file(sw.File)
		if err != nil {
			return nil, err
		}
		obj, err := f.find([]string{sw.Kind}, sw.Name)
		if err != nil {
			return nil, err
		}
		steps, err := parseFieldPath(sw.FieldPath)
		if err != nil {
			return nil, newErr(ErrInvalidRequest, "DRPlan %s: spec.switches[%d]: %v", plan.Name, i, err)
		}
		v, err := lookupField(obj.root.YNode(), steps)
		if err != nil {
			return nil, fileErr(ErrMissing, f.path, obj.line, obj.id(), "%v", err)
		}
		st.switches = append(st.switches, switchDoc{sw: sw, file: f, obj: obj, value: v})
	}
	active, err := activeSite(st)
	if err != nil {
		return nil, err
	}
	st.active = active
	if err := st.checkFollowers(); err != nil {
		return nil, err
	}
	st.overlays, err = st.namedOverlays()
	if err != nil {
		return nil, err
	}
	return st, nil
}

// siteOf maps a selector value to a site name; "" is the inactive value.
func siteOf(spec *v1alpha1.DRPlanSpec, value string) (string, bool) {
	if value == spec.Clusters.InactiveValue {
		return "", true
	}
	for _, s := range spec.Clusters.Sites {
		if s.LabelValue == value {
			return s.Name, true
		}
	}
	return "", false
}

// activeSite derives the active site from the Placements: exactly one site
// must be selected by the Active-role Placements, and the Passive-role ones
// must agree.
func activeSite(st *planState) (string, error) {
	spec := &st.plan.Spec
	claims := map[string][]string{} // site -> "file (Placement name)" that make it active
	var inactive []string
	var problems []string
	where := func(p *placementDoc) string {
		return fmt.Sprintf("%s (%s %s)", p.file.path, p.ref.EffectiveKind(), p.ref.Name)
	}
	for _, p := range st.placements {
		site, ok := siteOf(spec, p.value)
		if !ok {
			return "", fileErr(ErrInconsistent, p.file.path, p.values[0].node.Line, p.obj.id(),
				"selects %s=%s, which is neither a site's label value (%s) nor the inactive value %q",
				spec.Clusters.LabelKey, p.value, siteValues(spec), spec.Clusters.InactiveValue)
		}
		if p.ref.EffectiveRole() != v1alpha1.RoleActive {
			continue
		}
		switch {
		case p.ref.Site != "" && site != "" && site != p.ref.Site:
			problems = append(problems, fmt.Sprintf("%s is pinned to site %s but selects site %s", where(p), p.ref.Site, site))
		case p.ref.Site == "" && site == "":
			problems = append(problems, fmt.Sprintf("%s follows the active site but selects no site (%s)", where(p), spec.Clusters.InactiveValue))
		case site != "":
			claims[site] = append(claims[site], where(p))
		default:
			inactive = append(inactive, where(p))
		}
	}
	if len(problems) > 0 {
		return "", newErr(ErrInconsistent, "DRPlan %s: inconsistent repository: %s", st.plan.Name, strings.Join(problems, "; "))
	}
	switch len(claims) {
	case 1:
		for site := range claims {
			return site, nil
		}
	case 0:
		return "", newErr(ErrInconsistent, "DRPlan %s: inconsistent repository: no site is active; every Placement selects %s: %s",
			st.plan.Name, spec.Clusters.InactiveValue, strings.Join(inactive, ", "))
	}
	var parts []string
	for _, site := range spec.SiteNames() {
		if c := claims[site]; len(c) > 0 {
			parts = append(parts, fmt.Sprintf("%s by %s", site, strings.Join(c, ", ")))
		}
	}
	return "", newErr(ErrInconsistent, "DRPlan %s: inconsistent repository: %d sites are active: %s", st.plan.Name, len(claims), strings.Join(parts, "; "))
}

// checkFollowers verifies that Passive placements, ApplicationSet paths and
// switches agree with the active site.
func (st *planState) checkFollowers() error {
	spec := &st.plan.Spec
	for _, p := range st.placements {
		if p.ref.EffectiveRole() != v1alpha1.RolePassive {
			continue
		}
		want := st.passiveValue(p.ref, st.active)
		if p.value != want {
			return fileErr(ErrInconsistent, p.file.path, p.values[0].node.Line, p.obj.id(),
				"is the Passive placement%s and should select %s=%s while %s is active, but selects %s",
				pinnedTo(p.ref), spec.Clusters.LabelKey, want, st.active, p.value)
		}
	}
	for _, a := range st.appsets {
		if len(a.ref.Overlays) == 0 {
			continue
		}
		want := cleanRepoPath(a.ref.Overlays[st.active])
		found := false
		for _, p := range a.paths {
			v := cleanRepoPath(p.node.Value)
			if v == want {
				found = true
				continue
			}
			for site, dir := range a.ref.Overlays {
				if site != st.active && cleanRepoPath(dir) == v && cleanRepoPath(dir) != want {
					return fileErr(ErrInconsistent, a.file.path, p.node.Line, a.obj.id(),
						"%s is %s, the overlay of site %s, but the Placements say %s is active", p.field, p.node.Value, site, st.active)
				}
			}
		}
		if !found {
			var got []string
			for _, p := range a.paths {
				got = append(got, p.node.Value)
			}
			return fileErr(ErrInconsistent, a.file.path, a.obj.line, a.obj.id(),
				"deploys %s, but the active site %s's overlay in the plan is %s", strings.Join(got, ", "), st.active, want)
		}
	}
	for _, s := range st.switches {
		if s.value.node.Value != s.sw.Values[st.active] {
			return fileErr(ErrInconsistent, s.file.path, s.value.node.Line, s.obj.id(),
				"%s is %q, but while %s is active the plan says %q", s.value.field, s.value.node.Value, st.active, s.sw.Values[st.active])
		}
	}
	return nil
}

// activeValue is what an Active placement selects when site is active.
func (st *planState) activeValue(ref v1alpha1.PlacementRef, active string) string {
	spec := &st.plan.Spec
	if ref.Site != "" && ref.Site != active {
		return spec.Clusters.InactiveValue
	}
	return spec.Site(active).LabelValue
}

// passiveValue is what a Passive placement selects when site is active.
func (st *planState) passiveValue(ref v1alpha1.PlacementRef, active string) string {
	spec := &st.plan.Spec
	if ref.Site != "" {
		if ref.Site == active {
			return spec.Clusters.InactiveValue
		}
		return spec.Site(ref.Site).LabelValue
	}
	for _, s := range spec.Clusters.Sites {
		if s.Name != active {
			return s.LabelValue // validated: exactly two sites
		}
	}
	return spec.Clusters.InactiveValue
}

// namedOverlays lists the overlays the plan's ApplicationSets deploy.
func (st *planState) namedOverlays() ([]string, error) {
	set := map[string]bool{}
	for _, a := range st.appsets {
		if len(a.ref.Overlays) > 0 {
			for _, dir := range a.ref.Overlays {
				set[cleanRepoPath(dir)] = true
			}
			continue
		}
		dirs, err := a.deployedOverlays()
		if err != nil {
			return nil, err
		}
		for _, d := range dirs {
			set[d] = true
		}
	}
	out := make([]string, 0, len(set))
	for d := range set {
		out = append(out, d)
	}
	sort.Strings(out)
	return out, nil
}

// overlaysOf returns the overlays the plan deploys while site is active.
func (st *planState) overlaysOf(site string) []string {
	set := map[string]bool{}
	for _, a := range st.appsets {
		if len(a.ref.Overlays) > 0 {
			set[cleanRepoPath(a.ref.Overlays[site])] = true
			continue
		}
		// A fixed-path ApplicationSet deploys only while one of the
		// Active placements selects a site; in the two-ApplicationSet
		// topology its overlay belongs to the site its placement is pinned to.
		dirs, _ := a.deployedOverlays()
		if owner := st.pinnedSiteOf(a); owner != "" && owner != site {
			continue
		}
		for _, d := range dirs {
			set[d] = true
		}
	}
	out := make([]string, 0, len(set))
	for d := range set {
		out = append(out, d)
	}
	sort.Strings(out)
	return out
}

// pinnedSiteOf finds the site of the pinned Active placement an
// ApplicationSet generates from (its clusterDecisionResource label
// cluster.open-cluster-management.io/placement), or "".
func (st *planState) pinnedSiteOf(a *appSetDoc) string {
	gens := a.obj.root.Field("spec")
	if gens == nil {
		return ""
	}
	list := gens.Value.Field("generators")
	if list == nil {
		return ""
	}
	names := map[string]bool{}
	collectPlacementNames(list.Value.YNode(), names)
	for _, p := range st.placements {
		if p.ref.EffectiveRole() == v1alpha1.RoleActive && p.ref.Site != "" && names[p.ref.Name] {
			return p.ref.Site
		}
	}
	return ""
}

func siteValues(spec *v1alpha1.DRPlanSpec) string {
	var out []string
	for _, s := range spec.Clusters.Sites {
		out = append(out, s.Name+"="+s.LabelValue)
	}
	return strings.Join(out, ", ")
}

func pinnedTo(ref v1alpha1.PlacementRef) string {
	if ref.Site == "" {
		return ""
	}
	return " pinned to " + ref.Site
}
