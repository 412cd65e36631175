// Package cli is gitover's command line: plan, failover, relocate and
// protect against a Git repository, plus the controller, the lab and the
// hook commands that other packages contribute.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/gitover/gitover/internal/version"
)

// Streams are where commands write.
type Streams struct {
	Out, Err io.Writer
}

// extraCommands are added to the root by other packages (lab, controller,
// hooks) through Register, so that this package does not import them all.
var extraCommands []func() *cobra.Command

// Register adds a command constructor to every root built afterwards.
func Register(f func() *cobra.Command) { extraCommands = append(extraCommands, f) }

// NewRoot builds the gitover command tree.
func NewRoot(s Streams) *cobra.Command {
	root := &cobra.Command{
		Use:   "gitover",
		Short: "GitOps-native disaster recovery for KubeVirt VMs and containers on OCM + Argo CD",
		Long: `gitover fails applications over between sites by changing Git, never live objects:
it flips OCM Placement selectors, swaps ApplicationSet overlays, adds Argo CD hooks
that keep VM disks, and lets Argo CD converge.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version.Version,
	}
	root.SetOut(s.Out)
	root.SetErr(s.Err)
	root.AddCommand(
		newMoveCommand(s, moveFailover),
		newMoveCommand(s, moveRelocate),
		newPlanCommand(s),
		newProtectCommand(s),
		newStatusCommand(s),
		newHookCommand(s),
		newDemoCommand(s),
	)
	for _, f := range extraCommands {
		root.AddCommand(f())
	}
	return root
}

// Execute runs the command line and returns the process exit code.
func Execute(ctx context.Context, args []string) int {
	s := Streams{Out: os.Stdout, Err: os.Stderr}
	root := NewRoot(s)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(s.Err, "gitover: %v\n", err)
		var ee *exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		return 1
	}
	return 0
}

// exitError carries a specific exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }
