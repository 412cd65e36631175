package lab

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	clusterclient "open-cluster-management.io/api/client/cluster/clientset/versioned"
)

// Timeouts of the lab's waits.
const (
	apiserverReadyTimeout = 90 * time.Second
	portReadyTimeout      = 60 * time.Second
	hubSyncTimeout        = 180 * time.Second
	stopGrace             = 10 * time.Second
)

// Lab is a running (or startable) lab: one etcd, a kube-apiserver and a
// kube-controller-manager per cluster (hub and one spoke per plan site), the
// OCM placement controller, Argo CD (repo-server, application-controller,
// applicationset-controller, redis) and a Git server, all local processes on
// 127.0.0.1 that outlive the process that started them.
type Lab struct {
	cfg Config
	log logr.Logger
	mu  sync.Mutex // guards st.Processes and st.save
	st  *state
	pki *pki
	// attached is true for a lab opened with Open: another process may
	// change its state, so queries re-read lab.json.
	attached bool
}

// New validates cfg, fills its defaults and returns a lab that Up can start.
func New(cfg Config) (*Lab, error) {
	if cfg.Dir == "" {
		d, err := defaultDir()
		if err != nil {
			return nil, err
		}
		cfg.Dir = d
	}
	if cfg.BinDir == "" {
		cfg.BinDir = defaultBinDir()
	}
	if cfg.PlanFile == "" {
		cfg.PlanFile = filepath.Join("testdata", "plans", "demo-single.yaml")
	}
	if cfg.RepoDir == "" {
		cfg.RepoDir = filepath.Join("testdata", "repos", "demo")
	}
	if cfg.HubPath == "" {
		cfg.HubPath = "hub/single"
	}
	if cfg.RepoURLPlaceholder == "" {
		cfg.RepoURLPlaceholder = DefaultRepoURLPlaceholder
	}
	if cfg.RepoName == "" {
		cfg.RepoName = DefaultRepoName
	}
	if cfg.Branch == "" {
		cfg.Branch = DefaultBranch
	}
	if len(cfg.KCMControllers) == 0 {
		cfg.KCMControllers = DefaultKCMControllers
	}
	if cfg.Logger.GetSink() == nil {
		cfg.Logger = logr.Discard()
	}
	for _, p := range []*string{&cfg.Dir, &cfg.BinDir, &cfg.PlanFile, &cfg.RepoDir} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			return nil, fmt.Errorf("resolving %s: %w", *p, err)
		}
		*p = abs
	}
	cfg.HubPath = strings.Trim(filepath.ToSlash(cfg.HubPath), "/")
	return &Lab{cfg: cfg, log: cfg.Logger}, nil
}

// Open attaches to the lab recorded in dir ("" = default directory), e.g. to
// stop it or query it from another process than the one that started it.
func Open(dir string, log logr.Logger) (*Lab, error) {
	if dir == "" {
		d, err := defaultDir()
		if err != nil {
			return nil, err
		}
		dir = d
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("resolving %s: %w", dir, err)
	}
	st, err := loadState(abs)
	if err != nil {
		if isNotExist(err) {
			return nil, fmt.Errorf("no lab in %s (run `gitover lab up`): %w", abs, ErrNotRunning)
		}
		return nil, err
	}
	p, err := ensurePKI(abs)
	if err != nil {
		return nil, err
	}
	if log.GetSink() == nil {
		log = logr.Discard()
	}
	return &Lab{cfg: Config{Dir: abs, Logger: log}, log: log, st: st, pki: p, attached: true}, nil
}

// Up starts the lab and returns once the hub Application is Synced and
// Healthy. When the lab in Dir is already running, Up returns nil at once;
// a partly running lab is an error (run Down first). On failure Up stops
// every process it started.
func (l *Lab) Up(ctx context.Context) (err error) {
	start := time.Now()
	unlock, err := lockDir(l.cfg.Dir)
	if err != nil {
		return err
	}
	defer unlock()
	if missing := MissingTools(l.cfg.BinDir); len(missing) > 0 {
		return fmt.Errorf("lab tools missing (run `make tools`): %s", strings.Join(missing, ", "))
	}
	prev, err := loadState(l.cfg.Dir)
	if err != nil && !isNotExist(err) {
		return err
	}
	if prev != nil {
		alive, dead := 0, 0
		for _, p := range prev.Processes {
			if p.Alive() {
				alive++
			} else {
				dead++
			}
		}
		switch {
		case alive > 0 && dead == 0:
			l.st = prev
			if l.pki, err = ensurePKI(l.cfg.Dir); err != nil {
				return err
			}
			l.log.Info("lab already up", "dir", l.cfg.Dir)
			return nil
		case alive > 0:
			return fmt.Errorf("lab in %s is partly running (%d of %d processes): run `gitover lab down` first", l.cfg.Dir, alive, alive+dead)
		}
	}
	if err := l.prepare(prev); err != nil {
		return err
	}
	defer func() {
		if err != nil && l.cfg.KeepOnFailure {
			l.log.Info("lab up failed; processes left running (lab down stops them)", "error", err.Error())
			return
		}
		if err != nil {
			l.log.Info("lab up failed; stopping what was started", "error", err.Error())
			if stopErr := l.stopAll(context.WithoutCancel(ctx)); stopErr != nil {
				err = errors.Join(err, stopErr)
			}
		}
	}()
	if err := l.startAll(ctx); err != nil {
		return err
	}
	if err := l.waitHub(ctx); err != nil {
		return fmt.Errorf("hub Application %s did not sync (see %s): %w", l.st.HubApplication,
			filepath.Join(l.st.Dir, "logs", procAppController+".log"), err)
	}
	if l.cfg.WaitApplications {
		if err := l.waitApplications(ctx); err != nil {
			return err
		}
	}
	l.log.Info("lab up", "dir", l.st.Dir, "took", time.Since(start).Round(time.Millisecond).String())
	return nil
}

// waitHub waits until the hub Application is Synced and Healthy. An
// ApplicationSet created together with its Placement first finds no
// PlacementDecision ("no clusterDecisionResources found", Degraded) and
// retries only at its requeue; like an operator would, waitHub nudges the
// hub's ApplicationSets while the synced hub is not Healthy.
func (l *Lab) waitHub(ctx context.Context) error {
	var lastNudge time.Time
	cond := SyncedAndHealthy("")
	return l.WaitApplication(ctx, l.st.HubApplication, hubSyncTimeout, func(s AppStatus) bool {
		if cond(s) {
			return true
		}
		if s.Sync != "Synced" || s.Health == "Healthy" || time.Since(lastNudge) < 3*time.Second {
			return false
		}
		for _, r := range s.Resources {
			// Argo CD 3 does not persist per-resource health by default:
			// nudge every ApplicationSet of the hub while it is not Healthy.
			if r.Kind == "ApplicationSet" && r.Group == ApplicationSetGVR.Group && r.Namespace == l.st.ArgoCDNamespace {
				lastNudge = time.Now()
				if err := l.NudgeApplicationSet(ctx, r.Name); err != nil {
					l.log.V(1).Info("nudging ApplicationSet failed", "name", r.Name, "error", err.Error())
				} else {
					l.log.V(1).Info("nudged ApplicationSet of the unhealthy hub", "name", r.Name)
				}
			}
		}
		return false
	})
}

// prepare builds the state from the config (reusing the ports of an
// earlier run when they are still free) and creates credentials.
func (l *Lab) prepare(prev *state) error {
	cfg := l.cfg
	pl, err := loadPlan(cfg.PlanFile)
	if err != nil {
		return err
	}
	sets, namespaces, err := pl.clusterSets(cfg.RepoDir)
	if err != nil {
		return err
	}
	if fi, err := os.Stat(filepath.Join(cfg.RepoDir, filepath.FromSlash(cfg.HubPath))); err != nil || !fi.IsDir() {
		return fmt.Errorf("hub folder %s not found in repository fixture %s", cfg.HubPath, cfg.RepoDir)
	}
	helper := cfg.Helper
	if len(helper) == 0 && prev != nil {
		helper = prev.Helper
	}
	st := &state{
		Dir:                 cfg.Dir,
		BinDir:              cfg.BinDir,
		Helper:              helper,
		PlanFile:            cfg.PlanFile,
		RepoDir:             cfg.RepoDir,
		HubPath:             cfg.HubPath,
		RepoName:            cfg.RepoName,
		Branch:              cfg.Branch,
		LabelKey:            pl.LabelKey,
		Sites:               pl.Sites,
		ClusterSets:         sets,
		PlacementNamespaces: namespaces,
		ArgoCDNamespace:     pl.ArgoCDNamespace,
		HubApplication:      pl.HubApplication,
		KCMControllers:      cfg.KCMControllers,
		Ports:               Ports{APIServers: map[string]int{}},
	}
	if err := l.assignPorts(st, prev); err != nil {
		return err
	}
	for _, d := range []string{"logs", "tmp", "run"} {
		if err := os.MkdirAll(filepath.Join(cfg.Dir, d), 0o755); err != nil {
			return fmt.Errorf("creating %s: %w", d, err)
		}
	}
	if err := writeRunScripts(cfg.Dir); err != nil {
		return err
	}
	p, err := ensurePKI(cfg.Dir)
	if err != nil {
		return err
	}
	l.st, l.pki = st, p
	if err := writeKubeconfigs(st, p); err != nil {
		return err
	}
	return l.save()
}

// assignPorts reuses prev's ports when they are free and picks free ones
// otherwise. The Git port must not change once the repository is seeded:
// the repository's ApplicationSets carry its URL.
func (l *Lab) assignPorts(st, prev *state) error {
	var want []*int
	if prev != nil {
		st.Ports = prev.Ports
		st.Ports.APIServers = map[string]int{}
		for k, v := range prev.Ports.APIServers {
			st.Ports.APIServers[k] = v
		}
	}
	for _, c := range st.clusters() {
		if _, ok := st.Ports.APIServers[c]; !ok {
			st.Ports.APIServers[c] = 0
		}
	}
	for _, c := range st.clusters() {
		v := st.Ports.APIServers[c]
		if v == 0 || !portFree(v) {
			want = append(want, nil)
			st.Ports.APIServers[c] = -1
		}
	}
	seeded := false
	if _, err := os.Stat(filepath.Join(st.barePath(), "HEAD")); err == nil {
		seeded = true
	}
	for _, p := range st.Ports.all() {
		if *p == 0 || !portFree(*p) {
			if p == &st.Ports.Git && seeded && *p != 0 {
				return fmt.Errorf("port %d of the lab's Git server is taken, and the seeded repository refers to it: free it or remove %s", *p, l.cfg.Dir)
			}
			want = append(want, p)
		}
	}
	free, err := freePorts(len(want))
	if err != nil {
		return err
	}
	i := 0
	for _, c := range st.clusters() {
		if st.Ports.APIServers[c] == -1 {
			st.Ports.APIServers[c] = free[i]
			i++
		}
	}
	for _, p := range want {
		if p != nil {
			*p = free[i]
			i++
		}
	}
	return nil
}

func (l *Lab) save() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.st.save()
}

// start starts one process and records it in the state.
func (l *Lab) start(spec ProcessSpec) (*Process, error) {
	p, err := startProcess(spec, l.st.Dir, filepath.Join(l.st.Dir, "logs"))
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.st.setProcess(p)
	err = l.st.save()
	l.mu.Unlock()
	if err != nil {
		return p, err
	}
	l.log.V(1).Info("started", "process", spec.Name, "pid", p.PID)
	return p, nil
}

// waitPorts waits until every port of p accepts connections.
func (l *Lab) waitPorts(ctx context.Context, p *Process) error {
	for _, port := range p.Ports {
		err := waitFor(ctx, portReadyTimeout, 50*time.Millisecond, fmt.Sprintf("%s to listen on %d", p.Name, port), func(context.Context) (bool, error) {
			if !p.Alive() {
				return false, fmt.Errorf("%w: %s (see %s)", errProcessExited, p.Name, p.Log)
			}
			return portListening(port), nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// startAll starts etcd, then every apiserver, and then, concurrently as
// each dependency becomes ready: the controller managers (per cluster),
// redis and the Git server, and the hub's objects, placement controller and
// Argo CD; finally the extra processes and the hub Application.
func (l *Lab) startAll(ctx context.Context) error {
	phase := time.Now()
	spec, err := l.etcdSpec()
	if err != nil {
		return err
	}
	etcd, err := l.start(spec)
	if err != nil {
		return err
	}
	if err := l.waitEtcd(ctx, etcd); err != nil {
		return err
	}
	l.log.V(1).Info("etcd ready", "took", time.Since(phase).String())
	apiservers := map[string]*Process{}
	for _, c := range l.st.clusters() {
		p, err := l.start(l.apiserverSpec(c))
		if err != nil {
			return err
		}
		apiservers[c] = p
	}
	ready := map[string]chan struct{}{}
	for _, c := range l.st.clusters() {
		ready[c] = make(chan struct{})
	}
	servicesReady := make(chan struct{})
	g, gctx := errgroup.WithContext(ctx)
	for _, c := range l.st.clusters() {
		g.Go(func() error {
			cfg, err := restConfig(l.st, l.pki, c)
			if err != nil {
				return err
			}
			if err := waitAPIServer(gctx, cfg, apiservers[c], apiserverReadyTimeout); err != nil {
				return err
			}
			l.log.V(1).Info("apiserver ready", "cluster", c, "took", time.Since(phase).String())
			close(ready[c])
			if l.cfg.PrepareCluster != nil {
				if err := l.cfg.PrepareCluster(gctx, l.clusterInfo(c), cfg); err != nil {
					return fmt.Errorf("preparing cluster %s: %w", c, err)
				}
				l.log.V(1).Info("cluster prepared", "cluster", c, "took", time.Since(phase).String())
			}
			_, err = l.start(l.kcmSpec(c))
			return err
		})
	}
	g.Go(func() error {
		if err := l.startServices(gctx); err != nil {
			return err
		}
		l.log.V(1).Info("redis and Git server ready", "took", time.Since(phase).String())
		close(servicesReady)
		return nil
	})
	g.Go(func() error {
		if err := wait(gctx, ready[HubCluster]); err != nil {
			return err
		}
		if err := l.setupHub(gctx); err != nil {
			return err
		}
		l.log.V(1).Info("hub set up", "took", time.Since(phase).String())
		if err := l.startControllers(gctx); err != nil {
			return err
		}
		l.log.V(1).Info("placement controller and Argo CD listening", "took", time.Since(phase).String())
		return nil
	})
	if err := g.Wait(); err != nil {
		return err
	}
	if err := l.startExtras(ctx); err != nil {
		return err
	}
	return l.applyHubApplication(ctx)
}

// wait blocks until ch is closed or ctx ends.
func wait(ctx context.Context, ch <-chan struct{}) error {
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// waitEtcd waits for etcd's /health.
func (l *Lab) waitEtcd(ctx context.Context, p *Process) error {
	url := fmt.Sprintf("http://%s/health", loopback(l.st.Ports.EtcdClient))
	return waitFor(ctx, portReadyTimeout, 50*time.Millisecond, "etcd to be healthy", func(ctx context.Context) (bool, error) {
		if !p.Alive() {
			return false, fmt.Errorf("%w: etcd (see %s)", errProcessExited, p.Log)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false, err
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
}

// startAPIServer starts one cluster's apiserver and waits until it is ready.
func (l *Lab) startAPIServer(ctx context.Context, cluster string) error {
	p, err := l.start(l.apiserverSpec(cluster))
	if err != nil {
		return err
	}
	cfg, err := restConfig(l.st, l.pki, cluster)
	if err != nil {
		return err
	}
	return waitAPIServer(ctx, cfg, p, apiserverReadyTimeout)
}

// startServices starts redis and the Git server (seeding the repository).
func (l *Lab) startServices(ctx context.Context) error {
	redisSpec, err := l.redisSpec()
	if err != nil {
		return err
	}
	redis, err := l.start(redisSpec)
	if err != nil {
		return err
	}
	if err := seedRepository(ctx, l.st, l.cfg.RepoDir, l.cfg.RepoURLPlaceholder); err != nil {
		return err
	}
	gitSpec, err := l.gitServerSpec()
	if err != nil {
		return err
	}
	git, err := l.start(gitSpec)
	if err != nil {
		return err
	}
	if err := l.waitPorts(ctx, redis); err != nil {
		return err
	}
	return l.waitPorts(ctx, git)
}

// setupHub applies the CRDs and objects of the hub and marks the spokes'
// ManagedClusters available (failed ones unavailable).
func (l *Lab) setupHub(ctx context.Context) error {
	cfg, err := restConfig(l.st, l.pki, HubCluster)
	if err != nil {
		return err
	}
	a, err := newApplier(cfg)
	if err != nil {
		return err
	}
	t0 := time.Now()
	if err := l.applyCRDs(ctx, a); err != nil {
		return err
	}
	l.log.V(1).Info("hub CRDs established", "took", time.Since(t0).String())
	objs, err := l.hubObjects()
	if err != nil {
		return err
	}
	for _, o := range objs {
		if err := a.apply(ctx, o); err != nil {
			return fmt.Errorf("setting up the hub: %w", err)
		}
	}
	l.log.V(1).Info("hub objects applied", "took", time.Since(t0).String())
	cc, err := clusterclient.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("building OCM client: %w", err)
	}
	for _, s := range l.st.Sites {
		if err := setClusterAvailable(ctx, cc, s.Name, !l.st.isFailed(s.Name)); err != nil {
			return err
		}
	}
	return nil
}

// startControllers starts the placement controller and Argo CD and waits
// until their ports listen.
func (l *Lab) startControllers(ctx context.Context) error {
	var procs []*Process
	for _, spec := range []ProcessSpec{l.placementSpec(), l.repoServerSpec(), l.appControllerSpec(), l.appSetSpec()} {
		p, err := l.start(spec)
		if err != nil {
			return err
		}
		procs = append(procs, p)
	}
	for _, p := range procs {
		if err := l.waitPorts(ctx, p); err != nil {
			return err
		}
	}
	return nil
}

// startExtras starts Config.ExtraProcesses for every cluster.
func (l *Lab) startExtras(ctx context.Context) error {
	if l.cfg.ExtraProcesses == nil {
		return nil
	}
	var procs []*Process
	for _, c := range l.st.clusters() {
		for _, spec := range l.cfg.ExtraProcesses(l.clusterInfo(c)) {
			if spec.Cluster == "" {
				spec.Cluster = c
			}
			p, err := l.start(spec)
			if err != nil {
				return err
			}
			procs = append(procs, p)
		}
	}
	for _, p := range procs {
		if err := l.waitPorts(ctx, p); err != nil {
			return err
		}
	}
	return nil
}

func (l *Lab) clusterInfo(c string) Cluster {
	info := Cluster{Name: c, Hub: c == HubCluster, Kubeconfig: kubeconfigPath(l.st.Dir, c), Server: l.st.server(c), LabDir: l.st.Dir}
	if info.Hub {
		return info
	}
	for _, s := range l.st.Sites {
		if s.Name != c {
			info.Peers = append(info.Peers, Cluster{Name: s.Name, Kubeconfig: kubeconfigPath(l.st.Dir, s.Name), Server: l.st.server(s.Name), LabDir: l.st.Dir})
		}
	}
	return info
}

// applyHubApplication creates the Application that syncs the hub folder.
func (l *Lab) applyHubApplication(ctx context.Context) error {
	cfg, err := restConfig(l.st, l.pki, HubCluster)
	if err != nil {
		return err
	}
	a, err := newApplier(cfg)
	if err != nil {
		return err
	}
	return a.apply(ctx, l.hubApplication())
}

// Down stops every process of the lab and checks that none is left running
// and no lab port is left listening. The lab directory (etcd data, the Git
// repository, credentials) is kept for the next Up; Purge removes it.
func (l *Lab) Down(ctx context.Context) error {
	unlock, err := lockDir(l.st.Dir)
	if err != nil {
		return err
	}
	defer unlock()
	l.reload()
	return l.stopAll(ctx)
}

// stopAll stops every recorded process (etcd last), then verifies.
func (l *Lab) stopAll(ctx context.Context) error {
	l.mu.Lock()
	procs := append([]*Process(nil), l.st.Processes...)
	l.mu.Unlock()
	var errs []error
	var etcd *Process
	var wg sync.WaitGroup
	var emu sync.Mutex
	for _, p := range procs {
		if p.Name == procEtcd {
			etcd = p
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.stop(ctx, stopGrace); err != nil {
				emu.Lock()
				errs = append(errs, err)
				emu.Unlock()
			}
		}()
	}
	wg.Wait()
	if etcd != nil {
		if err := etcd.stop(ctx, stopGrace); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("stopping the lab: %w", err)
	}
	if left := l.leftovers(procs); len(left) > 0 {
		return fmt.Errorf("stopping the lab: still running or listening: %s", strings.Join(left, ", "))
	}
	l.mu.Lock()
	l.st.Processes = nil
	err := l.st.save()
	l.mu.Unlock()
	if err != nil {
		return err
	}
	l.log.Info("lab down", "dir", l.st.Dir)
	return nil
}

// leftovers lists recorded processes still alive and ports still listening.
func (l *Lab) leftovers(procs []*Process) []string {
	var left []string
	for _, p := range procs {
		if p.Alive() || len(groupMembers(p.PID)) > 0 {
			left = append(left, fmt.Sprintf("%s (pid %d)", p.Name, p.PID))
		}
		for _, port := range p.Ports {
			if portListening(port) {
				left = append(left, fmt.Sprintf("port %d of %s", port, p.Name))
			}
		}
	}
	return left
}

// Purge stops the lab and removes its directory.
func (l *Lab) Purge(ctx context.Context) error {
	if err := l.Down(ctx); err != nil {
		return err
	}
	if err := os.RemoveAll(l.st.Dir); err != nil {
		return fmt.Errorf("removing lab directory %s: %w", l.st.Dir, err)
	}
	return nil
}

// Fail simulates the loss of a spoke: its kube-apiserver stops, and its
// ManagedCluster turns unavailable the way OCM marks a cluster whose agent
// lease lapsed (ManagedClusterConditionAvailable=Unknown, reason
// ManagedClusterLeaseUpdateStopped, taint cluster.open-cluster-management.io/unreachable).
func (l *Lab) Fail(ctx context.Context, cluster string) error {
	unlock, err := lockDir(l.st.Dir)
	if err != nil {
		return err
	}
	defer unlock()
	l.reload()
	if !l.st.isSpoke(cluster) {
		return fmt.Errorf("cannot fail %q: not a spoke of the lab (spokes: %s)", cluster, strings.Join(l.Spokes(), ", "))
	}
	if err := l.requireRunning(); err != nil {
		return err
	}
	if p := l.st.process(apiserverProc(cluster)); p != nil {
		if err := p.stop(ctx, stopGrace); err != nil {
			return fmt.Errorf("failing %s: %w", cluster, err)
		}
	}
	l.mu.Lock()
	l.st.removeProcess(apiserverProc(cluster))
	l.st.setFailed(cluster, true)
	err = l.st.save()
	l.mu.Unlock()
	if err != nil {
		return err
	}
	cc, err := l.ocmClient()
	if err != nil {
		return err
	}
	if err := setClusterAvailable(ctx, cc, cluster, false); err != nil {
		return fmt.Errorf("failing %s: %w", cluster, err)
	}
	l.log.Info("cluster failed", "cluster", cluster)
	return nil
}

// Restore brings a failed spoke back with its data (same etcd prefix, same
// port) and marks its ManagedCluster available again.
func (l *Lab) Restore(ctx context.Context, cluster string) error {
	unlock, err := lockDir(l.st.Dir)
	if err != nil {
		return err
	}
	defer unlock()
	l.reload()
	if !l.st.isSpoke(cluster) {
		return fmt.Errorf("cannot restore %q: not a spoke of the lab (spokes: %s)", cluster, strings.Join(l.Spokes(), ", "))
	}
	if err := l.requireRunning(); err != nil {
		return err
	}
	if p := l.st.process(apiserverProc(cluster)); p == nil || !p.Alive() {
		if err := l.startAPIServer(ctx, cluster); err != nil {
			return fmt.Errorf("restoring %s: %w", cluster, err)
		}
	}
	cc, err := l.ocmClient()
	if err != nil {
		return err
	}
	if err := setClusterAvailable(ctx, cc, cluster, true); err != nil {
		return fmt.Errorf("restoring %s: %w", cluster, err)
	}
	l.mu.Lock()
	l.st.setFailed(cluster, false)
	err = l.st.save()
	l.mu.Unlock()
	if err != nil {
		return err
	}
	l.log.Info("cluster restored", "cluster", cluster)
	return nil
}

// reload re-reads lab.json for a lab attached with Open (the caller holds
// the directory lock).
func (l *Lab) reload() {
	if !l.attached {
		return
	}
	if st, err := loadState(l.st.Dir); err == nil {
		l.mu.Lock()
		l.st = st
		l.mu.Unlock()
	}
}

// requireRunning fails unless etcd and the hub apiserver run.
func (l *Lab) requireRunning() error {
	for _, name := range []string{procEtcd, apiserverProc(HubCluster)} {
		if p := l.st.process(name); p == nil || !p.Alive() {
			return fmt.Errorf("lab in %s: %s is not running: %w", l.st.Dir, name, ErrNotRunning)
		}
	}
	return nil
}

func (l *Lab) ocmClient() (clusterclient.Interface, error) {
	cfg, err := l.RESTConfig(HubCluster)
	if err != nil {
		return nil, err
	}
	cc, err := clusterclient.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("building OCM client: %w", err)
	}
	return cc, nil
}

// Dir is the lab directory.
func (l *Lab) Dir() string { return l.st.Dir }

// Clusters returns hub followed by the spokes.
func (l *Lab) Clusters() []string { return l.st.clusters() }

// Spokes returns the spoke clusters (the plan's sites), e.g. dr1, dr2.
func (l *Lab) Spokes() []string {
	var out []string
	for _, s := range l.st.Sites {
		out = append(out, s.Name)
	}
	return out
}

// Failed returns the spokes currently failed with Fail.
func (l *Lab) Failed() []string { return append([]string(nil), l.st.Failed...) }

// RESTConfig returns an admin rest.Config for a cluster (hub, dr1, ...).
func (l *Lab) RESTConfig(cluster string) (*rest.Config, error) {
	return restConfig(l.st, l.pki, cluster)
}

// Dynamic returns a dynamic client for a cluster.
func (l *Lab) Dynamic(cluster string) (dynamic.Interface, error) {
	cfg, err := l.RESTConfig(cluster)
	if err != nil {
		return nil, err
	}
	d, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("building dynamic client for %s: %w", cluster, err)
	}
	return d, nil
}

// Kubeconfig returns the path of a cluster's admin kubeconfig.
func (l *Lab) Kubeconfig(cluster string) string { return kubeconfigPath(l.st.Dir, cluster) }

// KubeconfigAll returns the path of the kubeconfig with one context per cluster.
func (l *Lab) KubeconfigAll() string { return mergedKubeconfigPath(l.st.Dir) }

// ArgoCDNamespace is where Argo CD's objects live on the hub.
func (l *Lab) ArgoCDNamespace() string { return l.st.ArgoCDNamespace }

// HubApplication is the name of the Application that syncs the hub folder.
func (l *Lab) HubApplication() string { return l.st.HubApplication }

// LabelKey is the ManagedCluster label the plan's Placements select on.
func (l *Lab) LabelKey() string { return l.st.LabelKey }

// Git returns the URL and credentials of the lab's repository.
func (l *Lab) Git() (GitInfo, error) {
	pw, err := gitPassword(l.st.Dir)
	if err != nil {
		return GitInfo{}, err
	}
	return GitInfo{URL: l.st.gitURL(), Username: GitUsername, Password: pw, BarePath: l.st.barePath(), Branch: l.st.Branch}, nil
}

// Env returns the variables `lab env` prints: KUBECONFIG (all clusters,
// current context hub), GITOVER_LAB_DIR, and where to find the Git server.
// The Git password itself is referenced by file, never printed.
func (l *Lab) Env() []string {
	env := []string{
		"GITOVER_LAB_DIR=" + l.st.Dir,
		"KUBECONFIG=" + mergedKubeconfigPath(l.st.Dir),
		"GITOVER_LAB_GIT_URL=" + l.st.gitURL(),
		"GITOVER_LAB_GIT_USERNAME=" + GitUsername,
		"GITOVER_LAB_GIT_PASSWORD_FILE=" + gitPasswordPath(l.st.Dir),
		"GITOVER_LAB_ARGOCD_NAMESPACE=" + l.st.ArgoCDNamespace,
	}
	for _, c := range l.st.clusters() {
		env = append(env, "GITOVER_LAB_KUBECONFIG_"+envName(c)+"="+kubeconfigPath(l.st.Dir, c))
	}
	return env
}

func envName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		}
		return '_'
	}, s)
}

// ProcessStatus is one process in Status.
type ProcessStatus struct {
	Name     string
	Cluster  string
	PID      int
	Alive    bool
	RSSBytes uint64
	Ports    []int
	Log      string
}

// Processes reports every recorded process with its liveness and memory.
func (l *Lab) Processes() []ProcessStatus {
	l.mu.Lock()
	if l.st == nil {
		l.mu.Unlock()
		return nil
	}
	if l.attached {
		if st, err := loadState(l.st.Dir); err == nil {
			l.st = st
		}
	}
	procs := append([]*Process(nil), l.st.Processes...)
	l.mu.Unlock()
	var out []ProcessStatus
	for _, p := range procs {
		out = append(out, ProcessStatus{
			Name: p.Name, Cluster: p.Cluster, PID: p.PID, Alive: p.Alive(),
			RSSBytes: p.rssBytes(), Ports: p.Ports, Log: p.Log,
		})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// MemoryBytes returns the summed resident memory of every lab process and
// its children (git, kustomize spawned by the repo-server included).
// It is safe to call while Up runs (0 before Up starts anything).
func (l *Lab) MemoryBytes() uint64 {
	l.mu.Lock()
	var procs []*Process
	if l.st != nil {
		procs = append(procs, l.st.Processes...)
	}
	l.mu.Unlock()
	var total uint64
	for _, p := range procs {
		total += p.rssBytes()
	}
	return total
}
