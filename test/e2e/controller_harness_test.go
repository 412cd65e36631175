//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/yaml"

	"github.com/gitover/gitover/api/v1alpha1"
	"github.com/gitover/gitover/controllers"
	"github.com/gitover/gitover/gitops/commitmsg"
	"github.com/gitover/gitover/gitops/forge/forgesim"
	"github.com/gitover/gitover/gitops/webhook"
	"github.com/gitover/gitover/internal/lab"
)

// controllerHarness runs `gitover controller` as a process against a lab's
// hub, with the mini fixture's DRPlan pointed at the lab's Git server, and
// a GitHub SIMULATION (gitops/forge/forgesim) standing in for the forge of
// that repository: the lab's Git server is not a forge. Merging a pull
// request in the simulation also lands a merge commit in the lab's
// repository, and the harness delivers the signed pull_request webhook to
// the controller, as GitHub would.
type controllerHarness struct {
	t       testing.TB
	l       *lab.Lab
	git     lab.GitInfo
	hub     client.Client
	ns      string
	plan    string
	github  *forgesim.GitHub
	secret  string // the GitHub webhook secret
	dir     string
	webhook string // host:port of the receiver
	metrics string // host:port of /metrics
	probe   string // host:port of /readyz
	proc    *exec.Cmd
	exited  chan struct{}
	logPath string
	runs    int
}

// newControllerHarness creates the plan, its Secret and the simulation.
func newControllerHarness(ctx context.Context, t testing.TB, l *lab.Lab) *controllerHarness {
	t.Helper()
	if len(helper) != 2 || helper[1] != "lab" {
		t.Fatalf("the e2e helper binary is not cmd/gitover (it is %v): `gitover controller` is needed", helper)
	}
	ctrllog.SetLogger(testLogger(t))
	cfg, err := l.RESTConfig(lab.HubCluster)
	require.NoError(t, err)
	installCRDs(ctx, t, cfg)
	hub, err := client.New(cfg, client.Options{Scheme: controllers.NewScheme()})
	require.NoError(t, err)
	info, err := l.Git()
	require.NoError(t, err)
	h := &controllerHarness{t: t, l: l, git: info, hub: hub, ns: l.ArgoCDNamespace(), dir: t.TempDir(), secret: randomHex(16)}
	h.github = forgesim.NewGitHub(forgesim.GitHubConfig{Owner: "acme", Repo: "gitops"})
	t.Cleanup(h.github.Close)
	// GitHub hosts the repository: the simulation learns its branches from it.
	h.github.OnRequest(func(forgesim.Request) { h.syncBranches() })

	data, err := os.ReadFile(filepath.Join(repoRoot, miniPlan))
	require.NoError(t, err)
	var plan v1alpha1.DRPlan
	require.NoError(t, yaml.Unmarshal(data, &plan))
	plan.Namespace = h.ns
	plan.Spec.Git = v1alpha1.GitSpec{URL: info.URL, Branch: info.Branch, Mode: v1alpha1.ModeDirect,
		SecretRef: &v1alpha1.LocalObjectReference{Name: "gitover-git"},
		Provider:  &v1alpha1.GitProvider{Type: "github", APIURL: h.github.URL(), Repository: "acme/gitops"}}
	plan.Spec.ArgoCD.HubApplication = l.HubApplication()
	plan.Spec.Verification.Timeout = &metav1.Duration{Duration: 5 * time.Minute}
	h.plan = plan.Name
	require.NoError(t, client.IgnoreAlreadyExists(hub.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "gitover-git"},
		StringData: map[string]string{"username": info.Username, "password": info.Password, controllers.SecretAPIToken: h.github.Config().Token},
	})))
	require.NoError(t, client.IgnoreAlreadyExists(hub.Create(ctx, &plan)))
	require.NoError(t, os.WriteFile(filepath.Join(h.dir, "github-secret"), []byte(h.secret), 0o600))
	h.webhook, h.metrics, h.probe = freeAddr(t), freeAddr(t), freeAddr(t)
	t.Cleanup(h.stop)
	return h
}

// installCRDs creates gitover's CRDs (deploy/crds) on the hub, as the
// install does, and waits until they are served.
func installCRDs(ctx context.Context, t testing.TB, cfg *rest.Config) {
	t.Helper()
	cs, err := apiextensionsclient.NewForConfig(cfg)
	require.NoError(t, err)
	files, err := filepath.Glob(filepath.Join(repoRoot, "deploy", "crds", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		var crd apiextensionsv1.CustomResourceDefinition
		require.NoError(t, yaml.Unmarshal(data, &crd))
		_, err = cs.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, &crd, metav1.CreateOptions{})
		require.NoError(t, client.IgnoreAlreadyExists(err))
		require.Eventually(t, func() bool {
			got, err := cs.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, crd.Name, metav1.GetOptions{})
			if err != nil {
				return false
			}
			for _, c := range got.Status.Conditions {
				if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
					return true
				}
			}
			return false
		}, time.Minute, 50*time.Millisecond, "CRD %s established", crd.Name)
	}
}

// start runs the controller process (extra flags appended) and waits
// until it is ready.
func (h *controllerHarness) start(ctx context.Context, extra ...string) {
	h.t.Helper()
	h.runs++
	h.logPath = filepath.Join(h.dir, fmt.Sprintf("controller-%d.log", h.runs))
	logf, err := os.Create(h.logPath)
	require.NoError(h.t, err)
	args := append([]string{"controller",
		"--kubeconfig", h.l.Kubeconfig(lab.HubCluster),
		"--metrics-bind-address", h.metrics,
		"--health-probe-bind-address", h.probe,
		"--webhook-bind-address", h.webhook,
		"--webhook-github-secret-file", filepath.Join(h.dir, "github-secret"),
		"--git-cache-dir", filepath.Join(h.dir, "git-cache"),
		"--git-fetch-interval", "5s",
		"--pr-poll-interval", "1h", // the webhook, or the first read after a restart
		"--zap-log-level", "info",
	}, extra...)
	cmd := exec.Command(helper[0], args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(h.t, cmd.Start())
	h.proc, h.exited = cmd, make(chan struct{})
	go func(exited chan struct{}) { _ = cmd.Wait(); _ = logf.Close(); close(exited) }(h.exited)
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get("http://" + h.probe + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-h.exited:
			h.t.Fatalf("the controller exited at start:\n%s", h.logTail())
		default:
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("the controller is not ready after a minute:\n%s", h.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The webhook receiver runs once the manager is leader (at once, with
	// leader election off).
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", h.webhook, 100*time.Millisecond); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	h.t.Fatalf("the webhook receiver does not listen:\n%s", h.logTail())
}

// kill stops the controller the hard way (SIGKILL), as a crash would.
func (h *controllerHarness) kill() {
	if h.proc == nil {
		return
	}
	_ = syscall.Kill(-h.proc.Process.Pid, syscall.SIGKILL)
	<-h.exited
	h.proc = nil
}

// stop stops the controller gracefully.
func (h *controllerHarness) stop() {
	if h.proc == nil {
		return
	}
	_ = syscall.Kill(-h.proc.Process.Pid, syscall.SIGTERM)
	select {
	case <-h.exited:
	case <-time.After(20 * time.Second):
		_ = syscall.Kill(-h.proc.Process.Pid, syscall.SIGKILL)
		<-h.exited
	}
	if tt, ok := h.t.(*testing.T); ok && tt.Failed() {
		h.t.Logf("controller log (%s):\n%s", h.logPath, h.logTail())
	}
	h.proc = nil
}

// logTail is the end of the controller's log.
func (h *controllerHarness) logTail() string {
	b, _ := os.ReadFile(h.logPath)
	if len(b) > 12000 {
		b = b[len(b)-12000:]
	}
	return string(b)
}

// request creates a Failover.
func (h *controllerHarness) request(ctx context.Context, name string, action v1alpha1.Action, target string, mode v1alpha1.GitMode) {
	h.t.Helper()
	require.NoError(h.t, h.hub.Create(ctx, &v1alpha1.Failover{
		ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: name},
		Spec:       v1alpha1.FailoverSpec{PlanRef: v1alpha1.LocalObjectReference{Name: h.plan}, Action: action, TargetSite: target, Mode: mode},
	}))
}

// failover reads a Failover.
func (h *controllerHarness) failover(ctx context.Context, name string) *v1alpha1.Failover {
	h.t.Helper()
	var fo v1alpha1.Failover
	require.NoError(h.t, h.hub.Get(ctx, client.ObjectKey{Namespace: h.ns, Name: name}, &fo))
	return &fo
}

// waitPhase waits until the Failover reaches one of phases (or ends).
func (h *controllerHarness) waitPhase(ctx context.Context, name string, timeout time.Duration, phases ...v1alpha1.FailoverPhase) *v1alpha1.Failover {
	h.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		fo := h.failover(ctx, name)
		for _, p := range phases {
			if fo.Status.Phase == p {
				return fo
			}
		}
		if fo.Status.Phase == v1alpha1.PhaseSucceeded || fo.Status.Phase == v1alpha1.PhaseFailed || time.Now().After(deadline) {
			h.t.Fatalf("Failover %s: want %v, have %s after %s; steps: %s\ncontroller log:\n%s", name, phases, fo.Status.Phase, timeout, steps(fo), h.logTail())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// steps renders a Failover's steps.
func steps(fo *v1alpha1.Failover) string {
	var parts []string
	for _, s := range fo.Status.Steps {
		took := "running"
		if s.FinishedAt != nil {
			took = s.FinishedAt.Sub(s.StartedAt.Time).Round(time.Millisecond).String()
		}
		parts = append(parts, fmt.Sprintf("%s=%s (%s) %s", s.Name, s.State, took, s.Message))
	}
	return strings.Join(parts, "\n  ")
}

// opCommits counts the commits reachable from the branch that carry the
// Failover's Gitover-Operation trailer.
func (h *controllerHarness) opCommits(fo *v1alpha1.Failover) int {
	h.t.Helper()
	out, err := exec.Command("git", "--git-dir", h.git.BarePath, "log", "--format=%B%x00", h.git.Branch).Output()
	require.NoError(h.t, err)
	want := commitmsg.TrailerOperation + ": " + fo.Namespace + "/" + fo.Name + "/" + string(fo.UID)
	return strings.Count(string(out), want)
}

// pullsFor returns the simulation's pull requests from a branch.
func (h *controllerHarness) pullsFor(branch string) []forgesim.GitHubPull {
	var out []forgesim.GitHubPull
	for _, p := range h.github.Pulls() {
		if p.Head == branch {
			out = append(out, p)
		}
	}
	return out
}

// syncBranches tells the simulation where the lab repository's branches point.
func (h *controllerHarness) syncBranches() {
	out, err := exec.Command("git", "--git-dir", h.git.BarePath, "for-each-ref", "--format=%(refname:short) %(objectname)", "refs/heads/").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if name, sha, ok := strings.Cut(line, " "); ok {
			h.github.SetBranch(name, sha)
		}
	}
}

// merge merges a pull request as a reviewer on GitHub would: a merge
// commit of the proposal branch lands on the lab repository's branch and
// the simulation records the merge. It returns the merge commit.
func (h *controllerHarness) merge(pr forgesim.GitHubPull) string {
	h.t.Helper()
	git := func(args ...string) string {
		out, err := exec.Command("git", append([]string{"--git-dir", h.git.BarePath}, args...)...).CombinedOutput()
		require.NoError(h.t, err, "git %v: %s", args, out)
		return strings.TrimSpace(string(out))
	}
	base, head := git("rev-parse", "refs/heads/"+pr.Base), git("rev-parse", "refs/heads/"+pr.Head)
	merge := git("-c", "user.name=Reviewer", "-c", "user.email=reviewer@example.com", "commit-tree", head+"^{tree}",
		"-p", base, "-p", head, "-m", fmt.Sprintf("Merge pull request #%d from acme/%s", pr.Number, pr.Head))
	git("update-ref", "refs/heads/"+pr.Base, merge, base)
	require.NoError(h.t, h.github.Merge(pr.Number, merge))
	return merge
}

// deliverMerged sends GitHub's signed pull_request (closed, merged)
// webhook to the controller and returns the HTTP status.
func (h *controllerHarness) deliverMerged(pr forgesim.GitHubPull, merge string) (int, error) {
	payload := map[string]any{
		"action": "closed",
		"number": pr.Number,
		"pull_request": map[string]any{
			"number": pr.Number, "title": pr.Title, "body": pr.Body, "state": "closed",
			"merged": true, "merge_commit_sha": merge,
			"head": map[string]any{"ref": pr.Head, "sha": pr.HeadSHA},
			"base": map[string]any{"ref": pr.Base, "sha": merge},
		},
		"repository": map[string]any{"full_name": "acme/gitops", "clone_url": "https://github.com/acme/gitops.git",
			"ssh_url": "git@github.com:acme/gitops.git", "html_url": "https://github.com/acme/gitops"},
		"sender": map[string]any{"login": "reviewer"},
	}
	body, err := json.Marshal(payload)
	if err != nil {
		return 0, err
	}
	if _, err := webhook.ParseGitHub("pull_request", body); err != nil {
		return 0, fmt.Errorf("the test's payload does not parse: %w", err)
	}
	mac := hmac.New(sha256.New, []byte(h.secret))
	mac.Write(body)
	req, err := http.NewRequest(http.MethodPost, "http://"+h.webhook+webhook.GitHubPath, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "pull_request")
	req.Header.Set("X-GitHub-Delivery", randomHex(16))
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// verifyLab checks the end state in the lab itself: the target's
// Application Synced and Healthy, the source's gone, the decision on the
// target.
func (h *controllerHarness) verifyLab(ctx context.Context, fo *v1alpha1.Failover) {
	h.t.Helper()
	target, source := "mini-"+fo.Spec.TargetSite, "mini-"+fo.Status.SourceSite
	st, err := h.l.Application(ctx, target)
	require.NoError(h.t, err)
	require.True(h.t, st.Exists, "%s exists", target)
	require.Equal(h.t, "Synced", st.Sync, target)
	require.Equal(h.t, "Healthy", st.Health, target)
	got, err := h.l.PlacementDecisions(ctx, h.ns, "mini-placement")
	require.NoError(h.t, err)
	require.Equal(h.t, []string{fo.Spec.TargetSite}, got)
	if !contains(h.l.Failed(), fo.Status.SourceSite) {
		st, err = h.l.Application(ctx, source)
		require.NoError(h.t, err)
		require.False(h.t, st.Exists, "%s is gone", source)
	}
}

// logRun reports a Failover's steps, timeline and RTO.
func (h *controllerHarness) logRun(fo *v1alpha1.Failover) {
	h.t.Helper()
	r := fo.Status.RTO
	if r != nil && r.Total != nil {
		h.t.Logf("%s %s→%s: RTO %s (detect %s, switch %s, appDeploy %s)\n  %s", fo.Name, fo.Status.SourceSite, fo.Spec.TargetSite,
			r.Total.Duration.Round(time.Millisecond), r.Detect.Duration.Round(time.Millisecond), r.Switch.Duration.Round(time.Millisecond),
			r.AppDeploy.Duration.Round(time.Millisecond), steps(fo))
	}
}

// freeAddr returns a free loopback host:port.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// randomHex is n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// contains reports whether list holds s.
func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
