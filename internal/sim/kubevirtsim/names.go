package kubevirtsim

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// LoggerName names the simulator's loggers.
const LoggerName = "kubevirt-cdi-simulation"

// The simulated kinds.
var (
	VirtualMachineGVK         = schema.GroupVersionKind{Group: "kubevirt.io", Version: "v1", Kind: "VirtualMachine"}
	VirtualMachineInstanceGVK = schema.GroupVersionKind{Group: "kubevirt.io", Version: "v1", Kind: "VirtualMachineInstance"}
	DataVolumeGVK             = schema.GroupVersionKind{Group: "cdi.kubevirt.io", Version: "v1beta1", Kind: "DataVolume"}
	ReplicationSourceGVK      = schema.GroupVersionKind{Group: "volsync.backube", Version: "v1alpha1", Kind: "ReplicationSource"}
	ReplicationDestinationGVK = schema.GroupVersionKind{Group: "volsync.backube", Version: "v1alpha1", Kind: "ReplicationDestination"}
	VirtualMachineGVR         = schema.GroupVersionResource{Group: "kubevirt.io", Version: "v1", Resource: "virtualmachines"}
	VirtualMachineInstanceGVR = schema.GroupVersionResource{Group: "kubevirt.io", Version: "v1", Resource: "virtualmachineinstances"}
	DataVolumeGVR             = schema.GroupVersionResource{Group: "cdi.kubevirt.io", Version: "v1beta1", Resource: "datavolumes"}
	ReplicationSourceGVR      = schema.GroupVersionResource{Group: "volsync.backube", Version: "v1alpha1", Resource: "replicationsources"}
	ReplicationDestinationGVR = schema.GroupVersionResource{Group: "volsync.backube", Version: "v1alpha1", Resource: "replicationdestinations"}
	PersistentVolumeClaimGVR  = schema.GroupVersionResource{Version: "v1", Resource: "persistentvolumeclaims"}
	ConfigMapGVR              = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
)

// Upstream names the simulator reproduces.
const (
	// VMControllerFinalizer is virt-controller's finalizer on VMs and VMIs.
	VMControllerFinalizer = "kubevirt.io/virtualMachineControllerFinalize"
	// VMIForegroundFinalizer is the VMI controller's finalizer on VMIs.
	VMIForegroundFinalizer = "foregroundDeleteVirtualMachine"
	// AnnAllowClaimAdoption lets a DataVolume adopt an existing PVC of the
	// same name (set by KubeVirt >= 1.3 on template DataVolumes).
	AnnAllowClaimAdoption = "cdi.kubevirt.io/allowClaimAdoption"
	// AnnCreatedForDataVolume is the UID of the DataVolume CDI created a PVC for.
	AnnCreatedForDataVolume = "cdi.kubevirt.io/createdForDataVolume"
	// LabelCreatedBy is the UID of the VM virt-controller created a DataVolume for.
	LabelCreatedBy = "kubevirt.io/created-by"
	// AnnImmediateDataVolumeCreation "false" on a VM defers DataVolume
	// creation until the VM starts.
	AnnImmediateDataVolumeCreation = "kubevirt.io/immediate-data-volume-creation"

	// Run strategies.
	RunStrategyAlways         = "Always"
	RunStrategyRerunOnFailure = "RerunOnFailure"
	RunStrategyHalted         = "Halted"
	RunStrategyManual         = "Manual"
	RunStrategyOnce           = "Once"

	// DataVolume phases.
	DVPending         = "Pending"
	DVImportScheduled = "ImportScheduled"
	DVSucceeded       = "Succeeded"
)

// Simulator-specific names (group sim.gitover.io, never an upstream API).
const (
	// AnnSimulation marks every object the simulator creates, and its CRDs.
	AnnSimulation = "sim.gitover.io/simulation"
	// SimulationNote is the value of AnnSimulation.
	SimulationNote = "created by gitover's KubeVirt/CDI/VolSync simulation (internal/sim/kubevirtsim), not by the real project"
	// LabelVolumeContent marks a PVC's content ConfigMap.
	LabelVolumeContent = "sim.gitover.io/volume-content"
	// AnnContentPVC names the PVC a content ConfigMap belongs to.
	AnnContentPVC = "sim.gitover.io/pvc"
	// AnnWriteTo on a VM chooses the claims the writer appends to while the
	// VM runs: a comma-separated list of claim names, or "none". Default:
	// every PVC-backed volume of the VM.
	AnnWriteTo = "sim.gitover.io/write-to"
	// LabelWriter "true" on a PVC makes the writer append to it whatever
	// uses it (the stand-in for a container workload writing to its volume).
	LabelWriter = "sim.gitover.io/writer"
	// AnnReplicatedFrom on a PVC the replicator created names the source.
	AnnReplicatedFrom = "sim.gitover.io/replicated-from"
	// ContentSuffix is appended to a PVC's name to name its content ConfigMap.
	ContentSuffix = "-content"
	// NodeName is the node every simulated VMI "runs" on.
	NodeName = "sim-node"
)
