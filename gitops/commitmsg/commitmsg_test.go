package commitmsg

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/gitover/gitover/api/v1alpha1"
	"github.com/gitover/gitover/gitops/git"
	"github.com/gitover/gitover/overlays"
)

func TestMessageCarriesTrailers(t *testing.T) {
	c := &overlays.Change{
		Action: v1alpha1.ActionFailover, Target: "dr2",
		Plans: []overlays.PlanChange{{Plan: "shop", Source: "dr1", Target: "dr2"}, {Plan: "blog", Source: "dr2", Target: "dr2", AlreadyActive: true}},
		Edits: []overlays.Edit{{Plan: "shop", Kind: overlays.EditPlacement, File: "hub/p.yaml", Object: "Placement/p", Field: "spec.x", Old: "primary", New: "invalid"}},
	}
	msg := Message(c, "")
	assert.True(t, strings.HasPrefix(msg, "gitover: failover shop to dr2\n\n"), msg)
	assert.Contains(t, msg, "- hub/p.yaml: Placement/p spec.x: primary -> invalid\n")
	assert.Contains(t, msg, "DRPlan blog: already active on dr2.")
	tr := git.ParseTrailers(msg)
	assert.Equal(t, []string{"shop"}, tr[git.TrailerPlan], "only the plans the commit changes")
	assert.Equal(t, []string{"failover"}, tr[git.TrailerAction])
	assert.Equal(t, []string{"dr2"}, tr[git.TrailerTarget])

	custom := Message(c, "DR drill 42")
	assert.True(t, strings.HasPrefix(custom, "DR drill 42\n\n"))
	assert.Equal(t, []string{"shop"}, git.ParseTrailers(custom)[git.TrailerPlan])
}

func TestLongChangesAreSummarised(t *testing.T) {
	c := &overlays.Change{Action: v1alpha1.ActionRelocate, Target: "dr1"}
	for i := 0; i < 5; i++ {
		c.Plans = append(c.Plans, overlays.PlanChange{Plan: string(rune('a' + i)), Source: "dr2", Target: "dr1"})
	}
	for i := 0; i < 100; i++ {
		c.Edits = append(c.Edits, overlays.Edit{Kind: overlays.EditPlacement, File: "f", Object: "o", Field: "x", Old: "a", New: "b"})
	}
	msg := Message(c, "")
	assert.True(t, strings.HasPrefix(msg, "gitover: relocate 5 plans to dr1\n"))
	assert.Contains(t, msg, "... and 60 more edits.")
	assert.Len(t, git.ParseTrailers(msg)[git.TrailerPlan], 5)
}

func TestOperationTrailer(t *testing.T) {
	c := &overlays.Change{Action: v1alpha1.ActionFailover, Target: "dr2", Plans: []overlays.PlanChange{{Plan: "shop", Source: "dr1", Target: "dr2"}}}
	msg := Message(c, "", [2]string{TrailerOperation, "argocd/fo-1/1234"})
	assert.Equal(t, []string{"argocd/fo-1/1234"}, git.ParseTrailers(msg)[TrailerOperation])
}
