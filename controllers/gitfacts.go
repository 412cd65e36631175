package controllers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/gitover/gitover/api/v1alpha1"
	"github.com/gitover/gitover/overlays"
)

// gitFacts is what a plan's repository says at one revision.
type gitFacts struct {
	Revision string
	// Err is why the repository could not be read or is not consistent;
	// the other fields are empty then.
	Err error
	// ActiveSite is the site the Placements select.
	ActiveSite string
	// PlacementNamespaces maps each Placement name to its metadata.namespace.
	PlacementNamespaces map[string]string
	// Unprotected lists the overlays that lack the generated disk
	// protection (empty when protected or protection is disabled).
	Unprotected []string
	// ProtectErr is why the protection could not be checked (an overlay
	// does not render, for example).
	ProtectErr error
	// Blocked maps each other site to the reason a failover to it would
	// fail now (nothing pushed: a dry run on the same tree).
	Blocked map[string]error
}

// readGitFacts inspects tree for plan: the active site, the Placements'
// namespaces, whether every overlay carries the disk-protection hooks (an
// empty Protect plan), and whether a failover to each other site would
// plan cleanly. The dry runs warm cache, so that a real failover renders
// nothing it has not rendered here.
func readGitFacts(ctx context.Context, tree fs.FS, sha string, plan *v1alpha1.DRPlan, cache overlays.RenderCache) *gitFacts {
	f := &gitFacts{Revision: sha}
	sites, err := overlays.Inspect(tree, []*v1alpha1.DRPlan{plan})
	if err != nil {
		f.Err = err
		return f
	}
	f.ActiveSite = sites[plan.Name]
	f.PlacementNamespaces, err = placementNamespaces(tree, plan)
	if err != nil {
		f.Err = err
		return f
	}
	if plan.Spec.DiskProtection.Enabled {
		change, err := overlays.Plan(ctx, tree, []*v1alpha1.DRPlan{plan}, overlays.Request{Action: v1alpha1.ActionProtect}, overlays.WithRenderCache(cache))
		if err != nil {
			f.ProtectErr = fmt.Errorf("checking the disk protection: %w", err)
		} else {
			f.Unprotected = protectedDirs(change)
		}
	}
	f.Blocked = map[string]error{}
	for _, site := range plan.Spec.SiteNames() {
		if site == f.ActiveSite {
			continue
		}
		if _, err := overlays.Plan(ctx, tree, []*v1alpha1.DRPlan{plan}, overlays.Request{Action: v1alpha1.ActionFailover, Target: site}, overlays.WithRenderCache(cache)); err != nil {
			f.Blocked[site] = err
		}
	}
	return f
}

// protectedDirs lists the overlays a Protect change would edit.
func protectedDirs(c *overlays.Change) []string {
	set := map[string]bool{}
	for _, e := range c.Edits {
		if e.Kind == overlays.EditProtectionFile || e.Kind == overlays.EditKustomization {
			set[dirOf(e.File)] = true
		}
	}
	return sortedKeys(set)
}

// dirOf is a slash path's directory.
func dirOf(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return p[:i]
		}
	}
	return "."
}

// placementNamespaces reads each of the plan's Placement manifests for its
// metadata.namespace (empty when the manifest leaves it to the
// Application that applies it: the Argo CD namespace is assumed then).
func placementNamespaces(tree fs.FS, plan *v1alpha1.DRPlan) (map[string]string, error) {
	out := map[string]string{}
	byFile := map[string][]v1alpha1.PlacementRef{}
	for _, ref := range plan.Spec.Placements {
		byFile[ref.File] = append(byFile[ref.File], ref)
	}
	files := make([]string, 0, len(byFile))
	for f := range byFile {
		files = append(files, f)
	}
	sort.Strings(files)
	for _, file := range files {
		b, err := fs.ReadFile(tree, file)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", file, err)
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
		for {
			var doc struct {
				Kind     string `json:"kind"`
				Metadata struct {
					Name      string `json:"name"`
					Namespace string `json:"namespace"`
				} `json:"metadata"`
			}
			err := dec.Decode(&doc)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("reading %s: %w", file, err)
			}
			for _, ref := range byFile[file] {
				if doc.Kind == ref.EffectiveKind() && doc.Metadata.Name == ref.Name {
					ns := doc.Metadata.Namespace
					if ns == "" {
						ns = argoNamespace(plan)
					}
					out[ref.Name] = ns
				}
			}
		}
	}
	for _, ref := range plan.Spec.Placements {
		if _, ok := out[ref.Name]; !ok {
			out[ref.Name] = argoNamespace(plan)
		}
	}
	return out, nil
}
