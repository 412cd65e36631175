package kubevirtsim

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/spf13/cobra"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

// NewCommand returns the hidden `sim` command: the lab's simulations of
// KubeVirt/CDI (`sim kubevirt`) and of volume replication (`sim replicate`),
// plus `sim install-crds` and `sim records`.
func NewCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:    "sim",
		Short:  "Simulated KubeVirt/CDI controllers and volume replication for the lab (not the real projects)",
		Hidden: true,
		Long: `sim runs the simulations gitover's lab uses in place of KubeVirt, CDI and
VolSync, which cannot run without nodes. They serve the real API groups
through CRDs marked as simulated and reproduce only what disaster recovery
depends on; see docs/simulator.md.`,
	}
	cmd.AddCommand(newKubeVirtCommand(), newReplicateCommand(), newInstallCRDsCommand(), newRecordsCommand())
	return cmd
}

// logFlags builds a logger on stderr with a verbosity flag.
type logFlags struct{ verbosity int }

func (l *logFlags) add(cmd *cobra.Command) {
	cmd.Flags().IntVarP(&l.verbosity, "v", "v", 0, "log verbosity (1: every change, 2: every record written)")
}

func (l *logFlags) logger(w io.Writer) logr.Logger {
	return funcr.New(func(prefix, args string) {
		fmt.Fprintln(w, time.Now().UTC().Format(time.RFC3339Nano), prefix, args)
	}, funcr.Options{Verbosity: l.verbosity})
}

// loadConfig reads a kubeconfig (default: $KUBECONFIG, then in-cluster).
func loadConfig(path string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = path
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("loading cluster credentials %q: %w", path, err)
	}
	return cfg, nil
}

// signalContext ends on SIGINT or SIGTERM (the lab stops processes with SIGTERM).
func signalContext(parent context.Context) (context.Context, context.CancelFunc) {
	if parent == nil {
		parent = context.Background()
	}
	return signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
}

func newKubeVirtCommand() *cobra.Command {
	o := DefaultOptions()
	var (
		kubeconfig string
		lf         logFlags
	)
	cmd := &cobra.Command{
		Use:   "kubevirt --kubeconfig K [--cluster-name dr1]",
		Short: "Run the simulated KubeVirt/CDI controllers, PVC binder and writer on one cluster",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(kubeconfig)
			if err != nil {
				return err
			}
			ctx, cancel := signalContext(cmd.Context())
			defer cancel()
			log := lf.logger(cmd.ErrOrStderr())
			ctrllog.SetLogger(log)
			return Run(ctx, cfg, o, log)
		},
	}
	f := cmd.Flags()
	f.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig of the cluster (default $KUBECONFIG, then in-cluster)")
	f.StringVar(&o.ClusterName, "cluster-name", "", "cluster name, recorded as writer=<name> in volume records (default: the apiserver URL)")
	f.BoolVar(&o.ReAdopt, "readopt", o.ReAdopt, "re-adopt orphaned template DataVolumes while their VM exists, as virt-controller does")
	f.BoolVar(&o.ClaimAdoptionFeatureGate, "claim-adoption-feature-gate", o.ClaimAdoptionFeatureGate, "CDI's DataVolumeClaimAdoption gate: adopt same-named PVCs even without the DataVolume annotation")
	f.BoolVar(&o.BindPVCs, "bind-pvcs", o.BindPVCs, "report every PVC Bound (storage provisioner stand-in)")
	f.DurationVar(&o.StepDelay, "step-delay", o.StepDelay, "duration of each simulated step (import stages, VMI scheduling, boot)")
	f.DurationVar(&o.WriteInterval, "write-interval", o.WriteInterval, "period of the writer on running VMs' volumes (0 disables it)")
	f.IntVar(&o.MaxRecords, "max-records", o.MaxRecords, "records kept per volume")
	f.DurationVar(&o.ResyncPeriod, "resync", o.ResyncPeriod, "periodic re-reconciliation of every object")
	f.BoolVar(&o.InstallCRDs, "install-crds", o.InstallCRDs, "install the simulated CRDs at start")
	lf.add(cmd)
	return cmd
}

func newReplicateCommand() *cobra.Command {
	var (
		o        ReplicatorOptions
		from, to string
		lf       logFlags
	)
	o.Interval = 2 * time.Second
	o.RequestTimeout = 5 * time.Second
	cmd := &cobra.Command{
		Use:   "replicate --from-kubeconfig A --to-kubeconfig B [--namespace N] [--interval 2s]",
		Short: "Copy simulated volume content from cluster A to B for every ReplicationDestination on B",
		Long: `replicate is a VolSync stand-in. Every interval it lists the
ReplicationDestinations on the destination cluster and, for the PVC each one
names (spec.rsyncTLS.destinationPVC, else its name), copies the PVC's
simulated content (ConfigMap <pvc>-content) from the source cluster,
creating the destination PVC when missing. It records lastSyncTime and
lastSyncDuration on the ReplicationDestination and on the matching
ReplicationSource (spec.sourcePVC) of the source cluster, if any. Deleting
the ReplicationDestination stops replication. Run one per direction; the
ReplicationDestinations decide which one copies.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fromCfg, err := loadConfig(from)
			if err != nil {
				return err
			}
			toCfg, err := loadConfig(to)
			if err != nil {
				return err
			}
			ctx, cancel := signalContext(cmd.Context())
			defer cancel()
			r, err := NewReplicator(fromCfg, toCfg, o, lf.logger(cmd.ErrOrStderr()))
			if err != nil {
				return err
			}
			return r.Run(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&from, "from-kubeconfig", "", "kubeconfig of the source (active) cluster")
	f.StringVar(&to, "to-kubeconfig", "", "kubeconfig of the destination (passive) cluster")
	f.StringVar(&o.SourceName, "from-name", "", "name of the source cluster in logs and annotations")
	f.StringVar(&o.DestinationName, "to-name", "", "name of the destination cluster in logs and annotations")
	f.StringVar(&o.Namespace, "namespace", "", "namespace to replicate (default: all)")
	f.DurationVar(&o.Interval, "interval", o.Interval, "time between synchronizations")
	f.DurationVar(&o.RequestTimeout, "request-timeout", o.RequestTimeout, "timeout of each API request")
	_ = cmd.MarkFlagRequired("from-kubeconfig")
	_ = cmd.MarkFlagRequired("to-kubeconfig")
	lf.add(cmd)
	return cmd
}

func newInstallCRDsCommand() *cobra.Command {
	var kubeconfig string
	cmd := &cobra.Command{
		Use:   "install-crds --kubeconfig K",
		Short: "Install the simulated KubeVirt, CDI and VolSync CRDs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(kubeconfig)
			if err != nil {
				return err
			}
			return InstallCRDs(cmd.Context(), cfg)
		},
	}
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig of the cluster")
	return cmd
}

func newRecordsCommand() *cobra.Command {
	var (
		kubeconfig, namespace string
		last                  bool
	)
	cmd := &cobra.Command{
		Use:   "records PVC --kubeconfig K --namespace N [--last]",
		Short: "Print the records a simulated volume holds",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(kubeconfig)
			if err != nil {
				return err
			}
			dyn, err := dynamic.NewForConfig(cfg)
			if err != nil {
				return err
			}
			c, err := ReadContent(cmd.Context(), dyn, namespace, args[0])
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if last {
				if r, ok := c.Last(); ok {
					fmt.Fprintln(out, r)
				}
				return nil
			}
			for _, r := range c.Records {
				fmt.Fprintln(out, r)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig of the cluster")
	cmd.Flags().StringVarP(&namespace, "namespace", "n", "default", "namespace of the PVC")
	cmd.Flags().BoolVar(&last, "last", false, "print only the newest record")
	return cmd
}
