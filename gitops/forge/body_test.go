package forge

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gitover/gitover/api/v1alpha1"
	"github.com/gitover/gitover/overlays"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// sampleChange is a failover of the shop plan from dr1 to dr2 in the shape
// the overlays engine produces.
func sampleChange() *overlays.Change {
	const sel = "spec.predicates[0].requiredClusterSelector.labelSelector.matchExpressions[0].values[0]"
	return &overlays.Change{
		Action: v1alpha1.ActionFailover,
		Target: "dr2",
		Plans:  []overlays.PlanChange{{Plan: "shop", Source: "dr1", Target: "dr2"}},
		Edits: []overlays.Edit{
			{Plan: "shop", Kind: overlays.EditPlacement, File: "hub/shop/placement-dr1.yaml", Object: "Placement/shop-dr1", Field: sel, Old: "primary", New: "invalid"},
			{Plan: "shop", Kind: overlays.EditPlacement, File: "hub/shop/placement-dr2.yaml", Object: "Placement/shop-dr2", Field: sel, Old: "invalid", New: "secondary"},
			{Plan: "shop", Kind: overlays.EditSourcePath, File: "hub/shop/appset.yaml", Object: "ApplicationSet/shop", Field: "spec.template.spec.source.path", Old: "apps/shop/overlays/dr1", New: "apps/shop/overlays/dr2"},
			{Plan: "shop", Kind: overlays.EditSwitch, File: "hub/dns/records.yaml", Object: "DNSEndpoint/shop", Field: "spec.endpoints[dnsName=shop.example.com].targets[0]", Old: "lb.dr1.example.com", New: "lb.dr2.example.com"},
			{Plan: "shop", Kind: overlays.EditProtectionFile, File: "apps/shop/overlays/dr2/gitover-disk-protection.yaml", Object: "disk protection", Field: "(file)", Old: "(absent)", New: "(generated)"},
			{Plan: "shop", Kind: overlays.EditKustomization, File: "apps/shop/overlays/dr2/kustomization.yaml", Object: "Kustomization", Field: "resources", Old: "", New: "gitover-disk-protection.yaml"},
		},
		Checks: []overlays.Check{
			{Name: "consistent", OK: true, Message: "shop: active on dr1 in all 2 placements"},
			{Name: "render-before", OK: true, Message: "4 overlays and kustomizations render before the change"},
			{Name: "render-after", OK: true, Message: "4 render after it (2 rebuilt; 2 do not read any changed file)"},
			{Name: "one-site-active", OK: true, Message: "exactly one site active after the change: dr2"},
			{Name: "source-protected", OK: true, Warning: true, Message: "plan shop: overlay apps/shop/overlays/dr1, active on dr1, had no up-to-date disk protection before this change; run `gitover protect` first"},
		},
	}
}

func sampleInfo() BodyInfo {
	return BodyInfo{BaseBranch: "main", BaseSHA: "0123456789abcdef0123456789abcdef01234567",
		Requester: "Failover default/shop-x7k2", Reason: "dr1 lost power"}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./gitops/forge -run %s -update to create it", t.Name())
	assert.Equal(t, string(want), got)
}

func TestRenderBodyGolden(t *testing.T) {
	tests := []struct {
		golden string
		change func() *overlays.Change
		info   BodyInfo
	}{
		{"body-failover.md", sampleChange, sampleInfo()},
		{"body-relocate-two-plans.md", func() *overlays.Change {
			c := sampleChange()
			c.Action, c.Target = v1alpha1.ActionRelocate, "dr1"
			c.Plans = []overlays.PlanChange{{Plan: "shop", Source: "dr2", Target: "dr1"}, {Plan: "db", Source: "dr1", Target: "dr1", AlreadyActive: true}}
			c.Edits = c.Edits[:1]
			c.Edits[0].Old, c.Edits[0].New = "invalid", "primary"
			c.Checks = []overlays.Check{{Name: "render-after", OK: false, Message: "apps/shop/overlays/dr1: accumulating resources: <missing>"}}
			return c
		}, BodyInfo{BaseBranch: "main", BaseSHA: "fedcba9876543210"}},
		{"body-protect.md", func() *overlays.Change {
			c := sampleChange()
			c.Action, c.Target = v1alpha1.ActionProtect, ""
			c.Plans[0].Target = "dr1"
			c.Plans[0].Source = "dr1"
			c.Edits = c.Edits[4:]
			c.Checks = c.Checks[:1]
			return c
		}, BodyInfo{BaseBranch: "main", BaseSHA: "0123456789abcdef"}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			body := RenderBody(tt.change(), tt.info)
			golden(t, tt.golden, body)
			assert.Equal(t, body, RenderBody(tt.change(), tt.info), "deterministic")
			m, ok := ParseMarker(body)
			require.True(t, ok)
			assert.Equal(t, string(tt.change().Action), m.Action)
			assert.Equal(t, tt.info.BaseSHA, m.Base)
		})
	}
}

func TestRenderBodyEscapes(t *testing.T) {
	c := sampleChange()
	c.Edits = []overlays.Edit{{Plan: "shop", File: "a|b.yaml", Object: "ConfigMap/x", Field: "data.k",
		Old: "has `tick` and | pipe", New: "line1\nline2 -->"}}
	c.Checks = []overlays.Check{
		{Name: "bad", OK: false, Message: "<script>alert(1)</script> | broken\nnext"},
	}
	body := RenderBody(c, BodyInfo{Reason: "x | y <b>"})
	assert.Contains(t, body, "| `a\\|b.yaml` |")
	assert.Contains(t, body, "``has `tick` and \\| pipe``")
	assert.Contains(t, body, "`line1⏎line2 -->`")
	assert.Contains(t, body, "- ✗ **bad** — &lt;script&gt;alert(1)&lt;/script&gt; \\| broken next")
	assert.Contains(t, body, "| Reason | x \\| y &lt;b&gt; |")
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, "| `") {
			assert.Equal(t, 6, strings.Count(line, " | ")+2, "row keeps 5 cells: %s", line)
		}
	}
	// The value containing "-->" does not end the marker early.
	m, ok := ParseMarker(body)
	require.True(t, ok)
	assert.Equal(t, []string{"shop"}, m.Plans)
}

func TestRenderBodyLongTable(t *testing.T) {
	c := sampleChange()
	e := c.Edits[0]
	c.Edits = nil
	for i := 0; i < 2000; i++ {
		c.Edits = append(c.Edits, e)
	}
	body := RenderBody(c, sampleInfo())
	assert.Less(t, len(body), 60000, "fits GitHub's 65,536-character body limit")
	assert.Contains(t, body, "more; see the diff.")
	_, ok := ParseMarker(body)
	assert.True(t, ok)
}

func TestParseMarker(t *testing.T) {
	tests := []struct {
		name string
		body string
		want *Marker
	}{
		{"written by RenderBody", RenderBody(sampleChange(), sampleInfo()),
			&Marker{Plans: []string{"shop"}, Action: "Failover", Target: "dr2", Base: "0123456789abcdef0123456789abcdef01234567", Version: 1}},
		{"bare", `<!-- gitover: {"plan":["a","b"],"action":"Relocate","target":"dr1","base":"abc","version":1} -->`,
			&Marker{Plans: []string{"a", "b"}, Action: "Relocate", Target: "dr1", Base: "abc", Version: 1}},
		{"last one wins", "<!-- gitover: {\"plan\":[\"x\"],\"version\":1} -->\ntext\n<!-- gitover: {\"plan\":[\"y\"],\"version\":1} -->",
			&Marker{Plans: []string{"y"}, Version: 1}},
		{"human pull request", "Fixes the DNS record.", nil},
		{"no version", `<!-- gitover: {"plan":["a"]} -->`, nil},
		{"garbage", `<!-- gitover: {not json} -->`, nil},
		{"unterminated", `<!-- gitover: {"plan":["a"],"version":1}`, nil},
		{"unknown field", `<!-- gitover: {"plan":["a"],"version":1,"evil":true} -->`, nil},
		{"trailing data", `<!-- gitover: {"version":1} {"version":2} -->`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ParseMarker(tt.body)
			assert.Equal(t, tt.want != nil, ok)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestTitle(t *testing.T) {
	plans := func(names ...string) []overlays.PlanChange {
		var out []overlays.PlanChange
		for _, n := range names {
			out = append(out, overlays.PlanChange{Plan: n})
		}
		return out
	}
	tests := []struct {
		change *overlays.Change
		want   string
	}{
		{&overlays.Change{Action: v1alpha1.ActionFailover, Target: "dr2", Plans: plans("shop")}, "gitover: failover shop to dr2"},
		{&overlays.Change{Action: v1alpha1.ActionRelocate, Target: "dr1", Plans: plans("shop", "db")}, "gitover: relocate db, shop to dr1"},
		{&overlays.Change{Action: v1alpha1.ActionFailover, Target: "dr2", Plans: plans("a", "b", "c", "d")}, "gitover: failover 4 plans to dr2"},
		{&overlays.Change{Action: v1alpha1.ActionProtect, Plans: plans("shop")}, "gitover: protect shop"},
		{nil, "gitover: change"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			assert.Equal(t, tt.want, Title(tt.change))
		})
	}
}

// The README section docs/pull-requests.md shows the golden body verbatim.
func TestDocShowsGoldenBody(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "pull-requests.md"))
	if os.IsNotExist(err) {
		t.Skip("docs/pull-requests.md not written yet")
	}
	require.NoError(t, err)
	body, err := os.ReadFile(filepath.Join("testdata", "body-failover.md"))
	require.NoError(t, err)
	assert.Contains(t, string(doc), string(body), "update the sample in docs/pull-requests.md from testdata/body-failover.md")
}
