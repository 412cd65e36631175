package monorepo

// Tests of the hand-written fixture repositories under testdata/repos and their
// plans under testdata/plans (described in docs/fixtures.md). They live here
// because testdata/ holds no Go package; they share the repository checks with
// the generator tests.

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/resid"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
)

const testdataDir = "../../testdata"

func repoDir(name string) string  { return filepath.Join(testdataDir, "repos", name) }
func planFile(name string) string { return filepath.Join(testdataDir, "plans", name+".yaml") }

// fixtureRepos lists the fixture repositories (every directory of testdata/repos).
func fixtureRepos(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(testdataDir, "repos"))
	require.NoError(t, err)
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	require.NotEmpty(t, out)
	return out
}

// TestFixtureFilesParse checks that every YAML file of every fixture parses,
// has no CRLF, and that every manifest document names its apiVersion, kind and
// metadata.name (kustomization files excepted).
func TestFixtureFilesParse(t *testing.T) {
	for _, repo := range fixtureRepos(t) {
		t.Run(repo, func(t *testing.T) {
			root := repoDir(repo)
			_, err := os.Stat(filepath.Join(root, ".git"))
			require.True(t, os.IsNotExist(err), "fixtures are plain directories, not Git repositories")
			files := yamlFiles(t, root)
			require.NotEmpty(t, files)
			for _, f := range files {
				if isKustomization(f) {
					parseFile(t, filepath.Join(root, f))
					continue
				}
				assert.NotEmpty(t, objectsIn(t, filepath.Join(root, f)), f)
			}
		})
	}
	plans, err := filepath.Glob(filepath.Join(testdataDir, "plans", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, plans)
	for _, p := range plans {
		parseFile(t, p)
		decodePlan(t, p)
	}
}

func isKustomization(f string) bool {
	base := filepath.Base(f)
	for _, n := range kustomizationNames {
		if base == n {
			return true
		}
	}
	return false
}

// renderAll renders every Kustomization directory of a fixture and returns the
// results and the warnings krusty printed, per directory.
func renderAll(t *testing.T, root string) (map[string]resmap.ResMap, map[string]string) {
	t.Helper()
	dirs := kustomizeDirs(t, root)
	require.NotEmpty(t, dirs)
	maps := map[string]resmap.ResMap{}
	warnings := map[string]string{}
	names := make([]string, 0, len(dirs))
	for d := range dirs {
		names = append(names, d)
	}
	sort.Strings(names)
	for _, d := range names {
		if dirs[d] == types.ComponentKind {
			continue // rendered through the overlays that use it
		}
		var m resmap.ResMap
		warnings[d] = captureStderr(t, func() { m = render(t, filepath.Join(root, d)) })
		require.Positive(t, m.Size(), d)
		maps[d] = m
	}
	return maps, warnings
}

// field returns the scalar at a FieldSwitch-style path (a.b[k=v].c[0]) of the
// rendered object kind/name.
func field(t *testing.T, m resmap.ResMap, kind, name, path string) string {
	t.Helper()
	for _, r := range m.Resources() {
		if r.GetKind() == kind && r.GetName() == name {
			n, err := r.Pipe(kyaml.Lookup(splitFieldPath(path)...))
			require.NoError(t, err, "%s/%s %s", kind, name, path)
			require.NotNil(t, n, "%s/%s has no %s", kind, name, path)
			return n.YNode().Value
		}
	}
	t.Fatalf("no %s/%s in render", kind, name)
	return ""
}

func TestSeed004Renders(t *testing.T) {
	maps, warnings := renderAll(t, repoDir("seed004"))
	assert.ElementsMatch(t, []string{
		"hub", "app/base", "app/overlays/primary", "app/overlays/secondary",
		"volsync/source", "volsync/destination",
	}, keys(maps))

	// kustomize v0.21.2 still renders the old fields but warns on stderr, once
	// per deprecated field per kustomization loaded (a base is loaded again by
	// each overlay that uses it).
	t.Logf("krusty warnings for app/overlays/primary:\n%s", warnings["app/overlays/primary"])
	assert.Contains(t, warnings["app/base"], "'commonLabels' is deprecated")
	for _, site := range []string{"primary", "secondary"} {
		w := warnings["app/overlays/"+site]
		assert.Contains(t, w, "'bases' is deprecated", site)
		assert.Contains(t, w, "'patchesStrategicMerge' is deprecated", site)
		assert.Contains(t, w, "'commonLabels' is deprecated", site)

		m := maps["app/overlays/"+site]
		assert.Equal(t, map[string]int{"VirtualMachine": 1, "Deployment": 2, "Service": 5, "Route": 3}, kinds(m), site)
		for _, r := range m.Resources() {
			assert.Equal(t, "elasticsearch-demo-app", r.GetNamespace(), "%s: %s", site, r.CurId())
			assert.Equal(t, "elasticsearch-demo", r.GetLabels()["app.kubernetes.io/part-of"], "%s: %s", site, r.CurId())
		}
		for _, route := range []string{"kibana", "elasticsearch", "cockpit"} {
			assert.Equal(t, route+"-elasticsearch-demo-app.apps."+site+".example.com",
				field(t, m, "Route", route, "spec.host"), site)
		}
		// The SMP on the Kibana Deployment merged into the env list by name.
		kib, err := m.GetById(resid.NewResIdWithNamespace(resid.NewGvk("apps", "v1", "Deployment"), "kibana", "elasticsearch-demo-app"))
		require.NoError(t, err)
		env, err := kib.Pipe(kyaml.Lookup(splitFieldPath("spec.template.spec.containers[name=kibana].env")...))
		require.NoError(t, err)
		assert.Len(t, env.Content(), 2, site)
		assert.Equal(t, "https://kibana-elasticsearch-demo-app.apps."+site+".example.com",
			field(t, m, "Deployment", "kibana", "spec.template.spec.containers[name=kibana].env[name=SERVER_PUBLICBASEURL].value"))
		// The VM keeps both DataVolume templates and references them as disks.
		assert.Equal(t, "es-master00-rootdisk", field(t, m, "VirtualMachine", "es-master00", "spec.dataVolumeTemplates[0].metadata.name"))
		assert.Equal(t, "es-master00", field(t, m, "VirtualMachine", "es-master00", "spec.template.spec.volumes[name=datadisk].dataVolume.name"))
	}
	for _, d := range []string{"hub", "volsync/source", "volsync/destination"} {
		assert.Empty(t, warnings[d], d)
	}
	assert.Equal(t, map[string]int{"ReplicationSource": 2}, kinds(maps["volsync/source"]))
	assert.Equal(t, map[string]int{"ReplicationDestination": 2, "PersistentVolumeClaim": 2}, kinds(maps["volsync/destination"]))
	assert.Equal(t, map[string]int{"ManagedClusterSet": 1, "ManagedClusterSetBinding": 1, "GitOpsCluster": 1, "Placement": 6, "ApplicationSet": 5}, kinds(maps["hub"]))
}

func TestSeed004Plan(t *testing.T) {
	root := repoDir("seed004")
	p := decodePlan(t, planFile("seed004"))
	assert.Equal(t, "elasticsearch-demo-app", p.Name)
	assert.Equal(t, "cluster-role", p.Spec.Clusters.LabelKey)
	assert.Equal(t, "invalid", p.Spec.Clusters.InactiveValue)
	assert.True(t, p.Spec.DiskProtection.Enabled)
	for _, as := range p.Spec.ApplicationSets {
		assert.Empty(t, as.Overlays, "seed004 ApplicationSets never swap paths")
	}
	c := checkPlan(t, root, p)
	assert.Equal(t, "dr1", c.ActiveSite)
	assert.Equal(t, map[string]string{
		"elasticsearch-demo-app-placement":           "matchExpressions",
		"elasticsearch-demo-app-secondary-placement": "matchExpressions",
		"elasticsearch-demo-app-source-placement":    "matchExpressions",
		"elasticsearch-demo-app-target-placement":    "matchExpressions",
	}, c.SelectorForms)
	assert.Equal(t, []string{"app/overlays/primary", "app/overlays/secondary"}, c.OverlaysByPlan)

	// The formatting a byte-preserving rewrite must keep (see docs/fixtures.md).
	assertContains(t, root, "hub/placement.yaml", "          # primary while the primary site is active, invalid after a failover\n          - primary\n")
	assertContains(t, root, "hub/placement-secondary.yaml", `          - "invalid" # gitover: `)
	assertContains(t, root, "hub/volsync-destination.yaml", "          values: [secondary]\n")
	assertContains(t, root, "hub/volsync-source.yaml", "        - {key: cluster-role, operator: In, values: [primary]}\n")
	assertContains(t, root, "hub/applicationset-secondary.yaml", "    - clusterDecisionResource:\n") // indented sequences
	assertContains(t, root, "app/overlays/primary/kustomization.yaml", "bases:\n- ../../base\n")
	assertContains(t, root, "app/overlays/secondary/kustomization.yaml", "  - |-\n    apiVersion: apps/v1\n") // inline SMP
}

func TestSingleRenders(t *testing.T) {
	maps, warnings := renderAll(t, repoDir("single"))
	assert.Equal(t, []string{
		"app/base", "app/overlays/east", "app/overlays/west", "hub",
		"reports/base", "reports/overlays/east", "reports/overlays/west",
	}, keys(maps))
	for d, w := range warnings {
		assert.Empty(t, w, "%s: modern kustomize must not warn", d)
	}
	for _, site := range []string{"east", "west"} {
		m := maps["app/overlays/"+site]
		assert.Equal(t, map[string]int{"VirtualMachine": 1, "Deployment": 1, "Service": 2, "NetworkPolicy": 2}, kinds(m), site)
		for _, r := range m.Resources() {
			assert.Equal(t, "shop-prod", r.GetNamespace(), r.CurId().String())
			assert.Equal(t, site, r.GetLabels()["example.com/site"], r.CurId().String())
			assert.Equal(t, "shop", r.GetLabels()["app.kubernetes.io/part-of"], r.CurId().String())
		}
		assert.Equal(t, site, field(t, m, "Deployment", "storefront", "spec.template.spec.containers[name=storefront].env[name=SITE].value"))
		assert.Equal(t, "ghcr.io/example/storefront:2.8.1", field(t, m, "Deployment", "storefront", "spec.template.spec.containers[0].image"))
		assert.Equal(t, "ceph-rbd-"+site, field(t, m, "VirtualMachine", "catalog-db", "spec.dataVolumeTemplates[1].spec.storage.storageClassName"))

		r := maps["reports/overlays/"+site]
		assert.Equal(t, map[string]int{"CronJob": 1, "ConfigMap": 1}, kinds(r), site)
		assert.Equal(t, "s3://reports-"+site, field(t, r, "CronJob", "sales-report", "spec.jobTemplate.spec.template.spec.containers[0].env[name=REPORT_BUCKET].value"))
	}
	assert.Equal(t, "3", field(t, maps["app/overlays/east"], "Deployment", "storefront", "spec.replicas"))
	assert.Equal(t, "2", field(t, maps["app/overlays/west"], "Deployment", "storefront", "spec.replicas"))
	assert.Equal(t, map[string]int{"ManagedClusterSet": 1, "ManagedClusterSetBinding": 1, "Placement": 1, "ApplicationSet": 2, "DNSEndpoint": 1}, kinds(maps["hub"]))
}

func TestSinglePlan(t *testing.T) {
	root := repoDir("single")
	p := decodePlan(t, planFile("single"))
	c := checkPlan(t, root, p)
	assert.Equal(t, "east", c.ActiveSite)
	assert.Equal(t, map[string]string{"shop": "matchLabels"}, c.SelectorForms)
	assert.Empty(t, p.Spec.Placements[0].Site, "the placement follows the active site")
	assert.Equal(t, []string{"app/overlays/east", "app/overlays/west", "reports/overlays/east", "reports/overlays/west"}, c.OverlaysByPlan)
	require.Len(t, p.Spec.Switches, 1)
	assert.Equal(t, map[string]string{"east": "203.0.113.10", "west": "198.51.100.20"}, p.Spec.Switches[0].Values)

	// The multi-source ApplicationSet: one entry is the overlay, the other a
	// path in another repository that no failover touches.
	shop := findObject(t, filepath.Join(root, "hub/shop.yaml"), "ApplicationSet", "shop")
	assert.Equal(t, []string{"app/overlays/east", "config/shop"}, appSetPaths(t, shop))
	// The Placement and the ApplicationSet share the name "shop" in one file.
	docs := objectsIn(t, filepath.Join(root, "hub/shop.yaml"))
	require.Len(t, docs, 2)
	assert.Equal(t, []string{"Placement", "ApplicationSet"}, []string{docs[0].GetKind(), docs[1].GetKind()})
	assert.Equal(t, docs[0].GetName(), docs[1].GetName())

	// The formatting a byte-preserving rewrite must keep (see docs/fixtures.md).
	assertContains(t, root, "hub/shop.yaml", "# A failover moves the Placement to the other site and swaps the overlay path.\n---\napiVersion:")
	assertContains(t, root, "hub/shop.yaml", "            # east-1 or west-1; \"nowhere\" parks the application\n            topology.example.com/site: 'east-1'\n")
	assertContains(t, root, "hub/shop.yaml", "      name: \"shop-{{ .name }}\"\n")
	assertContains(t, root, "hub/dns.yaml", "    # ingress VIP of the active site: east 203.0.113.10, west 198.51.100.20\n    - 203.0.113.10\n")
	_, err := os.Stat(filepath.Join(root, "app/overlays/west/kustomization.yml"))
	assert.NoError(t, err, "west's kustomization file is named kustomization.yml on purpose")
}

func TestDemoRenders(t *testing.T) {
	maps, warnings := renderAll(t, repoDir("demo"))
	assert.Equal(t, []string{"app/base", "app/overlays/primary", "app/overlays/secondary", "hub/common", "hub/dual", "hub/single"}, keys(maps))
	for d, w := range warnings {
		assert.Empty(t, w, d)
	}
	for _, site := range []string{"primary", "secondary"} {
		m := maps["app/overlays/"+site]
		assert.Equal(t, map[string]int{"VirtualMachine": 1, "Deployment": 1, "Service": 1, "ConfigMap": 1}, kinds(m), site)
		for _, r := range m.Resources() {
			assert.Equal(t, "shop", r.GetNamespace(), r.CurId().String())
			assert.Equal(t, site, r.GetLabels()["demo.example.com/site"], r.CurId().String())
		}
		assert.Equal(t, site, field(t, m, "ConfigMap", "shop-site", "data.SITE"), "name without hash suffix: the Deployment's envFrom refers to it")
		assert.Equal(t, "shop-db-data", field(t, m, "VirtualMachine", "shop-db", "spec.template.spec.volumes[name=data].dataVolume.name"))
		assert.Equal(t, "docker.io/library/busybox:1.36.1", field(t, m, "Deployment", "shop-web", "spec.template.spec.containers[0].image"))
	}
	assert.Equal(t, map[string]int{"ManagedClusterSet": 1, "ManagedClusterSetBinding": 1, "Placement": 1, "ApplicationSet": 1}, kinds(maps["hub/single"]))
	assert.Equal(t, map[string]int{"ManagedClusterSet": 1, "ManagedClusterSetBinding": 1, "Placement": 2, "ApplicationSet": 2}, kinds(maps["hub/dual"]))
	for _, hub := range []string{"hub/single", "hub/dual"} {
		for _, r := range maps[hub].Resources() {
			if r.GetKind() == "ManagedClusterSet" {
				continue // cluster-scoped
			}
			assert.Equal(t, "argocd", r.GetNamespace(), "%s: %s", hub, r.CurId())
			if r.GetKind() != "ApplicationSet" {
				continue
			}
			for path, want := range map[string]string{
				"spec.template.metadata.name":                             "shop-{{name}}",
				"spec.template.spec.source.repoURL":                       "https://git.example.com/gitover/demo.git",
				"spec.template.spec.source.targetRevision":                "main",
				"spec.template.spec.destination.namespace":                "shop",
				"spec.generators[0].clusterDecisionResource.configMapRef": "acm-placement",
			} {
				assert.Equal(t, want, field(t, maps[hub], "ApplicationSet", r.GetName(), path), "%s: %s %s", hub, r.GetName(), path)
			}
		}
	}
}

func TestDemoPlans(t *testing.T) {
	root := repoDir("demo")
	for plan, want := range map[string]struct {
		placements int
		overlays   bool
	}{
		"demo-single": {1, true},
		"demo-dual":   {2, false},
	} {
		t.Run(plan, func(t *testing.T) {
			p := decodePlan(t, planFile(plan))
			assert.Equal(t, "shop", p.Name)
			assert.Equal(t, "main", p.Spec.Git.Branch)
			assert.Equal(t, "argocd", p.Spec.ArgoCD.Namespace)
			assert.Equal(t, "hub", p.Spec.ArgoCD.HubApplication)
			assert.True(t, p.Spec.DiskProtection.Enabled)
			assert.Len(t, p.Spec.Placements, want.placements)
			c := checkPlan(t, root, p)
			assert.Equal(t, "dr1", c.ActiveSite)
			assert.Equal(t, []string{"app/overlays/primary", "app/overlays/secondary"}, c.OverlaysByPlan)
			for _, as := range p.Spec.ApplicationSets {
				assert.Equal(t, want.overlays, len(as.Overlays) > 0, as.Name)
			}
		})
	}
	// The bootstrap Applications point at the two hub folders.
	for _, topo := range []string{"single", "dual"} {
		app := findObject(t, filepath.Join(root, "bootstrap/hub-application-"+topo+".yaml"), "Application", "hub")
		path, err := app.GetString("spec.source.path")
		require.NoError(t, err)
		assert.Equal(t, "hub/"+topo, path)
	}
}

// TestPlansNameOnlyExistingPaths guards the plans against drifting from the
// fixtures: every plan in testdata/plans is checked against its repository.
func TestPlansNameOnlyExistingPaths(t *testing.T) {
	for plan, repo := range planRepos {
		t.Run(plan, func(t *testing.T) {
			checkPlan(t, repoDir(repo), decodePlan(t, planFile(plan)))
		})
	}
	plans, err := filepath.Glob(filepath.Join(testdataDir, "plans", "*.yaml"))
	require.NoError(t, err)
	for _, p := range plans {
		name := strings.TrimSuffix(filepath.Base(p), ".yaml")
		assert.Contains(t, planRepos, name, "plan %s is not mapped to its repository in planRepos", name)
	}
}

// TestPlansFailOverAndBack flips a copy of each fixture to the other site the
// way the plan describes (placements, overlays, switches) and back: each state
// is consistent with exactly the expected site, and the round trip restores
// every file's content (modulo formatting, which this naive flip rewrites).
func TestPlansFailOverAndBack(t *testing.T) {
	for plan, repo := range planRepos {
		t.Run(plan, func(t *testing.T) {
			p := decodePlan(t, planFile(plan))
			dir := t.TempDir()
			copyTree(t, repoDir(repo), dir)
			first := checkPlan(t, dir, p).ActiveSite
			other := p.Spec.Clusters.Sites[0].Name
			if other == first {
				other = p.Spec.Clusters.Sites[1].Name
			}
			flipTo(t, dir, p, first, other)
			assert.Equal(t, other, checkPlan(t, dir, p).ActiveSite)
			flipTo(t, dir, p, other, first)
			assert.Equal(t, first, checkPlan(t, dir, p).ActiveSite)
			for _, f := range yamlFiles(t, dir) {
				assert.Equal(t, contentOf(t, filepath.Join(repoDir(repo), f)), contentOf(t, filepath.Join(dir, f)), f)
			}
		})
	}
}

// planRepos maps each plan of testdata/plans to the repository it describes.
var planRepos = map[string]string{
	"seed004":     "seed004",
	"single":      "single",
	"demo-single": "demo",
	"demo-dual":   "demo",
}

// contentOf is a file's documents as plain data, for comparing content
// regardless of formatting.
func contentOf(t *testing.T, path string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, n := range parseFile(t, path) {
		m, err := n.Map()
		require.NoError(t, err, path)
		out = append(out, m)
	}
	return out
}

func assertContains(t *testing.T, root, file, want string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, file))
	require.NoError(t, err)
	assert.Contains(t, string(b), want, file)
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
