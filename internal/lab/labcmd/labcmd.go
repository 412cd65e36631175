// Package labcmd is the `gitover lab` command: up, down, status, env, fail,
// restore, and the hidden helpers the lab runs in the background.
package labcmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/spf13/cobra"

	samples "github.com/gitover/gitover"
	"github.com/gitover/gitover/internal/lab"
)

// options are the flags shared by the subcommands.
type options struct {
	dir       string
	verbosity int
}

// NewCommand returns the "lab" command.
func NewCommand() *cobra.Command {
	o := &options{}
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "Run the local DR lab: hub, dr1 and dr2 as real control-plane processes with OCM and Argo CD",
		Long: `The lab runs on this machine, on 127.0.0.1, with no containers: one etcd, a
kube-apiserver and kube-controller-manager per cluster (hub and one spoke per
site of the DRPlan), the OCM placement controller, Argo CD, and a Git server
hosting the demo repository. Its processes outlive the command that started
them; "lab down" stops them all. Tools come from "make tools"; see docs/lab.md.`,
		SilenceUsage: true,
	}
	cmd.PersistentFlags().StringVar(&o.dir, "dir", "", "lab directory (default $HOME/.cache/gitover/lab)")
	cmd.PersistentFlags().IntVarP(&o.verbosity, "verbose", "v", 0, "log verbosity")
	cmd.AddCommand(newUpCommand(o), newDownCommand(o), newStatusCommand(o), newEnvCommand(o),
		newFailCommand(o), newRestoreCommand(o), newServeGitCommand(o))
	return cmd
}

// logger writes progress to stderr.
func (o *options) logger(w io.Writer) logr.Logger {
	return funcr.New(func(prefix, args string) {
		fmt.Fprintf(w, "%s %s\n", time.Now().Format("15:04:05.000"), args)
	}, funcr.Options{Verbosity: o.verbosity})
}

// signalContext ends on SIGINT/SIGTERM.
func signalContext(parent context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
}

// helperCommand returns the command prefix that re-runs this lab command
// in a background process: the running executable plus the names of the
// commands from the root down to "lab" (e.g. [/path/gitover lab]).
func helperCommand(cmd *cobra.Command) ([]string, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding the running executable for the lab's helpers: %w", err)
	}
	var labCmd *cobra.Command
	for c := cmd; c != nil; c = c.Parent() {
		if c.Name() == "lab" {
			labCmd = c
			break
		}
	}
	var names []string
	for c := labCmd; c != nil && c.HasParent(); c = c.Parent() {
		names = append([]string{c.Name()}, names...)
	}
	return append([]string{exe}, names...), nil
}

// planImages returns the plan's diskProtection.image, if any: the kubelet
// simulation runs it with the gitover binary too.
func planImages(planPath string) ([]string, error) {
	p, err := readPlan(planPath)
	if err != nil {
		return nil, err
	}
	if img := p.Spec.DiskProtection.Image; img != "" {
		return []string{img}, nil
	}
	return nil, nil
}

// writeSamples copies the demo repository and plans embedded in the
// gitover binary into dir/sample and returns the repository and the plan of
// the topology (single or dual).
func writeSamples(dir, topology string) (repo, plan string, err error) {
	planPath := samples.SamplePlanSingle
	switch topology {
	case "single":
	case "dual":
		planPath = samples.SamplePlanDual
	default:
		return "", "", fmt.Errorf("--topology %q: want single or dual", topology)
	}
	root := filepath.Join(dir, "sample")
	if err := os.RemoveAll(root); err != nil {
		return "", "", fmt.Errorf("clearing %s: %w", root, err)
	}
	sub, err := fs.Sub(samples.Samples, samples.SampleRepo)
	if err != nil {
		return "", "", fmt.Errorf("reading the embedded sample repository: %w", err)
	}
	repo = filepath.Join(root, "repo")
	if err := os.CopyFS(repo, sub); err != nil {
		return "", "", fmt.Errorf("writing the sample repository to %s: %w", repo, err)
	}
	data, err := fs.ReadFile(samples.Samples, planPath)
	if err != nil {
		return "", "", fmt.Errorf("reading the embedded plan %s: %w", planPath, err)
	}
	plan = filepath.Join(root, filepath.Base(planPath))
	if err := os.WriteFile(plan, data, 0o644); err != nil {
		return "", "", fmt.Errorf("writing %s: %w", plan, err)
	}
	return repo, plan, nil
}

func newUpCommand(o *options) *cobra.Command {
	cfg := lab.Config{}
	var timeout time.Duration
	var topology string
	var simulations, waitApps bool
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start the lab and wait until the hub Application and the Applications it generates are Synced and Healthy",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := signalContext(cmd.Context())
			defer cancel()
			ctx, cancelT := context.WithTimeout(ctx, timeout)
			defer cancelT()
			helper, err := helperCommand(cmd)
			if err != nil {
				return err
			}
			cfg.Dir = o.dir
			if cfg.Dir == "" {
				if cfg.Dir, err = lab.DefaultDir(); err != nil {
					return err
				}
			}
			if cfg.PlanFile == "" && cfg.RepoDir == "" {
				// The demo embedded in the binary: works from any directory.
				if cfg.RepoDir, cfg.PlanFile, err = writeSamples(cfg.Dir, topology); err != nil {
					return err
				}
				if cfg.HubPath == "" {
					cfg.HubPath = "hub/" + topology
				}
			}
			cfg.Helper = helper
			if simulations {
				images, err := planImages(cfg.PlanFile)
				if err != nil {
					return err
				}
				WithSimulations(&cfg, helper[0], images...)
				cfg.WaitApplications = waitApps
			}
			cfg.Logger = o.logger(cmd.ErrOrStderr())
			l, err := lab.New(cfg)
			if err != nil {
				return err
			}
			start := time.Now()
			if err := l.Up(ctx); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "lab up in %s (%s)\n", time.Since(start).Round(time.Millisecond), l.Dir())
			fmt.Fprintf(cmd.OutOrStdout(), "use it with: eval \"$(%s env%s)\"\n", strings.Join(helper, " "), dirFlag(o))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.PlanFile, "plan", "", "DRPlan whose sites and cluster label the lab uses (default: the embedded demo plan of --topology)")
	f.StringVar(&cfg.RepoDir, "repo", "", "directory seeding the lab's Git repository (default: the embedded demo repository)")
	f.StringVar(&cfg.HubPath, "hub-path", "", "repository folder the hub Application syncs (default hub/<topology>)")
	f.StringVar(&topology, "topology", "single", "demo topology when --plan and --repo are not given: single (one ApplicationSet) or dual (two)")
	f.StringVar(&cfg.BinDir, "bin", "", "directory with the tools from `make tools` (default $GITOVER_LAB_BIN, the executable's directory, or ./bin)")
	f.DurationVar(&timeout, "timeout", 5*time.Minute, "give up after this long")
	f.BoolVar(&cfg.KeepOnFailure, "keep-on-failure", false, "leave the processes running when up fails (for debugging; lab down stops them)")
	f.BoolVar(&simulations, "simulations", true, "run the kubelet and KubeVirt/CDI simulations and the replicators on the spokes (without them, no Pod runs and no VM syncs)")
	f.BoolVar(&waitApps, "wait-apps", true, "with --simulations: also wait until the Applications the hub generates are Synced and Healthy")
	return cmd
}

func dirFlag(o *options) string {
	if o.dir == "" {
		return ""
	}
	return " --dir " + shellQuote(o.dir)
}

func newDownCommand(o *options) *cobra.Command {
	var purge bool
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop every lab process (no process, no port left behind)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := lab.Open(o.dir, o.logger(cmd.ErrOrStderr()))
			if errors.Is(err, lab.ErrNotRunning) {
				fmt.Fprintln(cmd.ErrOrStderr(), err)
				return nil // nothing to stop
			}
			if err != nil {
				return err
			}
			if purge {
				return l.Purge(cmd.Context())
			}
			return l.Down(cmd.Context())
		},
	}
	cmd.Flags().BoolVar(&purge, "purge", false, "also remove the lab directory (etcd data, Git repository, credentials)")
	return cmd
}

func newStatusCommand(o *options) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the lab's processes, clusters and Argo CD Applications",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := lab.Open(o.dir, o.logger(cmd.ErrOrStderr()))
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			s, err := l.Status(ctx)
			if err != nil {
				return err
			}
			if output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(s)
			}
			printStatus(cmd.OutOrStdout(), s)
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json, or empty for tables")
	return cmd
}

// printStatus writes Status as tables.
func printStatus(w io.Writer, s *lab.Status) {
	state := "down"
	if s.Running {
		state = "running"
	}
	fmt.Fprintf(w, "lab %s in %s (memory %s)\nGit: %s\n\n", state, s.Dir, mib(s.MemoryBytes), s.GitURL)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLUSTER\tSERVER\tREADY\tAVAILABLE\tFAILED\tLABELS")
	for _, c := range s.Clusters {
		avail := c.Available
		if c.Name == lab.HubCluster {
			avail = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%t\t%s\t%t\t%s\n", c.Name, c.Server, c.Ready, avail, c.Failed, labels(c.Labels))
	}
	_ = tw.Flush()
	fmt.Fprintln(w)
	fmt.Fprintln(tw, "PROCESS\tCLUSTER\tPID\tALIVE\tRSS\tPORTS")
	for _, p := range s.Processes {
		ports := make([]string, 0, len(p.Ports))
		for _, port := range p.Ports {
			ports = append(ports, fmt.Sprint(port))
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%t\t%s\t%s\n", p.Name, dash(p.Cluster), p.PID, p.Alive, mib(p.RSSBytes), strings.Join(ports, ","))
	}
	_ = tw.Flush()
	if len(s.Applications) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(tw, "APPLICATION\tDESTINATION\tSYNC\tHEALTH\tREVISION")
		for _, a := range s.Applications {
			rev := a.Revision
			if len(rev) > 12 {
				rev = rev[:12]
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.Name, a.Destination, dash(a.Sync), dash(a.Health), dash(rev))
		}
		_ = tw.Flush()
	}
}

func labels(m map[string]string) string {
	if len(m) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ",")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func mib(b uint64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

func newEnvCommand(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "env",
		Short: "Print shell exports for the lab (KUBECONFIG with contexts hub, dr1, dr2; Git URL)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := lab.Open(o.dir, o.logger(cmd.ErrOrStderr()))
			if err != nil {
				return err
			}
			for _, kv := range l.Env() {
				k, v, _ := strings.Cut(kv, "=")
				fmt.Fprintf(cmd.OutOrStdout(), "export %s=%s\n", k, shellQuote(v))
			}
			return nil
		},
	}
}

// shellQuote single-quotes s for POSIX shells.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func newFailCommand(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "fail CLUSTER",
		Short: "Simulate losing a spoke: stop its apiserver, mark its ManagedCluster unavailable",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := lab.Open(o.dir, o.logger(cmd.ErrOrStderr()))
			if err != nil {
				return err
			}
			return l.Fail(cmd.Context(), args[0])
		},
	}
}

func newRestoreCommand(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "restore CLUSTER",
		Short: "Bring a failed spoke back with its data and mark it available",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := lab.Open(o.dir, o.logger(cmd.ErrOrStderr()))
			if err != nil {
				return err
			}
			return l.Restore(cmd.Context(), args[0])
		},
	}
}

func newServeGitCommand(o *options) *cobra.Command {
	return &cobra.Command{
		Use:    "serve-git",
		Short:  "Run the lab's Git server in the foreground (started in the background by lab up)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.dir == "" {
				return fmt.Errorf("serve-git needs --dir")
			}
			return lab.ServeGit(cmd.Context(), o.dir, o.logger(cmd.ErrOrStderr()))
		},
	}
}
