package overlays

import (
	"fmt"
	"path"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/gitover/gitover/api/v1alpha1"
)

// appSetDoc is a plan's ApplicationSet, located in its file.
type appSetDoc struct {
	ref   v1alpha1.ApplicationSetRef
	file  *yamlFile
	obj   *object
	paths []valueRef // spec.template.spec.source.path and every sources[].path
}

// locateAppSet finds an ApplicationSet and the source paths of its template.
func locateAppSet(f *yamlFile, ref v1alpha1.ApplicationSetRef) (*appSetDoc, error) {
	obj, err := f.find([]string{"ApplicationSet"}, ref.Name)
	if err != nil {
		return nil, err
	}
	a := &appSetDoc{ref: ref, file: f, obj: obj}
	spec, _ := obj.root.Pipe(yaml.Lookup("spec", "template", "spec"))
	if spec == nil {
		return nil, fileErr(ErrMissing, f.path, obj.line, obj.id(), "has no spec.template.spec")
	}
	if src := spec.Field("source"); src != nil {
		if p := src.Value.Field("path"); p != nil {
			a.paths = append(a.paths, valueRef{node: p.Value.YNode(), field: "spec.template.spec.source.path", inFlow: src.Value.YNode().Style&yaml.FlowStyle != 0})
		}
	}
	if srcs := spec.Field("sources"); srcs != nil && srcs.Value.YNode().Kind == yaml.SequenceNode {
		for i, s := range srcs.Value.YNode().Content {
			if s.Kind != yaml.MappingNode {
				continue
			}
			if p := yaml.NewRNode(s).Field("path"); p != nil {
				a.paths = append(a.paths, valueRef{node: p.Value.YNode(), field: fmt.Sprintf("spec.template.spec.sources[%d].path", i), inFlow: s.Style&yaml.FlowStyle != 0})
			}
		}
	}
	if len(a.paths) == 0 {
		return nil, fileErr(ErrMissing, f.path, obj.line, obj.id(), "has no spec.template.spec.source.path nor sources[].path")
	}
	for _, p := range a.paths {
		if err := mustScalar(f, obj, p.node, p.field); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// deployedOverlays returns the overlays an ApplicationSet without an
// overlays map deploys: its template's source paths, normalised.
func (a *appSetDoc) deployedOverlays() ([]string, error) {
	var out []string
	for _, p := range a.paths {
		if strings.Contains(p.node.Value, "{{") {
			return nil, fileErr(ErrUnsupported, a.file.path, p.node.Line, a.obj.id(), "%s %q is templated, so its overlay cannot be known from Git; list the overlays per site in the plan (applicationSets[].overlays)", p.field, p.node.Value)
		}
		out = append(out, cleanRepoPath(p.node.Value))
	}
	return out, nil
}

// cleanRepoPath normalises a repository-relative path as Argo CD reads it.
func cleanRepoPath(p string) string {
	p = path.Clean(strings.TrimPrefix(p, "/"))
	if p == "" {
		return "."
	}
	return p
}

// placementLabel is the label ApplicationSets' clusterDecisionResource
// generators select a Placement's decisions by.
const placementLabel = "cluster.open-cluster-management.io/placement"

// collectPlacementNames walks a generators list (matrix and merge
// generators included) for the Placements it reads decisions of.
func collectPlacementNames(n *yaml.Node, names map[string]bool) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == placementLabel && n.Content[i+1].Kind == yaml.ScalarNode {
				names[n.Content[i+1].Value] = true
				continue
			}
			collectPlacementNames(n.Content[i+1], names)
		}
	case yaml.SequenceNode, yaml.DocumentNode:
		for _, c := range n.Content {
			collectPlacementNames(c, names)
		}
	}
}
