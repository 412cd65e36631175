package overlays

import (
	"fmt"
	"strconv"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// pathStep is one step of a field path: a mapping key, a list index, or a
// list element chosen by one of its fields.
type pathStep struct {
	key        string // mapping key
	index      int    // list index when isIndex
	isIndex    bool
	matchField string // [field=value]
	matchValue string
}

// parseFieldPath parses paths such as
// spec.endpoints[dnsName=shop.example.com].targets[0].
func parseFieldPath(p string) ([]pathStep, error) {
	var steps []pathStep
	rest := p
	for rest != "" {
		switch {
		case rest[0] == '[':
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return nil, fmt.Errorf("field path %q: unclosed [", p)
			}
			inner := rest[1:end]
			if k, v, ok := strings.Cut(inner, "="); ok {
				if k == "" {
					return nil, fmt.Errorf("field path %q: empty field name in [%s]", p, inner)
				}
				steps = append(steps, pathStep{matchField: k, matchValue: v})
			} else {
				n, err := strconv.Atoi(inner)
				if err != nil || n < 0 {
					return nil, fmt.Errorf("field path %q: [%s] is neither an index nor field=value", p, inner)
				}
				steps = append(steps, pathStep{index: n, isIndex: true})
			}
			rest = rest[end+1:]
			rest = strings.TrimPrefix(rest, ".")
		default:
			end := strings.IndexAny(rest, ".[")
			if end < 0 {
				end = len(rest)
			}
			if end == 0 {
				return nil, fmt.Errorf("field path %q: empty key", p)
			}
			steps = append(steps, pathStep{key: rest[:end]})
			rest = rest[end:]
			rest = strings.TrimPrefix(rest, ".")
		}
	}
	if len(steps) == 0 {
		return nil, fmt.Errorf("field path is empty")
	}
	return steps, nil
}

// lookupField walks steps from node and returns the scalar at the end.
func lookupField(node *yaml.Node, steps []pathStep) (valueRef, error) {
	cur := node
	inFlow := false
	for i, st := range steps {
		where := func() string { return formatSteps(steps[:i+1]) }
		switch {
		case st.key != "":
			if cur.Kind != yaml.MappingNode {
				return valueRef{}, fmt.Errorf("%s: expected a mapping", where())
			}
			inFlow = cur.Style&yaml.FlowStyle != 0
			var next *yaml.Node
			for j := 0; j+1 < len(cur.Content); j += 2 {
				if cur.Content[j].Value == st.key {
					next = cur.Content[j+1]
					break
				}
			}
			if next == nil {
				return valueRef{}, fmt.Errorf("%s: no such field", where())
			}
			cur = next
		default:
			if cur.Kind != yaml.SequenceNode {
				return valueRef{}, fmt.Errorf("%s: expected a list", where())
			}
			inFlow = cur.Style&yaml.FlowStyle != 0
			var next *yaml.Node
			if st.isIndex {
				if st.index >= len(cur.Content) {
					return valueRef{}, fmt.Errorf("%s: the list has %d elements", where(), len(cur.Content))
				}
				next = cur.Content[st.index]
			} else {
				for _, el := range cur.Content {
					if el.Kind == yaml.MappingNode && scalarAt(yaml.NewRNode(el), st.matchField) == st.matchValue {
						if next != nil {
							return valueRef{}, fmt.Errorf("%s: several elements match", where())
						}
						next = el
					}
				}
				if next == nil {
					return valueRef{}, fmt.Errorf("%s: no element matches", where())
				}
			}
			cur = next
		}
	}
	if cur.Kind == yaml.AliasNode {
		return valueRef{}, fmt.Errorf("%s is a YAML alias (*%s); gitover edits only literal values", formatSteps(steps), cur.Value)
	}
	if cur.Kind != yaml.ScalarNode {
		return valueRef{}, fmt.Errorf("%s: expected a scalar, found a %s", formatSteps(steps), kindName(cur.Kind))
	}
	return valueRef{node: cur, field: formatSteps(steps), inFlow: inFlow}, nil
}

// formatSteps prints steps back in field-path syntax.
func formatSteps(steps []pathStep) string {
	var b strings.Builder
	for _, st := range steps {
		switch {
		case st.key != "":
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(st.key)
		case st.isIndex:
			fmt.Fprintf(&b, "[%d]", st.index)
		default:
			fmt.Fprintf(&b, "[%s=%s]", st.matchField, st.matchValue)
		}
	}
	return b.String()
}
