package kubevirtsim

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// Options configure the simulated KubeVirt/CDI controllers of one cluster.
type Options struct {
	// ClusterName names the cluster in logs and in the records the writer
	// appends (writer=<ClusterName>).
	ClusterName string
	// ReAdopt makes the VM controller re-add its owner reference to an
	// orphaned DataVolume named in spec.dataVolumeTemplates while the VM
	// exists and is not being deleted, as virt-controller's
	// ClaimMatchedDataVolumes does. Upstream always does this; turning it
	// off shows what the re-adoption changes.
	ReAdopt bool
	// ClaimAdoptionFeatureGate is CDI's DataVolumeClaimAdoption feature
	// gate: adopt an existing PVC even without the DataVolume's
	// cdi.kubevirt.io/allowClaimAdoption annotation.
	ClaimAdoptionFeatureGate bool
	// BindPVCs makes the simulator act as the storage provisioner: every
	// PVC gets status.phase Bound (no PersistentVolume).
	BindPVCs bool
	// StepDelay is the time each simulated step takes (DataVolume import
	// stages, VMI scheduling and boot).
	StepDelay time.Duration
	// WriteInterval is the writer's period; 0 disables the writer.
	WriteInterval time.Duration
	// MaxRecords bounds the records kept per volume.
	MaxRecords int
	// ResyncPeriod re-reconciles every object periodically (informer
	// resync), as a backstop to watch events.
	ResyncPeriod time.Duration
	// InstallCRDs installs the simulated CRDs before starting.
	InstallCRDs bool
}

// DefaultOptions are the options of `gitover sim kubevirt`.
func DefaultOptions() Options {
	return Options{
		ReAdopt:       true,
		BindPVCs:      true,
		StepDelay:     200 * time.Millisecond,
		WriteInterval: time.Second,
		MaxRecords:    DefaultMaxRecords,
		ResyncPeriod:  time.Minute,
		InstallCRDs:   true,
	}
}

// Run runs the simulated controllers against one cluster until ctx ends.
func Run(ctx context.Context, cfg *rest.Config, o Options, log logr.Logger) error {
	log = log.WithName(LoggerName)
	if o.ClusterName == "" {
		o.ClusterName = cfg.Host
	}
	if o.StepDelay <= 0 {
		o.StepDelay = time.Millisecond
	}
	if o.MaxRecords <= 0 {
		o.MaxRecords = DefaultMaxRecords
	}
	if o.InstallCRDs {
		if err := InstallCRDs(ctx, cfg); err != nil {
			return err
		}
	}
	mgr, err := newManager(cfg, o, log)
	if err != nil {
		return err
	}
	log.Info("KubeVirt/CDI simulation starting (this is a simulation, not KubeVirt)", "cluster", o.ClusterName,
		"reAdopt", o.ReAdopt, "claimAdoptionFeatureGate", o.ClaimAdoptionFeatureGate, "bindPVCs", o.BindPVCs,
		"stepDelay", o.StepDelay, "writeInterval", o.WriteInterval)
	if err := mgr.Start(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("running the KubeVirt/CDI simulation on %s: %w", o.ClusterName, err)
	}
	return nil
}

// newU returns an empty unstructured object of a kind.
func newU(gvk schema.GroupVersionKind) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	return u
}

// newManager wires the simulated controllers into a controller-runtime
// manager (no metrics, probes or leader election: one simulator per cluster).
func newManager(cfg *rest.Config, o Options, log logr.Logger) (manager.Manager, error) {
	// The apiserver warns about KubeVirt's own finalizer name
	// (foregroundDeleteVirtualMachine is not domain-qualified); upstream has
	// the same warning. Do not log it for every VMI.
	cfg = rest.CopyConfig(cfg)
	cfg.WarningHandlerWithContext = rest.NoWarnings{}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	skip := true
	resync := o.ResyncPeriod
	mgrOpts := ctrl.Options{
		Scheme:                 scheme,
		Logger:                 log,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		LeaderElection:         false,
		Client:                 client.Options{Cache: &client.CacheOptions{Unstructured: true}},
		// Several simulators may run in one test process.
		Controller: config.Controller{SkipNameValidation: &skip},
	}
	if resync > 0 {
		mgrOpts.Cache.SyncPeriod = &resync
	}
	mgr, err := ctrl.NewManager(cfg, mgrOpts)
	if err != nil {
		return nil, fmt.Errorf("creating the simulation's controller manager for %s: %w", cfg.Host, err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("building a dynamic client for %s: %w", cfg.Host, err)
	}
	ctx := context.Background()
	if err := mgr.GetFieldIndexer().IndexField(ctx, newU(VirtualMachineGVK), indexTemplateDV, templateDVIndex); err != nil {
		return nil, fmt.Errorf("indexing VMs by template DataVolume: %w", err)
	}

	vm := &vmReconciler{c: mgr.GetClient(), live: mgr.GetAPIReader(), o: o, log: log.WithName("virt-controller")}
	err = ctrl.NewControllerManagedBy(mgr).Named("sim-virt-controller-vm").
		For(newU(VirtualMachineGVK)).
		Watches(newU(VirtualMachineInstanceGVK), handler.EnqueueRequestsFromMapFunc(sameName)).
		Watches(newU(DataVolumeGVK), handler.EnqueueRequestsFromMapFunc(vm.vmsForDataVolume)).
		Complete(vm)
	if err != nil {
		return nil, fmt.Errorf("setting up the simulated VM controller: %w", err)
	}
	vmi := &vmiReconciler{c: mgr.GetClient(), o: o, log: log.WithName("virt-handler")}
	if err := ctrl.NewControllerManagedBy(mgr).Named("sim-virt-handler-vmi").For(newU(VirtualMachineInstanceGVK)).Complete(vmi); err != nil {
		return nil, fmt.Errorf("setting up the simulated VMI controller: %w", err)
	}
	dv := &dvReconciler{c: mgr.GetClient(), dyn: dyn, o: o, log: log.WithName("cdi-controller")}
	err = ctrl.NewControllerManagedBy(mgr).Named("sim-cdi-datavolume").
		For(newU(DataVolumeGVK)).
		Watches(&corev1.PersistentVolumeClaim{}, handler.EnqueueRequestsFromMapFunc(sameName)).
		Complete(dv)
	if err != nil {
		return nil, fmt.Errorf("setting up the simulated DataVolume controller: %w", err)
	}
	if o.BindPVCs {
		pvc := &pvcBinder{c: mgr.GetClient(), log: log.WithName("storage-provisioner")}
		if err := ctrl.NewControllerManagedBy(mgr).Named("sim-pvc-binder").For(&corev1.PersistentVolumeClaim{}).Complete(pvc); err != nil {
			return nil, fmt.Errorf("setting up the simulated PVC binder: %w", err)
		}
	}
	if o.WriteInterval > 0 {
		w := &writer{c: mgr.GetClient(), dyn: dyn, o: o, log: log.WithName("writer")}
		if err := mgr.Add(w); err != nil {
			return nil, fmt.Errorf("adding the simulated writer: %w", err)
		}
	}
	return mgr, nil
}

// sameName maps an object to the request of the same namespace and name
// (a VMI to its VM, a PVC to its DataVolume).
func sameName(_ context.Context, obj client.Object) []reconcile.Request {
	return []reconcile.Request{{NamespacedName: client.ObjectKeyFromObject(obj)}}
}
