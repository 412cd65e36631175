// Package planfile reads DRPlan manifests from files and directories, the
// same YAML the controller reads from the cluster.
package planfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
	"sigs.k8s.io/yaml"

	"github.com/gitover/gitover/api/v1alpha1"
)

// Load reads every DRPlan from the given files and directories (*.yaml and
// *.yml directly inside, sorted). A file may hold several documents; each
// must be a gitover.io/v1alpha1 DRPlan with no unknown fields, and every
// plan must pass Validate. Errors name the file and document.
func Load(paths ...string) ([]*v1alpha1.DRPlan, error) {
	if len(paths) == 0 {
		return nil, errors.New("no plan file given (--plan FILE)")
	}
	var files []string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("plan %s: %w", p, err)
		}
		if !fi.IsDir() {
			files = append(files, p)
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			return nil, fmt.Errorf("plan directory %s: %w", p, err)
		}
		var found []string
		for _, e := range entries {
			if !e.IsDir() && (strings.HasSuffix(e.Name(), ".yaml") || strings.HasSuffix(e.Name(), ".yml")) {
				found = append(found, filepath.Join(p, e.Name()))
			}
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("plan directory %s holds no .yaml file", p)
		}
		sort.Strings(found)
		files = append(files, found...)
	}
	var plans []*v1alpha1.DRPlan
	seen := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("plan %s: %w", f, err)
		}
		ps, err := Parse(b)
		if err != nil {
			return nil, fmt.Errorf("plan %s: %w", f, err)
		}
		for _, p := range ps {
			key := p.Namespace + "/" + p.Name
			if other, dup := seen[key]; dup {
				return nil, fmt.Errorf("plan %s: DRPlan %s is also defined in %s", f, p.Name, other)
			}
			seen[key] = f
		}
		plans = append(plans, ps...)
	}
	return plans, nil
}

// Parse decodes the DRPlans of one YAML stream.
func Parse(b []byte) ([]*v1alpha1.DRPlan, error) {
	dec := kyaml.NewDecoder(bytes.NewReader(b))
	var plans []*v1alpha1.DRPlan
	for i := 1; ; i++ {
		var node kyaml.Node
		err := dec.Decode(&node)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: not valid YAML: %w", i, err)
		}
		if len(node.Content) == 0 || (node.Content[0].Kind == kyaml.ScalarNode && node.Content[0].Tag == "!!null") {
			continue // empty document
		}
		doc, err := kyaml.Marshal(&node)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		var p v1alpha1.DRPlan
		if err := yaml.UnmarshalStrict(doc, &p); err != nil {
			msg := err.Error()
			for _, noise := range []string{"error unmarshaling JSON: ", "while decoding JSON: ", "json: "} {
				msg = strings.ReplaceAll(msg, noise, "")
			}
			return nil, fmt.Errorf("document %d: not a valid DRPlan: %s", i, msg)
		}
		if p.APIVersion != v1alpha1.GroupVersion.String() || p.Kind != "DRPlan" {
			return nil, fmt.Errorf("document %d: want apiVersion %s, kind DRPlan; found %q, %q", i, v1alpha1.GroupVersion, p.APIVersion, p.Kind)
		}
		if err := p.Validate(); err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		plans = append(plans, &p)
	}
	if len(plans) == 0 {
		return nil, errors.New("no DRPlan in the file")
	}
	return plans, nil
}
