// Package kubevirtsim is a SIMULATION of the KubeVirt and CDI controllers
// (and of a VolSync-style volume replicator) for gitover's lab and
// component tests. It is not KubeVirt, not CDI and not VolSync: it serves
// their APIs in their real groups (kubevirt.io/v1 VirtualMachine and
// VirtualMachineInstance, cdi.kubevirt.io/v1beta1 DataVolume,
// volsync.backube/v1alpha1 ReplicationSource and ReplicationDestination)
// through CRDs marked as simulated, and reproduces only the behaviour that
// matters to disaster recovery:
//
//   - virt-controller: a DataVolume per spec.dataVolumeTemplates entry,
//     controlled by the VM; a VirtualMachineInstance for running VMs once
//     their DataVolumes succeeded; status.printableStatus, status.ready and
//     the Ready condition that Argo CD's health checks read; the VM
//     finalizer and the VMI stop on deletion; and the re-adoption of
//     orphaned template DataVolumes (ClaimMatchedDataVolumes), which is
//     what defeats a disk-protection hook that only strips owner
//     references.
//   - CDI: a PVC per DataVolume, controlled by it, Pending -> ImportScheduled
//     -> Succeeded; claim adoption of an existing PVC of the same name when
//     the DataVolume allows it (cdi.kubevirt.io/allowClaimAdoption).
//   - a storage provisioner stand-in that binds PVCs (status only).
//   - a replicated-volume stand-in: a PVC's "content" is a ConfigMap
//     (<pvc>-content) owned by the PVC; a writer appends timestamped,
//     numbered records to the disks of running VMs; a replicator copies
//     content from one cluster to another for every PVC named by a
//     ReplicationDestination on the receiving cluster, and records
//     lastSyncTime/lastSyncDuration like VolSync. Deleting the
//     ReplicationDestination stops replication, as in the seed guide.
//
// docs/simulator.md describes each behaviour, its upstream counterpart and
// how faithful it is.
package kubevirtsim
