package v1alpha1

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
)

// DefaultBranch is the branch a plan targets when spec.git.branch is empty.
const DefaultBranch = "main"

// SiteNames returns the plan's site names in the order they are declared.
func (s *DRPlanSpec) SiteNames() []string {
	out := make([]string, 0, len(s.Clusters.Sites))
	for _, site := range s.Clusters.Sites {
		out = append(out, site.Name)
	}
	return out
}

// Site returns the named site, or nil.
func (s *DRPlanSpec) Site(name string) *Site {
	for i := range s.Clusters.Sites {
		if s.Clusters.Sites[i].Name == name {
			return &s.Clusters.Sites[i]
		}
	}
	return nil
}

// EffectiveRole is the placement's role with the default applied.
func (p *PlacementRef) EffectiveRole() PlacementRole {
	if p.Role == "" {
		return RoleActive
	}
	return p.Role
}

// EffectiveKind is the placement's kind with the default applied.
func (p *PlacementRef) EffectiveKind() string {
	if p.Kind == "" {
		return "Placement"
	}
	return p.Kind
}

// EffectiveBranch is spec.git.branch with the default applied.
func (g *GitSpec) EffectiveBranch() string {
	if g.Branch == "" {
		return DefaultBranch
	}
	return g.Branch
}

// EffectiveMode is spec.git.mode with the default applied.
func (g *GitSpec) EffectiveMode() GitMode {
	if g.Mode == "" {
		return ModePullRequest
	}
	return g.Mode
}

// Validate checks the plan's internal consistency: everything that can be
// known without reading the repository. The error lists every problem.
func (p *DRPlan) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	s := &p.Spec

	if p.Name == "" {
		add("metadata.name is required")
	}
	if s.Clusters.LabelKey == "" {
		add("spec.clusters.labelKey is required")
	}
	if s.Clusters.InactiveValue == "" {
		add("spec.clusters.inactiveValue is required")
	}
	if len(s.Clusters.Sites) < 2 {
		add("spec.clusters.sites needs at least two sites, has %d", len(s.Clusters.Sites))
	}
	names := map[string]bool{}
	values := map[string]string{}
	for i, site := range s.Clusters.Sites {
		switch {
		case site.Name == "":
			add("spec.clusters.sites[%d].name is required", i)
		case names[site.Name]:
			add("spec.clusters.sites[%d]: site %q is declared twice", i, site.Name)
		}
		names[site.Name] = true
		switch {
		case site.LabelValue == "":
			add("spec.clusters.sites[%d] (%s): labelValue is required", i, site.Name)
		case site.LabelValue == s.Clusters.InactiveValue:
			add("spec.clusters.sites[%d] (%s): labelValue %q equals inactiveValue", i, site.Name, site.LabelValue)
		case values[site.LabelValue] != "":
			add("spec.clusters.sites[%d] (%s): labelValue %q is also site %s's", i, site.Name, site.LabelValue, values[site.LabelValue])
		}
		values[site.LabelValue] = site.Name
	}

	if len(s.Placements) == 0 {
		add("spec.placements needs at least one placement")
	}
	seen := map[string]int{}
	activeRoles := 0
	for i, pl := range s.Placements {
		where := fmt.Sprintf("spec.placements[%d]", i)
		checkRepoPath(add, where+".file", pl.File)
		if pl.Name == "" {
			add("%s.name is required", where)
		}
		key := pl.EffectiveKind() + "/" + pl.File + "#" + pl.Name
		if j, dup := seen[key]; dup {
			add("%s: %s %s in %s is already spec.placements[%d]", where, pl.EffectiveKind(), pl.Name, pl.File, j)
		}
		seen[key] = i
		if k := pl.EffectiveKind(); k != "Placement" && k != "PlacementRule" {
			add("%s.kind %q is not Placement or PlacementRule", where, pl.Kind)
		}
		if pl.Site != "" && !names[pl.Site] {
			add("%s.site %q is not a site of the plan (sites: %s)", where, pl.Site, strings.Join(s.SiteNames(), ", "))
		}
		switch pl.EffectiveRole() {
		case RoleActive:
			activeRoles++
		case RolePassive:
			if pl.Site == "" && len(s.Clusters.Sites) != 2 {
				add("%s: a Passive placement without site needs exactly two sites", where)
			}
		default:
			add("%s.role %q is not Active or Passive", where, pl.Role)
		}
	}
	if len(s.Placements) > 0 && activeRoles == 0 {
		add("spec.placements has no Active placement, so no site can be active")
	}

	seenAppSets := map[string]int{}
	for i, as := range s.ApplicationSets {
		where := fmt.Sprintf("spec.applicationSets[%d]", i)
		checkRepoPath(add, where+".file", as.File)
		if as.Name == "" {
			add("%s.name is required", where)
		}
		if j, dup := seenAppSets[as.File+"#"+as.Name]; dup {
			add("%s: ApplicationSet %s in %s is already spec.applicationSets[%d]", where, as.Name, as.File, j)
		}
		seenAppSets[as.File+"#"+as.Name] = i
		if len(as.Overlays) > 0 {
			for site, dir := range as.Overlays {
				if !names[site] {
					add("%s.overlays names unknown site %q", where, site)
				}
				checkRepoPath(add, fmt.Sprintf("%s.overlays[%s]", where, site), dir)
			}
			for _, site := range s.SiteNames() {
				if _, ok := as.Overlays[site]; !ok {
					add("%s.overlays has no entry for site %q", where, site)
				}
			}
		}
	}

	for i, sw := range s.Switches {
		where := fmt.Sprintf("spec.switches[%d]", i)
		checkRepoPath(add, where+".file", sw.File)
		if sw.Kind == "" || sw.Name == "" {
			add("%s: kind and name are required", where)
		}
		if sw.FieldPath == "" {
			add("%s.fieldPath is required", where)
		}
		for site := range sw.Values {
			if !names[site] {
				add("%s.values names unknown site %q", where, site)
			}
		}
		for _, site := range s.SiteNames() {
			if _, ok := sw.Values[site]; !ok {
				add("%s.values has no entry for site %q", where, site)
			}
		}
	}

	if m := s.Git.Mode; m != "" && m != ModePullRequest && m != ModeDirect {
		add("spec.git.mode %q is not PullRequest or Direct", m)
	}
	if pr := s.Git.Provider; pr != nil && pr.Type != "github" && pr.Type != "gitlab" {
		add("spec.git.provider.type %q is not github or gitlab", pr.Type)
	}
	if img := s.DiskProtection.Image; img != "" && !imageRef.MatchString(img) {
		add("spec.diskProtection.image %q is not an image reference", img)
	}
	if pol := s.DiskProtection.ImagePullPolicy; pol != "" && pol != "Always" && pol != "IfNotPresent" && pol != "Never" {
		add("spec.diskProtection.imagePullPolicy %q is not Always, IfNotPresent or Never", pol)
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("DRPlan %s is invalid: %w", p.Name, errors.Join(errs...))
}

// imageRef is a conservative container image reference: registry/path:tag@digest.
var imageRef = regexp.MustCompile(`^[a-z0-9][a-z0-9._/-]*(:[0-9]+/[a-z0-9._/-]+)?(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$`)

// checkRepoPath reports a repository path that is empty, absolute or escapes the repository.
func checkRepoPath(add func(string, ...any), field, p string) {
	switch {
	case p == "":
		add("%s is required", field)
	case strings.HasPrefix(p, "/") || strings.Contains(p, `\`):
		add("%s %q must be a relative, slash-separated repository path", field, p)
	case path.Clean(p) == ".." || strings.HasPrefix(path.Clean(p), "../"):
		add("%s %q leaves the repository", field, p)
	}
}
