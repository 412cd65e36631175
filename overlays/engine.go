// Package overlays is gitover's rewrite engine. It is pure: a repository
// tree and DRPlans in, a Change (edits, checks, new file contents) out. It
// reads the active site from the OCM Placements in Git, flips their
// selector values, swaps ApplicationSet source paths, sets site-dependent
// fields, adds the generated disk-protection hooks, and proves the result
// with kustomize before anything is written. See docs/rewrite-engine.md.
package overlays

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/gitover/gitover/api/v1alpha1"
)

// Request says what to do.
type Request struct {
	// Action is Failover, Relocate (move the application to Target) or
	// Protect (only add disk protection).
	Action v1alpha1.Action
	// Target is the site that becomes active; empty for Protect.
	Target string
}

// moves reports whether the action moves the application.
func (r Request) moves() bool {
	return r.Action == v1alpha1.ActionFailover || r.Action == v1alpha1.ActionRelocate
}

// Inspect reports the active site of each plan, as the repository says.
func Inspect(tree fs.FS, plans []*v1alpha1.DRPlan) (map[string]string, error) {
	if err := validatePlans(plans, Request{Action: v1alpha1.ActionProtect}); err != nil {
		return nil, err
	}
	w := newWorkspace(tree)
	out := map[string]string{}
	for _, p := range plans {
		st, err := inspect(w, p)
		if err != nil {
			return nil, err
		}
		out[p.Name] = st.active
	}
	return out, nil
}

// Option tunes Plan.
type Option func(*options)

type options struct {
	cache RenderCache
}

// WithRenderCache lets Plan answer renders whose inputs it has seen before.
func WithRenderCache(c RenderCache) Option { return func(o *options) { o.cache = c } }

// Plan computes the change that carries out req for every plan, and
// validates it: the repository is consistent before, every overlay and
// every kustomization touched renders before and after, exactly the target
// site is active after, and the disk-protection hooks render wherever the
// plan enables them. Nothing is written; an error means no change.
func Plan(ctx context.Context, tree fs.FS, plans []*v1alpha1.DRPlan, req Request, opts ...Option) (*Change, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if err := validatePlans(plans, req); err != nil {
		return nil, err
	}
	w := newWorkspace(tree)
	states := make([]*planState, len(plans))
	for i, p := range plans {
		st, err := inspect(w, p)
		if err != nil {
			return nil, err
		}
		states[i] = st
	}

	change := &Change{Action: req.Action, Target: req.Target}
	var warnings []Check
	for _, st := range states {
		pc := PlanChange{Plan: st.plan.Name, Source: st.active, Target: st.active}
		if req.moves() {
			pc.Target = req.Target
			if st.active == req.Target {
				pc.AlreadyActive = true
				change.Plans = append(change.Plans, pc)
				continue
			}
			if err := move(w, st, req.Target); err != nil {
				return nil, err
			}
		}
		if st.plan.Spec.DiskProtection.Enabled {
			want := protectionFile(st.plan.Spec.DiskProtection)
			if req.moves() {
				for _, dir := range st.overlaysOf(st.active) {
					if w.isDir(dir) && !isProtected(w, dir, want) {
						warnings = append(warnings, Check{Name: "source-protected", OK: true, Warning: true, Message: fmt.Sprintf(
							"plan %s: overlay %s, active on %s, had no up-to-date disk protection before this change; Argo CD runs PreDelete hooks only once a sync has seen them, so the VM disks on %s may be deleted with the VMs. Run `gitover protect` and let Argo CD sync before failing over.",
							st.plan.Name, dir, st.active, st.active)})
					}
				}
			}
			for _, dir := range st.overlays {
				if err := protect(w, st.plan.Name, dir, want); err != nil {
					return nil, err
				}
			}
		}
		change.Plans = append(change.Plans, pc)
	}

	files, before, err := w.results()
	if err != nil {
		return nil, err
	}
	change.Files, change.Before, change.Edits = files, before, w.edits
	change.Checks = append(change.Checks, Check{Name: "consistent", OK: true, Message: consistencySummary(states)})
	if change.Empty() {
		return change, nil
	}

	// Validation needs only each plan's site and overlays: let the parsed
	// files go before thousands of renders allocate their own.
	summaries := make([]planSummary, len(states))
	for i, st := range states {
		summaries[i] = planSummary{plan: st.plan, active: st.active, overlays: st.overlays}
	}
	states, w = nil, nil
	checks, err := validate(ctx, tree, summaries, change, req, o.cache)
	if err != nil {
		return nil, err
	}
	change.Checks = append(change.Checks, checks...)
	change.Checks = append(change.Checks, warnings...)
	return change, nil
}

// validatePlans checks the request and every plan before any file is read.
func validatePlans(plans []*v1alpha1.DRPlan, req Request) error {
	if len(plans) == 0 {
		return newErr(ErrInvalidRequest, "no DRPlan given")
	}
	switch req.Action {
	case v1alpha1.ActionFailover, v1alpha1.ActionRelocate:
		if req.Target == "" {
			return newErr(ErrInvalidRequest, "%s needs a target site", req.Action)
		}
	case v1alpha1.ActionProtect:
	default:
		return newErr(ErrInvalidRequest, "unknown action %q (want Failover, Relocate or Protect)", req.Action)
	}
	seen := map[string]bool{}
	for _, p := range plans {
		if err := p.Validate(); err != nil {
			return &classed{class: ErrInvalidRequest, msg: err.Error()}
		}
		if seen[p.Namespace+"/"+p.Name] {
			return newErr(ErrInvalidRequest, "DRPlan %s is given twice", p.Name)
		}
		seen[p.Namespace+"/"+p.Name] = true
		if req.moves() && p.Spec.Site(req.Target) == nil {
			return newErr(ErrInvalidRequest, "DRPlan %s has no site %q (sites: %s)", p.Name, req.Target, strings.Join(p.Spec.SiteNames(), ", "))
		}
	}
	return nil
}

// move records the edits that make target the plan's active site.
func move(w *workspace, st *planState, target string) error {
	name := st.plan.Name
	for _, p := range st.placements {
		want := st.activeValue(p.ref, target)
		if p.ref.EffectiveRole() == v1alpha1.RolePassive {
			want = st.passiveValue(p.ref, target)
		}
		for _, v := range p.values {
			if v.node.Value == want {
				continue
			}
			old := v.node.Value
			if err := p.file.setScalar(v.node, want, v.inFlow); err != nil {
				return err
			}
			w.edit(Edit{Plan: name, Kind: EditPlacement, File: p.file.path, Object: p.obj.id(), Field: v.field, Old: old, New: want})
		}
	}
	for _, a := range st.appsets {
		if len(a.ref.Overlays) == 0 {
			continue
		}
		from, to := cleanRepoPath(a.ref.Overlays[st.active]), a.ref.Overlays[target]
		if from == cleanRepoPath(to) {
			continue
		}
		for _, p := range a.paths {
			if cleanRepoPath(p.node.Value) != from {
				continue
			}
			old := p.node.Value
			if err := a.file.setScalar(p.node, to, p.inFlow); err != nil {
				return err
			}
			w.edit(Edit{Plan: name, Kind: EditSourcePath, File: a.file.path, Object: a.obj.id(), Field: p.field, Old: old, New: to})
		}
	}
	for _, s := range st.switches {
		want := s.sw.Values[target]
		if s.value.node.Value == want {
			continue
		}
		old := s.value.node.Value
		if err := s.file.setScalar(s.value.node, want, s.value.inFlow); err != nil {
			return err
		}
		w.edit(Edit{Plan: name, Kind: EditSwitch, File: s.file.path, Object: s.obj.id(), Field: s.value.field, Old: old, New: want})
	}
	return nil
}

// planSummary is what validation keeps of a plan's state.
type planSummary struct {
	plan     *v1alpha1.DRPlan
	active   string
	overlays []string
}

// validate renders before and after, and re-reads the new tree.
func validate(ctx context.Context, tree fs.FS, states []planSummary, change *Change, req Request, cache RenderCache) ([]Check, error) {
	// Render every overlay a plan names. A changed file outside them (the
	// hub folder an Application syncs) is not rendered — kustomize's cost
	// grows with the square of a kustomization's resources, and a hub of
	// 1,000 applications holds thousands — but it must be reachable from
	// its kustomization, or the change would never reach the cluster.
	set := map[string]bool{}
	for _, st := range states {
		for _, d := range st.overlays {
			set[d] = true
		}
	}
	var unreachable []Check
	for _, p := range change.Paths() {
		if inAny(set, p) {
			continue
		}
		if root := enclosingKustomization(tree, path.Dir(p)); root != "" && !kustomizationIncludes(tree, root, p, 0) {
			unreachable = append(unreachable, Check{Name: "hub-reachable", OK: true, Warning: true, Message: fmt.Sprintf(
				"%s is not listed (directly or through its directories) by %s, so the Application that builds %s will not apply this change",
				p, kustomizationFile(tree, root), root)})
		}
	}
	dirs := make([]string, 0, len(set))
	for d := range set {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)

	before, deprecated, err := renderAll(ctx, tree, dirs, cache)
	if err != nil {
		return nil, err
	}
	for _, r := range before {
		if r.err != nil {
			return nil, renderError(r, "before any edit: the repository is already broken")
		}
	}

	newTree := WithChanges(tree, change.Files)
	changed := change.Paths()
	var again []string
	for _, r := range before {
		if r.inputs == nil || r.inputs.affectedBy(changed) {
			again = append(again, r.dir)
		}
	}
	after, _, err := renderAll(ctx, newTree, again, cache)
	if err != nil {
		return nil, err
	}
	final := map[string]*rendered{}
	for _, r := range before {
		final[r.dir] = r
	}
	for _, r := range after {
		if r.err != nil {
			return nil, renderError(r, "after the edit")
		}
		final[r.dir] = r
	}

	// Read the new tree from scratch: it must say what was asked.
	w := newWorkspace(newTree)
	for _, st := range states {
		now, err := inspect(w, st.plan)
		if err != nil {
			return nil, fmt.Errorf("%w: the edited repository does not pass inspection: %v", ErrInternal, err)
		}
		want := st.active
		if req.moves() {
			want = req.Target
		}
		if now.active != want {
			return nil, newErr(ErrInternal, "DRPlan %s: after the edit %s is active, not %s", st.plan.Name, now.active, want)
		}
		if !st.plan.Spec.DiskProtection.Enabled {
			continue
		}
		for _, d := range st.overlays {
			r := final[d]
			if !r.hooks["PostSync"] || !r.hooks["PreDelete"] {
				return nil, fileErr(ErrRender, d, 0, "", "the disk-protection hooks (PostSync and PreDelete Jobs) are not in the %s render of this overlay after the edit; is a patch removing them?", r.kind)
			}
		}
	}

	protected := 0
	for _, st := range states {
		if st.plan.Spec.DiskProtection.Enabled {
			protected += len(st.overlays)
		}
	}
	checks := []Check{
		{Name: "render-before", OK: true, Message: fmt.Sprintf("%d overlays render before the change%s", len(before), cachedNote(before))},
		{Name: "render-after", OK: true, Message: fmt.Sprintf("%d render after it (%d rebuilt%s; %d do not read any changed file)", len(before), len(after), cachedNote(after), len(before)-len(after))},
	}
	if req.moves() {
		checks = append(checks, Check{Name: "one-site-active", OK: true, Message: fmt.Sprintf("exactly one site active after the change: %s", req.Target)})
	}
	checks = append(checks, unreachable...)
	for _, d := range deprecated {
		checks = append(checks, Check{Name: "kustomize-deprecation", OK: true, Warning: true, Message: "kustomize: " + d})
	}
	if protected > 0 {
		checks = append(checks, Check{Name: "hooks-render", OK: true, Message: fmt.Sprintf("disk-protection hooks (PostSync, PreDelete) render in %d overlays", protected)})
	}
	return checks, nil
}

// inAny reports whether p lies inside one of the directories.
func inAny(dirs map[string]bool, p string) bool {
	for d := path.Dir(p); ; d = path.Dir(d) {
		if dirs[d] {
			return true
		}
		if d == "." || d == "/" {
			return false
		}
	}
}

// kustomizationIncludes reports whether the kustomization in root lists
// file, directly or through the kustomizations of the directories it lists.
func kustomizationIncludes(tree fs.FS, root, file string, depth int) bool {
	kf := kustomizationFile(tree, root)
	if kf == "" || depth > 20 {
		return false
	}
	b, err := fs.ReadFile(tree, kf)
	if err != nil {
		return false
	}
	f, err := parseYAMLFile(kf, b)
	if err != nil || len(f.docs) == 0 || len(f.docs[0].Content) == 0 {
		return false
	}
	rn := yaml.NewRNode(f.docs[0].Content[0])
	for _, field := range []string{"resources", "bases", "components"} {
		list := rn.Field(field)
		if list == nil || list.Value.YNode().Kind != yaml.SequenceNode {
			continue
		}
		for _, e := range list.Value.YNode().Content {
			entry := path.Join(root, e.Value)
			if entry == file {
				return true
			}
			// A listed directory is a kustomization of its own, which may
			// list the file (with a load restrictor that allows "..").
			if kustomizationIncludes(tree, entry, file, depth+1) {
				return true
			}
		}
	}
	return false
}

// enclosingKustomization returns the nearest directory at or above dir
// holding a kustomization, or "".
func enclosingKustomization(tree fs.FS, dir string) string {
	for {
		if kustomizationFile(tree, dir) != "" {
			return dir
		}
		if dir == "." || dir == "/" || dir == "" {
			return ""
		}
		dir = path.Dir(dir)
	}
}

// consistencySummary says which site each plan found active.
func consistencySummary(states []*planState) string {
	if len(states) == 1 {
		st := states[0]
		return fmt.Sprintf("plan %s: repository consistent; %s active (%d placements, %d ApplicationSets, %d switches)",
			st.plan.Name, st.active, len(st.placements), len(st.appsets), len(st.switches))
	}
	bySite := map[string]int{}
	for _, st := range states {
		bySite[st.active]++
	}
	var parts []string
	for site, n := range bySite {
		parts = append(parts, fmt.Sprintf("%d on %s", n, site))
	}
	sort.Strings(parts)
	return fmt.Sprintf("%d plans consistent: %s", len(states), strings.Join(parts, ", "))
}

// cachedNote says how many renders the cache answered.
func cachedNote(rs []*rendered) string {
	n := 0
	for _, r := range rs {
		if r.cached {
			n++
		}
	}
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(", %d of them unchanged since a cached render", n)
}
