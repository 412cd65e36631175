package cli

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/spf13/cobra"

	samples "github.com/gitover/gitover"
	"github.com/gitover/gitover/api/v1alpha1"
	"github.com/gitover/gitover/overlays"
)

// demoRunners lets the lab add its own story to `gitover demo` (the lab
// package registers one when it is linked in).
var demoRunners []func(ctx context.Context, s Streams, repo, plan string) error

// RegisterDemo adds a step that runs after the local demo, given the demo
// repository and plan file.
func RegisterDemo(f func(ctx context.Context, s Streams, repo, plan string) error) {
	demoRunners = append(demoRunners, f)
}

func newDemoCommand(s Streams) *cobra.Command {
	var dir, topology string
	var localOnly bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Fail the embedded sample application over from dr1 to dr2 in a new local Git repository",
		Long: `demo copies the embedded sample repository (testdata/repos/demo: a VM with
dataVolumeTemplates, a Deployment and a Service, primary and secondary Kustomize
overlays, OCM Placements and Argo CD ApplicationSets) into a new Git repository,
commits the disk-protection hooks (gitover protect), fails over from dr1 to dr2
(gitover failover), and prints each commit and its diff. When the local lab's
tools are built, it then runs the same story against the lab.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			planPath := samples.SamplePlanDual
			if topology == "single" {
				planPath = samples.SamplePlanSingle
			} else if topology != "dual" {
				return fmt.Errorf("--topology %q: want single or dual", topology)
			}
			if dir == "" {
				d, err := os.MkdirTemp("", "gitover-demo-")
				if err != nil {
					return err
				}
				dir = d
			}
			repo, plan, err := writeSample(dir, planPath)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			fmt.Fprintf(s.Out, "== sample repository (embedded %s) in %s\n== plan %s\n\n", samples.SampleRepo, repo, plan)
			ro := repoOptions{plans: []string{plan}, repo: repo, output: "text", renderCache: ""}
			steps := []struct {
				title string
				req   overlays.Request
			}{
				{"gitover protect: generated Argo CD hooks keep the VM disks", overlays.Request{Action: v1alpha1.ActionProtect}},
				{"gitover failover --to dr2", overlays.Request{Action: v1alpha1.ActionFailover, Target: "dr2"}},
			}
			for _, st := range steps {
				fmt.Fprintf(s.Out, "== %s\n", st.title)
				if err := runChange(ctx, s, ro, commitOptions{}, st.req); err != nil {
					return err
				}
				if err := showHead(s, repo); err != nil {
					return err
				}
			}
			fmt.Fprintf(s.Out, "== done: the repository says dr2 is active; inspect it with\n   git -C %s log -p\n", repo)
			if localOnly {
				return nil
			}
			for _, run := range demoRunners {
				if err := run(ctx, s, repo, plan); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "where to create the sample repository (default: a new temporary directory)")
	cmd.Flags().StringVar(&topology, "topology", "dual", "dual (two ApplicationSets, pinned Placements) or single (one ApplicationSet, one following Placement)")
	cmd.Flags().BoolVar(&localOnly, "local", false, "only the local Git story, even when the lab is available")
	return cmd
}

// writeSample copies the embedded sample repository into dir/repo, commits
// it, and writes the plan to dir/plan.yaml.
func writeSample(dir, planPath string) (repo, plan string, err error) {
	repo = filepath.Join(dir, "repo")
	sub, err := fs.Sub(samples.Samples, samples.SampleRepo)
	if err != nil {
		return "", "", err
	}
	if err := os.CopyFS(repo, sub); err != nil {
		return "", "", fmt.Errorf("copying the sample repository: %w", err)
	}
	b, err := fs.ReadFile(samples.Samples, planPath)
	if err != nil {
		return "", "", err
	}
	plan = filepath.Join(dir, "plan.yaml")
	if err := os.WriteFile(plan, b, 0o644); err != nil {
		return "", "", err
	}
	r, err := gogit.PlainInitWithOptions(repo, &gogit.PlainInitOptions{InitOptions: gogit.InitOptions{DefaultBranch: "refs/heads/main"}})
	if err != nil {
		return "", "", fmt.Errorf("creating the sample Git repository: %w", err)
	}
	wt, err := r.Worktree()
	if err != nil {
		return "", "", err
	}
	if err := wt.AddGlob("."); err != nil {
		return "", "", err
	}
	sig := &object.Signature{Name: "gitover demo", Email: "demo@gitover.invalid", When: time.Now()}
	if _, err := wt.Commit("Sample application: shop on dr1", &gogit.CommitOptions{Author: sig, Committer: sig}); err != nil {
		return "", "", err
	}
	return repo, plan, nil
}

// showHead prints the last commit's message and diff, as `git show` would.
func showHead(s Streams, dir string) error {
	r, err := gogit.PlainOpen(dir)
	if err != nil {
		return err
	}
	head, err := r.Head()
	if err != nil {
		return err
	}
	c, err := r.CommitObject(head.Hash())
	if err != nil {
		return err
	}
	parent, err := c.Parent(0)
	if err != nil {
		return err
	}
	patch, err := parent.Patch(c)
	if err != nil {
		return err
	}
	fmt.Fprintf(s.Out, "\n$ git show %s\ncommit %s\nAuthor: %s <%s>\n\n%s\n%s\n", head.Hash().String()[:12], c.Hash, c.Author.Name, c.Author.Email, indent(c.Message), patch.String())
	return nil
}

func indent(s string) string {
	out := ""
	for _, line := range splitKeep(s) {
		out += "    " + line
	}
	return out
}

func splitKeep(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			out = append(out, s[start:i+1])
			start = i + 1
		}
	}
	if start < len(s) {
		out = append(out, s[start:]+"\n")
	}
	return out
}
