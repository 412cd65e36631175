package controllers

import (
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	clusterv1beta1 "open-cluster-management.io/api/cluster/v1beta1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	argov1alpha1 "github.com/gitover/gitover/api/argocd/v1alpha1"
	"github.com/gitover/gitover/api/v1alpha1"
	"github.com/gitover/gitover/gitops/forge/forgesim"
	"github.com/gitover/gitover/gitops/git"
	"github.com/gitover/gitover/internal/gitserver"
	"github.com/gitover/gitover/overlays"
)

// A world is one test's hub: its own namespace, a demo repository (the
// single-ApplicationSet topology of testdata/repos/demo) on a real Git
// smart-HTTP server, a DRPlan, two ManagedClusters (dr1 primary, dr2
// secondary) under a label key of its own (so tests never see each
// other's clusters), the hub Application and the shop ApplicationSet.
//
// Argo CD and the OCM placement controller do not run in envtest, so the
// world plays them — a STAND-IN, not a simulation of their internals — and
// only when nudged the way gitover nudges them: a refresh of the hub
// Application "syncs" the hub folder at the branch head and re-decides the
// Placements; a refresh of the ApplicationSet creates and deletes the
// Applications the decisions call for (never on a cluster that is not
// available); a new or refreshed Application becomes Synced and Healthy at
// the head. With poll > 0 it also acts without nudges every poll, as Argo
// CD's own polling would.
type world struct {
	t        *testing.T
	ns       string
	labelKey string
	bare     string
	url      string
	auth     git.Auth
	plan     *v1alpha1.DRPlan
	clusters map[string]string // site -> ManagedCluster name
	reader   *git.Client
	github   *forgesim.GitHub

	mu      sync.Mutex
	poll    time.Duration
	stopped bool
	acts    map[string]int // what the stand-in did, by kind
}

// worldOptions shape a world.
type worldOptions struct {
	mode       v1alpha1.GitMode
	github     bool // a GitHub simulation as the plan's forge
	verifyFor  time.Duration
	divergence time.Duration
	protect    bool // commit the disk protection before starting
}

const (
	gitUser = "gitover-bot"
	gitPass = "s3cret-pass"
	hubApp  = "hub"
	appSet  = "shop"
)

// newWorld builds a world, converged with dr1 active.
func newWorld(t *testing.T, o worldOptions) *world {
	t.Helper()
	requireEnv(t)
	ctx := background(t)
	id := fmt.Sprintf("%s-%04x", strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")), rand.IntN(1<<16))
	id = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '-'
	}, id)
	if len(id) > 40 {
		id = id[len(id)-40:]
	}
	id = "t" + strings.Trim(id, "-")
	w := &world{t: t, ns: id, labelKey: "role-" + id[max(0, len(id)-20):], acts: map[string]int{},
		clusters: map[string]string{"dr1": id + "-dr1", "dr2": id + "-dr2"}}
	w.labelKey = strings.Trim(w.labelKey, "-")
	require.NoError(t, testClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: w.ns}}))

	// The repository.
	root := t.TempDir()
	var err error
	w.bare, err = gitserver.InitBare(root, "demo.git", "main")
	require.NoError(t, err)
	files := map[string][]byte{}
	src := filepath.Join(repoRoot, "testdata", "repos", "demo")
	require.NoError(t, filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		s := strings.ReplaceAll(string(b), "cluster-role", w.labelKey)
		s = strings.ReplaceAll(s, "namespace: argocd", "namespace: "+w.ns)
		files[filepath.ToSlash(rel)] = []byte(s)
		return nil
	}))
	_, err = gitserver.CommitFiles(ctx, w.bare, "main", files, "seed the demo repository")
	require.NoError(t, err)
	srv, err := gitserver.Start(ctx, root, gitserver.Options{Username: gitUser, Password: gitPass})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	w.url = srv.URL("demo.git")
	w.auth = git.Auth{Username: gitUser, Password: gitPass}
	w.reader, err = git.NewClient(git.Options{CacheDir: t.TempDir()})
	require.NoError(t, err)

	// The plan and its Secret.
	secret := map[string][]byte{"username": []byte(gitUser), "password": []byte(gitPass)}
	if o.github {
		w.github = forgesim.NewGitHub(forgesim.GitHubConfig{})
		t.Cleanup(w.github.Close)
		// GitHub hosts the repository: the simulation knows its branches.
		w.github.OnRequest(func(forgesim.Request) { w.syncBranches() })
		secret[SecretAPIToken] = []byte(w.github.Config().Token)
	}
	require.NoError(t, testClient.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "gitops"}, Data: secret}))
	w.plan = w.newPlan(o)
	require.NoError(t, testClient.Create(ctx, w.plan.DeepCopy()))
	if o.protect {
		w.commitProtection(ctx)
	}

	// The sites.
	for site, name := range w.clusters {
		value := map[string]string{"dr1": "primary", "dr2": "secondary"}[site]
		mc := &clusterv1.ManagedCluster{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{w.labelKey: value}},
			Spec: clusterv1.ManagedClusterSpec{HubAcceptsClient: true}}
		require.NoError(t, testClient.Create(ctx, mc))
		t.Cleanup(func() { _ = testClient.Delete(context.Background(), mc) })
		w.setAvailable(ctx, site, true)
	}

	// Argo CD's objects on the hub.
	require.NoError(t, testClient.Create(ctx, &argov1alpha1.Application{
		ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: hubApp},
		Spec: argov1alpha1.ApplicationSpec{Project: "default",
			Source:      &argov1alpha1.ApplicationSource{RepoURL: w.url, Path: "hub/single", TargetRevision: "main"},
			Destination: argov1alpha1.ApplicationDestination{Server: "https://kubernetes.default.svc", Namespace: w.ns}},
	}))
	gen := int64(30)
	require.NoError(t, testClient.Create(ctx, &argov1alpha1.ApplicationSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: appSet},
		Spec: argov1alpha1.ApplicationSetSpec{
			Generators: []argov1alpha1.ApplicationSetGenerator{{ClusterDecisionResource: &argov1alpha1.DuckTypeGenerator{
				ConfigMapRef: "acm-placement", RequeueAfterSeconds: &gen,
				LabelSelector: metav1.LabelSelector{MatchLabels: map[string]string{clusterv1beta1.PlacementLabel: "shop-placement"}},
			}}},
			Template: argov1alpha1.ApplicationSetTemplate{
				ApplicationSetTemplateMeta: argov1alpha1.ApplicationSetTemplateMeta{Name: "shop-{{name}}"},
				Spec: argov1alpha1.ApplicationSpec{Project: "default",
					Source:      &argov1alpha1.ApplicationSource{RepoURL: w.url, Path: "app/overlays/primary", TargetRevision: "main"},
					Destination: argov1alpha1.ApplicationDestination{Server: "{{server}}", Namespace: "shop"}},
			},
		},
	}))
	// Converged at the start: the stand-in syncs once, as Argo CD would have.
	w.syncHub(ctx)
	w.generate(ctx)
	w.syncApps(ctx, true)
	go w.run(ctx)
	t.Cleanup(func() {
		w.mu.Lock()
		w.stopped = true
		w.mu.Unlock()
	})
	return w
}

// newPlan is the demo-single plan pointed at the world's repository.
func (w *world) newPlan(o worldOptions) *v1alpha1.DRPlan {
	mode := o.mode
	if mode == "" {
		mode = v1alpha1.ModeDirect
	}
	p := &v1alpha1.DRPlan{
		ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "shop"},
		Spec: v1alpha1.DRPlanSpec{
			Clusters: v1alpha1.ClustersSpec{LabelKey: w.labelKey, InactiveValue: "invalid", Sites: []v1alpha1.Site{
				{Name: "dr1", LabelValue: "primary"}, {Name: "dr2", LabelValue: "secondary"}}},
			Placements: []v1alpha1.PlacementRef{{File: "hub/single/placement.yaml", Name: "shop-placement"}},
			ApplicationSets: []v1alpha1.ApplicationSetRef{{File: "hub/single/applicationset.yaml", Name: appSet,
				Overlays: map[string]string{"dr1": "app/overlays/primary", "dr2": "app/overlays/secondary"}}},
			DiskProtection: v1alpha1.DiskProtection{Enabled: true},
			Git: v1alpha1.GitSpec{URL: w.url, Branch: "main", Mode: mode,
				SecretRef: &v1alpha1.LocalObjectReference{Name: "gitops"}},
			ArgoCD: v1alpha1.ArgoCDSpec{Namespace: w.ns, HubApplication: hubApp},
		},
	}
	if o.github {
		p.Spec.Git.Provider = &v1alpha1.GitProvider{Type: "github", APIURL: w.github.URL(), Repository: "acme/gitops"}
	}
	if o.verifyFor > 0 {
		p.Spec.Verification.Timeout = &metav1.Duration{Duration: o.verifyFor}
	}
	if o.divergence > 0 {
		p.Spec.Verification.DivergenceThreshold = &metav1.Duration{Duration: o.divergence}
	}
	return p
}

// commitProtection commits the engine's Protect change, as `gitover
// protect` would.
func (w *world) commitProtection(ctx context.Context) {
	w.t.Helper()
	c, err := git.NewClient(git.Options{CacheDir: w.t.TempDir()})
	require.NoError(w.t, err)
	_, err = c.Apply(ctx, git.Request{URL: w.url, Branch: "main", Auth: w.auth, Replan: func(ctx context.Context, tree fs.FS, _ string) (map[string][]byte, string, error) {
		ch, err := overlays.Plan(ctx, tree, []*v1alpha1.DRPlan{w.plan}, overlays.Request{Action: v1alpha1.ActionProtect})
		if err != nil || ch.Empty() {
			return nil, "", err
		}
		return ch.Files, "protect the disks\n\nGitover-Action: protect\n", nil
	}})
	require.NoError(w.t, err)
}

// head is the branch head of the world's repository.
func (w *world) head() string {
	w.t.Helper()
	h, err := gitserver.Head(context.Background(), w.bare, "main")
	require.NoError(w.t, err)
	return h
}

// commits counts the commits on main whose message contains s.
func (w *world) commits(s string) int {
	w.t.Helper()
	out, err := exec.Command("git", "--git-dir", w.bare, "log", "--format=%H %B%x00", "main").Output()
	require.NoError(w.t, err)
	n := 0
	for _, c := range strings.Split(string(out), "\x00") {
		if strings.Contains(c, s) {
			n++
		}
	}
	return n
}

// setAvailable sets a site's ManagedCluster available or not, the way OCM
// does when the agent's lease lapses (Unknown, NoSelect taint).
func (w *world) setAvailable(ctx context.Context, site string, available bool) {
	w.t.Helper()
	var mc clusterv1.ManagedCluster
	require.NoError(w.t, testClient.Get(ctx, client.ObjectKey{Name: w.clusters[site]}, &mc))
	status := metav1.ConditionTrue
	taints := []clusterv1.Taint(nil)
	if !available {
		status = metav1.ConditionUnknown
		taints = []clusterv1.Taint{{Key: "cluster.open-cluster-management.io/unreachable", Effect: clusterv1.TaintEffectNoSelect, TimeAdded: metav1.Now()}}
	}
	mc.Spec.Taints = taints
	require.NoError(w.t, testClient.Update(ctx, &mc))
	// The agent's lease lapsed a while before OCM noticed: the condition
	// changed some seconds ago.
	meta.SetStatusCondition(&mc.Status.Conditions, metav1.Condition{Type: clusterv1.ManagedClusterConditionAvailable,
		Status: status, Reason: "Test", Message: "set by the test", LastTransitionTime: metav1.NewTime(time.Now().Add(-10 * time.Second))})
	require.NoError(w.t, testClient.Status().Update(ctx, &mc))
}

// lostSince is when a site's ManagedCluster stopped being available.
func (w *world) lostSince(ctx context.Context, site string) time.Time {
	w.t.Helper()
	var mc clusterv1.ManagedCluster
	require.NoError(w.t, testClient.Get(ctx, client.ObjectKey{Name: w.clusters[site]}, &mc))
	return findCondition(mc.Status.Conditions, clusterv1.ManagedClusterConditionAvailable).LastTransitionTime.Time
}

// setPoll makes the stand-in act without nudges every d (0: only when nudged).
func (w *world) setPoll(d time.Duration) {
	w.mu.Lock()
	w.poll = d
	w.mu.Unlock()
}

// did counts what the stand-in did of a kind (hub, appset, app).
func (w *world) did(kind string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.acts[kind]
}

// run plays Argo CD and OCM until the test ends.
func (w *world) run(ctx context.Context) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var lastPoll time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		w.mu.Lock()
		stopped, poll := w.stopped, w.poll
		w.mu.Unlock()
		if stopped {
			return
		}
		polled := poll > 0 && time.Since(lastPoll) >= poll
		if polled {
			lastPoll = time.Now()
		}
		if w.takeNudge(ctx, &argov1alpha1.Application{}, hubApp, argov1alpha1.AnnotationRefresh) || polled {
			w.syncHub(ctx)
		}
		if w.takeNudge(ctx, &argov1alpha1.ApplicationSet{}, appSet, argov1alpha1.AnnotationAppSetRefresh) || polled {
			w.generate(ctx)
		}
		w.syncApps(ctx, polled)
	}
}

// takeNudge removes a nudge annotation from a named object and reports
// whether it was there.
func (w *world) takeNudge(ctx context.Context, obj client.Object, name, key string) bool {
	if err := testClient.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: name}, obj); err != nil {
		return false
	}
	if _, ok := obj.GetAnnotations()[key]; !ok {
		return false
	}
	patch := client.RawPatch("application/merge-patch+json", []byte(fmt.Sprintf(`{"metadata":{"annotations":{%q:null}}}`, key)))
	if testClient.Patch(ctx, obj, patch) != nil {
		return false
	}
	w.mu.Lock()
	w.acts["nudge"]++
	w.mu.Unlock()
	return true
}

// activeSite reads the active site at the branch head.
func (w *world) activeSite(ctx context.Context) (string, string) {
	var site string
	sha, err := w.reader.Snapshot(ctx, git.SnapshotRequest{URL: w.url, Branch: "main", Auth: w.auth}, func(_ context.Context, tree fs.FS, _ string) error {
		s, err := overlays.Inspect(tree, []*v1alpha1.DRPlan{w.plan})
		site = s[w.plan.Name]
		return err
	})
	if err != nil {
		return "", ""
	}
	return site, sha
}

// syncHub plays the hub Application's sync and the placement controller:
// the Placement at the head selects the active site's clusters.
func (w *world) syncHub(ctx context.Context) {
	site, sha := w.activeSite(ctx)
	if sha == "" {
		return
	}
	w.mu.Lock()
	w.acts["hub"]++
	w.mu.Unlock()
	var cls []string
	var list clusterv1.ManagedClusterList
	if err := testClient.List(ctx, &list); err != nil {
		return
	}
	cv := &clusterView{plan: w.plan, byName: map[string]*cluster{}}
	for _, mc := range list.Items {
		cl := &cluster{Name: mc.Name, Site: siteOfValue(w.plan, mc.Labels[w.labelKey])}
		for _, t := range mc.Spec.Taints {
			cl.NoSelect = cl.NoSelect || t.Effect == clusterv1.TaintEffectNoSelect
		}
		cv.byName[mc.Name] = cl
	}
	cls = cv.Selected(selectorValue(w.plan, w.plan.Spec.Placements[0], site))
	w.setDecision(ctx, "shop-placement", cls)
	var hub argov1alpha1.Application
	if err := testClient.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: hubApp}, &hub); err == nil {
		now := metav1.Now()
		hub.Status.Sync = argov1alpha1.SyncStatus{Status: argov1alpha1.SyncStatusSynced, Revision: sha}
		hub.Status.Health = argov1alpha1.HealthStatus{Status: argov1alpha1.HealthHealthy}
		hub.Status.ReconciledAt = &now
		_ = testClient.Update(ctx, &hub)
	}
}

// setDecision writes a Placement's one PlacementDecision.
func (w *world) setDecision(ctx context.Context, placement string, clusters []string) {
	name := placement + "-decision-1"
	var pd clusterv1beta1.PlacementDecision
	err := testClient.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: name}, &pd)
	if apierrors.IsNotFound(err) {
		pd = clusterv1beta1.PlacementDecision{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: name,
			Labels: map[string]string{clusterv1beta1.PlacementLabel: placement}}}
		if err := testClient.Create(ctx, &pd); err != nil {
			return
		}
	} else if err != nil {
		return
	}
	pd.Status.Decisions = nil
	for _, c := range clusters {
		pd.Status.Decisions = append(pd.Status.Decisions, clusterv1beta1.ClusterDecision{ClusterName: c, Reason: "stand-in"})
	}
	_ = testClient.Status().Update(ctx, &pd)
}

// generate plays the ApplicationSet controller: one Application per
// decided cluster, and deletion of the others — except on clusters that
// are not available (Argo CD cannot remove what it cannot reach).
func (w *world) generate(ctx context.Context) {
	w.mu.Lock()
	w.acts["appset"]++
	w.mu.Unlock()
	var as argov1alpha1.ApplicationSet
	if err := testClient.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: appSet}, &as); err != nil {
		return
	}
	want := map[string]bool{}
	var pds clusterv1beta1.PlacementDecisionList
	if err := testClient.List(ctx, &pds, client.InNamespace(w.ns), client.MatchingLabels{clusterv1beta1.PlacementLabel: "shop-placement"}); err != nil {
		return
	}
	for _, pd := range pds.Items {
		for _, d := range pd.Status.Decisions {
			want[d.ClusterName] = true
		}
	}
	var apps argov1alpha1.ApplicationList
	if err := testClient.List(ctx, &apps, client.InNamespace(w.ns)); err != nil {
		return
	}
	have := map[string]bool{}
	for i := range apps.Items {
		app := &apps.Items[i]
		if app.Name == hubApp {
			continue
		}
		c := app.Spec.Destination.Name
		have[c] = true
		if want[c] {
			continue
		}
		var mc clusterv1.ManagedCluster
		if err := testClient.Get(ctx, client.ObjectKey{Name: c}, &mc); err == nil && !availableMC(&mc) {
			continue
		}
		_ = testClient.Delete(ctx, app)
	}
	for c := range want {
		if have[c] {
			continue
		}
		_, site := w.siteOfCluster(c)
		path := map[string]string{"dr1": "app/overlays/primary", "dr2": "app/overlays/secondary"}[site]
		_ = testClient.Create(ctx, &argov1alpha1.Application{
			ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "shop-" + c,
				OwnerReferences: []metav1.OwnerReference{{APIVersion: argov1alpha1.GroupVersion.String(), Kind: "ApplicationSet", Name: appSet, UID: as.UID}}},
			Spec: argov1alpha1.ApplicationSpec{Project: "default",
				Source:      &argov1alpha1.ApplicationSource{RepoURL: w.url, Path: path, TargetRevision: "main"},
				Destination: argov1alpha1.ApplicationDestination{Name: c, Namespace: "shop"}},
		})
	}
}

// siteOfCluster returns a cluster's site.
func (w *world) siteOfCluster(name string) (string, string) {
	for site, c := range w.clusters {
		if c == name {
			return c, site
		}
	}
	return name, ""
}

// availableMC reports ManagedClusterConditionAvailable=True.
func availableMC(mc *clusterv1.ManagedCluster) bool {
	c := findCondition(mc.Status.Conditions, clusterv1.ManagedClusterConditionAvailable)
	return c != nil && c.Status == metav1.ConditionTrue
}

// syncApps plays the application controller: new Applications, refreshed
// ones (and, when polled, all) become Synced and Healthy at the head.
func (w *world) syncApps(ctx context.Context, all bool) {
	var apps argov1alpha1.ApplicationList
	if err := testClient.List(ctx, &apps, client.InNamespace(w.ns)); err != nil {
		return
	}
	for i := range apps.Items {
		app := &apps.Items[i]
		if app.Name == hubApp {
			continue
		}
		_, nudged := app.Annotations[argov1alpha1.AnnotationRefresh]
		if app.Status.Sync.Status != "" && !nudged && !all {
			continue
		}
		_, sha := w.activeSite(ctx)
		if sha == "" {
			return
		}
		delete(app.Annotations, argov1alpha1.AnnotationRefresh)
		now := metav1.Now()
		app.Status.Sync = argov1alpha1.SyncStatus{Status: argov1alpha1.SyncStatusSynced, Revision: sha}
		app.Status.Health = argov1alpha1.HealthStatus{Status: argov1alpha1.HealthHealthy}
		app.Status.ReconciledAt = &now
		if testClient.Update(ctx, app) == nil {
			w.mu.Lock()
			w.acts["app"]++
			w.mu.Unlock()
		}
	}
}

// app returns the Application of the shop on a site, or nil.
func (w *world) app(ctx context.Context, site string) *argov1alpha1.Application {
	var app argov1alpha1.Application
	if err := testClient.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: "shop-" + w.clusters[site]}, &app); err != nil {
		return nil
	}
	return &app
}

// manager is a running controller manager for a test.
type manager struct {
	ctrls  *Controllers
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan error
}

// managerOptions tune startManager.
type managerOptions struct {
	fetchInterval time.Duration
	prPoll        time.Duration
	httpClient    *http.Client
	noNudges      bool
}

// startManager runs the controllers (with a Git cache of their own) until
// the test ends or stop is called. Several managers may run one after the
// other in a test, as a restarted controller would.
func startManager(t *testing.T, cacheDir string, o managerOptions) *manager {
	t.Helper()
	mgr, err := ctrl.NewManager(testCfg, ctrl.Options{
		Scheme:                 NewScheme(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	})
	require.NoError(t, err)
	gc, err := git.NewClient(git.Options{CacheDir: cacheDir})
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	ctx, cancel := context.WithCancel(context.Background())
	if o.fetchInterval == 0 {
		o.fetchInterval = 200 * time.Millisecond
	}
	if o.prPoll == 0 {
		o.prPoll = time.Hour // webhooks only, unless a test asks for polling
	}
	ctrls, err := Setup(ctx, mgr, Options{
		GitClient: gc, GitFetchInterval: o.fetchInterval, PlanResync: 2 * time.Second,
		PRPollInterval: o.prPoll, ConvergePoll: 500 * time.Millisecond, CleanupPoll: 500 * time.Millisecond,
		HTTPClient: o.httpClient, Registerer: reg, DisableNudges: o.noNudges,
	})
	require.NoError(t, err)
	require.NoError(t, mgr.Add(ctrls.Notifier))
	m := &manager{ctrls: ctrls, reg: reg, cancel: cancel, done: make(chan error, 1)}
	go func() { m.done <- mgr.Start(ctx) }()
	t.Cleanup(m.stop)
	return m
}

// stop stops the manager and waits for it.
func (m *manager) stop() {
	if m.cancel == nil {
		return
	}
	m.cancel()
	<-m.done
	m.cancel = nil
}

// gitShow prints a blob of the bare repository.
func gitShow(bare, rev string) (string, error) {
	out, err := exec.Command("git", "--git-dir", bare, "show", rev).Output()
	return string(out), err
}

// newSecretRef is an empty Secret object with a name, for patching.
func newSecretRef(ns, name string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
}

// syncBranches tells the GitHub simulation where every branch of the
// world's repository points.
func (w *world) syncBranches() {
	out, err := exec.Command("git", "--git-dir", w.bare, "for-each-ref", "--format=%(refname:short) %(objectname)", "refs/heads/").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if name, sha, ok := strings.Cut(line, " "); ok {
			w.github.SetBranch(name, sha)
		}
	}
}
