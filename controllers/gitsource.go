package controllers

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gitover/gitover/api/v1alpha1"
	"github.com/gitover/gitover/gitops/git"
	"github.com/gitover/gitover/overlays"
)

// SecretAPIToken is the key of the plan's Git Secret that holds the forge
// API token (see docs/pull-requests.md).
const SecretAPIToken = "apiToken"

// gitSource reads the plans' repositories through the shared clone cache.
// A branch is fetched at most once per interval: reads in between use the
// head last fetched, unless a webhook said the branch moved (Invalidate),
// so a thousand plans in one repository cost one fetch per interval, not a
// thousand.
type gitSource struct {
	client   *git.Client
	interval time.Duration
	now      func() time.Time

	mu      sync.Mutex
	fetched map[string]time.Time // branchKey -> last fetch

	renders sync.Map // repository URL -> *overlays.MemoryRenderCache
}

// newGitSource returns a gitSource fetching each branch at most every interval.
func newGitSource(c *git.Client, interval time.Duration, now func() time.Time) *gitSource {
	return &gitSource{client: c, interval: interval, now: now, fetched: map[string]time.Time{}}
}

// branchKey identifies a branch of a repository.
func branchKey(url, branch string) string { return url + "#" + branch }

// Read calls fn with the tree of branch's head: fetched first when the last
// fetch is older than the interval or was invalidated, as last fetched
// otherwise. It returns the SHA that was read.
func (g *gitSource) Read(ctx context.Context, url, branch string, auth git.Auth, fn git.SnapshotFunc) (string, error) {
	key := branchKey(url, branch)
	g.mu.Lock()
	last, ok := g.fetched[key]
	g.mu.Unlock()
	now := g.now()
	stale := !ok || now.Sub(last) >= g.interval
	sha, err := g.client.Snapshot(ctx, git.SnapshotRequest{URL: url, Branch: branch, Auth: auth, NoFetch: !stale}, fn)
	if err == nil && stale {
		g.mu.Lock()
		g.fetched[key] = now
		g.mu.Unlock()
	}
	return sha, err
}

// ReadCommit calls fn with the tree of one commit of branch, fetching the
// branch only when the cache lacks the commit.
func (g *gitSource) ReadCommit(ctx context.Context, url, branch string, auth git.Auth, sha string, fn git.SnapshotFunc) error {
	_, err := g.client.Snapshot(ctx, git.SnapshotRequest{URL: url, Branch: branch, Auth: auth, Commit: sha}, fn)
	return err
}

// Invalidate makes the next Read of the branch fetch.
func (g *gitSource) Invalidate(url, branch string) {
	g.mu.Lock()
	delete(g.fetched, branchKey(url, branch))
	g.mu.Unlock()
}

// RenderCache returns the render cache of one repository, shared by the
// DRPlan reconciler (whose dry runs warm it) and the Failover reconciler
// (whose real plans then re-render nothing).
func (g *gitSource) RenderCache(url string) overlays.RenderCache {
	c, _ := g.renders.LoadOrStore(url, overlays.NewMemoryRenderCache())
	return c.(*overlays.MemoryRenderCache)
}

// planRepo is where a plan's repository is and how to reach it.
type planRepo struct {
	URL    string
	Branch string
	Auth   git.Auth
	// APIToken authenticates forge API calls (PullRequest mode).
	APIToken string
}

// errNoGitURL says that the plan does not name its repository.
var errNoGitURL = fmt.Errorf("spec.git.url is empty: the controller needs the repository's URL")

// repoOf resolves a plan's repository and credentials, reading the Secret
// named by spec.git.secretRef with the uncached reader (the controller
// never caches or lists Secrets).
func repoOf(ctx context.Context, r client.Reader, plan *v1alpha1.DRPlan) (planRepo, error) {
	g := plan.Spec.Git
	if strings.TrimSpace(g.URL) == "" {
		return planRepo{}, errNoGitURL
	}
	repo := planRepo{URL: g.URL, Branch: g.EffectiveBranch()}
	if g.SecretRef == nil {
		return repo, nil
	}
	var sec corev1.Secret
	key := client.ObjectKey{Namespace: plan.Namespace, Name: g.SecretRef.Name}
	if err := r.Get(ctx, key, &sec); err != nil {
		if apierrors.IsNotFound(err) {
			return repo, fmt.Errorf("%w: the Secret %s named by spec.git.secretRef does not exist", errCredentials, key)
		}
		return repo, fmt.Errorf("reading the Git Secret %s: %w", key, err)
	}
	data := map[string][]byte{}
	for k, v := range sec.Data {
		if k != SecretAPIToken {
			data[k] = v
		}
	}
	auth, err := git.AuthFromSecret(data, g.URL)
	if err != nil {
		return repo, fmt.Errorf("%w: the Secret %s: %w", errCredentials, key, err)
	}
	repo.Auth = auth
	repo.APIToken = strings.TrimSpace(string(sec.Data[SecretAPIToken]))
	return repo, nil
}

// author is the identity of the plan's commits.
func author(plan *v1alpha1.DRPlan) git.Signature {
	if a := plan.Spec.Git.Author; a != nil {
		return git.Signature{Name: a.Name, Email: a.Email}
	}
	return git.Signature{}
}
