package labcmd

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"k8s.io/client-go/rest"

	"github.com/gitover/gitover/internal/lab"
	"github.com/gitover/gitover/internal/sim/kubeletsim"
	"github.com/gitover/gitover/internal/sim/kubevirtsim"
)

// The lab's SIMULATED components. The machine the lab runs on has no
// container runtime and no virtualisation, so what a node would do is
// simulated, per spoke, by three kinds of gitover's hidden `sim`
// subprocesses:
//
//   - sim-kubelet-<spoke>: the kubelet simulation (internal/sim/kubeletsim)
//     binds Pods to the Node sim-node, runs the containers of gitover's image
//     (the disk-protection hooks) as local gitover processes with the Pod's
//     ServiceAccount token, and reports other containers running and ready;
//   - sim-kubevirt-<spoke>: the KubeVirt/CDI simulation
//     (internal/sim/kubevirtsim): VMs, DataVolumes, PVC binding, volume
//     content and its writer;
//   - sim-replicate-<peer>-to-<spoke>: the VolSync-style replicator, one per
//     direction, copying volume content for every ReplicationDestination on
//     the receiving spoke.
//
// The simulated CRDs are installed on each spoke before its
// kube-controller-manager starts, so that garbage collection knows them.

// Process name prefixes of the simulations (also their log names).
const (
	procSimKubelet   = "sim-kubelet-"
	procSimKubeVirt  = "sim-kubevirt-"
	procSimReplicate = "sim-replicate-"
)

// simWriteInterval is how often the simulated writer appends a record to
// the disks of running VMs in the lab.
const simWriteInterval = "2s"

// WithSimulations makes a lab run the simulations: gitover is the gitover
// binary (it must carry the hidden `sim` command), images are further
// image repositories the kubelet simulation runs with it (a plan's
// diskProtection.image), besides gitover's own.
func WithSimulations(cfg *lab.Config, gitover string, images ...string) {
	cfg.PrepareCluster = prepareSimulatedCluster
	cfg.ExtraProcesses = simulationProcesses(gitover, images)
}

// prepareSimulatedCluster installs the simulated KubeVirt, CDI and VolSync
// CRDs on a spoke.
func prepareSimulatedCluster(ctx context.Context, c lab.Cluster, cfg *rest.Config) error {
	if c.Hub {
		return nil
	}
	if err := kubevirtsim.InstallCRDs(ctx, cfg); err != nil {
		return fmt.Errorf("installing the simulated KubeVirt/CDI CRDs on %s: %w", c.Name, err)
	}
	return nil
}

// simulationProcesses returns the simulations of a spoke (none on the hub).
func simulationProcesses(gitover string, images []string) func(lab.Cluster) []lab.ProcessSpec {
	all := append(append([]string(nil), kubeletsim.DefaultImages...), images...)
	return func(c lab.Cluster) []lab.ProcessSpec {
		if c.Hub {
			return nil
		}
		specs := []lab.ProcessSpec{
			{
				Name: procSimKubelet + c.Name,
				Path: gitover,
				Args: []string{"sim", "kubelet",
					"--kubeconfig", c.Kubeconfig,
					"--cluster-name", c.Name,
					"--gitover-bin", gitover,
					"--images", strings.Join(all, ","),
					"--log-dir", filepath.Join(c.LabDir, "logs", "pods", c.Name),
					"--work-dir", filepath.Join(c.LabDir, "run", "pods", c.Name),
				},
			},
			{
				Name: procSimKubeVirt + c.Name,
				Path: gitover,
				Args: []string{"sim", "kubevirt",
					"--kubeconfig", c.Kubeconfig,
					"--cluster-name", c.Name,
					"--install-crds=false", // installed before the controllers started
					"--write-interval", simWriteInterval,
				},
			},
		}
		for _, p := range c.Peers {
			specs = append(specs, lab.ProcessSpec{
				Name: procSimReplicate + p.Name + "-to-" + c.Name,
				Path: gitover,
				Args: []string{"sim", "replicate",
					"--from-kubeconfig", p.Kubeconfig, "--from-name", p.Name,
					"--to-kubeconfig", c.Kubeconfig, "--to-name", c.Name,
				},
			})
		}
		return specs
	}
}
