// Package gitover embeds the sample GitOps repository and DRPlans that
// `gitover demo` (the README's first command) runs against.
package gitover

import "embed"

// Samples holds testdata/repos/demo and its DRPlans.
//
//go:embed testdata/repos/demo testdata/plans/demo-single.yaml testdata/plans/demo-dual.yaml
var Samples embed.FS

// Paths inside Samples.
const (
	SampleRepo       = "testdata/repos/demo"
	SamplePlanSingle = "testdata/plans/demo-single.yaml"
	SamplePlanDual   = "testdata/plans/demo-dual.yaml"
)
