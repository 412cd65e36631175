package kubeletsim

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/go-logr/logr/funcr"
	"github.com/spf13/cobra"
	"k8s.io/client-go/tools/clientcmd"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

// NewCommand returns the hidden `kubelet` command (registered as
// `gitover sim kubelet`): the lab's kubelet simulation for one cluster.
func NewCommand() *cobra.Command {
	o := DefaultOptions()
	var (
		kubeconfig string
		verbosity  int
	)
	cmd := &cobra.Command{
		Use:    "kubelet --kubeconfig K [--gitover-bin PATH] [--images REPO,...]",
		Short:  "Run the kubelet SIMULATION on one cluster: bind Pods to a fake node, run gitover's image as local processes",
		Hidden: true,
		Long: `kubelet is a SIMULATION of a kubelet (and of the scheduler's binding) for the
lab, where no container runtime exists. It registers the Node --node-name,
binds unscheduled Pods to it, runs the containers whose image is one of
--images (any tag) with the gitover binary as local processes — environment
resolved like the kubelet's, KUBECONFIG with a Pod-bound token of the Pod's
ServiceAccount, so RBAC is enforced — and reports every other container
running and ready. Pods being deleted are stopped and confirmed. See
docs/lab.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rules := clientcmd.NewDefaultClientConfigLoadingRules()
			rules.ExplicitPath = kubeconfig
			cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
			if err != nil {
				return fmt.Errorf("loading cluster credentials %q: %w", kubeconfig, err)
			}
			ctx, cancel := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer cancel()
			w := cmd.ErrOrStderr()
			log := funcr.New(func(prefix, args string) {
				fmt.Fprintln(w, time.Now().UTC().Format(time.RFC3339Nano), prefix, args)
			}, funcr.Options{Verbosity: verbosity})
			ctrllog.SetLogger(log)
			return Run(ctx, cfg, o, log)
		},
	}
	f := cmd.Flags()
	f.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig of the cluster (default $KUBECONFIG)")
	f.StringVar(&o.NodeName, "node-name", o.NodeName, "the simulated Node")
	f.StringVar(&o.ClusterName, "cluster-name", "", "cluster name in logs (default: the apiserver URL)")
	f.StringVar(&o.GitoverBin, "gitover-bin", "", "the gitover binary that runs gitover's image (default: this executable)")
	f.StringSliceVar(&o.Images, "images", o.Images, "image repositories (any tag or digest) whose containers run as gitover processes")
	f.StringVar(&o.LogDir, "log-dir", "", "where container output goes, NAMESPACE_POD_CONTAINER.log (default $TMPDIR/gitover-kubeletsim/NODE/logs)")
	f.StringVar(&o.WorkDir, "work-dir", "", "per-Pod directories: kubeconfig, token, working directory (default $TMPDIR/gitover-kubeletsim/NODE/pods)")
	f.StringVar(&o.NodeIP, "node-ip", o.NodeIP, "the node's address, also reported as every Pod's IP")
	f.DurationVar(&o.MaxGracePeriod, "max-grace-period", o.MaxGracePeriod, "longest wait between SIGTERM and SIGKILL when a Pod is deleted")
	f.DurationVar(&o.TokenExpiration, "token-expiration", o.TokenExpiration, "lifetime of the Pods' service-account tokens (refreshed at 80%)")
	f.DurationVar(&o.RestartBackoff, "restart-backoff", o.RestartBackoff, "first delay before a container restarts (doubles up to --max-restart-backoff)")
	f.DurationVar(&o.MaxRestartBackoff, "max-restart-backoff", o.MaxRestartBackoff, "longest delay before a container restarts")
	f.IntVarP(&verbosity, "v", "v", 0, "log verbosity (1: every binding, status and simulated container)")
	return cmd
}
