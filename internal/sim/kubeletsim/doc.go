// Package kubeletsim is a SIMULATION of a kubelet (and of the scheduler's
// binding step) for gitover's lab and component tests. It is not the
// kubelet: there is no container runtime on the machines the lab runs on
// (no Docker, no VMs), so no container image can run. It registers one
// Node, binds every unscheduled Pod to it through the pods/binding
// subresource, and "runs" the Pods bound to it:
//
//   - a container whose image is gitover's (Options.Images, default
//     ghcr.io/gitover/gitover, any tag or digest) runs for real: its
//     command and args are executed with the gitover binary
//     (Options.GitoverBin) as a local process, with its environment
//     resolved as the kubelet does it (literal values with $(VAR)
//     expansion, the downward API's metadata and status fields,
//     ConfigMap and Secret keys, envFrom) and KUBECONFIG pointing at a
//     kubeconfig whose token the TokenRequest API issued for the Pod's
//     ServiceAccount, bound to the Pod — as the kubelet's projected
//     service-account token is — so the Pod's RBAC is really enforced.
//     Its output goes to Options.LogDir; its exit code becomes the
//     container's terminated state and, with the restart policy, the Pod's
//     phase (Succeeded, Failed, or a restart), which the real Job,
//     ReplicaSet and Deployment controllers act on.
//   - every other container is reported running and ready at once (no
//     probes run), so that Deployments become Available; it never exits.
//   - a Pod being deleted gracefully has its processes stopped (SIGTERM,
//     then SIGKILL after the grace period, at most Options.MaxGracePeriod)
//     and is then deleted with grace period 0, as the kubelet confirms a
//     termination; namespace deletion and garbage collection complete.
//
// Not simulated: volumes (a process runs in a per-Pod work directory and
// sees no mounted files), probes, resource limits, security contexts,
// pod networking (every Pod reports the node's loopback address), image
// pulls, ephemeral containers, node heartbeats and eviction. A container
// whose environment cannot be resolved (an unsupported field reference, a
// missing key) is reported waiting with reason CreateContainerConfigError,
// as the kubelet reports it, and retried.
package kubeletsim
