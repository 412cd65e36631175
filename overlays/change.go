package overlays

import (
	"sort"

	"github.com/gitover/gitover/api/v1alpha1"
)

// EditKind classifies one edit of a Change.
type EditKind string

// The kinds of edits the engine makes.
const (
	// EditPlacement flips a Placement's cluster-selector value.
	EditPlacement EditKind = "PlacementSelector"
	// EditSourcePath swaps an ApplicationSet template's source path to another overlay.
	EditSourcePath EditKind = "SourcePath"
	// EditSwitch sets a site-dependent field (DNS, proxy, replication).
	EditSwitch EditKind = "Switch"
	// EditProtectionFile adds or refreshes the generated disk-protection file.
	EditProtectionFile EditKind = "ProtectionFile"
	// EditKustomization lists the protection file in an overlay's kustomization.
	EditKustomization EditKind = "KustomizationResource"
)

// Edit is one human-readable change: which object in which file, which
// field, and its value before and after.
type Edit struct {
	Plan   string   `json:"plan"`
	Kind   EditKind `json:"kind"`
	File   string   `json:"file"`
	Object string   `json:"object"` // Kind/name, e.g. Placement/shop-placement
	Field  string   `json:"field"`  // dotted path inside the object
	Old    string   `json:"old"`
	New    string   `json:"new"`
}

// Check is one pre- or post-condition the engine verified.
type Check struct {
	Name    string `json:"name"`
	OK      bool   `json:"ok"`
	Warning bool   `json:"warning,omitempty"` // OK but worth a reviewer's attention
	Message string `json:"message"`
}

// PlanChange is the part of a Change that belongs to one DRPlan.
type PlanChange struct {
	Plan   string `json:"plan"`   // DRPlan name
	Source string `json:"source"` // active site before the change
	Target string `json:"target"` // active site after the change
	// AlreadyActive is true when Target was active already and the plan
	// needed no placement, path or switch edit.
	AlreadyActive bool `json:"alreadyActive"`
}

// Change is the engine's output: the edits, the checks that passed, and the
// new content of every file that changes. Files not listed are unchanged,
// byte for byte.
type Change struct {
	Action v1alpha1.Action   `json:"action"`
	Target string            `json:"target"`
	Plans  []PlanChange      `json:"plans"`
	Edits  []Edit            `json:"edits"`
	Checks []Check           `json:"checks"`
	Files  map[string][]byte `json:"-"` // repo-relative slash path -> new content
	Before map[string][]byte `json:"-"` // the same paths' content before (nil: new file)
}

// Empty reports whether the change writes nothing.
func (c *Change) Empty() bool { return c == nil || len(c.Files) == 0 }

// Paths returns the changed files' paths, sorted.
func (c *Change) Paths() []string {
	out := make([]string, 0, len(c.Files))
	for p := range c.Files {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}
