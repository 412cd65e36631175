package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/spf13/cobra"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/gitover/gitover/internal/diskhook"
)

// newHookCommand is the parent of the commands gitover's generated Argo
// CD hooks run inside the application's cluster.
func newHookCommand(s Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "hook",
		Short: "Commands run by gitover's generated Argo CD hooks",
	}
	cmd.AddCommand(newProtectDisksCommand(s))
	return cmd
}

func newProtectDisksCommand(s Streams) *cobra.Command {
	var (
		o          diskhook.Options
		phase      string
		kubeconfig string
	)
	cmd := &cobra.Command{
		Use:   "protect-disks --phase PostSync|PreDelete",
		Short: "Keep VM disks (DataVolumes, PVCs) alive when Argo CD removes the VMs",
		Long: `protect-disks runs in the generated disk-protection Jobs.

PostSync removes VirtualMachine owner references from the application's
DataVolumes and PVCs. PreDelete, which Argo CD runs before it deletes the
application's resources, also marks the Argo CD-managed disks Delete=false,
deletes each VirtualMachine with propagationPolicy=Orphan (garbage collection
then drops the owner references atomically, which KubeVirt cannot undo),
stops the orphaned VirtualMachineInstance, and waits until the VMs are gone.

The VMs in scope are those of the Argo CD application that owns the hook's
Job ($JOB_NAME); without tracking information, every VM in the namespace.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Phase = diskhook.Phase(phase)
			rules := clientcmd.NewDefaultClientConfigLoadingRules()
			rules.ExplicitPath = kubeconfig
			cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
			if err != nil {
				return fmt.Errorf("loading cluster credentials: %w", err)
			}
			c, err := dynamic.NewForConfig(cfg)
			if err != nil {
				return err
			}
			log := funcr.New(func(prefix, args string) { fmt.Fprintln(s.Err, prefix, args) }, funcr.Options{})
			rep, err := diskhook.Run(cmd.Context(), c, o, logr.Logger(log))
			if rep != nil {
				enc := json.NewEncoder(s.Out)
				enc.SetIndent("", "  ")
				_ = enc.Encode(rep)
			}
			return err
		},
	}
	cmd.Flags().StringVar(&phase, "phase", "", "PostSync or PreDelete")
	cmd.Flags().StringVar(&o.Namespace, "namespace", os.Getenv("NAMESPACE"), "the application's namespace (default $NAMESPACE)")
	cmd.Flags().StringVar(&o.JobName, "job", os.Getenv("JOB_NAME"), "the hook's own Job, for the owning Argo CD application (default $JOB_NAME)")
	cmd.Flags().DurationVar(&o.WaitTimeout, "wait-timeout", 5*time.Minute, "how long PreDelete waits for the VMs to be gone")
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig file (default: in-cluster, then $KUBECONFIG)")
	_ = cmd.MarkFlagRequired("phase")
	return cmd
}
