package forge

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/gitover/gitover/api/v1alpha1"
	"github.com/gitover/gitover/overlays"
)

// MarkerVersion is the version of the marker RenderBody writes.
const MarkerVersion = 1

// markerOpen starts the hidden marker; markerClose ends it.
const (
	markerOpen  = "<!-- gitover: "
	markerClose = " -->"
)

// Marker is the machine-readable summary hidden at the end of every
// request body gitover writes. It lets gitover (and the webhook receiver)
// recognise its own requests and what they do without parsing prose.
type Marker struct {
	Plans   []string `json:"plan"`
	Action  string   `json:"action"`
	Target  string   `json:"target"`
	Base    string   `json:"base"`
	Version int      `json:"version"`
}

// BodyInfo is what RenderBody needs besides the change itself.
type BodyInfo struct {
	BaseBranch string // branch the request merges into
	BaseSHA    string // revision the change was planned on
	// Requester says who or what asked, e.g. "Failover default/shop-x7k2" or
	// "gitover CLI"; optional.
	Requester string
	// Reason is the operator's free-text reason; optional.
	Reason string
}

// maxTableBytes bounds the edit table so the body stays well under the
// forges' limits (GitHub accepts 65,536 characters).
const maxTableBytes = 40000

// maxCell bounds one old/new value in the table, in characters.
const maxCell = 80

// Title is the request's one-line title, e.g. "gitover: failover shop to dr2".
func Title(change *overlays.Change) string {
	if change == nil {
		return "gitover: change"
	}
	action := strings.ToLower(string(change.Action))
	if action == "" {
		action = "change"
	}
	plans := planNames(change)
	var who string
	switch {
	case len(plans) == 0:
		who = "no plan"
	case len(plans) <= 3:
		who = strings.Join(plans, ", ")
	default:
		who = fmt.Sprintf("%d plans", len(plans))
	}
	if change.Action == v1alpha1.ActionProtect || change.Target == "" {
		return fmt.Sprintf("gitover: %s %s", action, who)
	}
	return fmt.Sprintf("gitover: %s %s to %s", action, who, change.Target)
}

// RenderBody writes the request body: a summary (plans, action, source →
// target, base revision), a table of the edits, the pre-check results, the
// verification gitover performs after the merge, and the hidden Marker.
// The output depends only on its inputs.
func RenderBody(change *overlays.Change, info BodyInfo) string {
	if change == nil {
		change = &overlays.Change{}
	}
	var b strings.Builder
	plans := planNames(change)
	action := string(change.Action)
	if action == "" {
		action = "Change"
	}

	// Summary.
	if change.Action == v1alpha1.ActionProtect || change.Target == "" {
		fmt.Fprintf(&b, "## %s: %s\n\n", action, strings.Join(plans, ", "))
	} else {
		fmt.Fprintf(&b, "## %s: %s → %s\n\n", action, strings.Join(plans, ", "), change.Target)
	}
	b.WriteString(intro(change))
	b.WriteString("\n\n| | |\n|---|---|\n")
	fmt.Fprintf(&b, "| Action | %s |\n", text(action))
	for i, p := range change.Plans {
		label := ""
		if i == 0 {
			label = "Plans"
			if len(change.Plans) == 1 {
				label = "Plan"
			}
		}
		switch {
		case p.AlreadyActive:
			fmt.Fprintf(&b, "| %s | %s: already active on %s (no move) |\n", label, code(p.Plan), code(p.Target))
		case p.Source == p.Target || change.Action == v1alpha1.ActionProtect:
			fmt.Fprintf(&b, "| %s | %s on %s |\n", label, code(p.Plan), code(p.Target))
		default:
			fmt.Fprintf(&b, "| %s | %s: %s → %s |\n", label, code(p.Plan), code(p.Source), code(p.Target))
		}
	}
	if info.BaseBranch != "" || info.BaseSHA != "" {
		base := code(info.BaseBranch)
		if info.BaseSHA != "" {
			base += " at " + code(short(info.BaseSHA))
		}
		fmt.Fprintf(&b, "| Base | %s |\n", base)
	}
	if info.Requester != "" {
		fmt.Fprintf(&b, "| Requested by | %s |\n", text(info.Requester))
	}
	if info.Reason != "" {
		fmt.Fprintf(&b, "| Reason | %s |\n", text(info.Reason))
	}

	// Edits.
	files := map[string]bool{}
	for _, e := range change.Edits {
		files[e.File] = true
	}
	fmt.Fprintf(&b, "\n### Changes (%s in %s)\n\n", plural(len(change.Edits), "edit"), plural(len(files), "file"))
	if len(change.Edits) == 0 {
		b.WriteString("No file changes.\n")
	} else {
		multi := len(plans) > 1
		if multi {
			b.WriteString("| Plan | File | Object | Field | Old | New |\n|---|---|---|---|---|---|\n")
		} else {
			b.WriteString("| File | Object | Field | Old | New |\n|---|---|---|---|---|\n")
		}
		size := 0
		for i, e := range change.Edits {
			var row string
			cells := []string{code(e.File), code(e.Object), code(e.Field), value(e.Old), value(e.New)}
			if multi {
				cells = append([]string{code(e.Plan)}, cells...)
			}
			row = "| " + strings.Join(cells, " | ") + " |\n"
			if size+len(row) > maxTableBytes {
				fmt.Fprintf(&b, "\n…and %s more; see the diff.\n", plural(len(change.Edits)-i, "edit"))
				break
			}
			size += len(row)
			b.WriteString(row)
		}
	}

	// Pre-checks.
	b.WriteString("\n### Pre-checks\n\n")
	if len(change.Checks) == 0 {
		b.WriteString("None ran.\n")
	}
	for _, c := range change.Checks {
		mark := "✓"
		switch {
		case !c.OK:
			mark = "✗"
		case c.Warning:
			mark = "⚠"
		}
		line := fmt.Sprintf("- %s **%s**", mark, text(c.Name))
		if c.Message != "" {
			line += " — " + text(c.Message)
		}
		b.WriteString(line + "\n")
	}

	// Verification.
	b.WriteString("\n### After the merge\n\n")
	b.WriteString(verification(change))

	b.WriteString("\n")
	b.WriteString(markerComment(change, info))
	b.WriteString("\n")
	return b.String()
}

// intro is the opening sentence for the change's action.
func intro(change *overlays.Change) string {
	var names []string
	for _, n := range planNames(change) {
		names = append(names, code(n))
	}
	who := strings.Join(names, ", ")
	if who == "" {
		who = "the application"
	}
	switch change.Action {
	case v1alpha1.ActionProtect:
		return fmt.Sprintf("gitover proposes to add or refresh the generated disk-protection hooks of %s. Nothing moves: "+
			"merging this request only changes how VM disks are kept when Argo CD removes a VM.", who)
	case v1alpha1.ActionRelocate:
		return fmt.Sprintf("gitover proposes to move %s back to %s while both sites are up. "+
			"Merging this request is the relocation: Argo CD then deploys on %s and removes the application from the other site.",
			who, code(change.Target), code(change.Target))
	default:
		return fmt.Sprintf("gitover proposes to fail %s over to %s. "+
			"Merging this request is the failover: Argo CD then deploys on %s and removes the application from the lost site.",
			who, code(change.Target), code(change.Target))
	}
}

// verification lists what gitover checks once the request is merged.
func verification(change *overlays.Change) string {
	var items []string
	if change.Action == v1alpha1.ActionProtect {
		items = append(items, "the Argo CD Applications of each plan are `Synced` and `Healthy` at the merge commit, with the disk-protection hooks in place")
	}
	for _, p := range change.Plans {
		if change.Action == v1alpha1.ActionProtect {
			break
		}
		if p.AlreadyActive {
			items = append(items, fmt.Sprintf("%s is already active on %s: its PlacementDecisions and Applications are checked as they are", code(p.Plan), code(p.Target)))
			continue
		}
		moves := p.Source != "" && p.Source != p.Target
		item := fmt.Sprintf("the PlacementDecisions of %s select the clusters of site %s", code(p.Plan), code(p.Target))
		if moves {
			item += fmt.Sprintf(" and none of %s", code(p.Source))
		}
		items = append(items, item,
			fmt.Sprintf("the Argo CD Applications of %s on %s are `Synced` and `Healthy` at the merge commit", code(p.Plan), code(p.Target)))
		if moves {
			items = append(items, fmt.Sprintf("the Applications of %s on %s are removed (VM disks stay, kept by the disk-protection hooks)", code(p.Plan), code(p.Source)))
		}
	}
	if len(items) == 0 {
		items = append(items, "the Argo CD Applications are `Synced` and `Healthy` at the merge commit")
	}
	var b strings.Builder
	b.WriteString("gitover then verifies, at the merge commit:\n\n")
	for i, it := range items {
		end := ";"
		if i == len(items)-1 {
			end = "."
		}
		fmt.Fprintf(&b, "%d. %s%s\n", i+1, it, end)
	}
	return b.String()
}

// markerComment is the hidden marker line.
func markerComment(change *overlays.Change, info BodyInfo) string {
	m := Marker{Plans: planNames(change), Action: string(change.Action), Target: change.Target,
		Base: info.BaseSHA, Version: MarkerVersion}
	if m.Plans == nil {
		m.Plans = []string{}
	}
	// json.Marshal escapes <, > and &, so no value can close the comment.
	data, _ := json.Marshal(m)
	return markerOpen + string(data) + markerClose
}

// ParseMarker finds the gitover marker in a request body. When a body
// holds several, the last one counts (RenderBody writes it last). ok is
// false when there is none, it is not valid JSON, or its version is
// unknown (< 1).
func ParseMarker(body string) (*Marker, bool) {
	i := strings.LastIndex(body, strings.TrimSpace(markerOpen))
	if i < 0 {
		return nil, false
	}
	rest := body[i+len(strings.TrimSpace(markerOpen)):]
	j := strings.Index(rest, "-->")
	if j < 0 {
		return nil, false
	}
	var m Marker
	dec := json.NewDecoder(strings.NewReader(strings.TrimSpace(rest[:j])))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil || m.Version < 1 {
		return nil, false
	}
	if dec.More() {
		return nil, false
	}
	return &m, true
}

// planNames are the change's plan names, sorted.
func planNames(change *overlays.Change) []string {
	var out []string
	seen := map[string]bool{}
	for _, p := range change.Plans {
		if !seen[p.Plan] {
			seen[p.Plan] = true
			out = append(out, p.Plan)
		}
	}
	sort.Strings(out)
	return out
}

// code renders s as an inline code span that is safe in a table cell:
// pipes escaped, line breaks shown as ⏎, and a fence longer than any
// backtick run inside.
func code(s string) string {
	if s == "" {
		return "_(none)_"
	}
	s = strings.NewReplacer("\r\n", "⏎", "\n", "⏎", "\r", "⏎", "|", `\|`).Replace(s)
	longest, run := 0, 0
	for _, r := range s {
		if r == '`' {
			run++
			if run > longest {
				longest = run
			}
		} else {
			run = 0
		}
	}
	fence := strings.Repeat("`", longest+1)
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		s = " " + s + " "
	}
	return fence + s + fence
}

// value renders an old/new value: a code span, shortened to maxCell characters.
func value(s string) string {
	if utf8.RuneCountInString(s) > maxCell {
		r := []rune(s)
		s = string(r[:maxCell-1]) + "…"
	}
	return code(s)
}

// text escapes free text for a table cell or list item: no raw HTML, no
// table breaks, one line.
func text(s string) string {
	return strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ", "|", `\|`, "<", "&lt;", ">", "&gt;").Replace(s)
}

// short is the first 12 characters of a revision.
func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
