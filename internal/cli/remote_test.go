package cli

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gitover/gitover/gitops/forge/forgesim"
	"github.com/gitover/gitover/gitops/git"
	"github.com/gitover/gitover/internal/gitserver"
)

// remoteRepo is a real smart-HTTP Git server (git http-backend) with basic
// auth, serving one repository seeded with a fixture.
type remoteRepo struct {
	srv      *gitserver.Server
	bare     string
	url      string
	passFile string
}

func newRemoteRepo(t *testing.T, fixture string, opts gitserver.Options) *remoteRepo {
	t.Helper()
	ctx := context.Background()
	root := t.TempDir()
	bare, err := gitserver.InitBare(root, "demo.git", "main")
	require.NoError(t, err)
	files := map[string][]byte{}
	require.NoError(t, fs.WalkDir(os.DirFS(fixture), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(filepath.Join(fixture, p))
		files[p] = b
		return err
	}))
	_, err = gitserver.CommitFiles(ctx, bare, "main", files, "initial")
	require.NoError(t, err)
	opts.Username, opts.Password = "ops", "s3cret-pass"
	srv, err := gitserver.Start(ctx, root, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	pass := filepath.Join(t.TempDir(), "password")
	require.NoError(t, os.WriteFile(pass, []byte("s3cret-pass\n"), 0o600))
	return &remoteRepo{srv: srv, bare: bare, url: srv.URL("demo.git"), passFile: pass}
}

// log returns the remote branch's commit subjects, newest first.
func (r *remoteRepo) log(t *testing.T, branch string) []string {
	t.Helper()
	out := runGit(t, r.bare, "log", "--format=%s", branch)
	return strings.Split(out, "\n")
}

func (r *remoteRepo) args(t *testing.T, extra ...string) []string {
	return append([]string{"--plan", seedPlan, "--repo", r.url, "--git-username", "ops", "--git-password-file", r.passFile, "--git-cache", t.TempDir()}, extra...)
}

func TestPushToRemoteURL(t *testing.T) {
	r := newRemoteRepo(t, seedRepo, gitserver.Options{})
	out, _, err := gitover(t, append([]string{"failover"}, r.args(t, "--to", "dr2")...)...)
	require.NoError(t, err, out)
	assert.Contains(t, out, "pushed to "+r.url+" main after 1 attempt(s)")
	assert.Equal(t, []string{"gitover: failover elasticsearch-demo-app to dr2", "initial"}, r.log(t, "main"))
	assert.Equal(t, []string{"dr2"}, git.ParseTrailers(runGit(t, r.bare, "log", "-1", "--format=%B", "main"))[git.TrailerTarget])
	assert.Equal(t, lastLine(out), runGit(t, r.bare, "rev-parse", "main"))

	out, _, err = gitover(t, append([]string{"failover"}, r.args(t, "--to", "dr2")...)...)
	require.NoError(t, err)
	assert.Contains(t, out, "already active on dr2; nothing to push")
	assert.Len(t, r.log(t, "main"), 2, "no second commit")
}

func TestPushRaceReplansOnTheNewHead(t *testing.T) {
	var once sync.Once
	var r *remoteRepo
	r = newRemoteRepo(t, seedRepo, gitserver.Options{BeforeReceivePack: func(string) {
		once.Do(func() {
			_, err := gitserver.CommitFiles(context.Background(), r.bare, "main", map[string][]byte{"NOTES.md": []byte("someone else\n")}, "a colleague's commit")
			require.NoError(t, err)
		})
	}})
	out, _, err := gitover(t, append([]string{"failover"}, r.args(t, "--to", "dr2")...)...)
	require.NoError(t, err, out)
	assert.Contains(t, out, "after 2 attempt(s)")
	assert.Equal(t, []string{"gitover: failover elasticsearch-demo-app to dr2", "a colleague's commit", "initial"}, r.log(t, "main"),
		"the colleague's commit is kept and the failover is re-planned on top of it")
}

func TestPushWithWrongPasswordChangesNothing(t *testing.T) {
	r := newRemoteRepo(t, seedRepo, gitserver.Options{})
	before := runGit(t, r.bare, "rev-parse", "main")
	require.NoError(t, os.WriteFile(r.passFile, []byte("wrong"), 0o600))
	_, _, err := gitover(t, append([]string{"failover"}, r.args(t, "--to", "dr2")...)...)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "authentication")
	assert.NotContains(t, err.Error(), "wrong")
	assert.Equal(t, before, runGit(t, r.bare, "rev-parse", "main"))
}

func TestPushFromLocalClone(t *testing.T) {
	r := newRemoteRepo(t, seedRepo, gitserver.Options{})
	dir := filepath.Join(t.TempDir(), "clone")
	authURL := strings.Replace(r.url, "http://", "http://ops:s3cret-pass@", 1)
	runGit(t, t.TempDir(), "clone", "-q", authURL, dir)
	runGit(t, dir, "remote", "set-url", "origin", r.url)
	out, _, err := gitover(t, "failover", "--plan", seedPlan, "--repo", dir, "--push", "--to", "dr2",
		"--git-username", "ops", "--git-password-file", r.passFile, "--git-cache", t.TempDir())
	require.NoError(t, err, out)
	assert.Contains(t, out, "git pull to update")
	assert.Len(t, r.log(t, "main"), 2)
}

func TestPullRequestIsOpenedOnceAndWaitedFor(t *testing.T) {
	r := newRemoteRepo(t, seedRepo, gitserver.Options{})
	sim := githubFor(t, r) // simulation of the GitHub REST API over the real repository
	token := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(token, []byte(sim.Config().Token), 0o600))
	pr := r.args(t, "--to", "dr2", "--pull-request", "--forge", "github", "--forge-api-url", sim.URL(),
		"--forge-repository", "acme/gitops", "--forge-token-file", token)

	out, _, err := gitover(t, append([]string{"failover"}, pr...)...)
	require.NoError(t, err, out)
	assert.Contains(t, out, "opened GitHub request #1")
	pulls := sim.Pulls()
	require.Len(t, pulls, 1)
	assert.Equal(t, "main", pulls[0].Base)
	assert.True(t, strings.HasPrefix(pulls[0].Head, "gitover/elasticsearch-demo-app/failover-dr2-"), pulls[0].Head)
	assert.Contains(t, pulls[0].Body, "<!-- gitover:")
	assert.Equal(t, []string{"initial"}, r.log(t, "main"), "main is untouched until the merge")
	assert.Equal(t, "gitover: failover elasticsearch-demo-app to dr2", r.log(t, pulls[0].Head)[0])

	// Again: the open request is adopted, not duplicated; then wait for its merge.
	done := make(chan struct{})
	var waitOut string
	var waitErr error
	go func() {
		defer close(done)
		waitOut, _, waitErr = gitover(t, append([]string{"failover"}, append(pr, "--wait", "--poll-interval", "50ms")...)...)
	}()
	require.Eventually(t, func() bool { return len(sim.Requests()) > 0 && strings.Contains(lastRequestPaths(sim), "/pulls/1") }, 20*time.Second, 20*time.Millisecond)
	require.NoError(t, sim.Merge(1, "0123456789abcdef0123456789abcdef01234567"))
	<-done
	require.NoError(t, waitErr, waitOut)
	assert.Contains(t, waitOut, "found the existing GitHub request #1")
	assert.Contains(t, waitOut, "merged as 0123456789abcdef0123456789abcdef01234567")
	assert.Len(t, sim.Pulls(), 1)
}

func TestPullRequestClosedUnmergedFails(t *testing.T) {
	r := newRemoteRepo(t, seedRepo, gitserver.Options{})
	sim := githubFor(t, r) // simulation of the GitHub REST API over the real repository
	token := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(token, []byte(sim.Config().Token), 0o600))
	done := make(chan error)
	go func() {
		_, _, err := gitover(t, append([]string{"failover"}, r.args(t, "--to", "dr2", "--pull-request", "--wait", "--poll-interval", "50ms",
			"--forge", "github", "--forge-api-url", sim.URL(), "--forge-repository", "acme/gitops", "--forge-token-file", token)...)...)
		done <- err
	}()
	require.Eventually(t, func() bool { return len(sim.Pulls()) == 1 }, 20*time.Second, 20*time.Millisecond)
	require.NoError(t, sim.ClosePull(sim.Pulls()[0].Number))
	err := <-done
	require.Error(t, err)
	assert.Contains(t, err.Error(), "closed without being merged")
}

func lastRequestPaths(sim *forgesim.GitHub) string {
	var b strings.Builder
	for _, r := range sim.Requests() {
		b.WriteString(r.Path + "\n")
	}
	return b.String()
}

// githubFor starts the GitHub simulation in front of a real repository: it
// sees the branches the CLI pushes there.
func githubFor(t *testing.T, r *remoteRepo) *forgesim.GitHub {
	t.Helper()
	sim := forgesim.NewGitHub(forgesim.GitHubConfig{LookupBranch: func(name string) (string, bool) {
		sha, err := gitserver.Head(context.Background(), r.bare, name)
		return sha, err == nil && sha != ""
	}})
	t.Cleanup(sim.Close)
	return sim
}
