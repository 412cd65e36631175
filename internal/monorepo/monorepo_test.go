package monorepo

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/api/types"

	"github.com/gitover/gitover/api/v1alpha1"
)

// TestWriteRendersAndPlansDecode generates 20 apps in every topology and hub
// layout, then proves the tree: every YAML file parses, every kustomization
// renders with krusty to the expected objects, every plan file decodes strictly
// to the plan Write returned and is consistent with its repository (dr1 active).
// App directories depend only on the index and OldStyleEvery, so their
// overlays are rendered once per OldStyleEvery value (renderApps).
func TestWriteRendersAndPlansDecode(t *testing.T) {
	for _, tc := range []struct {
		opt        Options
		renderApps bool
	}{
		{Options{Apps: 20, Topology: TopologyDual, HubFilePerApp: true, OldStyleEvery: 5}, true},
		{Options{Apps: 20, Topology: TopologyDual, AppsPerHubFile: 8}, true},
		{Options{Apps: 20, Topology: TopologySingle, HubFilePerApp: true}, false},
		{Options{Apps: 20, Topology: TopologySingle, AppsPerHubFile: 8, OldStyleEvery: 5}, false},
	} {
		opt := tc.opt
		name := fmt.Sprintf("%s/perApp=%v/oldEvery=%d", opt.Topology, opt.HubFilePerApp, opt.OldStyleEvery)
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			plans, err := Write(dir, opt)
			require.NoError(t, err)
			require.Len(t, plans, opt.Apps)

			for _, f := range yamlFiles(t, dir) {
				if isKustomization(f) {
					parseFile(t, filepath.Join(dir, f))
				} else {
					objectsIn(t, filepath.Join(dir, f))
				}
			}

			// The hub renders to every Placement and ApplicationSet.
			perApp := 1
			if opt.Topology == TopologyDual {
				perApp = 2
			}
			hub := render(t, filepath.Join(dir, "hub"))
			assert.Equal(t, map[string]int{
				"ManagedClusterSet": 1, "ManagedClusterSetBinding": 1,
				"Placement": perApp * opt.Apps, "ApplicationSet": perApp * opt.Apps,
			}, kinds(hub))
			if opt.HubFilePerApp {
				assert.FileExists(t, filepath.Join(dir, "hub/apps/app-0019.yaml"))
			} else {
				// 20 apps, 8 per file: three files of each kind.
				for _, f := range []string{"placements-002.yaml", "applicationsets-002.yaml"} {
					assert.FileExists(t, filepath.Join(dir, "hub", f))
				}
				assert.NoFileExists(t, filepath.Join(dir, "hub/placements-003.yaml"))
			}

			forms := map[string]int{}
			oldStyle := 0
			for i, p := range plans {
				app := AppName(i)
				assert.Equal(t, app, p.Name)
				fromFile := decodePlan(t, filepath.Join(dir, PlansDir, app+".yaml"))
				assert.Equal(t, p, fromFile, "returned plan differs from %s", app)
				assert.Equal(t, LabelKey, p.Spec.Clusters.LabelKey)
				assert.Equal(t, []v1alpha1.Site{{Name: "dr1", LabelValue: "primary"}, {Name: "dr2", LabelValue: "secondary"}}, p.Spec.Clusters.Sites)
				assert.True(t, p.Spec.DiskProtection.Enabled)
				assert.Len(t, p.Spec.Placements, perApp)
				assert.Len(t, p.Spec.ApplicationSets, perApp)

				c := checkPlan(t, dir, p)
				assert.Equal(t, PrimarySite, c.ActiveSite, app)
				for _, f := range c.SelectorForms {
					forms[f]++
				}
				primary, secondary := "apps/"+app+"/overlays/primary", "apps/"+app+"/overlays/secondary"
				assert.Equal(t, []string{primary, secondary}, c.OverlaysByPlan, app)
				if !tc.renderApps {
					continue
				}
				for _, site := range []string{"primary", "secondary"} {
					overlay := filepath.Join(dir, "apps", app, "overlays", site)
					var m resmap.ResMap
					warn := captureStderr(t, func() { m = render(t, overlay) })
					assert.Equal(t, map[string]int{"VirtualMachine": 1, "Deployment": 1, "Service": 1}, kinds(m), overlay)
					for _, r := range m.Resources() {
						assert.Equal(t, app, r.GetNamespace(), r.CurId().String())
						assert.Equal(t, site, r.GetLabels()["example.com/site"], r.CurId().String())
						assert.Equal(t, app, r.GetLabels()["app.kubernetes.io/part-of"], r.CurId().String())
					}
					assert.Equal(t, site, field(t, m, "Deployment", app+"-web", "spec.template.spec.containers[name=web].env[name=SITE].value"))
					assert.Equal(t, app+"-db-data", field(t, m, "VirtualMachine", app+"-db", "spec.dataVolumeTemplates[1].metadata.name"))
					if strings.Contains(warn, "'bases' is deprecated") {
						oldStyle++
					} else {
						assert.Empty(t, warn, overlay)
					}
				}
			}
			// Every third app uses matchLabels, the rest matchExpressions.
			assert.Equal(t, map[string]int{"matchLabels": 6 * perApp, "matchExpressions": 14 * perApp}, forms)
			switch {
			case !tc.renderApps:
			case opt.OldStyleEvery == 5:
				assert.Equal(t, 2*4, oldStyle, "apps 4, 9, 14, 19 have old-style overlays")
			default:
				assert.Zero(t, oldStyle)
			}
			if !tc.renderApps {
				// Same app directories as a rendered case: check the old style by content.
				b, err := os.ReadFile(filepath.Join(dir, "apps/app-0004/overlays/primary/kustomization.yaml"))
				require.NoError(t, err)
				assert.Equal(t, opt.OldStyleEvery == 5, strings.Contains(string(b), "\nbases:\n"))
			}

			// Every kustomization directory is an app base, an overlay, or the hub.
			dirs := kustomizeDirs(t, dir)
			assert.Len(t, dirs, 3*opt.Apps+1)
			for d, kind := range dirs {
				assert.Equal(t, types.KustomizationKind, kind, d)
			}

			// Failing one app over leaves the others on dr1 (shared hub files).
			flipTo(t, dir, plans[2], PrimarySite, SecondarySite)
			for i, p := range plans[:4] {
				want := PrimarySite
				if i == 2 {
					want = SecondarySite
				}
				assert.Equal(t, want, checkPlan(t, dir, p).ActiveSite, AppName(i))
			}
		})
	}
}

// TestWriteIsDeterministic writes the same options twice and compares the trees.
func TestWriteIsDeterministic(t *testing.T) {
	for _, opt := range []Options{
		{Apps: 30, Topology: TopologyDual, AppsPerHubFile: 7, OldStyleEvery: 4},
		{Apps: 30, Topology: TopologySingle, HubFilePerApp: true},
	} {
		a, b := t.TempDir(), t.TempDir()
		pa, err := Write(a, opt)
		require.NoError(t, err)
		pb, err := Write(b, opt)
		require.NoError(t, err)
		assert.Equal(t, pa, pb)
		ta, tb := treeDigest(t, a), treeDigest(t, b)
		assert.Equal(t, ta, tb)
		assert.Greater(t, len(ta), 30*9)
	}
}

func TestWriteSinglePlansSwapOverlays(t *testing.T) {
	dir := t.TempDir()
	plans, err := Write(dir, Options{Apps: 2, Topology: TopologySingle})
	require.NoError(t, err)
	p := plans[1]
	require.Len(t, p.Spec.Placements, 1)
	assert.Empty(t, p.Spec.Placements[0].Site, "single topology: the placement follows the active site")
	assert.Equal(t, "hub/placements-000.yaml", p.Spec.Placements[0].File)
	assert.Equal(t, "hub/applicationsets-000.yaml", p.Spec.ApplicationSets[0].File)
	assert.Equal(t, map[string]string{
		"dr1": "apps/app-0001/overlays/primary",
		"dr2": "apps/app-0001/overlays/secondary",
	}, p.Spec.ApplicationSets[0].Overlays)
}

func TestWriteDualPlansPinPlacements(t *testing.T) {
	dir := t.TempDir()
	plans, err := Write(dir, Options{Apps: 1, HubFilePerApp: true}) // empty topology: dual
	require.NoError(t, err)
	p := plans[0]
	assert.Equal(t, []v1alpha1.PlacementRef{
		{File: "hub/apps/app-0000.yaml", Name: "app-0000-placement", Site: "dr1"},
		{File: "hub/apps/app-0000.yaml", Name: "app-0000-secondary-placement", Site: "dr2"},
	}, p.Spec.Placements)
	for _, as := range p.Spec.ApplicationSets {
		assert.Empty(t, as.Overlays, "dual topology: paths never change")
	}
	b, err := os.ReadFile(filepath.Join(dir, "hub/apps/app-0000.yaml"))
	require.NoError(t, err)
	assert.Equal(t, 4, strings.Count(string(b), "\n---\n"), "one comment line, then four documents")
	assert.True(t, strings.HasPrefix(string(b), "# Hub objects of app-0000 (generated).\n---\n"))
}

func TestWriteRejectsBadOptions(t *testing.T) {
	for name, tc := range map[string]struct {
		opt  Options
		want string
	}{
		"no apps":          {Options{}, "Apps must be at least 1"},
		"unknown topology": {Options{Apps: 1, Topology: "triple"}, `unknown topology "triple"`},
		"negative chunk":   {Options{Apps: 1, AppsPerHubFile: -1}, "must not be negative"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := Write(dir, tc.opt)
			require.ErrorContains(t, err, tc.want)
			entries, _ := os.ReadDir(dir)
			assert.Empty(t, entries, "nothing written")
		})
	}
	t.Run("non-empty dir", func(t *testing.T) {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, "README.md"), []byte("x\n"), 0o644))
		_, err := Write(dir, Options{Apps: 1})
		require.ErrorContains(t, err, "is not empty")
	})
}

// BenchmarkWrite1000 reports the time of writing a 1,000-app monorepo in each
// layout, and the size of what it wrote (files, MB).
func BenchmarkWrite1000(b *testing.B) {
	for _, opt := range []Options{
		{Apps: 1000, Topology: TopologyDual},
		{Apps: 1000, Topology: TopologyDual, HubFilePerApp: true},
		{Apps: 1000, Topology: TopologySingle, OldStyleEvery: 5},
	} {
		b.Run(fmt.Sprintf("%s/perApp=%v", opt.Topology, opt.HubFilePerApp), func(b *testing.B) {
			var files int
			var size int64
			for b.Loop() {
				dir := b.TempDir()
				plans, err := Write(dir, opt)
				if err != nil {
					b.Fatal(err)
				}
				if len(plans) != opt.Apps {
					b.Fatalf("%d plans", len(plans))
				}
				files, size = treeSize(b, dir)
			}
			b.ReportMetric(float64(files), "files")
			b.ReportMetric(float64(size)/1e6, "MB")
		})
	}
}

// treeSize counts the files under root and their bytes.
func treeSize(t testing.TB, root string) (files int, size int64) {
	t.Helper()
	require.NoError(t, filepath.WalkDir(root, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		files++
		size += info.Size()
		return nil
	}))
	return files, size
}
