// Command labmain runs `gitover lab` on its own, for the lab's tests until
// cmd/gitover registers labcmd (then this file goes away).
package main

import (
	"os"

	"github.com/gitover/gitover/internal/lab/labcmd"
)

func main() {
	if err := labcmd.NewCommand().Execute(); err != nil {
		os.Exit(1)
	}
}
