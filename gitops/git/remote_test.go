package git

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gitover/gitover/internal/gitserver"
)

const (
	testUser = "gitover-bot"
	testPass = "correct-horse-battery"
)

// remote is a bare repository behind a real smart-HTTP server with basic auth.
type remote struct {
	srv  *gitserver.Server
	bare string
	url  string
	// hooks a test may set; called by the server.
	beforeReceive atomic.Pointer[func()]
	beforeAdvert  atomic.Pointer[func(service string)]
	receives      atomic.Int32
}

func newRemote(t *testing.T) *remote {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	root := t.TempDir()
	bare, err := gitserver.InitBare(root, "org/shop.git", "main")
	require.NoError(t, err)
	_, err = gitserver.CommitFiles(ctx, bare, "main", map[string][]byte{
		"hub/placement.yaml": []byte("kind: Placement\nvalue: primary # site\n"),
		"hub/appset.yaml":    []byte("kind: ApplicationSet\n"),
		"README.md":          []byte("shop\n"),
	}, "seed")
	require.NoError(t, err)
	r := &remote{bare: bare}
	r.srv, err = gitserver.Start(ctx, root, gitserver.Options{
		Username: testUser, Password: testPass,
		BeforeReceivePack: func(string) {
			r.receives.Add(1)
			if f := r.beforeReceive.Load(); f != nil {
				(*f)()
			}
		},
		BeforeAdvertise: func(_, service string) {
			if f := r.beforeAdvert.Load(); f != nil {
				(*f)(service)
			}
		},
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = r.srv.Close() })
	r.url = r.srv.URL("org/shop.git")
	return r
}

func (r *remote) head(t *testing.T, branch string) string {
	t.Helper()
	h, err := gitserver.Head(context.Background(), r.bare, branch)
	require.NoError(t, err)
	return h
}

func (r *remote) show(t *testing.T, rev string) string {
	t.Helper()
	return run(t, r.bare, "show", rev)
}

// commitAsOther lands a commit as another writer would.
func (r *remote) commitAsOther(t *testing.T, branch string, files map[string]string, msg string) string {
	t.Helper()
	b := map[string][]byte{}
	for k, v := range files {
		b[k] = []byte(v)
	}
	sha, err := gitserver.CommitFiles(context.Background(), r.bare, branch, b, msg)
	require.NoError(t, err)
	return sha
}

var goodAuth = Auth{Username: testUser, Password: testPass}

// flipper is a Replan that makes a semantic edit: the placement's value
// becomes secondary. It does nothing when that is already so.
type flipper struct {
	calls atomic.Int32
	heads []string
	mu    sync.Mutex
}

func (f *flipper) replan(_ context.Context, tree fs.FS, head string) (map[string][]byte, string, error) {
	f.calls.Add(1)
	f.mu.Lock()
	f.heads = append(f.heads, head)
	f.mu.Unlock()
	b, err := fs.ReadFile(tree, "hub/placement.yaml")
	if err != nil {
		return nil, "", err
	}
	if strings.Contains(string(b), "value: secondary") {
		return nil, "", nil
	}
	out := strings.Replace(string(b), "value: primary", "value: secondary", 1)
	msg := Trailers("Fail over shop to dr2", [2]string{TrailerPlan, "shop"}, [2]string{TrailerAction, "Failover"}, [2]string{TrailerTarget, "dr2"})
	return map[string][]byte{"hub/placement.yaml": []byte(out)}, msg, nil
}

func newClient(t *testing.T) *Client {
	t.Helper()
	c, err := NewClient(Options{CacheDir: t.TempDir()})
	require.NoError(t, err)
	return c
}

func fastRequest(url string, replan ReplanFunc) Request {
	return Request{
		URL: url, Branch: "main", Auth: goodAuth, Replan: replan,
		Author:         Signature{Name: "Ops Bot", Email: "ops@example.com"},
		InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
	}
}

func TestApplyCloneFetchCommitPush(t *testing.T) {
	ctx := context.Background()
	r := newRemote(t)
	c := newClient(t)
	seed := r.head(t, "main")

	f := &flipper{}
	res, err := c.Apply(ctx, fastRequest(r.url, f.replan))
	require.NoError(t, err)
	assert.True(t, res.Pushed)
	assert.Equal(t, Updated, res.State)
	assert.Equal(t, 1, res.Attempts)
	assert.Equal(t, seed, res.Base)
	assert.Equal(t, r.head(t, "main"), res.Head)
	assert.Contains(t, r.show(t, "main:hub/placement.yaml"), "value: secondary # site")
	assert.Equal(t, seed, strings.TrimSpace(run(t, r.bare, "rev-parse", "main^")))
	assert.Equal(t, "Ops Bot <ops@example.com>|Ops Bot <ops@example.com>",
		strings.TrimSpace(run(t, r.bare, "log", "-1", "--format=%an <%ae>|%cn <%ce>", "main")))
	assert.Equal(t, "hub/placement.yaml\n", run(t, r.bare, "diff-tree", "--no-commit-id", "--name-only", "-r", "main"))
	assert.True(t, IsGitoverMessage(run(t, r.bare, "log", "-1", "--format=%B", "main")))

	// The cache is a bare, shallow clone at the documented place.
	path, err := c.CachePath(r.url)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(path, filepath.Join(c.dir, "127.0.0.1_")))
	assert.Contains(t, filepath.Base(path), "org_shop-")
	_, err = os.Stat(filepath.Join(path, "shallow"))
	assert.NoError(t, err, "cache should be shallow")
	_, err = os.Stat(filepath.Join(path, "HEAD"))
	assert.NoError(t, err)

	// Others commit; the next change fetches incrementally and lands on top.
	other := r.commitAsOther(t, "main", map[string]string{"team/notes.yaml": "n: 1\n"}, "team notes")
	res, err = c.Apply(ctx, fastRequest(r.url, func(_ context.Context, tree fs.FS, head string) (map[string][]byte, string, error) {
		assert.Equal(t, other, head)
		notes, err := fs.ReadFile(tree, "team/notes.yaml")
		require.NoError(t, err)
		assert.Equal(t, "n: 1\n", string(notes))
		return map[string][]byte{"app/overlays/dr2/protect.yaml": []byte("kind: Job\n")}, "protect disks", nil
	}))
	require.NoError(t, err)
	assert.True(t, res.Pushed)
	assert.Equal(t, other, res.Base)
	assert.Equal(t, other, strings.TrimSpace(run(t, r.bare, "rev-parse", "main^")))
	assert.Equal(t, "kind: Job\n", r.show(t, "main:app/overlays/dr2/protect.yaml"))
	run(t, r.bare, "fsck", "--strict")

	// The same semantic change again: nothing to do, nothing pushed.
	before := r.head(t, "main")
	receives := r.receives.Load()
	res, err = c.Apply(ctx, fastRequest(r.url, f.replan))
	require.NoError(t, err)
	assert.False(t, res.Pushed)
	assert.Equal(t, NothingToDo, res.State)
	assert.Equal(t, before, res.Head)
	assert.Equal(t, before, r.head(t, "main"))
	assert.Equal(t, receives, r.receives.Load())

	// Files identical to the head: no empty commit.
	res, err = c.Apply(ctx, fastRequest(r.url, func(context.Context, fs.FS, string) (map[string][]byte, string, error) {
		return map[string][]byte{"README.md": []byte("shop\n")}, "noop", nil
	}))
	require.NoError(t, err)
	assert.Equal(t, NothingToDo, res.State)
	assert.Equal(t, before, r.head(t, "main"))
}

func TestApplyFullHistory(t *testing.T) {
	r := newRemote(t)
	c, err := NewClient(Options{CacheDir: t.TempDir(), FullHistory: true})
	require.NoError(t, err)
	f := &flipper{}
	res, err := c.Apply(context.Background(), fastRequest(r.url, f.replan))
	require.NoError(t, err)
	assert.True(t, res.Pushed)
	path, _ := c.CachePath(r.url)
	_, err = os.Stat(filepath.Join(path, "shallow"))
	assert.ErrorIs(t, err, fs.ErrNotExist)
}

// TestApplyPushRace lands a competing commit between our fetch and our push,
// at the two moments that matter: before the push's ref advertisement
// (go-git sees the branch moved) and after it (git receive-pack refuses the
// ref update because the old value no longer matches).
func TestApplyPushRace(t *testing.T) {
	tests := []struct {
		name  string
		where string
	}{
		{"before advertisement", "advertise"},
		{"inside receive-pack", "receive"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRemote(t)
			c := newClient(t)
			seed := r.head(t, "main")
			var competing string
			var once sync.Once
			land := func() {
				once.Do(func() {
					competing = r.commitAsOther(t, "main", map[string]string{"team/notes.yaml": "n: 1\n"}, "competing")
				})
			}
			if tc.where == "receive" {
				f := land
				r.beforeReceive.Store(&f)
			} else {
				f := func(service string) {
					if service == "git-receive-pack" {
						land()
					}
				}
				r.beforeAdvert.Store(&f)
			}
			fl := &flipper{}
			res, err := c.Apply(context.Background(), fastRequest(r.url, fl.replan))
			require.NoError(t, err)
			assert.True(t, res.Pushed)
			assert.Equal(t, 2, res.Attempts)
			assert.EqualValues(t, 2, fl.calls.Load(), "replan once per attempt")
			assert.Equal(t, []string{seed, competing}, fl.heads)
			assert.Equal(t, competing, res.Base)

			// Both commits are on the branch: ours on top of the competing one.
			log := strings.Fields(run(t, r.bare, "log", "--format=%H", "main"))
			require.Len(t, log, 3)
			assert.Equal(t, []string{res.Head, competing, seed}, log)
			assert.Equal(t, "n: 1\n", r.show(t, "main:team/notes.yaml"))
			assert.Contains(t, r.show(t, "main:hub/placement.yaml"), "value: secondary")
			run(t, r.bare, "fsck", "--strict")
		})
	}
}

func TestApplyRaceAlreadyDone(t *testing.T) {
	r := newRemote(t)
	c := newClient(t)
	var competing string
	var once sync.Once
	f := func() {
		once.Do(func() {
			competing = r.commitAsOther(t, "main", map[string]string{
				"hub/placement.yaml": "kind: Placement\nvalue: secondary # done by hand\n",
			}, "manual failover")
		})
	}
	r.beforeReceive.Store(&f)
	fl := &flipper{}
	res, err := c.Apply(context.Background(), fastRequest(r.url, fl.replan))
	require.NoError(t, err)
	assert.False(t, res.Pushed)
	assert.Equal(t, NothingToDo, res.State)
	assert.Equal(t, 2, res.Attempts)
	assert.Equal(t, competing, res.Head)
	assert.Equal(t, competing, r.head(t, "main"))
	assert.EqualValues(t, 1, r.receives.Load(), "only the first, rejected push reached the server")
}

func TestApplyGivesUpAfterMaxAttempts(t *testing.T) {
	r := newRemote(t)
	c := newClient(t)
	var n atomic.Int32
	f := func() {
		i := n.Add(1)
		r.commitAsOther(t, "main", map[string]string{fmt.Sprintf("team/n%d.yaml", i): "x\n"}, "busy")
	}
	r.beforeReceive.Store(&f)
	fl := &flipper{}
	req := fastRequest(r.url, fl.replan)
	req.MaxAttempts = 3
	res, err := c.Apply(context.Background(), req)
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrBranchMoved)
	assert.ErrorContains(t, err, "gave up after 3 attempts")
	assert.Equal(t, 3, res.Attempts)
	assert.EqualValues(t, 3, fl.calls.Load())
	// Every competing commit is there; ours is not.
	assert.Len(t, strings.Fields(run(t, r.bare, "log", "--format=%H", "main")), 4)
	assert.Contains(t, r.show(t, "main:hub/placement.yaml"), "value: primary")
}

func TestApplyAuthFailure(t *testing.T) {
	tests := []struct {
		name string
		auth Auth
	}{
		{"wrong password", Auth{Username: testUser, Password: "wrong-password-123"}},
		{"wrong user", Auth{Username: "mallory", Password: testPass}},
		{"no credentials", Auth{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRemote(t)
			c := newClient(t)
			before := r.head(t, "main")
			fl := &flipper{}
			req := fastRequest(r.url, fl.replan)
			req.Auth = tc.auth
			_, err := c.Apply(context.Background(), req)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrAuthentication)
			assert.True(t, strings.HasPrefix(err.Error(), "authentication to "+r.url+" failed: "), err.Error())
			assert.NotContains(t, err.Error(), "wrong-password-123")
			assert.NotContains(t, err.Error(), testPass)
			assert.Equal(t, before, r.head(t, "main"))
			assert.EqualValues(t, 0, r.receives.Load())
			assert.EqualValues(t, 0, fl.calls.Load())
		})
	}
}

func TestApplyRefusals(t *testing.T) {
	r := newRemote(t)
	c := newClient(t)
	planErr := errors.New("placement not found")
	tests := []struct {
		name    string
		mutate  func(*Request)
		wantErr string
	}{
		{"password in URL", func(q *Request) { q.URL = strings.Replace(q.URL, "http://", "http://u:hunter2@", 1) }, "carries a password"},
		{"no replan", func(q *Request) { q.Replan = nil }, "no Replan"},
		{"no branch", func(q *Request) { q.Branch = "" }, "no branch"},
		{"full ref name", func(q *Request) { q.Branch = "refs/heads/main" }, "short name"},
		{"missing branch", func(q *Request) { q.Branch = "nope" }, "branch nope does not exist"},
		{"replan error", func(q *Request) {
			q.Replan = func(context.Context, fs.FS, string) (map[string][]byte, string, error) { return nil, "", planErr }
		}, "placement not found"},
		{"bad path", func(q *Request) {
			q.Replan = func(context.Context, fs.FS, string) (map[string][]byte, string, error) {
				return map[string][]byte{"../x": []byte("x")}, "m", nil
			}
		}, "invalid repository path"},
		{"credentials over plain http to a remote host", func(q *Request) { q.URL = "http://git.example.com/shop.git" }, "refusing to send credentials over plain http"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := r.head(t, "main")
			fl := &flipper{}
			req := fastRequest(r.url, fl.replan)
			tc.mutate(&req)
			_, err := c.Apply(context.Background(), req)
			require.Error(t, err)
			assert.ErrorContains(t, err, tc.wantErr)
			assert.NotContains(t, err.Error(), "hunter2")
			assert.Equal(t, before, r.head(t, "main"))
		})
	}
}

func TestApplyHookRejectionIsNotRetried(t *testing.T) {
	r := newRemote(t)
	c := newClient(t)
	hook := filepath.Join(r.bare, "hooks", "pre-receive")
	require.NoError(t, os.WriteFile(hook, []byte("#!/bin/sh\necho 'GL-HOOK-ERR: protected branch' >&2\nexit 1\n"), 0o755))
	before := r.head(t, "main")
	fl := &flipper{}
	res, err := c.Apply(context.Background(), fastRequest(r.url, fl.replan))
	require.Error(t, err)
	assert.NotErrorIs(t, err, ErrBranchMoved)
	assert.Equal(t, 1, res.Attempts)
	assert.Contains(t, err.Error(), "pushing main to "+r.url)
	assert.Equal(t, before, r.head(t, "main"))
}

func TestApplyConcurrentCallers(t *testing.T) {
	r := newRemote(t)
	shared := t.TempDir()
	// Two clients on one cache directory (as two processes would be) and
	// two goroutines on one client; every change must land.
	c1, err := NewClient(Options{CacheDir: shared})
	require.NoError(t, err)
	c2, err := NewClient(Options{CacheDir: shared})
	require.NoError(t, err)
	clients := []*Client{c1, c1, c2, c2}
	var wg sync.WaitGroup
	errs := make([]error, len(clients))
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := fastRequest(r.url, func(_ context.Context, tree fs.FS, _ string) (map[string][]byte, string, error) {
				return map[string][]byte{fmt.Sprintf("apps/app-%d.yaml", i): []byte("x\n")}, fmt.Sprintf("app %d", i), nil
			})
			req.MaxAttempts = 10
			_, errs[i] = c.Apply(context.Background(), req)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	files := run(t, r.bare, "ls-tree", "-r", "--name-only", "main", "apps/")
	assert.Equal(t, "apps/app-0.yaml\napps/app-1.yaml\napps/app-2.yaml\napps/app-3.yaml\n", files)
	assert.Len(t, strings.Fields(run(t, r.bare, "log", "--format=%H", "main")), 5)
}

func TestApplyContextCancelled(t *testing.T) {
	r := newRemote(t)
	c := newClient(t)
	ctx, cancel := context.WithCancel(context.Background())
	f := func() { cancel(); r.commitAsOther(t, "main", map[string]string{"x": "x"}, "x") }
	r.beforeReceive.Store(&f)
	fl := &flipper{}
	req := fastRequest(r.url, fl.replan)
	req.InitialBackoff = time.Minute
	start := time.Now()
	_, err := c.Apply(ctx, req)
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Less(t, time.Since(start), 30*time.Second)
}

func TestPushBranch(t *testing.T) {
	ctx := context.Background()
	r := newRemote(t)
	c := newClient(t)
	seed := r.head(t, "main")
	fl := &flipper{}
	req := fastRequest(r.url, fl.replan)
	branch := ProposalBranch("shop", "Failover", "dr2", seed)
	assert.Equal(t, "gitover/shop/failover-dr2-"+seed[:12], branch)

	res, err := c.PushBranch(ctx, req, branch)
	require.NoError(t, err)
	assert.Equal(t, Created, res.State)
	assert.True(t, res.Pushed)
	assert.Equal(t, seed, res.Base)
	assert.Equal(t, res.Head, r.head(t, branch))
	assert.Equal(t, seed, r.head(t, "main"), "the target branch is never touched")
	assert.Equal(t, seed, strings.TrimSpace(run(t, r.bare, "rev-parse", branch+"^")))

	// Same change again: a no-op.
	receives := r.receives.Load()
	res2, err := c.PushBranch(ctx, req, branch)
	require.NoError(t, err)
	assert.Equal(t, Unchanged, res2.State)
	assert.False(t, res2.Pushed)
	assert.Equal(t, res.Head, res2.Head)
	assert.Equal(t, receives, r.receives.Load())

	// main moves on; pinning Base keeps the proposal on its named base.
	moved := r.commitAsOther(t, "main", map[string]string{"team/notes.yaml": "n\n"}, "unrelated")
	req.Base = seed
	res3, err := c.PushBranch(ctx, req, branch)
	require.NoError(t, err)
	assert.Equal(t, Unchanged, res3.State)
	req.Base = ""

	// gitover's own branch with different content is replaced, with a lease.
	newer := ProposalBranch("shop", "Failover", "dr2", moved)
	_, err = c.PushBranch(ctx, req, newer)
	require.NoError(t, err)
	other := r.commitAsOther(t, newer, map[string]string{"hub/placement.yaml": "stale\n"},
		Trailers("old attempt", [2]string{TrailerPlan, "shop"}))
	res4, err := c.PushBranch(ctx, req, newer)
	require.NoError(t, err)
	assert.Equal(t, Updated, res4.State)
	assert.Equal(t, moved, res4.Base)
	assert.Equal(t, res4.Head, r.head(t, newer))
	assert.NotEqual(t, other, res4.Head)
	assert.Equal(t, moved, strings.TrimSpace(run(t, r.bare, "rev-parse", newer+"^")))

	// A branch that is not gitover's is never overwritten.
	foreign := "feature/someone-else"
	theirs := r.commitAsOther(t, foreign, map[string]string{"mine.txt": "mine\n"}, "their work")
	_, err = c.PushBranch(ctx, req, foreign)
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrForeignBranch)
	assert.Equal(t, theirs, r.head(t, foreign))

	// Refusals.
	_, err = c.PushBranch(ctx, req, "main")
	assert.ErrorContains(t, err, "is the target branch itself")
	req.Base = strings.Repeat("ab", 20)
	_, err = c.PushBranch(ctx, req, "gitover/x")
	assert.ErrorContains(t, err, "not in the fetched history")
	assert.Equal(t, moved, r.head(t, "main"))
}

func TestPushBranchRace(t *testing.T) {
	// Someone creates the proposal branch between our fetch and our push:
	// we retry, see it is ours-by-trailers content, and replace it.
	r := newRemote(t)
	c := newClient(t)
	var once sync.Once
	f := func() {
		once.Do(func() {
			r.commitAsOther(t, "gitover/p", map[string]string{"x": "x\n"}, Trailers("racing", [2]string{TrailerPlan, "shop"}))
		})
	}
	r.beforeReceive.Store(&f)
	fl := &flipper{}
	res, err := c.PushBranch(context.Background(), fastRequest(r.url, fl.replan), "gitover/p")
	require.NoError(t, err)
	assert.Equal(t, 2, res.Attempts)
	assert.Equal(t, Updated, res.State)
	assert.Equal(t, res.Head, r.head(t, "gitover/p"))
}

func TestClientHead(t *testing.T) {
	r := newRemote(t)
	c := newClient(t)
	h, err := c.Head(context.Background(), r.url, "main", goodAuth)
	require.NoError(t, err)
	assert.Equal(t, r.head(t, "main"), h)
	_, err = c.Head(context.Background(), r.url, "nope", goodAuth)
	assert.ErrorContains(t, err, "does not exist")
}

func TestTreeFSOverCommit(t *testing.T) {
	r := newRemote(t)
	c := newClient(t)
	r.commitAsOther(t, "main", map[string]string{"a/b/c.yaml": "c\n"}, "deep")
	run(t, r.bare, "update-index", "--help") // git is there
	cc, err := c.open(context.Background(), r.url, goodAuth)
	require.NoError(t, err)
	defer cc.unlock()
	head, _, err := c.fetch(context.Background(), cc, "main")
	require.NoError(t, err)
	tree, err := newTreeFS(cc.repo.Storer, head)
	require.NoError(t, err)
	require.NoError(t, fstest.TestFS(tree, "README.md", "hub/placement.yaml", "a/b/c.yaml"))
	_, err = fs.ReadFile(tree, "missing.yaml")
	assert.ErrorIs(t, err, fs.ErrNotExist)
	h, ok := tree.hash("README.md")
	assert.True(t, ok)
	assert.Equal(t, plumbing.ComputeHash(plumbing.BlobObject, []byte("shop\n")), h)
}

func TestIsBranchMoved(t *testing.T) {
	tests := []struct {
		msg  string
		want bool
	}{
		// git receive-pack (self-hosted, GitLab's gitaly reports the same)
		{"command error on refs/heads/main: failed to update ref", true},
		{"cannot lock ref 'refs/heads/main': is at 1111 but expected 2222", true},
		{"command error on refs/heads/main: failed to lock", true},
		// git client-side wording, as GitHub and GitLab users see it
		{"! [rejected] main -> main (fetch first)", true},
		{"! [rejected] main -> main (non-fast-forward)", true},
		{"! [remote rejected] main -> main (stale info)", true},
		// GitHub's ref-update API wording
		{"remote: error: failed to update ref: incorrect old value provided", true},
		{"Incorrect old value provided", true},
		// go-git
		{"non-fast-forward update: refs/heads/main", true},
		{"remote ref refs/heads/main required to be abc but is def", true},
		// not races: retrying cannot help
		{"command error on refs/heads/main: pre-receive hook declined", false},
		{"GH006: Protected branch update failed for refs/heads/main", false},
		{"authentication required", false},
		{"repository not found", false},
		{"remote: Permission to org/shop.git denied", false},
		{"object not found", false},
	}
	for _, tc := range tests {
		t.Run(tc.msg, func(t *testing.T) {
			assert.Equal(t, tc.want, IsBranchMoved(errors.New(tc.msg)))
		})
	}
	assert.True(t, IsBranchMoved(fmt.Errorf("wrapped: %w", gogit.ErrNonFastForwardUpdate)))
	assert.True(t, IsBranchMoved(&movedError{err: errors.New("x")}))
	assert.False(t, IsBranchMoved(nil))
}

func TestBackoff(t *testing.T) {
	req := Request{InitialBackoff: 100 * time.Millisecond, MaxBackoff: time.Second}
	for n, base := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond, 5: time.Second, 9: time.Second} {
		for i := 0; i < 20; i++ {
			d := req.backoff(n)
			assert.GreaterOrEqual(t, d, base/2, "attempt %d", n)
			assert.LessOrEqual(t, d, base*3/2, "attempt %d", n)
		}
	}
}

func TestProposalBranch(t *testing.T) {
	tests := []struct {
		plan, action, target, base, want string
	}{
		{"shop", "Failover", "dr2", "0123456789abcdef0123", "gitover/shop/failover-dr2-0123456789ab"},
		{"My Plan!", "Relocate", "site..a", "abc", "gitover/my-plan/relocate-site-a-abc"},
		{"x.lock", "a", "b", "c", "gitover/x/a-b-c"},
	}
	for _, tc := range tests {
		got := ProposalBranch(tc.plan, tc.action, tc.target, tc.base)
		assert.Equal(t, tc.want, got)
		assert.NoError(t, checkBranchName(got))
	}
}

func TestCacheIsReclonedWhenPacksPileUp(t *testing.T) {
	old := maxPacks
	maxPacks = 2
	defer func() { maxPacks = old }()
	r := newRemote(t)
	c := newClient(t)
	path, err := c.CachePath(r.url)
	require.NoError(t, err)
	for i := 0; i < 6; i++ {
		r.commitAsOther(t, "main", map[string]string{fmt.Sprintf("n/%d", i): "x"}, "other")
		res, err := c.Apply(context.Background(), fastRequest(r.url, func(context.Context, fs.FS, string) (map[string][]byte, string, error) {
			return map[string][]byte{fmt.Sprintf("ours/%d", i): []byte("y")}, "ours", nil
		}))
		require.NoError(t, err)
		require.True(t, res.Pushed)
		assert.LessOrEqual(t, countPacks(path), maxPacks+1)
	}
	assert.Len(t, strings.Fields(run(t, r.bare, "log", "--format=%H", "main")), 13)
}
