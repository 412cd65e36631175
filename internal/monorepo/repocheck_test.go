package monorepo

// Helpers shared by the fixture tests and the generator tests: they parse every
// YAML file of a repository tree, render Kustomize directories with krusty, and
// check a DRPlan against the tree it describes (the files and objects it names
// exist, and the Placements agree on exactly one active site).

import (
	"bytes"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/kustomize/kyaml/kio"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/gitover/gitover/api/v1alpha1"
)

// kustomizationNames are the file names kustomize recognises, in its order.
var kustomizationNames = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

// yamlFiles lists the repository-relative paths of every YAML file under root.
func yamlFiles(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml") || d.Name() == "Kustomization" {
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	require.NoError(t, err)
	sort.Strings(out)
	return out
}

// kustomizeDirs lists the repository-relative directories under root that hold
// a kustomization file, with the kind it declares (Kustomization or Component).
func kustomizeDirs(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, f := range yamlFiles(t, root) {
		base := filepath.Base(f)
		for _, n := range kustomizationNames {
			if base != n {
				continue
			}
			data, err := os.ReadFile(filepath.Join(root, f))
			require.NoError(t, err)
			var k types.Kustomization
			require.NoError(t, k.Unmarshal(data), f)
			kind := k.Kind
			if kind == "" {
				kind = types.KustomizationKind
			}
			dir := filepath.ToSlash(filepath.Dir(f))
			_, dup := out[dir]
			require.False(t, dup, "%s: two kustomization files", dir)
			out[dir] = kind
		}
	}
	return out
}

// parseFile reads one YAML file into its documents, failing the test when the
// file is not valid YAML, holds CRLF line ends or tabs in indentation, or a
// document is not valid JSON-compatible YAML.
func parseFile(t *testing.T, path string) []*kyaml.RNode {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NotContains(t, string(data), "\r", "%s: CRLF line ends", path)
	require.True(t, bytes.HasSuffix(data, []byte("\n")), "%s: no final newline", path)
	nodes, err := kio.FromBytes(data)
	require.NoError(t, err, path)
	for i, n := range nodes {
		s, err := n.String()
		require.NoError(t, err)
		var v map[string]any
		require.NoError(t, sigsyaml.Unmarshal([]byte(s), &v), "%s: document %d", path, i)
	}
	return nodes
}

// objectsIn returns the documents of a manifest file, each required to carry
// apiVersion, kind and metadata.name.
func objectsIn(t *testing.T, path string) []*kyaml.RNode {
	t.Helper()
	nodes := parseFile(t, path)
	for i, n := range nodes {
		_, err := n.GetValidatedMetadata()
		require.NoError(t, err, "%s: document %d", path, i)
	}
	return nodes
}

// findObject returns the single document of kind and name in a manifest file.
func findObject(t *testing.T, path, kind, name string) *kyaml.RNode {
	t.Helper()
	var found []*kyaml.RNode
	for _, n := range objectsIn(t, path) {
		if n.GetKind() == kind && n.GetName() == name {
			found = append(found, n)
		}
	}
	require.Len(t, found, 1, "%s: want exactly one %s %q", path, kind, name)
	return found[0]
}

// captureStderr runs fn while os.Stderr is redirected to a pipe and returns
// what was written: krusty prints deprecation warnings straight to os.Stderr
// (process-global), so tests that call it must not run in parallel.
func captureStderr(t *testing.T, fn func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	require.NoError(t, err)
	saved := os.Stderr
	os.Stderr = w
	done := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		done <- string(b)
	}()
	defer func() { os.Stderr = saved }()
	fn()
	os.Stderr = saved
	require.NoError(t, w.Close())
	return <-done
}

// render builds one Kustomize directory with krusty from disk.
func render(t *testing.T, dir string) resmap.ResMap {
	t.Helper()
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	require.NoError(t, err, "kustomize build %s", dir)
	return m
}

// kinds counts the rendered resources by kind.
func kinds(m resmap.ResMap) map[string]int {
	out := map[string]int{}
	for _, r := range m.Resources() {
		out[r.GetKind()]++
	}
	return out
}

// decodePlan reads a DRPlan strictly: an unknown field is an error.
func decodePlan(t *testing.T, path string) *v1alpha1.DRPlan {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NotContains(t, string(data), "\r", path)
	var p v1alpha1.DRPlan
	require.NoError(t, sigsyaml.UnmarshalStrict(data, &p), path)
	require.Equal(t, "gitover.io/v1alpha1", p.APIVersion, path)
	require.Equal(t, "DRPlan", p.Kind, path)
	require.NotEmpty(t, p.Name, path)
	return &p
}

// selectorValue returns the single value a Placement (or PlacementRule)
// selects for key, and whether it is written as matchLabels or matchExpressions.
func selectorValue(t *testing.T, obj *kyaml.RNode, kind, key string) (value, form string) {
	t.Helper()
	var selectors []*kyaml.RNode
	switch kind {
	case "", "Placement":
		preds, err := obj.Pipe(kyaml.Lookup("spec", "predicates"))
		require.NoError(t, err)
		require.NotNil(t, preds, "%s has no spec.predicates", obj.GetName())
		els, err := preds.Elements()
		require.NoError(t, err)
		for _, p := range els {
			s, err := p.Pipe(kyaml.Lookup("requiredClusterSelector", "labelSelector"))
			require.NoError(t, err)
			if s != nil {
				selectors = append(selectors, s)
			}
		}
	case "PlacementRule":
		s, err := obj.Pipe(kyaml.Lookup("spec", "clusterSelector"))
		require.NoError(t, err)
		if s != nil {
			selectors = append(selectors, s)
		}
	default:
		t.Fatalf("unknown placement kind %q", kind)
	}
	var values []string
	var forms []string
	for _, s := range selectors {
		if ml, _ := s.Pipe(kyaml.Lookup("matchLabels", key)); ml != nil {
			values = append(values, ml.YNode().Value)
			forms = append(forms, "matchLabels")
		}
		exprs, _ := s.Pipe(kyaml.Lookup("matchExpressions"))
		if exprs == nil {
			continue
		}
		els, err := exprs.Elements()
		require.NoError(t, err)
		for _, e := range els {
			if kyaml.GetValue(e.Field("key").Value) != key {
				continue
			}
			require.Equal(t, "In", kyaml.GetValue(e.Field("operator").Value), "%s: operator", obj.GetName())
			vs, err := e.Field("values").Value.Elements()
			require.NoError(t, err)
			require.Len(t, vs, 1, "%s: want one value for %s", obj.GetName(), key)
			values = append(values, vs[0].YNode().Value)
			forms = append(forms, "matchExpressions")
		}
	}
	require.Len(t, values, 1, "%s: want exactly one selector term on %s", obj.GetName(), key)
	return values[0], forms[0]
}

// expectedValue is the selector value a placement must hold while site active
// is active (two-site plans: the passive site is the other one).
func expectedValue(p *v1alpha1.DRPlan, pl v1alpha1.PlacementRef, active string) string {
	label := map[string]string{}
	passive := ""
	for _, s := range p.Spec.Clusters.Sites {
		label[s.Name] = s.LabelValue
		if s.Name != active {
			passive = s.Name
		}
	}
	roleSite := active
	if pl.Role == v1alpha1.RolePassive {
		roleSite = passive
	}
	switch {
	case pl.Site == "":
		return label[roleSite]
	case pl.Site == roleSite:
		return label[pl.Site]
	default:
		return p.Spec.Clusters.InactiveValue
	}
}

// appSetPaths returns the kustomize paths an ApplicationSet's template deploys
// from source.path and sources[].path.
func appSetPaths(t *testing.T, obj *kyaml.RNode) []string {
	t.Helper()
	var out []string
	if p, _ := obj.Pipe(kyaml.Lookup("spec", "template", "spec", "source", "path")); p != nil {
		out = append(out, p.YNode().Value)
	}
	if srcs, _ := obj.Pipe(kyaml.Lookup("spec", "template", "spec", "sources")); srcs != nil {
		els, err := srcs.Elements()
		require.NoError(t, err)
		for _, s := range els {
			if p := s.Field("path"); p != nil {
				out = append(out, kyaml.GetValue(p.Value))
			}
		}
	}
	return out
}

// placementOf returns the Placement an ApplicationSet's clusterDecisionResource
// generator selects.
func placementOf(t *testing.T, obj *kyaml.RNode) string {
	t.Helper()
	gens, err := obj.Pipe(kyaml.Lookup("spec", "generators"))
	require.NoError(t, err)
	require.NotNil(t, gens, "%s: no generators", obj.GetName())
	els, err := gens.Elements()
	require.NoError(t, err)
	for _, g := range els {
		cdr := g.Field("clusterDecisionResource")
		if cdr == nil {
			continue
		}
		require.Equal(t, "acm-placement", kyaml.GetValue(cdr.Value.Field("configMapRef").Value))
		v, err := cdr.Value.Pipe(kyaml.Lookup("labelSelector", "matchLabels", "cluster.open-cluster-management.io/placement"))
		require.NoError(t, err)
		require.NotNil(t, v, "%s: generator selects no placement", obj.GetName())
		return v.YNode().Value
	}
	t.Fatalf("%s: no clusterDecisionResource generator", obj.GetName())
	return ""
}

// splitFieldPath splits a FieldSwitch path such as
// spec.endpoints[dnsName=shop.example.com].targets[0] into kyaml path elements.
func splitFieldPath(p string) []string {
	var out []string
	for p != "" {
		switch {
		case p[0] == '.':
			p = p[1:]
		case p[0] == '[':
			end := strings.IndexByte(p, ']')
			if end < 0 {
				return append(out, p)
			}
			part := p[:end+1]
			if n, err := strconv.Atoi(part[1:end]); err == nil {
				part = strconv.Itoa(n)
			}
			out = append(out, part)
			p = p[end+1:]
		default:
			end := strings.IndexAny(p, ".[")
			if end < 0 {
				end = len(p)
			}
			out = append(out, p[:end])
			p = p[end:]
		}
	}
	return out
}

// planCheck is what checkPlan learned about a plan and its repository.
type planCheck struct {
	ActiveSite     string
	SelectorForms  map[string]string   // placement name -> matchLabels | matchExpressions
	Overlays       map[string][]string // ApplicationSet name -> overlay paths it deploys
	OverlaysByPlan []string            // every overlay the plan names (sorted, unique)
}

// checkPlan verifies a plan against the repository at root: every file and
// object it names exists; exactly one site is consistent with all Placement
// selector values; each ApplicationSet deploys an existing overlay (the active
// site's when it lists overlays); and each switch holds the active site's value.
func checkPlan(t *testing.T, root string, p *v1alpha1.DRPlan) planCheck {
	t.Helper()
	spec := p.Spec
	require.Len(t, spec.Clusters.Sites, 2, "%s: fixtures use two sites", p.Name)
	sites := map[string]bool{}
	for _, s := range spec.Clusters.Sites {
		sites[s.Name] = true
		require.NotEqual(t, spec.Clusters.InactiveValue, s.LabelValue)
	}
	res := planCheck{SelectorForms: map[string]string{}, Overlays: map[string][]string{}}

	// Placements: read the values, then find the one consistent site.
	values := map[string]string{}
	placements := map[string]bool{}
	for _, pl := range spec.Placements {
		if pl.Site != "" {
			require.True(t, sites[pl.Site], "%s: placement %s pinned to unknown site %s", p.Name, pl.Name, pl.Site)
		}
		kind := pl.Kind
		if kind == "" {
			kind = "Placement"
		}
		obj := findObject(t, filepath.Join(root, pl.File), kind, pl.Name)
		v, form := selectorValue(t, obj, pl.Kind, spec.Clusters.LabelKey)
		values[pl.Name] = v
		res.SelectorForms[pl.Name] = form
		placements[pl.Name] = true
	}
	var consistent []string
	for _, s := range spec.Clusters.Sites {
		ok := true
		for _, pl := range spec.Placements {
			if values[pl.Name] != expectedValue(p, pl, s.Name) {
				ok = false
			}
		}
		if ok {
			consistent = append(consistent, s.Name)
		}
	}
	require.Len(t, consistent, 1, "%s: placements %v are consistent with sites %v", p.Name, values, consistent)
	res.ActiveSite = consistent[0]

	// ApplicationSets: they exist, use a plan placement, and deploy overlays.
	overlaySet := map[string]bool{}
	for _, as := range spec.ApplicationSets {
		obj := findObject(t, filepath.Join(root, as.File), "ApplicationSet", as.Name)
		assert.True(t, placements[placementOf(t, obj)], "%s: ApplicationSet %s selects a placement the plan does not name", p.Name, as.Name)
		paths := appSetPaths(t, obj)
		require.NotEmpty(t, paths, "%s: ApplicationSet %s has no source path", p.Name, as.Name)
		var overlays []string
		if len(as.Overlays) > 0 {
			require.Len(t, as.Overlays, len(sites), "%s: %s overlays must cover every site", p.Name, as.Name)
			require.Contains(t, paths, as.Overlays[res.ActiveSite], "%s: %s deploys %v, not the active site's overlay", p.Name, as.Name, paths)
			for site, o := range as.Overlays {
				require.True(t, sites[site], "%s: overlay for unknown site %s", p.Name, site)
				overlays = append(overlays, o)
			}
		} else {
			for _, path := range paths {
				if _, err := os.Stat(filepath.Join(root, path)); err == nil {
					overlays = append(overlays, path)
				}
			}
		}
		sort.Strings(overlays)
		require.NotEmpty(t, overlays, "%s: %s deploys no overlay of this repository", p.Name, as.Name)
		for _, o := range overlays {
			kinds := kustomizeDirs(t, filepath.Join(root, o))
			require.Equal(t, types.KustomizationKind, kinds["."], "%s: %s is not a kustomization", p.Name, o)
			overlaySet[o] = true
		}
		res.Overlays[as.Name] = overlays
	}
	for o := range overlaySet {
		res.OverlaysByPlan = append(res.OverlaysByPlan, o)
	}
	sort.Strings(res.OverlaysByPlan)

	// Switches: the field exists and holds the active site's value.
	for _, sw := range spec.Switches {
		require.Len(t, sw.Values, len(sites), "%s: switch %s must list every site", p.Name, sw.FieldPath)
		obj := findObject(t, filepath.Join(root, sw.File), sw.Kind, sw.Name)
		n, err := obj.Pipe(kyaml.Lookup(splitFieldPath(sw.FieldPath)...))
		require.NoError(t, err)
		require.NotNil(t, n, "%s: %s not found in %s", p.Name, sw.FieldPath, sw.File)
		require.Equal(t, kyaml.ScalarNode, n.YNode().Kind)
		assert.Equal(t, sw.Values[res.ActiveSite], n.YNode().Value, "%s: switch %s", p.Name, sw.FieldPath)
	}
	return res
}

// treeDigest lists every file under root with its content, for comparing trees.
func treeDigest(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	require.NoError(t, err)
	return out
}

// flipTo rewrites a copy of a repository into the state the plan describes with
// site target active: selector values, overlay paths and switch values. It is
// a naive stand-in for the engine (formatting is not preserved) used only to
// prove that each fixture is consistent in both states.
func flipTo(t *testing.T, root string, p *v1alpha1.DRPlan, from, target string) {
	t.Helper()
	edit := func(file, kind, name string, fn func(*kyaml.RNode)) {
		path := filepath.Join(root, file)
		nodes := objectsIn(t, path)
		n := 0
		for _, obj := range nodes {
			if obj.GetKind() == kind && obj.GetName() == name {
				fn(obj)
				n++
			}
		}
		require.Equal(t, 1, n, "%s: %s %s", file, kind, name)
		out, err := kio.StringAll(nodes)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(path, []byte(out), 0o644))
	}
	key := p.Spec.Clusters.LabelKey
	for _, pl := range p.Spec.Placements {
		want := expectedValue(p, pl, target)
		edit(pl.File, "Placement", pl.Name, func(obj *kyaml.RNode) {
			preds, err := obj.Pipe(kyaml.Lookup("spec", "predicates"))
			require.NoError(t, err)
			require.NoError(t, preds.VisitElements(func(pred *kyaml.RNode) error {
				sel, err := pred.Pipe(kyaml.Lookup("requiredClusterSelector", "labelSelector"))
				if err != nil || sel == nil {
					return err
				}
				if ml, _ := sel.Pipe(kyaml.Lookup("matchLabels", key)); ml != nil {
					ml.YNode().Value = want
				}
				if exprs, _ := sel.Pipe(kyaml.Lookup("matchExpressions")); exprs != nil {
					return exprs.VisitElements(func(e *kyaml.RNode) error {
						if kyaml.GetValue(e.Field("key").Value) == key {
							e.Field("values").Value.YNode().Content[0].Value = want
						}
						return nil
					})
				}
				return nil
			}))
		})
	}
	for _, as := range p.Spec.ApplicationSets {
		if len(as.Overlays) == 0 {
			continue
		}
		edit(as.File, "ApplicationSet", as.Name, func(obj *kyaml.RNode) {
			swap := func(n *kyaml.RNode) {
				if n != nil && n.YNode().Value == as.Overlays[from] {
					n.YNode().Value = as.Overlays[target]
				}
			}
			src, _ := obj.Pipe(kyaml.Lookup("spec", "template", "spec", "source", "path"))
			swap(src)
			if srcs, _ := obj.Pipe(kyaml.Lookup("spec", "template", "spec", "sources")); srcs != nil {
				require.NoError(t, srcs.VisitElements(func(s *kyaml.RNode) error {
					if f := s.Field("path"); f != nil {
						swap(f.Value)
					}
					return nil
				}))
			}
		})
	}
	for _, sw := range p.Spec.Switches {
		edit(sw.File, sw.Kind, sw.Name, func(obj *kyaml.RNode) {
			n, err := obj.Pipe(kyaml.Lookup(splitFieldPath(sw.FieldPath)...))
			require.NoError(t, err)
			n.YNode().Value = sw.Values[target]
		})
	}
}

// copyTree copies the regular files of src into dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	require.NoError(t, filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	}))
}
