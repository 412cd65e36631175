// Command gitover is the GitOps-native disaster-recovery CLI and controller.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/gitover/gitover/internal/cli"
	_ "github.com/gitover/gitover/internal/controllercmd" // registers `gitover controller`
	"github.com/gitover/gitover/internal/lab/labcmd"
)

func main() {
	cli.Register(labcmd.NewCommand)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Execute(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}
