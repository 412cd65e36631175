package labcmd

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/yaml"

	"github.com/gitover/gitover/api/v1alpha1"
	"github.com/gitover/gitover/internal/cli"
	"github.com/gitover/gitover/internal/gitserver"
	"github.com/gitover/gitover/internal/lab"
)

// The lab adds its story to `gitover demo` when it is linked in.
func init() { cli.RegisterDemo(runLabDemo) }

// demoConvergeTimeout bounds how long the story watches Argo CD converge.
const demoConvergeTimeout = 2 * time.Minute

// runLabDemo replays the demo's failover in a fresh lab: the lab's Git
// repository starts at the commit before the failover (protection
// included), the failover commit lands on it as a merge would, and the story
// prints each component converging: the hub Application applying the flipped
// Placements, OCM's decisions, Argo CD's Applications moving from dr1 to dr2.
// The lab is removed at the end.
func runLabDemo(ctx context.Context, s cli.Streams, repo, planPath string) error {
	if missing := lab.MissingTools(""); len(missing) > 0 {
		fmt.Fprintf(s.Out, "\n== lab story skipped: the lab tools are not built (run `make tools`)\n")
		return nil
	}
	// The lab's processes outlive this one: on Ctrl-C, stop them first.
	ctx, stop := signalContext(ctx)
	defer stop()
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding the gitover executable for the lab: %w", err)
	}
	hubPath, err := hubFolder(planPath)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "gitover-demo-lab-")
	if err != nil {
		return fmt.Errorf("creating the demo lab directory: %w", err)
	}
	defer os.RemoveAll(tmp)
	seed := filepath.Join(tmp, "seed")
	if err := runGit(ctx, "", "clone", "--quiet", repo, seed); err != nil {
		return err
	}
	if err := runGit(ctx, seed, "checkout", "--quiet", "HEAD~1"); err != nil {
		return err
	}
	start := time.Now()
	step := func(format string, args ...any) {
		fmt.Fprintf(s.Out, "  %6.1fs  %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}
	fmt.Fprintf(s.Out, "\n== the same failover in the lab (hub, dr1, dr2 as local processes; OCM and Argo CD for real)\n")
	l, err := lab.New(lab.Config{
		Dir: filepath.Join(tmp, "lab"), Helper: []string{exe, "lab"},
		PlanFile: planPath, RepoDir: seed, HubPath: hubPath, Logger: logr.Discard(),
	})
	if err != nil {
		return err
	}
	if err := l.Up(ctx); err != nil {
		return fmt.Errorf("starting the demo lab: %w", err)
	}
	defer func() {
		if err := l.Purge(context.WithoutCancel(ctx)); err != nil {
			fmt.Fprintf(s.Err, "stopping the demo lab: %v\n", err)
		}
	}()
	step("lab up: hub Application %s synced %s", l.HubApplication(), hubPath)
	placements, err := planPlacements(planPath)
	if err != nil {
		return err
	}
	for _, p := range placements {
		d, err := l.PlacementDecisions(ctx, l.ArgoCDNamespace(), p)
		if err != nil {
			return err
		}
		step("Placement %s decides %v", p, d)
	}

	sha, err := landCommit(ctx, l, repo)
	if err != nil {
		return err
	}
	step("failover commit %s lands on the lab's Git server", sha[:12])
	if err := l.RefreshApplication(ctx, l.HubApplication()); err != nil {
		return err
	}
	if err := l.WaitApplication(ctx, l.HubApplication(), time.Minute, lab.SyncedAndHealthy(sha)); err != nil {
		return err
	}
	step("hub Application synced the commit (Placements flipped on the hub)")
	return watchConvergence(ctx, s.Out, l, placements, step)
}

// watchConvergence prints decision and Application changes until every
// spoke Application targets the failover's cluster, nudging the hub's
// ApplicationSets once the decisions moved.
func watchConvergence(ctx context.Context, out io.Writer, l *lab.Lab, placements []string, step func(string, ...any)) error {
	ctx, cancel := context.WithTimeout(ctx, demoConvergeTimeout)
	defer cancel()
	decided := map[string]string{}
	apps := map[string]string{}
	deletingSince := map[string]time.Time{}
	nudged := false
	for {
		changed := false
		for _, p := range placements {
			d, err := l.PlacementDecisions(ctx, l.ArgoCDNamespace(), p)
			if err != nil {
				return err
			}
			if v := fmt.Sprint(d); decided[p] != v {
				decided[p] = v
				changed = true
				step("Placement %s decides %v", p, d)
			}
		}
		if changed && !nudged {
			hub, err := l.Application(ctx, l.HubApplication())
			if err != nil {
				return err
			}
			for _, r := range hub.Resources {
				if r.Kind == "ApplicationSet" {
					if err := l.NudgeApplicationSet(ctx, r.Name); err != nil {
						return err
					}
					step("nudged ApplicationSet %s (application-set-refresh)", r.Name)
				}
			}
			nudged = true
		}
		list, err := l.Applications(ctx)
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, a := range list {
			if a.Name == l.HubApplication() {
				continue
			}
			seen[a.Name] = true
			v := fmt.Sprintf("sync=%s health=%s", dash(a.Sync), dash(a.Health))
			if a.Deleting {
				v = "deleting (Argo CD runs its PreDelete hooks, then removes its resources)"
				if _, ok := deletingSince[a.Name]; !ok {
					deletingSince[a.Name] = time.Now()
				}
			}
			if apps[a.Name] != v {
				if _, ok := apps[a.Name]; !ok {
					step("Application %s created", a.Name)
				}
				apps[a.Name] = v
				step("Application %s: %s", a.Name, v)
			}
		}
		var gone []string
		for name := range apps {
			if !seen[name] {
				gone = append(gone, name)
			}
		}
		sort.Strings(gone)
		for _, name := range gone {
			delete(apps, name)
			step("Application %s deleted (Argo CD removed it from its old cluster)", name)
		}
		if nudged && len(gone) > 0 && len(apps) > 0 {
			fmt.Fprintf(out, "== done: the app left dr1 and Argo CD runs it on the new site")
			fmt.Fprintf(out, " (a VirtualMachine syncs only once the KubeVirt/CDI simulator runs in the lab)\n")
			return nil
		}
		for name, since := range deletingSince {
			if _, ok := apps[name]; ok && time.Since(since) > 10*time.Second && len(apps) > 1 {
				fmt.Fprintf(out, "== done: OCM moved the app to the new site and Argo CD created its Application there;\n")
				fmt.Fprintf(out, "   %s keeps Argo CD's pre-delete finalizer: its PreDelete disk-protection hook (a Job)\n", name)
				fmt.Fprintf(out, "   must run first, and the VirtualMachine CRD and Job completion come with the\n")
				fmt.Fprintf(out, "   KubeVirt/CDI simulator, which the lab does not run yet (it has no kubelet)\n")
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("watching the lab converge: %w", ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// landCommit commits the tree of repo's HEAD onto the lab repository's
// branch (the files HEAD changed since its parent, the lab's URL in place of
// the placeholder) with HEAD's message, as merging the failover would.
func landCommit(ctx context.Context, l *lab.Lab, repo string) (string, error) {
	git, err := l.Git()
	if err != nil {
		return "", err
	}
	names, err := gitOutput(ctx, repo, "diff", "--name-only", "--no-renames", "HEAD~1", "HEAD")
	if err != nil {
		return "", err
	}
	files := map[string][]byte{}
	for _, name := range strings.Fields(names) {
		content, err := gitOutput(ctx, repo, "show", "HEAD:"+name)
		if err != nil {
			files[name] = nil // deleted by the commit
			continue
		}
		files[name] = []byte(strings.ReplaceAll(content, lab.DefaultRepoURLPlaceholder, git.URL))
	}
	msg, err := gitOutput(ctx, repo, "log", "-1", "--format=%B")
	if err != nil {
		return "", err
	}
	sha, err := gitserver.CommitFiles(ctx, git.BarePath, git.Branch, files, msg)
	if err != nil {
		return "", fmt.Errorf("landing the failover commit in the lab: %w", err)
	}
	return sha, nil
}

// hubFolder is the folder of the plan's first Placement (hub/single, hub/dual).
func hubFolder(planPath string) (string, error) {
	p, err := readPlan(planPath)
	if err != nil {
		return "", err
	}
	if len(p.Spec.Placements) == 0 {
		return "", fmt.Errorf("plan %s lists no Placements", planPath)
	}
	return path.Dir(p.Spec.Placements[0].File), nil
}

// planPlacements lists the plan's Placement names.
func planPlacements(planPath string) ([]string, error) {
	p, err := readPlan(planPath)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range p.Spec.Placements {
		out = append(out, r.Name)
	}
	return out, nil
}

func readPlan(planPath string) (*v1alpha1.DRPlan, error) {
	data, err := os.ReadFile(planPath)
	if err != nil {
		return nil, fmt.Errorf("reading plan %s: %w", planPath, err)
	}
	var p v1alpha1.DRPlan
	if err := yaml.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("parsing plan %s: %w", planPath, err)
	}
	return &p, nil
}

func runGit(ctx context.Context, dir string, args ...string) error {
	_, err := gitOutput(ctx, dir, args...)
	return err
}

func gitOutput(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}
