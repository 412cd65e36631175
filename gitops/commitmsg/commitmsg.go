// Package commitmsg writes the commit message of a gitover change: a
// subject naming the action, plans and target, a readable list of the
// edits, and the Gitover-* trailers by which the controller later
// recognises its own commits.
package commitmsg

import (
	"fmt"
	"strings"

	"github.com/gitover/gitover/api/v1alpha1"
	"github.com/gitover/gitover/gitops/git"
	"github.com/gitover/gitover/overlays"
)

// maxListedEdits bounds the edit list in a commit body.
const maxListedEdits = 40

// Subject is the message's first line, e.g. "gitover: failover shop to dr2".
func Subject(c *overlays.Change) string {
	plans := changedPlans(c)
	who := strings.Join(plans, ", ")
	if len(plans) > 3 {
		who = fmt.Sprintf("%d plans", len(plans))
	}
	if c.Action == v1alpha1.ActionProtect {
		return fmt.Sprintf("gitover: protect the VM disks of %s", who)
	}
	return fmt.Sprintf("gitover: %s %s to %s", Action(c.Action), who, c.Target)
}

// Action is the action as trailers and subjects spell it.
func Action(a v1alpha1.Action) string { return strings.ToLower(string(a)) }

// TrailerOperation names the Failover object (namespace/name/uid) a
// commit carries out, so that a restarted controller finds its own commit
// instead of making a second one.
const TrailerOperation = "Gitover-Operation"

// Message is the whole commit message. A non-empty custom message replaces
// the generated subject; the body and trailers always follow, so every
// gitover commit names its plans, action and target. extra trailers (e.g.
// TrailerOperation) are appended after gitover's own.
func Message(c *overlays.Change, custom string, extra ...[2]string) string {
	var b strings.Builder
	if s := strings.TrimSpace(custom); s != "" {
		b.WriteString(s)
	} else {
		b.WriteString(Subject(c))
	}
	b.WriteString("\n\n")
	for _, p := range c.Plans {
		switch {
		case p.AlreadyActive:
			fmt.Fprintf(&b, "DRPlan %s: already active on %s.\n", p.Plan, p.Target)
		case c.Action == v1alpha1.ActionProtect:
			fmt.Fprintf(&b, "DRPlan %s: disk protection for the overlays of %s.\n", p.Plan, p.Source)
		default:
			fmt.Fprintf(&b, "DRPlan %s: %s from %s to %s.\n", p.Plan, Action(c.Action), p.Source, p.Target)
		}
	}
	b.WriteString("\n")
	for i, e := range c.Edits {
		if i == maxListedEdits {
			fmt.Fprintf(&b, "... and %d more edits.\n", len(c.Edits)-maxListedEdits)
			break
		}
		fmt.Fprintf(&b, "- %s\n", EditLine(e))
	}
	var kv [][2]string
	for _, p := range changedPlans(c) {
		kv = append(kv, [2]string{git.TrailerPlan, p})
	}
	kv = append(kv, [2]string{git.TrailerAction, Action(c.Action)})
	if c.Target != "" {
		kv = append(kv, [2]string{git.TrailerTarget, c.Target})
	}
	kv = append(kv, extra...)
	return git.Trailers(b.String(), kv...)
}

// EditLine describes one edit on one line.
func EditLine(e overlays.Edit) string {
	switch e.Kind {
	case overlays.EditProtectionFile:
		if e.Old == "(outdated)" {
			return fmt.Sprintf("%s: disk-protection hooks regenerated", e.File)
		}
		return fmt.Sprintf("%s: disk-protection hooks added", e.File)
	case overlays.EditKustomization:
		return fmt.Sprintf("%s: %s += %s", e.File, e.Field, e.New)
	}
	return fmt.Sprintf("%s: %s %s: %s -> %s", e.File, e.Object, e.Field, e.Old, e.New)
}

// changedPlans lists the plans the change edits, in order.
func changedPlans(c *overlays.Change) []string {
	var out []string
	for _, p := range c.Plans {
		if !p.AlreadyActive {
			out = append(out, p.Plan)
		}
	}
	return out
}
