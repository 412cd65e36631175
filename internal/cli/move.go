package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/mail"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gitover/gitover/api/v1alpha1"
	"github.com/gitover/gitover/gitops/commitmsg"
	"github.com/gitover/gitover/gitops/git"
	"github.com/gitover/gitover/internal/planfile"
	"github.com/gitover/gitover/overlays"
)

// moveKind distinguishes failover from relocate.
type moveKind struct {
	use, short, long string
	action           v1alpha1.Action
}

var (
	moveFailover = moveKind{
		use:    "failover",
		short:  "Move applications to another site by committing the change to Git",
		action: v1alpha1.ActionFailover,
		long: `failover reads the active site of each DRPlan from the repository, plans the
edits that make --to active (Placement selector flips, ApplicationSet overlay
swaps, site switches, disk protection wherever it is missing), validates them
with kustomize, and commits them to the repository's current branch as one
commit with Gitover-Plan, Gitover-Action and Gitover-Target trailers.

Nothing is written when any check fails. When every plan is already active on
--to, it says so and exits 0 without a commit.`,
	}
	moveRelocate = moveKind{
		use:    "relocate",
		short:  "Move applications back while both sites are up (same edits as failover)",
		action: v1alpha1.ActionRelocate,
		long: `relocate is failover for a planned move while both sites are up, typically back
to the primary after a disaster is repaired. The Git edits are the same; the
commit says relocate, and the controller's checks differ (the source must be
reachable).`,
	}
)

// repoOptions are the flags every repository command shares.
type repoOptions struct {
	plans       []string
	repo        string
	output      string
	renderCache string
}

func (o *repoOptions) bind(cmd *cobra.Command) {
	cmd.Flags().StringArrayVar(&o.plans, "plan", nil, "DRPlan file or directory of DRPlan files (repeatable)")
	cmd.Flags().StringVar(&o.repo, "repo", ".", "the Git repository's work tree")
	cmd.Flags().StringVarP(&o.output, "output", "o", "text", "output format: text or json")
	cmd.Flags().StringVar(&o.renderCache, "render-cache", overlays.DefaultRenderCacheDir(),
		`where kustomize results are remembered by the content of their inputs ("" disables)`)
	_ = cmd.MarkFlagRequired("plan")
}

// cacheFor returns the render cache of a repository (its work-tree path or
// URL) and a function that saves it. The cache holds only successful
// renders, so it is worth keeping whatever the outcome; failing to save it
// only costs time later.
func (o *repoOptions) cacheFor(key string) (overlays.RenderCache, func()) {
	if o.renderCache == "" {
		return overlays.NewMemoryRenderCache(), func() {}
	}
	if !isRepoURL(key) {
		if abs, err := filepath.Abs(key); err == nil {
			key = abs
		}
	}
	c := overlays.OpenFileRenderCache(o.renderCache, key)
	return c, func() { _ = c.Save() }
}

// planChange runs the engine with the repository's render cache.
func (o *repoOptions) planChange(ctx context.Context, root string, tree fs.FS, plans []*v1alpha1.DRPlan, req overlays.Request) (*overlays.Change, error) {
	cache, save := o.cacheFor(root)
	defer save()
	return overlays.Plan(ctx, tree, plans, req, overlays.WithRenderCache(cache))
}

func (o *repoOptions) validate() error {
	if o.output != "text" && o.output != "json" {
		return fmt.Errorf("--output %q: want text or json", o.output)
	}
	return nil
}

// commitOptions are the flags of the commands that commit.
type commitOptions struct {
	dryRun  bool
	message string
	author  string
}

func (o *commitOptions) bind(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "plan and validate, print the diff, commit nothing")
	cmd.Flags().StringVarP(&o.message, "message", "m", "", "commit subject (the body and trailers are always added)")
	cmd.Flags().StringVar(&o.author, "author", "", `commit author "Name <email>" (default: $GIT_AUTHOR_NAME/$GIT_AUTHOR_EMAIL, else gitover)`)
}

// signature resolves the commit author.
func (o *commitOptions) signature() (git.Signature, error) {
	if o.author != "" {
		a, err := mail.ParseAddress(o.author)
		if err != nil || a.Name == "" {
			return git.Signature{}, fmt.Errorf(`--author %q: want "Name <email>"`, o.author)
		}
		return git.Signature{Name: a.Name, Email: a.Address}, nil
	}
	if n, e := os.Getenv("GIT_AUTHOR_NAME"), os.Getenv("GIT_AUTHOR_EMAIL"); n != "" && e != "" {
		return git.Signature{Name: n, Email: e}, nil
	}
	return git.DefaultIdentity, nil
}

func newMoveCommand(s Streams, k moveKind) *cobra.Command {
	var ro repoOptions
	var co commitOptions
	var rem remoteOptions
	var to string
	cmd := &cobra.Command{
		Use:   k.use + " --plan FILE --repo DIR|URL --to SITE",
		Short: k.short,
		Long:  k.long,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := ro.validate(); err != nil {
				return err
			}
			req := overlays.Request{Action: k.action, Target: to}
			if rem.remote(ro.repo) {
				return runRemote(cmd.Context(), s, ro, co, rem, req)
			}
			return runChange(cmd.Context(), s, ro, co, req)
		},
	}
	ro.bind(cmd)
	co.bind(cmd)
	rem.bind(cmd)
	cmd.Flags().StringVar(&to, "to", "", "the site that becomes active")
	_ = cmd.MarkFlagRequired("to")
	return cmd
}

func newProtectCommand(s Streams) *cobra.Command {
	var ro repoOptions
	var co commitOptions
	var rem remoteOptions
	cmd := &cobra.Command{
		Use:   "protect --plan FILE --repo DIR|URL",
		Short: "Commit the generated disk-protection hooks into every overlay the plans name",
		Long: `protect adds (or refreshes) the generated disk-protection file in every overlay
of the plans with diskProtection.enabled, lists it in each overlay's
kustomization, validates with kustomize and commits. Run it, and let Argo CD
sync, before a failover: Argo CD only runs PreDelete hooks it has already seen.
Running it twice changes nothing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := ro.validate(); err != nil {
				return err
			}
			req := overlays.Request{Action: v1alpha1.ActionProtect}
			if rem.remote(ro.repo) {
				return runRemote(cmd.Context(), s, ro, co, rem, req)
			}
			return runChange(cmd.Context(), s, ro, co, req)
		},
	}
	ro.bind(cmd)
	co.bind(cmd)
	rem.bind(cmd)
	return cmd
}

func newPlanCommand(s Streams) *cobra.Command {
	var ro repoOptions
	var to, action string
	cmd := &cobra.Command{
		Use:   "plan --plan FILE --repo DIR --to SITE",
		Short: "Print the edits and the unified diff a failover would make; write nothing",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := ro.validate(); err != nil {
				return err
			}
			req := overlays.Request{Action: v1alpha1.Action(strings.ToUpper(action[:1]) + strings.ToLower(action[1:])), Target: to}
			if req.Action == v1alpha1.ActionProtect {
				req.Target = ""
			}
			plans, err := planfile.Load(ro.plans...)
			if err != nil {
				return err
			}
			tree, err := readTree(ro.repo)
			if err != nil {
				return err
			}
			change, err := ro.planChange(cmd.Context(), ro.repo, tree, plans, req)
			if err != nil {
				return err
			}
			if ro.output == "json" {
				return writeJSON(s.Out, change, "")
			}
			writeReport(s.Out, change)
			if !change.Empty() {
				fmt.Fprintln(s.Out)
				fmt.Fprint(s.Out, change.Diff())
			}
			return nil
		},
	}
	ro.bind(cmd)
	cmd.Flags().StringVar(&to, "to", "", "the site that becomes active (not for --action protect)")
	cmd.Flags().StringVar(&action, "action", "failover", "failover, relocate or protect")
	return cmd
}

func newStatusCommand(s Streams) *cobra.Command {
	var ro repoOptions
	cmd := &cobra.Command{
		Use:   "status --plan FILE --repo DIR",
		Short: "Print the site each DRPlan's repository says is active",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := ro.validate(); err != nil {
				return err
			}
			plans, err := planfile.Load(ro.plans...)
			if err != nil {
				return err
			}
			tree, err := readTree(ro.repo)
			if err != nil {
				return err
			}
			active, err := overlays.Inspect(tree, plans)
			if err != nil {
				return err
			}
			if ro.output == "json" {
				enc := json.NewEncoder(s.Out)
				enc.SetIndent("", "  ")
				return enc.Encode(active)
			}
			names := make([]string, 0, len(active))
			for n := range active {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				fmt.Fprintf(s.Out, "%s\tactive on %s (Git)\n", n, active[n])
			}
			return nil
		},
	}
	ro.bind(cmd)
	return cmd
}

// readTree opens the work tree of a Git repository, or a plain directory.
func readTree(dir string) (fs.FS, error) {
	local, err := git.OpenLocal(dir)
	if err == nil {
		return local.Tree(), nil
	}
	if !errors.Is(err, git.ErrNotRepository) {
		return nil, err
	}
	fi, statErr := os.Stat(dir)
	if statErr != nil || !fi.IsDir() {
		return nil, fmt.Errorf("repository %s: not a directory", dir)
	}
	return os.DirFS(dir), nil
}

// loadPlans reads the --plan files.
func loadPlans(ro repoOptions) ([]*v1alpha1.DRPlan, error) { return planfile.Load(ro.plans...) }

// runChange plans, validates and commits one change to a local repository.
func runChange(ctx context.Context, s Streams, ro repoOptions, co commitOptions, req overlays.Request) error {
	author, err := co.signature()
	if err != nil {
		return err
	}
	plans, err := loadPlans(ro)
	if err != nil {
		return err
	}
	local, err := git.OpenLocal(ro.repo)
	if err != nil {
		return err
	}
	if err := local.EnsureClean(ctx); err != nil {
		return fmt.Errorf("%w; commit or stash your changes first", err)
	}
	branch, _, err := local.Head(ctx)
	if err != nil {
		return err
	}
	change, err := ro.planChange(ctx, local.Root(), local.Tree(), plans, req)
	if err != nil {
		return err
	}
	if ro.output == "text" {
		writeReport(s.Out, change)
	}
	switch {
	case change.Empty():
		if ro.output == "json" {
			return writeJSON(s.Out, change, "")
		}
		if req.Action == v1alpha1.ActionProtect {
			fmt.Fprintln(s.Out, "disk protection is already in place; nothing to commit")
		} else {
			fmt.Fprintf(s.Out, "already active on %s; nothing to commit\n", req.Target)
		}
		return nil
	case co.dryRun:
		if ro.output == "json" {
			return writeJSON(s.Out, change, "")
		}
		fmt.Fprintf(s.Out, "\ndry run: nothing committed\n\n%s", change.Diff())
		return nil
	}
	sha, err := local.Commit(ctx, change.Files, commitmsg.Message(change, co.message), author)
	if err != nil {
		return err
	}
	if ro.output == "json" {
		return writeJSON(s.Out, change, sha)
	}
	fmt.Fprintf(s.Out, "\ncommitted to %s: %s\n%s\n", branch, commitmsg.Subject(change), sha)
	return nil
}

// writeReport prints a change's plans, edits and checks for people.
func writeReport(w io.Writer, c *overlays.Change) {
	for _, p := range c.Plans {
		switch {
		case p.AlreadyActive:
			fmt.Fprintf(w, "DRPlan %s: already active on %s\n", p.Plan, p.Target)
		case c.Action == v1alpha1.ActionProtect:
			fmt.Fprintf(w, "DRPlan %s: protect (active on %s)\n", p.Plan, p.Source)
		default:
			fmt.Fprintf(w, "DRPlan %s: %s %s -> %s\n", p.Plan, commitmsg.Action(c.Action), p.Source, p.Target)
		}
	}
	if len(c.Edits) > 0 {
		fmt.Fprintf(w, "edits (%d):\n", len(c.Edits))
		for _, e := range c.Edits {
			fmt.Fprintf(w, "  %s\n", commitmsg.EditLine(e))
		}
	}
	fmt.Fprintln(w, "checks:")
	for _, ch := range c.Checks {
		mark := "ok  "
		if ch.Warning {
			mark = "WARN"
		}
		fmt.Fprintf(w, "  %s %s\n", mark, ch.Message)
	}
}

// jsonResult is the -o json document.
type jsonResult struct {
	*overlays.Change
	Commit string            `json:"commit,omitempty"`
	Files  map[string]string `json:"files,omitempty"`
}

func writeJSON(w io.Writer, c *overlays.Change, sha string) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	files := map[string]string{}
	for p, b := range c.Files {
		files[p] = string(b)
	}
	return enc.Encode(jsonResult{Change: c, Commit: sha, Files: files})
}
