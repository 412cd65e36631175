// Package lab runs gitover's disaster-recovery lab on one machine: real
// control-plane processes on 127.0.0.1 instead of clusters.
//
//   - one etcd shared by a kube-apiserver per cluster (--etcd-prefix), for
//     the hub and one spoke per site of a DRPlan (dr1, dr2), each with a
//     kube-controller-manager (garbage collector, namespace controller, ...);
//   - on the hub: the OCM cluster CRDs, a ManagedCluster per site labelled
//     as the plan says, ManagedClusterSet(s) and bindings, and the real OCM
//     placement controller; Argo CD's CRDs, configuration, cluster secrets
//     named after the ManagedClusters, the acm-placement duck-type ConfigMap,
//     and its applicationset-controller, application-controller,
//     repo-server and redis;
//   - a Git server (smart HTTP through git http-backend, basic auth) serving
//     the demo repository, and a hub Application that syncs the
//     repository's hub folder into the hub, so a commit reaches OCM and the
//     spokes through Argo CD as in production.
//
// Processes outlive the caller (Up returns; Down, possibly from another
// process, stops them). Everything the lab writes lives in one directory
// (Config.Dir) whose lab.json records ports and processes. The tool
// binaries come from `make tools` (see hack/tools and docs/lab.md).
package lab
