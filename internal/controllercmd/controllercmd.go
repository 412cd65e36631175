// Package controllercmd is `gitover controller`: the controller manager
// (leader election, health probes, metrics) running the DRPlan and Failover
// reconcilers and the GitHub/GitLab webhook receiver. cmd/gitover links it
// with a blank import; its init registers the command with the CLI.
package controllercmd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/gitover/gitover/controllers"
	"github.com/gitover/gitover/gitops/git"
	"github.com/gitover/gitover/gitops/webhook"
	"github.com/gitover/gitover/internal/cli"
)

func init() { cli.Register(NewCommand) }

// Options are the flags of `gitover controller`.
type Options struct {
	Kubeconfig string

	MetricsBindAddress string
	ProbeBindAddress   string

	LeaderElect      bool
	LeaderElectionID string
	LeaderElectionNS string
	LeaseDuration    time.Duration
	RenewDeadline    time.Duration
	RetryPeriod      time.Duration
	GitCacheDir      string
	GitFetchInterval time.Duration
	PlanResync       time.Duration
	PRPollInterval   time.Duration
	ConvergePoll     time.Duration
	NoNudges         bool
	PlanWorkers      int
	FailoverWorkers  int
	Webhook          *webhook.Options
	Zap              zap.Options
}

// NewOptions returns the defaults.
func NewOptions() *Options {
	return &Options{
		MetricsBindAddress: ":8080",
		ProbeBindAddress:   ":8081",
		LeaderElectionID:   "gitover-controller.gitover.io",
		LeaseDuration:      15 * time.Second,
		RenewDeadline:      10 * time.Second,
		RetryPeriod:        2 * time.Second,
		GitCacheDir:        defaultCacheDir(),
		GitFetchInterval:   controllers.DefaultGitFetchInterval,
		PlanResync:         controllers.DefaultPlanResync,
		PRPollInterval:     controllers.DefaultPRPollInterval,
		ConvergePoll:       controllers.DefaultConvergePoll,
		PlanWorkers:        2,
		FailoverWorkers:    2,
		Webhook:            webhook.NewOptions(),
		Zap:                zap.Options{},
	}
}

// defaultCacheDir is $XDG_CACHE_HOME/gitover/git (or the user cache dir),
// else a directory under the system's temporary directory.
func defaultCacheDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "gitover", "git")
	}
	return filepath.Join(os.TempDir(), "gitover-git")
}

// AddFlags registers the flags.
func (o *Options) AddFlags(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "Kubeconfig of the hub cluster (default: in-cluster, $KUBECONFIG or ~/.kube/config).")
	fs.StringVar(&o.MetricsBindAddress, "metrics-bind-address", o.MetricsBindAddress, `Address of the Prometheus /metrics endpoint; "0" disables it.`)
	fs.StringVar(&o.ProbeBindAddress, "health-probe-bind-address", o.ProbeBindAddress, `Address of the /healthz and /readyz probes; "0" disables them.`)
	fs.BoolVar(&o.LeaderElect, "leader-elect", o.LeaderElect, "Elect a leader (a Lease) so that only one replica reconciles and receives webhooks.")
	fs.StringVar(&o.LeaderElectionID, "leader-election-id", o.LeaderElectionID, "Name of the leader election Lease.")
	fs.StringVar(&o.LeaderElectionNS, "leader-election-namespace", o.LeaderElectionNS, "Namespace of the Lease (default: the Pod's namespace in a cluster; required outside one).")
	fs.DurationVar(&o.LeaseDuration, "leader-elect-lease-duration", o.LeaseDuration, "How long a non-leader waits before taking over a Lease that is not renewed.")
	fs.DurationVar(&o.RenewDeadline, "leader-elect-renew-deadline", o.RenewDeadline, "How long the leader retries renewing before it gives up leadership.")
	fs.DurationVar(&o.RetryPeriod, "leader-elect-retry-period", o.RetryPeriod, "How often candidates try to acquire or renew the Lease.")
	fs.StringVar(&o.GitCacheDir, "git-cache-dir", o.GitCacheDir, "Directory of the clone cache shared by every plan (an emptyDir in a Pod; deleting it is always safe).")
	fs.DurationVar(&o.GitFetchInterval, "git-fetch-interval", o.GitFetchInterval, "Fetch a plan's branch at most this often when no push webhook says it moved.")
	fs.DurationVar(&o.PlanResync, "drplan-resync", o.PlanResync, "Longest time between two reconciles of a DRPlan.")
	fs.DurationVar(&o.PRPollInterval, "pr-poll-interval", o.PRPollInterval, "How often an open pull/merge request is read when no webhook arrives.")
	fs.DurationVar(&o.ConvergePoll, "converge-poll-interval", o.ConvergePoll, "How often a converging Failover looks again when no watched object changed.")
	fs.BoolVar(&o.NoNudges, "no-argocd-nudges", o.NoNudges, "Leave Argo CD to its own polling instead of refreshing the hub Application, ApplicationSets and Applications (only to measure what the nudges save).")
	_ = fs.MarkHidden("no-argocd-nudges")
	fs.IntVar(&o.PlanWorkers, "drplan-workers", o.PlanWorkers, "DRPlans reconciled at once.")
	fs.IntVar(&o.FailoverWorkers, "failover-workers", o.FailoverWorkers, "Failovers reconciled at once.")
	o.Webhook.AddFlags(fs)
	gfs := flag.NewFlagSet("zap", flag.ContinueOnError)
	o.Zap.BindFlags(gfs)
	fs.AddGoFlagSet(gfs)
}

// Validate checks the flags, including the webhook receiver's (which
// refuses to start without a secret unless the insecure flag is given).
func (o *Options) Validate() error {
	var errs []error
	if o.GitCacheDir == "" {
		errs = append(errs, errors.New("--git-cache-dir is required"))
	}
	for name, d := range map[string]time.Duration{"--git-fetch-interval": o.GitFetchInterval, "--drplan-resync": o.PlanResync,
		"--pr-poll-interval": o.PRPollInterval, "--converge-poll-interval": o.ConvergePoll} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive", name))
		}
	}
	if o.PlanWorkers < 1 || o.FailoverWorkers < 1 {
		errs = append(errs, errors.New("--drplan-workers and --failover-workers must be at least 1"))
	}
	if err := o.Webhook.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// NewCommand builds `gitover controller`.
func NewCommand() *cobra.Command { return newCommand(NewOptions()) }

// newCommand builds the command around o.
func newCommand(o *Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "controller",
		Short: "Run the gitover controller manager (DRPlan and Failover reconcilers, webhook receiver)",
		Long: `Run the gitover controller manager against the hub cluster.

It reconciles DRPlans (Git site, live site, Ready/Converged/Protected) and
Failovers (Checking, Committing or Proposing, AwaitingMerge, Converging,
Verifying), and receives GitHub/GitLab webhooks on --webhook-bind-address so
that pushes and merges are acted on at once. See docs/controller.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			return Run(cmd.Context(), o)
		},
	}
	o.AddFlags(cmd)
	return cmd
}

// Run starts the manager and blocks until ctx ends.
func Run(ctx context.Context, o *Options) error {
	log := zap.New(zap.UseFlagOptions(&o.Zap))
	ctrl.SetLogger(log)
	cfg, err := restConfig(o.Kubeconfig)
	if err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        controllers.NewScheme(),
		Metrics:                       metricsserver.Options{BindAddress: o.MetricsBindAddress},
		HealthProbeBindAddress:        o.ProbeBindAddress,
		LeaderElection:                o.LeaderElect,
		LeaderElectionID:              o.LeaderElectionID,
		LeaderElectionNamespace:       o.LeaderElectionNS,
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 &o.LeaseDuration,
		RenewDeadline:                 &o.RenewDeadline,
		RetryPeriod:                   &o.RetryPeriod,
	})
	if err != nil {
		return fmt.Errorf("creating the controller manager: %w", err)
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	gc, err := git.NewClient(git.Options{CacheDir: o.GitCacheDir, Logger: log.WithName("git")})
	if err != nil {
		return err
	}
	ctrls, err := controllers.Setup(ctx, mgr, controllers.Options{
		GitClient:        gc,
		GitFetchInterval: o.GitFetchInterval,
		PlanResync:       o.PlanResync,
		PRPollInterval:   o.PRPollInterval,
		ConvergePoll:     o.ConvergePoll,
		DisableNudges:    o.NoNudges,
		Registerer:       metrics.Registry,
	})
	if err != nil {
		return err
	}
	if o.Webhook.Enabled() {
		q := webhook.NewChanQueue(0)
		o.Webhook.Registerer = metrics.Registry
		if err := mgr.Add(&receiver{opts: o.Webhook, q: q, log: log.WithName("webhook")}); err != nil {
			return err
		}
		ctrls.Notifier.Events = q.C()
	} else {
		log.Info("webhook receiver disabled (--webhook-bind-address=0): pull requests are polled every --pr-poll-interval, branches fetched every --git-fetch-interval")
	}
	if err := mgr.Add(ctrls.Notifier); err != nil {
		return err
	}
	log.Info("starting the gitover controller", "leaderElection", o.LeaderElect, "gitCache", o.GitCacheDir, "webhook", o.Webhook.BindAddress)
	return mgr.Start(ctx)
}

// restConfig loads the hub's client configuration.
func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("loading --kubeconfig %s: %w", kubeconfig, err)
		}
		return cfg, nil
	}
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return nil, fmt.Errorf("loading the hub's kubeconfig: %w", err)
	}
	return cfg, nil
}

// receiver runs the webhook receiver as a manager Runnable on the leader,
// whose Notifier consumes its queue.
type receiver struct {
	opts *webhook.Options
	q    *webhook.ChanQueue
	log  logr.Logger
}

// Start implements manager.Runnable.
func (r *receiver) Start(ctx context.Context) error { return webhook.Serve(ctx, r.opts, r.q, r.log) }

// NeedLeaderElection implements manager.LeaderElectionRunnable: only the
// leader listens, so every delivery reaches the replica that acts on it.
func (r *receiver) NeedLeaderElection() bool { return true }
