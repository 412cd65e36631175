package forge

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strings"
)

// BranchPrefix starts every branch gitover pushes a proposal to.
const BranchPrefix = "gitover/"

// maxComponent bounds one sanitised part of a branch name, keeping the
// whole name far below the 255 bytes forges accept for a ref.
const maxComponent = 48

// BranchName returns the branch a change is proposed on:
//
//	gitover/<plan>/<action>-<target>-<base[:12]>
//
// e.g. gitover/shop/failover-dr2-0123456789ab. With several plans the
// <plan> part is "plans-" and the first 10 hex digits of the SHA-256 of
// the sorted, de-duplicated plan names joined by newlines, so the same
// set in any order gives the same branch. The name depends only on its
// inputs: rerunning the same failover from the same base revision (after
// a crash or restart) yields the same branch, which is what lets
// Provider.Ensure find the request it opened before.
//
// Each part is sanitised into a valid Git ref component: lower-cased,
// characters outside [a-z0-9._-] become "-", runs of "-" and "." collapse,
// no leading or trailing "." or "-", no ".lock" suffix, at most 48
// characters. A part changed by sanitising gets a short hash of the
// original appended, so distinct inputs keep distinct branches.
func BranchName(plans []string, action, target, baseSHA string) string {
	var b strings.Builder
	b.WriteString(BranchPrefix)
	b.WriteString(planComponent(plans))
	b.WriteString("/")
	b.WriteString(sanitizeComponent(action))
	b.WriteString("-")
	b.WriteString(sanitizeComponent(target))
	if base := strings.ToLower(strings.TrimSpace(baseSHA)); base != "" {
		if len(base) > 12 {
			base = base[:12]
		}
		b.WriteString("-")
		b.WriteString(sanitizeComponent(base))
	}
	return b.String()
}

// planComponent is the <plan> part of a branch name.
func planComponent(plans []string) string {
	set := map[string]bool{}
	var names []string
	for _, p := range plans {
		p = strings.TrimSpace(p)
		if p != "" && !set[p] {
			set[p] = true
			names = append(names, p)
		}
	}
	switch len(names) {
	case 0:
		return "none"
	case 1:
		return sanitizeComponent(names[0])
	}
	sort.Strings(names)
	return "plans-" + shortHash(strings.Join(names, "\n"), 10)
}

// sanitizeComponent makes s a valid, readable ref component.
func sanitizeComponent(s string) string {
	var b strings.Builder
	last := rune(0)
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
		case r == '.' || r == '_' || r == '-':
		default:
			r = '-'
		}
		if (r == '-' || r == '.') && r == last {
			continue // no "--" runs, no ".."
		}
		b.WriteRune(r)
		last = r
	}
	out := strings.Trim(b.String(), ".-_")
	for strings.HasSuffix(out, ".lock") {
		out = strings.Trim(strings.TrimSuffix(out, ".lock"), ".-_")
	}
	changed := out != strings.ToLower(s) // case alone does not count
	if len(out) > maxComponent {
		out = strings.Trim(out[:maxComponent], ".-_")
		changed = true
	}
	if out == "" {
		out = "x"
	}
	if changed {
		out += "-" + shortHash(s, 6)
	}
	return out
}

// shortHash is the first n hex digits of the SHA-256 of s.
func shortHash(s string, n int) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:n]
}
