//go:build tools

// Package tools pins the code generators' versions for this module.
package tools

import (
	_ "sigs.k8s.io/controller-tools/cmd/controller-gen"
)
