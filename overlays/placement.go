package overlays

import (
	"fmt"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/gitover/gitover/api/v1alpha1"
)

// valueRef is one scalar in Git that the engine may rewrite.
type valueRef struct {
	node   *yaml.Node
	field  string // dotted path inside the object, for humans
	inFlow bool   // inside a [...] or {...} collection
}

// placementDoc is a plan's Placement, located in its file.
type placementDoc struct {
	ref    v1alpha1.PlacementRef
	file   *yamlFile
	obj    *object
	values []valueRef // every selector term on the plan's label key
	value  string     // the value they all select
}

// placementKinds maps the plan's placement kind to the manifest kinds accepted.
var placementKinds = map[string][]string{
	"Placement":     {"Placement"},
	"PlacementRule": {"PlacementRule"},
}

// locatePlacement finds a Placement and every selector term on labelKey in it.
//
// A Placement (cluster.open-cluster-management.io) selects through
// spec.predicates[].requiredClusterSelector.labelSelector; a legacy
// PlacementRule (apps.open-cluster-management.io) through spec.clusterSelector.
// Both matchLabels and matchExpressions (operator In, one value) are read;
// all terms on the key must agree.
func locatePlacement(f *yamlFile, ref v1alpha1.PlacementRef, labelKey string) (*placementDoc, error) {
	obj, err := f.find(placementKinds[ref.EffectiveKind()], ref.Name)
	if err != nil {
		return nil, err
	}
	p := &placementDoc{ref: ref, file: f, obj: obj}
	var selectors []*yaml.RNode
	var paths []string
	if ref.EffectiveKind() == "PlacementRule" {
		if sel, _ := obj.root.Pipe(yaml.Lookup("spec", "clusterSelector")); sel != nil {
			selectors, paths = append(selectors, sel), append(paths, "spec.clusterSelector")
		}
	} else {
		preds, _ := obj.root.Pipe(yaml.Lookup("spec", "predicates"))
		if preds != nil && preds.YNode().Kind == yaml.SequenceNode {
			for i, pred := range preds.Content() {
				sel, _ := yaml.NewRNode(pred).Pipe(yaml.Lookup("requiredClusterSelector", "labelSelector"))
				if sel != nil {
					selectors = append(selectors, sel)
					paths = append(paths, fmt.Sprintf("spec.predicates[%d].requiredClusterSelector.labelSelector", i))
				}
			}
		}
	}
	for i, sel := range selectors {
		refs, err := selectorTerms(f, obj, sel, paths[i], labelKey)
		if err != nil {
			return nil, err
		}
		p.values = append(p.values, refs...)
	}
	if len(p.values) == 0 {
		return nil, fileErr(ErrMissing, f.path, obj.line, obj.id(), "has no cluster selector on label %q (matchLabels or matchExpressions with operator In)", labelKey)
	}
	p.value = p.values[0].node.Value
	for _, v := range p.values[1:] {
		if v.node.Value != p.value {
			return nil, fileErr(ErrInconsistent, f.path, v.node.Line, obj.id(), "selects %s=%s at %s but %s=%s at %s", labelKey, p.value, p.values[0].field, labelKey, v.node.Value, v.field)
		}
	}
	return p, nil
}

// selectorTerms returns the scalars of one label selector that select labelKey.
func selectorTerms(f *yamlFile, obj *object, sel *yaml.RNode, path, labelKey string) ([]valueRef, error) {
	var out []valueRef
	if ml := sel.Field("matchLabels"); ml != nil && ml.Value.YNode().Kind == yaml.MappingNode {
		m := ml.Value.YNode()
		for i := 0; i+1 < len(m.Content); i += 2 {
			if m.Content[i].Value != labelKey {
				continue
			}
			v := m.Content[i+1]
			if err := mustScalar(f, obj, v, path+".matchLabels."+labelKey); err != nil {
				return nil, err
			}
			out = append(out, valueRef{node: v, field: path + ".matchLabels." + labelKey, inFlow: m.Style&yaml.FlowStyle != 0})
		}
	}
	me := sel.Field("matchExpressions")
	if me == nil || me.Value.YNode().Kind != yaml.SequenceNode {
		return out, nil
	}
	for i, expr := range me.Value.YNode().Content {
		e := yaml.NewRNode(expr)
		if scalarAt(e, "key") != labelKey {
			continue
		}
		field := fmt.Sprintf("%s.matchExpressions[%d]", path, i)
		if op := scalarAt(e, "operator"); op != "In" {
			return nil, fileErr(ErrUnsupported, f.path, expr.Line, obj.id(), "%s uses operator %q on %s; gitover flips only operator In with one value", field, op, labelKey)
		}
		vals := e.Field("values")
		if vals == nil || vals.Value.YNode().Kind != yaml.SequenceNode {
			return nil, fileErr(ErrMalformed, f.path, expr.Line, obj.id(), "%s has no values list", field)
		}
		seq := vals.Value.YNode()
		if len(seq.Content) != 1 {
			var vs []string
			for _, v := range seq.Content {
				vs = append(vs, v.Value)
			}
			return nil, fileErr(ErrUnsupported, f.path, seq.Line, obj.id(), "%s.values is [%s]; gitover needs exactly one value so that one site is selected", field, strings.Join(vs, ", "))
		}
		v := seq.Content[0]
		if err := mustScalar(f, obj, v, field+".values[0]"); err != nil {
			return nil, err
		}
		out = append(out, valueRef{node: v, field: field + ".values[0]", inFlow: seq.Style&yaml.FlowStyle != 0})
	}
	return out, nil
}

// mustScalar accepts a literal scalar value and explains anything else.
func mustScalar(f *yamlFile, obj *object, n *yaml.Node, field string) error {
	switch n.Kind {
	case yaml.ScalarNode:
		return nil
	case yaml.AliasNode:
		return fileErr(ErrUnsupported, f.path, n.Line, obj.id(), "%s is a YAML alias (*%s); gitover edits only literal values", field, n.Value)
	}
	return fileErr(ErrMalformed, f.path, n.Line, obj.id(), "%s is a %s, not a string", field, kindName(n.Kind))
}
