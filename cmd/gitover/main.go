// Command gitover is the GitOps-native disaster-recovery CLI and controller.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/gitover/gitover/internal/cli"
	_ "github.com/gitover/gitover/internal/controllercmd" // registers `gitover controller`
	"github.com/gitover/gitover/internal/lab/labcmd"
	"github.com/gitover/gitover/internal/sim/kubeletsim"
	"github.com/gitover/gitover/internal/sim/kubevirtsim"
)

func main() {
	cli.Register(labcmd.NewCommand)
	// The lab's simulations (hidden): gitover sim kubevirt|replicate|install-crds|records|kubelet.
	cli.Register(func() *cobra.Command {
		sim := kubevirtsim.NewCommand()
		sim.AddCommand(kubeletsim.NewCommand())
		return sim
	})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Execute(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}
