package kubeletsim

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	k8sruntime "k8s.io/apimachinery/pkg/runtime"
)

// LoggerName names the simulation's logger.
const LoggerName = "kubelet-simulation"

// Names the simulation puts on the objects it creates (group
// sim.gitover.io, never an upstream API).
const (
	// AnnSimulation marks the Node the simulation registers.
	AnnSimulation = "sim.gitover.io/simulation"
	// SimulationNote is the value of AnnSimulation.
	SimulationNote = "registered by gitover's kubelet simulation (internal/sim/kubeletsim): no container runtime; only gitover's image runs, as local processes"
	// LabelSimulated marks the Node as simulated.
	LabelSimulated = "sim.gitover.io/kubelet"
	// DefaultNodeName is the Node the simulation registers; the KubeVirt
	// simulation reports its VMIs on the same node.
	DefaultNodeName = "sim-node"
	// ContainerIDScheme prefixes the container IDs in Pod status.
	ContainerIDScheme = "gitover-sim://"
)

// Options configure the simulated kubelet of one cluster.
type Options struct {
	// NodeName is the Node registered and every Pod is bound to.
	NodeName string
	// ClusterName names the cluster in logs.
	ClusterName string
	// GitoverBin runs the containers of gitover's image. Default: the
	// running executable.
	GitoverBin string
	// Images are the image repositories (tags and digests ignored) whose
	// containers run as gitover processes. Default DefaultImages.
	Images []string
	// LogDir receives each container run's output, as
	// NAMESPACE_POD_CONTAINER.log. Default $TMPDIR/gitover-kubeletsim/NODE/logs.
	LogDir string
	// WorkDir holds a directory per running Pod (its kubeconfig and token,
	// the processes' working directory). Default $TMPDIR/gitover-kubeletsim/NODE/pods.
	WorkDir string
	// NodeIP is the node's address, also reported as every Pod's IP.
	NodeIP string
	// MaxGracePeriod caps the time a process gets between SIGTERM and
	// SIGKILL when its Pod is deleted.
	MaxGracePeriod time.Duration
	// TokenExpiration is the lifetime of the Pods' service-account tokens.
	TokenExpiration time.Duration
	// RestartBackoff is the first delay before a container restarts (it
	// doubles up to MaxRestartBackoff). The kubelet starts at 10 s; the
	// simulation is quicker.
	RestartBackoff    time.Duration
	MaxRestartBackoff time.Duration
	// ResyncPeriod re-reconciles every Pod periodically.
	ResyncPeriod time.Duration
}

// DefaultOptions are the options of `gitover sim kubelet`.
func DefaultOptions() Options {
	return Options{
		NodeName:          DefaultNodeName,
		Images:            append([]string(nil), DefaultImages...),
		NodeIP:            "127.0.0.1",
		MaxGracePeriod:    30 * time.Second,
		TokenExpiration:   time.Hour,
		RestartBackoff:    time.Second,
		MaxRestartBackoff: 30 * time.Second,
		ResyncPeriod:      5 * time.Minute,
	}
}

// complete fills defaults.
func (o *Options) complete() error {
	d := DefaultOptions()
	if o.NodeName == "" {
		o.NodeName = d.NodeName
	}
	if len(o.Images) == 0 {
		o.Images = d.Images
	}
	if o.NodeIP == "" {
		o.NodeIP = d.NodeIP
	}
	if o.MaxGracePeriod <= 0 {
		o.MaxGracePeriod = d.MaxGracePeriod
	}
	if o.TokenExpiration < 10*time.Minute {
		// The TokenRequest API's minimum.
		o.TokenExpiration = 10 * time.Minute
	}
	if o.RestartBackoff <= 0 {
		o.RestartBackoff = d.RestartBackoff
	}
	if o.MaxRestartBackoff < o.RestartBackoff {
		o.MaxRestartBackoff = o.RestartBackoff
	}
	if o.GitoverBin == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("finding the gitover binary (set --gitover-bin): %w", err)
		}
		o.GitoverBin = exe
	}
	if fi, err := os.Stat(o.GitoverBin); err != nil || fi.IsDir() {
		return fmt.Errorf("the gitover binary %q is not a file", o.GitoverBin)
	}
	base := filepath.Join(os.TempDir(), "gitover-kubeletsim", o.NodeName)
	if o.LogDir == "" {
		o.LogDir = filepath.Join(base, "logs")
	}
	if o.WorkDir == "" {
		o.WorkDir = filepath.Join(base, "pods")
	}
	for _, d := range []string{o.LogDir, o.WorkDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("creating %s: %w", d, err)
		}
	}
	return nil
}

// Kubelet is the running simulation.
type Kubelet struct {
	o      Options
	log    logr.Logger
	server *rest.Config
	c      client.Client // writes go to the apiserver, reads to the cache
	live   client.Reader // uncached reads
	images imageMatcher

	ctx     context.Context // ends when the simulation stops
	mu      sync.Mutex
	workers map[types.UID]*podWorker
	byName  map[types.NamespacedName]types.UID
	wg      sync.WaitGroup
	// unschedulable remembers Pods already reported as not matching the node.
	unschedulable map[types.UID]bool
}

// Run registers the Node and runs the Pods bound to it until ctx ends;
// then it stops every process it started (without reporting it: a
// stopped kubelet does not change Pod statuses).
func Run(ctx context.Context, cfg *rest.Config, o Options, log logr.Logger) error {
	if err := o.complete(); err != nil {
		return err
	}
	log = log.WithName(LoggerName)
	if o.ClusterName == "" {
		o.ClusterName = cfg.Host
	}
	scheme := k8sruntime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	skip := true
	resync := o.ResyncPeriod
	mgrOpts := ctrl.Options{
		Scheme:                 scheme,
		Logger:                 log,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		LeaderElection:         false,
		// Several simulations may run in one test process.
		Controller: config.Controller{SkipNameValidation: &skip},
	}
	if resync > 0 {
		mgrOpts.Cache.SyncPeriod = &resync
	}
	mgr, err := ctrl.NewManager(cfg, mgrOpts)
	if err != nil {
		return fmt.Errorf("creating the kubelet simulation's manager for %s: %w", cfg.Host, err)
	}
	direct, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return fmt.Errorf("building a client for %s: %w", cfg.Host, err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	k := &Kubelet{
		o: o, log: log, server: rest.CopyConfig(cfg), c: mgr.GetClient(), live: mgr.GetAPIReader(),
		images: newImageMatcher(o.Images), ctx: runCtx,
		workers: map[types.UID]*podWorker{}, byName: map[types.NamespacedName]types.UID{},
		unschedulable: map[types.UID]bool{},
	}
	if err := k.registerNode(ctx, direct); err != nil {
		if ctx.Err() != nil {
			return nil // stopped while starting
		}
		return err
	}
	err = ctrl.NewControllerManagedBy(mgr).Named("sim-kubelet-pods").
		For(&corev1.Pod{}).
		WithOptions(controller.Options{MaxConcurrentReconciles: 4}).
		Complete(&podReconciler{k: k})
	if err != nil {
		return fmt.Errorf("setting up the kubelet simulation: %w", err)
	}
	log.Info("kubelet simulation starting (a simulation: no container runtime; only gitover's image runs, as local processes)",
		"cluster", o.ClusterName, "node", o.NodeName, "gitover", o.GitoverBin, "images", o.Images, "logs", o.LogDir)
	err = mgr.Start(runCtx)
	cancel()
	k.wg.Wait() // every worker stops its processes on runCtx
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("running the kubelet simulation on %s: %w", o.ClusterName, err)
	}
	log.Info("kubelet simulation stopped", "cluster", o.ClusterName)
	return nil
}

// nodeResources is what the simulated node offers.
func nodeResources() corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse("8"),
		corev1.ResourceMemory:           resource.MustParse("32Gi"),
		corev1.ResourcePods:             resource.MustParse("110"),
		corev1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
	}
}

// registerNode creates (or updates) the Node and reports it Ready.
func (k *Kubelet) registerNode(ctx context.Context, c client.Client) error {
	name := k.o.NodeName
	labels := map[string]string{
		"kubernetes.io/hostname": name,
		"kubernetes.io/os":       "linux",
		"kubernetes.io/arch":     runtime.GOARCH,
		LabelSimulated:           "true",
	}
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		node := &corev1.Node{}
		err := c.Get(ctx, types.NamespacedName{Name: name}, node)
		switch {
		case apierrors.IsNotFound(err):
			node = &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, Annotations: map[string]string{AnnSimulation: SimulationNote}}}
			if err := c.Create(ctx, node); err != nil {
				return err
			}
		case err != nil:
			return err
		default:
			if node.Labels == nil {
				node.Labels = map[string]string{}
			}
			if node.Annotations == nil {
				node.Annotations = map[string]string{}
			}
			for k, v := range labels {
				node.Labels[k] = v
			}
			node.Annotations[AnnSimulation] = SimulationNote
			if err := c.Update(ctx, node); err != nil {
				return err
			}
		}
		now := metav1.Now()
		cond := func(t corev1.NodeConditionType, s corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
			return corev1.NodeCondition{Type: t, Status: s, Reason: reason, Message: msg, LastHeartbeatTime: now, LastTransitionTime: now}
		}
		node.Status = corev1.NodeStatus{
			Capacity:    nodeResources(),
			Allocatable: nodeResources(),
			Phase:       corev1.NodeRunning,
			Conditions: []corev1.NodeCondition{
				cond(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "simulated kubelet (gitover internal/sim/kubeletsim) is posting ready status"),
				cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "simulated"),
				cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "simulated"),
				cond(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "simulated"),
			},
			Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: k.o.NodeIP}, {Type: corev1.NodeHostName, Address: name}},
			NodeInfo: corev1.NodeSystemInfo{
				OperatingSystem: "linux", Architecture: runtime.GOARCH,
				KubeletVersion: "v0.0.0-gitover-simulation", ContainerRuntimeVersion: "none://gitover-simulation",
			},
		}
		return c.Status().Update(ctx, node)
	})
	if err != nil {
		return fmt.Errorf("registering the simulated node %s: %w", name, err)
	}
	k.log.Info("node registered and Ready (simulated)", "node", name)
	return nil
}

// nodeLabels are the labels a Pod's nodeSelector is matched against.
func (k *Kubelet) nodeLabels() map[string]string {
	return map[string]string{
		"kubernetes.io/hostname": k.o.NodeName,
		"kubernetes.io/os":       "linux",
		"kubernetes.io/arch":     runtime.GOARCH,
		LabelSimulated:           "true",
	}
}
