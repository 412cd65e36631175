package overlays

import (
	"context"
	"errors"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/gitover/gitover/api/v1alpha1"
)

// tree builds an in-memory repository.
func tree(files map[string]string) fstest.MapFS {
	m := fstest.MapFS{}
	for p, c := range files {
		m[p] = &fstest.MapFile{Data: []byte(c)}
	}
	return m
}

// with returns a copy of files with some replaced (an empty value deletes).
func with(files map[string]string, changes map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range files {
		out[k] = v
	}
	for k, v := range changes {
		if v == "" {
			delete(out, k)
			continue
		}
		out[k] = v
	}
	return out
}

// apply writes a change's files into a copy of the tree.
func apply(t *testing.T, base fstest.MapFS, c *Change) fstest.MapFS {
	t.Helper()
	out := fstest.MapFS{}
	for k, v := range base {
		out[k] = v
	}
	for p, b := range c.Files {
		out[p] = &fstest.MapFile{Data: b}
	}
	return out
}

func plan(t *testing.T, y string) *v1alpha1.DRPlan {
	t.Helper()
	var p v1alpha1.DRPlan
	require.NoError(t, yaml.UnmarshalStrict([]byte(y), &p))
	return &p
}

const vmBase = `apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata:
  name: db
spec:
  runStrategy: Always
  dataVolumeTemplates:
  - metadata:
      name: db-root
    spec:
      storage:
        resources:
          requests:
            storage: 10Gi
      source:
        blank: {}
  template:
    spec:
      domain:
        devices: {}
      volumes:
      - name: root
        dataVolume:
          name: db-root
`

// pinnedRepo is seed 004's two-ApplicationSet topology: pinned
// Placements with matchExpressions, old-style kustomize overlays.
var pinnedRepo = map[string]string{
	"hub/placement.yaml": `# Primary placement: selects the primary site while it is active.
apiVersion: cluster.open-cluster-management.io/v1beta1
kind: Placement
metadata:
  name: shop-placement
  namespace: openshift-gitops
spec:
  clusterSets:
  - shop
  predicates:
  - requiredClusterSelector:
      labelSelector:
        matchExpressions:
        - key: cluster-role
          operator: In
          values:
          - primary   # flipped by failovers
`,
	"hub/placement-secondary.yaml": `apiVersion: cluster.open-cluster-management.io/v1beta1
kind: Placement
metadata:
  name: shop-secondary-placement
  namespace: openshift-gitops
spec:
  clusterSets: [shop]
  predicates:
  - requiredClusterSelector:
      labelSelector:
        matchExpressions:
        - {key: cluster-role, operator: In, values: ["invalid"]}
`,
	"hub/appsets.yaml": `---
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: shop
  namespace: openshift-gitops
spec:
  generators:
  - clusterDecisionResource:
      configMapRef: acm-placement
      labelSelector:
        matchLabels:
          cluster.open-cluster-management.io/placement: shop-placement
      requeueAfterSeconds: 30
  template:
    metadata:
      name: shop-{{name}}
    spec:
      project: default
      source:
        repoURL: https://git.example.com/shop.git
        targetRevision: main
        path: app/overlays/primary
      destination:
        server: '{{server}}'
        namespace: shop
---
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: shop-secondary
  namespace: openshift-gitops
spec:
  generators:
  - clusterDecisionResource:
      configMapRef: acm-placement
      labelSelector:
        matchLabels:
          cluster.open-cluster-management.io/placement: shop-secondary-placement
  template:
    metadata:
      name: shop-secondary-{{name}}
    spec:
      project: default
      source:
        repoURL: https://git.example.com/shop.git
        targetRevision: main
        path: app/overlays/secondary
      destination:
        server: '{{server}}'
        namespace: shop
`,
	"app/base/kustomization.yaml": "resources:\n- vm.yaml\ncommonLabels:\n  app: shop\n",
	"app/base/vm.yaml":            vmBase,
	"app/overlays/primary/kustomization.yaml": `# old-style overlay
bases:
  - ../../base
patchesStrategicMerge:
  - patch.yaml
`,
	"app/overlays/primary/patch.yaml": "apiVersion: kubevirt.io/v1\nkind: VirtualMachine\nmetadata:\n  name: db\n  labels:\n    site: primary\n",
	"app/overlays/secondary/kustomization.yaml": `bases:
- ../../base
patchesStrategicMerge:
- patch.yaml
resources: []
`,
	"app/overlays/secondary/patch.yaml": "apiVersion: kubevirt.io/v1\nkind: VirtualMachine\nmetadata:\n  name: db\n  labels:\n    site: secondary\n",
}

const pinnedPlan = `
apiVersion: gitover.io/v1alpha1
kind: DRPlan
metadata: {name: shop, namespace: openshift-gitops}
spec:
  clusters:
    labelKey: cluster-role
    inactiveValue: invalid
    sites:
    - {name: dr1, labelValue: primary}
    - {name: dr2, labelValue: secondary}
  placements:
  - {file: hub/placement.yaml, name: shop-placement, site: dr1}
  - {file: hub/placement-secondary.yaml, name: shop-secondary-placement, site: dr2}
  applicationSets:
  - {file: hub/appsets.yaml, name: shop}
  - {file: hub/appsets.yaml, name: shop-secondary}
  diskProtection:
    enabled: true
`

// followRepo is the single-ApplicationSet topology: one Placement that
// follows the active site (matchLabels, single-quoted), a multi-document
// hub file, multi-source template, modern kustomize.
var followRepo = map[string]string{
	"hub/shop.yaml": `# Hub manifests for shop
---
apiVersion: cluster.open-cluster-management.io/v1beta1
kind: Placement
metadata:
  name: shop
spec:
  predicates:
    - requiredClusterSelector:
        labelSelector:
          matchLabels:
            topology.example.com/site: 'east-1'
---
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: shop
spec:
  generators:
  - clusterDecisionResource:
      configMapRef: acm-placement
      labelSelector:
        matchLabels:
          cluster.open-cluster-management.io/placement: shop
  template:
    metadata:
      name: 'shop-{{name}}'
    spec:
      project: default
      sources:
      - repoURL: https://git.example.com/shop.git
        targetRevision: main
        path: "app/overlays/east"
      - repoURL: https://git.example.com/config.git
        targetRevision: main
        path: config/common
      destination:
        server: '{{server}}'
        namespace: shop
`,
	"hub/kustomization.yaml": "resources:\n- shop.yaml\n- dns.yaml\n",
	"hub/dns.yaml": `apiVersion: externaldns.k8s.io/v1alpha1
kind: DNSEndpoint
metadata:
  name: shop
spec:
  endpoints:
  - dnsName: shop.example.com
    recordType: A
    targets:
    - 203.0.113.10
`,
	"app/base/kustomization.yaml": "resources:\n- vm.yaml\n",
	"app/base/vm.yaml":            vmBase,
	"app/overlays/east/kustomization.yaml": `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: shop
resources:
- ../../base
patches:
- target: {kind: VirtualMachine}
  patch: |-
    - op: add
      path: /metadata/labels
      value: {site: east}
`,
	"app/overlays/west/kustomization.yaml": `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: shop
resources: [../../base]
`,
}

const followPlan = `
apiVersion: gitover.io/v1alpha1
kind: DRPlan
metadata: {name: shop}
spec:
  clusters:
    labelKey: topology.example.com/site
    inactiveValue: nowhere
    sites:
    - {name: east, labelValue: east-1}
    - {name: west, labelValue: west-1}
  placements:
  - {file: hub/shop.yaml, name: shop}
  applicationSets:
  - file: hub/shop.yaml
    name: shop
    overlays: {east: app/overlays/east, west: app/overlays/west}
  switches:
  - file: hub/dns.yaml
    kind: DNSEndpoint
    name: shop
    fieldPath: spec.endpoints[dnsName=shop.example.com].targets[0]
    values: {east: 203.0.113.10, west: 198.51.100.20}
  diskProtection:
    enabled: true
    image: registry.example.com/gitover:v9
`

func failover(to string) Request { return Request{Action: v1alpha1.ActionFailover, Target: to} }

func TestPinnedTopologyFailover(t *testing.T) {
	ctx := context.Background()
	repo := tree(pinnedRepo)
	c, err := Plan(ctx, repo, []*v1alpha1.DRPlan{plan(t, pinnedPlan)}, failover("dr2"))
	require.NoError(t, err)
	require.Equal(t, []PlanChange{{Plan: "shop", Source: "dr1", Target: "dr2"}}, c.Plans)

	// The primary's value goes to invalid, the secondary's to its label
	// value; comments, flow style and quoting stay.
	assert.Equal(t, strings.Replace(pinnedRepo["hub/placement.yaml"], "- primary   # flipped", "- invalid   # flipped", 1), string(c.Files["hub/placement.yaml"]))
	assert.Equal(t, strings.Replace(pinnedRepo["hub/placement-secondary.yaml"], `values: ["invalid"]`, `values: ["secondary"]`, 1), string(c.Files["hub/placement-secondary.yaml"]))
	// Fixed-path ApplicationSets are not edited.
	assert.NotContains(t, c.Files, "hub/appsets.yaml")

	// Old-style kustomizations keep working: resources is added in the
	// file's own list indentation, or appended to an empty flow list.
	assert.Equal(t, pinnedRepo["app/overlays/primary/kustomization.yaml"]+"resources:\n  - gitover-disk-protection.yaml\n", string(c.Files["app/overlays/primary/kustomization.yaml"]))
	assert.Equal(t, strings.Replace(pinnedRepo["app/overlays/secondary/kustomization.yaml"], "resources: []", "resources: [gitover-disk-protection.yaml]", 1), string(c.Files["app/overlays/secondary/kustomization.yaml"]))
	for _, o := range []string{"primary", "secondary"} {
		gen := string(c.Files["app/overlays/"+o+"/gitover-disk-protection.yaml"])
		assert.True(t, strings.HasPrefix(gen, "# Code generated by gitover; DO NOT EDIT."), o)
		assert.Contains(t, gen, "image: "+DefaultHookImage)
	}

	kinds := map[EditKind]int{}
	for _, e := range c.Edits {
		kinds[e.Kind]++
	}
	assert.Equal(t, map[EditKind]int{EditPlacement: 2, EditProtectionFile: 2, EditKustomization: 2}, kinds)
	assert.Contains(t, c.Edits, Edit{Plan: "shop", Kind: EditPlacement, File: "hub/placement.yaml", Object: "Placement/shop-placement",
		Field: "spec.predicates[0].requiredClusterSelector.labelSelector.matchExpressions[0].values[0]", Old: "primary", New: "invalid"})

	// The source overlay was not protected before: say so.
	assert.True(t, hasWarning(c, "app/overlays/primary"), "expected a warning about the unprotected source overlay: %+v", c.Checks)

	// kustomize's deprecation notices for old-style fields become warnings.
	assert.True(t, hasWarning(c, "'bases' is deprecated"), "%+v", c.Checks)

	// The new tree reads as dr2 active.
	active, err := Inspect(apply(t, repo, c), []*v1alpha1.DRPlan{plan(t, pinnedPlan)})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"shop": "dr2"}, active)
}

func TestFollowTopologyFailoverAndRelocate(t *testing.T) {
	ctx := context.Background()
	repo := tree(followRepo)
	p := plan(t, followPlan)
	c, err := Plan(ctx, repo, []*v1alpha1.DRPlan{p}, failover("west"))
	require.NoError(t, err)

	hub := string(c.Files["hub/shop.yaml"])
	want := strings.NewReplacer(
		"topology.example.com/site: 'east-1'", "topology.example.com/site: 'west-1'",
		`path: "app/overlays/east"`, `path: "app/overlays/west"`,
	).Replace(followRepo["hub/shop.yaml"])
	assert.Equal(t, want, hub, "only the selector value and the overlay path change, quoting kept")
	assert.Contains(t, hub, "path: config/common", "the other source is left alone")
	assert.Equal(t, strings.Replace(followRepo["hub/dns.yaml"], "203.0.113.10", "198.51.100.20", 1), string(c.Files["hub/dns.yaml"]))
	assert.Equal(t, strings.Replace(followRepo["app/overlays/west/kustomization.yaml"], "resources: [../../base]", "resources: [../../base, gitover-disk-protection.yaml]", 1),
		string(c.Files["app/overlays/west/kustomization.yaml"]))
	assert.Contains(t, string(c.Files["app/overlays/east/gitover-disk-protection.yaml"]), "image: registry.example.com/gitover:v9")

	// Relocating back restores the hub files byte for byte; the protection stays.
	moved := apply(t, repo, c)
	back, err := Plan(ctx, moved, []*v1alpha1.DRPlan{p}, Request{Action: v1alpha1.ActionRelocate, Target: "east"})
	require.NoError(t, err)
	assert.Equal(t, followRepo["hub/shop.yaml"], string(back.Files["hub/shop.yaml"]))
	assert.Equal(t, followRepo["hub/dns.yaml"], string(back.Files["hub/dns.yaml"]))
	assert.ElementsMatch(t, []string{"hub/shop.yaml", "hub/dns.yaml"}, back.Paths(), "protection is already in place")
}

func TestRoundTripIsByteIdentical(t *testing.T) {
	ctx := context.Background()
	repo := tree(pinnedRepo)
	p := plan(t, pinnedPlan)
	c1, err := Plan(ctx, repo, []*v1alpha1.DRPlan{p}, failover("dr2"))
	require.NoError(t, err)
	mid := apply(t, repo, c1)
	c2, err := Plan(ctx, mid, []*v1alpha1.DRPlan{p}, Request{Action: v1alpha1.ActionRelocate, Target: "dr1"})
	require.NoError(t, err)
	end := apply(t, mid, c2)
	for _, f := range []string{"hub/placement.yaml", "hub/placement-secondary.yaml", "hub/appsets.yaml"} {
		assert.Equal(t, pinnedRepo[f], string(end[f].Data), f)
	}
	assert.False(t, hasWarning(c2, "app/overlays/secondary"), "protection was in place before the relocation")
}

func TestProtectIsIdempotent(t *testing.T) {
	ctx := context.Background()
	repo := tree(followRepo)
	p := plan(t, followPlan)
	protect := Request{Action: v1alpha1.ActionProtect}
	c, err := Plan(ctx, repo, []*v1alpha1.DRPlan{p}, protect)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{
		"app/overlays/east/gitover-disk-protection.yaml", "app/overlays/east/kustomization.yaml",
		"app/overlays/west/gitover-disk-protection.yaml", "app/overlays/west/kustomization.yaml",
	}, c.Paths())
	assert.Equal(t, []PlanChange{{Plan: "shop", Source: "east", Target: "east"}}, c.Plans)
	for _, e := range c.Edits {
		assert.NotEqual(t, EditPlacement, e.Kind, "protect never moves the application")
	}

	again, err := Plan(ctx, apply(t, repo, c), []*v1alpha1.DRPlan{p}, protect)
	require.NoError(t, err)
	assert.True(t, again.Empty(), "second protect changes nothing: %v", again.Paths())

	// A new image refreshes the generated file and nothing else.
	p2 := plan(t, strings.Replace(followPlan, "gitover:v9", "gitover:v10", 1))
	refresh, err := Plan(ctx, apply(t, repo, c), []*v1alpha1.DRPlan{p2}, protect)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"app/overlays/east/gitover-disk-protection.yaml", "app/overlays/west/gitover-disk-protection.yaml"}, refresh.Paths())
}

func TestAlreadyActiveChangesNothing(t *testing.T) {
	c, err := Plan(context.Background(), tree(pinnedRepo), []*v1alpha1.DRPlan{plan(t, pinnedPlan)}, failover("dr1"))
	require.NoError(t, err)
	assert.True(t, c.Empty())
	assert.Equal(t, []PlanChange{{Plan: "shop", Source: "dr1", Target: "dr1", AlreadyActive: true}}, c.Plans)
}

func TestPassivePlacementFollowsThePassiveSite(t *testing.T) {
	repo := with(pinnedRepo, map[string]string{
		"hub/replication.yaml": `apiVersion: cluster.open-cluster-management.io/v1beta1
kind: Placement
metadata:
  name: shop-replication-destination
spec:
  predicates:
  - requiredClusterSelector:
      labelSelector:
        matchExpressions:
        - key: cluster-role
          operator: In
          values:
          - secondary
`})
	pl := plan(t, strings.Replace(pinnedPlan, "  applicationSets:", "  - {file: hub/replication.yaml, name: shop-replication-destination, site: dr2, role: Passive}\n  applicationSets:", 1))
	c, err := Plan(context.Background(), tree(repo), []*v1alpha1.DRPlan{pl}, failover("dr2"))
	require.NoError(t, err)
	assert.Contains(t, string(c.Files["hub/replication.yaml"]), "          - invalid\n", "the destination leaves the site that becomes active")

	// A Passive placement that disagrees with the active site is an inconsistency.
	bad := with(repo, map[string]string{"hub/replication.yaml": strings.Replace(repo["hub/replication.yaml"], "- secondary", "- invalid", 1)})
	_, err = Plan(context.Background(), tree(bad), []*v1alpha1.DRPlan{pl}, failover("dr2"))
	require.ErrorIs(t, err, ErrInconsistent)
	assert.Contains(t, err.Error(), "hub/replication.yaml")
}

func hasWarning(c *Change, substr string) bool {
	for _, ch := range c.Checks {
		if ch.Warning && strings.Contains(ch.Message, substr) {
			return true
		}
	}
	return false
}

func TestBadInput(t *testing.T) {
	p := func(t *testing.T) *v1alpha1.DRPlan { return plan(t, pinnedPlan) }
	cases := []struct {
		name    string
		repo    map[string]string
		plan    func(*testing.T) *v1alpha1.DRPlan
		target  string
		class   error
		message []string
	}{
		{name: "unknown site", repo: pinnedRepo, plan: p, target: "dr3", class: ErrInvalidRequest, message: []string{`no site "dr3"`, "dr1, dr2"}},
		{name: "missing placement file", repo: with(pinnedRepo, map[string]string{"hub/placement.yaml": ""}), plan: p, target: "dr2", class: ErrMissing, message: []string{"hub/placement.yaml", "does not exist"}},
		{name: "placement name not in file", repo: with(pinnedRepo, map[string]string{"hub/placement.yaml": strings.Replace(pinnedRepo["hub/placement.yaml"], "name: shop-placement", "name: other", 1)}), plan: p, target: "dr2", class: ErrMissing, message: []string{"hub/placement.yaml", `no Placement named "shop-placement"`, "Placement/other"}},
		{name: "appset name not in file", repo: with(pinnedRepo, map[string]string{"hub/appsets.yaml": strings.Replace(pinnedRepo["hub/appsets.yaml"], "name: shop-secondary\n", "name: shop-2\n", 1)}), plan: p, target: "dr2", class: ErrMissing, message: []string{"hub/appsets.yaml", `no ApplicationSet named "shop-secondary"`}},
		{name: "no site active", repo: with(pinnedRepo, map[string]string{"hub/placement.yaml": strings.Replace(pinnedRepo["hub/placement.yaml"], "- primary", "- invalid", 1)}), plan: p, target: "dr2", class: ErrInconsistent, message: []string{"no site is active", "hub/placement.yaml", "hub/placement-secondary.yaml"}},
		{name: "two sites active", repo: with(pinnedRepo, map[string]string{"hub/placement-secondary.yaml": strings.Replace(pinnedRepo["hub/placement-secondary.yaml"], `["invalid"]`, `["secondary"]`, 1)}), plan: p, target: "dr2", class: ErrInconsistent, message: []string{"2 sites are active", "dr1 by hub/placement.yaml", "dr2 by hub/placement-secondary.yaml"}},
		{name: "pinned placement selects the other site", repo: with(pinnedRepo, map[string]string{"hub/placement.yaml": strings.Replace(pinnedRepo["hub/placement.yaml"], "- primary", "- secondary", 1)}), plan: p, target: "dr2", class: ErrInconsistent, message: []string{"hub/placement.yaml", "pinned to site dr1 but selects site dr2"}},
		{name: "unknown selector value", repo: with(pinnedRepo, map[string]string{"hub/placement.yaml": strings.Replace(pinnedRepo["hub/placement.yaml"], "- primary", "- tertiary", 1)}), plan: p, target: "dr2", class: ErrInconsistent, message: []string{"hub/placement.yaml:17", "tertiary", "neither a site's label value"}},
		{name: "no selector on the label key", repo: with(pinnedRepo, map[string]string{"hub/placement.yaml": strings.Replace(pinnedRepo["hub/placement.yaml"], "key: cluster-role", "key: region", 1)}), plan: p, target: "dr2", class: ErrMissing, message: []string{"hub/placement.yaml", `no cluster selector on label "cluster-role"`}},
		{name: "NotIn operator", repo: with(pinnedRepo, map[string]string{"hub/placement.yaml": strings.Replace(pinnedRepo["hub/placement.yaml"], "operator: In", "operator: NotIn", 1)}), plan: p, target: "dr2", class: ErrUnsupported, message: []string{"hub/placement.yaml", `operator "NotIn"`}},
		{name: "malformed yaml", repo: with(pinnedRepo, map[string]string{"hub/appsets.yaml": pinnedRepo["hub/appsets.yaml"] + "  bad: [unclosed\n"}), plan: p, target: "dr2", class: ErrMalformed, message: []string{"hub/appsets.yaml", "not valid YAML"}},
		{name: "overlay missing", repo: with(pinnedRepo, map[string]string{"app/overlays/secondary/kustomization.yaml": "", "app/overlays/secondary/patch.yaml": ""}), plan: p, target: "dr2", class: ErrMissing, message: []string{"app/overlays/secondary", "overlay directory does not exist"}},
		{name: "render failure before the edit", repo: with(pinnedRepo, map[string]string{"app/overlays/primary/patch.yaml": ""}), plan: p, target: "dr2", class: ErrRender, message: []string{"app/overlays/primary", "before any edit"}},
		{name: "overlay missing from plan map", repo: followRepo, plan: func(t *testing.T) *v1alpha1.DRPlan {
			return plan(t, strings.Replace(followPlan, "west: app/overlays/west}", "west: app/overlays/north}", 1))
		}, target: "west", class: ErrMissing, message: []string{"app/overlays/north", "does not exist"}},
		{name: "appset deploys another site's overlay", repo: with(followRepo, map[string]string{"hub/shop.yaml": strings.Replace(followRepo["hub/shop.yaml"], `"app/overlays/east"`, `"app/overlays/west"`, 1)}), plan: func(t *testing.T) *v1alpha1.DRPlan { return plan(t, followPlan) }, target: "west", class: ErrInconsistent, message: []string{"hub/shop.yaml", "overlay of site west", "east is active"}},
		{name: "switch out of step", repo: with(followRepo, map[string]string{"hub/dns.yaml": strings.Replace(followRepo["hub/dns.yaml"], "203.0.113.10", "192.0.2.1", 1)}), plan: func(t *testing.T) *v1alpha1.DRPlan { return plan(t, followPlan) }, target: "west", class: ErrInconsistent, message: []string{"hub/dns.yaml", "192.0.2.1", "203.0.113.10"}},
		{name: "invalid plan", repo: pinnedRepo, plan: func(t *testing.T) *v1alpha1.DRPlan {
			return plan(t, strings.Replace(pinnedPlan, "site: dr2}", "site: dr9}", 1))
		}, target: "dr2", class: ErrInvalidRequest, message: []string{`spec.placements[1].site "dr9" is not a site`}},
		{name: "templated path without overlays", repo: with(pinnedRepo, map[string]string{"hub/appsets.yaml": strings.Replace(pinnedRepo["hub/appsets.yaml"], "path: app/overlays/primary", "path: app/overlays/{{name}}", 1)}), plan: p, target: "dr2", class: ErrUnsupported, message: []string{"hub/appsets.yaml", "templated"}},
		{name: "aliased selector value", repo: with(pinnedRepo, map[string]string{"hub/placement.yaml": strings.NewReplacer("  clusterSets:\n  - shop", "  clusterSets:\n  - &site primary", "          - primary   # flipped by failovers", "          - *site").Replace(pinnedRepo["hub/placement.yaml"])}), plan: p, target: "dr2", class: ErrUnsupported, message: []string{"hub/placement.yaml", "alias"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Plan(context.Background(), tree(tc.repo), []*v1alpha1.DRPlan{tc.plan(t)}, failover(tc.target))
			require.Error(t, err)
			assert.Nil(t, c)
			assert.True(t, errors.Is(err, tc.class), "error class: got %v", err)
			for _, m := range tc.message {
				assert.Contains(t, err.Error(), m)
			}
		})
	}
}

func TestHookRemovedByPatchIsRefused(t *testing.T) {
	repo := with(followRepo, map[string]string{
		"app/overlays/west/kustomization.yaml": `namespace: shop
resources: [../../base]
patches:
- target: {kind: Job}
  patch: |-
    $patch: delete
    apiVersion: batch/v1
    kind: Job
    metadata:
      name: any
`})
	_, err := Plan(context.Background(), tree(repo), []*v1alpha1.DRPlan{plan(t, followPlan)}, Request{Action: v1alpha1.ActionProtect})
	require.ErrorIs(t, err, ErrRender)
	assert.Contains(t, err.Error(), "app/overlays/west")
	assert.Contains(t, err.Error(), "disk-protection hooks")
}

func TestSeveralPlansShareOneHubFile(t *testing.T) {
	// Two applications whose Placements live in one multi-document file:
	// both edits land in one file, one parse.
	repo := map[string]string{"hub/placements.yaml": ""}
	var plans []*v1alpha1.DRPlan
	for _, app := range []string{"a", "b"} {
		repo["hub/placements.yaml"] += "---\napiVersion: cluster.open-cluster-management.io/v1beta1\nkind: Placement\nmetadata:\n  name: " + app + "\nspec:\n  predicates:\n  - requiredClusterSelector:\n      labelSelector:\n        matchLabels: {cluster-role: primary}\n"
		plans = append(plans, plan(t, strings.NewReplacer("name: shop-placement", "name: "+app, "metadata: {name: shop,", "metadata: {name: "+app+",").Replace(`
metadata: {name: shop, namespace: x}
spec:
  clusters:
    labelKey: cluster-role
    inactiveValue: invalid
    sites: [{name: dr1, labelValue: primary}, {name: dr2, labelValue: secondary}]
  placements:
  - {file: hub/placements.yaml, name: shop-placement}
`)))
	}
	c, err := Plan(context.Background(), tree(repo), plans, failover("dr2"))
	require.NoError(t, err)
	assert.Equal(t, strings.ReplaceAll(repo["hub/placements.yaml"], "{cluster-role: primary}", "{cluster-role: secondary}"), string(c.Files["hub/placements.yaml"]))
	assert.Len(t, c.Plans, 2)
}

func TestDiffShowsEveryChangedFile(t *testing.T) {
	c, err := Plan(context.Background(), tree(pinnedRepo), []*v1alpha1.DRPlan{plan(t, pinnedPlan)}, failover("dr2"))
	require.NoError(t, err)
	d := c.Diff()
	assert.Contains(t, d, "--- a/hub/placement.yaml\n+++ b/hub/placement.yaml\n")
	assert.Contains(t, d, "-          - primary   # flipped by failovers\n+          - invalid   # flipped by failovers\n")
	assert.Contains(t, d, "--- /dev/null\n+++ b/app/overlays/primary/gitover-disk-protection.yaml\n")
}

func TestInputTreeIsNeverWritten(t *testing.T) {
	repo := tree(pinnedRepo)
	snapshot := map[string]string{}
	require.NoError(t, fs.WalkDir(repo, ".", func(p string, d fs.DirEntry, err error) error {
		if !d.IsDir() {
			snapshot[p] = string(repo[p].Data)
		}
		return err
	}))
	_, err := Plan(context.Background(), repo, []*v1alpha1.DRPlan{plan(t, pinnedPlan)}, failover("dr2"))
	require.NoError(t, err)
	for p, c := range snapshot {
		assert.Equal(t, c, string(repo[p].Data), p)
	}
	assert.Len(t, repo, len(snapshot))
}

func TestHubFileNotListedByItsKustomizationIsFlagged(t *testing.T) {
	repo := with(followRepo, map[string]string{"hub/kustomization.yaml": "resources:\n- dns.yaml\n"})
	c, err := Plan(context.Background(), tree(repo), []*v1alpha1.DRPlan{plan(t, followPlan)}, failover("west"))
	require.NoError(t, err)
	assert.True(t, hasWarning(c, "hub/shop.yaml is not listed"), "%+v", c.Checks)
	assert.False(t, hasWarning(c, "hub/dns.yaml is not listed"))

	// Listed through a sub-kustomization counts.
	nested := with(followRepo, map[string]string{
		"hub/kustomization.yaml":      "resources:\n- apps\n- dns.yaml\n",
		"hub/apps/kustomization.yaml": "resources:\n- ../shop.yaml\n",
	})
	c, err = Plan(context.Background(), tree(nested), []*v1alpha1.DRPlan{plan(t, followPlan)}, failover("west"))
	require.NoError(t, err)
	assert.False(t, hasWarning(c, "is not listed"), "%+v", c.Checks)
}
