package gitserver

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// gitCLI runs the git CLI in dir and returns its combined output.
func gitCLI(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=/bin/false",
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.invalid",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.invalid",
		"GIT_CONFIG_NOSYSTEM=1", "HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestInitBareAndCommitFiles(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	p, err := InitBare(root, "org/shop.git", "main")
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(root, "org", "shop.git"), p)
	head, err := os.ReadFile(filepath.Join(p, "HEAD"))
	require.NoError(t, err)
	assert.Equal(t, "ref: refs/heads/main\n", string(head))

	_, err = InitBare(root, "org/shop.git", "main")
	assert.ErrorContains(t, err, "already exists")
	_, err = InitBare(root, "../escape.git", "main")
	assert.Error(t, err)

	first, err := CommitFiles(ctx, p, "main", map[string][]byte{"a.txt": []byte("a\n"), "d/b.txt": []byte("b\n")}, "first")
	require.NoError(t, err)
	second, err := CommitFiles(ctx, p, "main", map[string][]byte{"a.txt": nil, "c.txt": []byte("c\n")}, "second")
	require.NoError(t, err)
	got, err := Head(ctx, p, "main")
	require.NoError(t, err)
	assert.Equal(t, second, got)

	out, err := runGit(ctx, p, nil, nil, "ls-tree", "-r", "--name-only", second)
	require.NoError(t, err)
	assert.Equal(t, "c.txt\nd/b.txt\n", out)
	out, err = runGit(ctx, p, nil, nil, "rev-parse", second+"^")
	require.NoError(t, err)
	assert.Equal(t, first, strings.TrimSpace(out))
}

func TestHTTPServer(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	root := t.TempDir()
	bare, err := InitBare(root, "shop.git", "main")
	require.NoError(t, err)
	seed, err := CommitFiles(ctx, bare, "main", map[string][]byte{"README": []byte("hi\n")}, "seed")
	require.NoError(t, err)

	var receives, adverts atomic.Int32
	srv, err := Start(ctx, root, Options{
		Username: "alice", Password: "s3cret",
		BeforeReceivePack: func(repo string) {
			assert.Equal(t, "shop.git", repo)
			receives.Add(1)
		},
		BeforeAdvertise: func(repo, service string) { adverts.Add(1) },
	})
	require.NoError(t, err)
	defer srv.Close()
	assert.True(t, strings.HasPrefix(srv.URL("shop.git"), "http://127.0.0.1:"))
	assert.True(t, strings.HasSuffix(srv.URL("/shop.git"), "/shop.git"))

	tests := []struct {
		name     string
		user     string
		pass     string
		wantCode int
	}{
		{"no credentials", "", "", http.StatusUnauthorized},
		{"wrong password", "alice", "nope", http.StatusUnauthorized},
		{"wrong user", "bob", "s3cret", http.StatusUnauthorized},
		{"right credentials", "alice", "s3cret", http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL("shop.git")+"/info/refs?service=git-upload-pack", nil)
			require.NoError(t, err)
			if tc.user != "" {
				req.SetBasicAuth(tc.user, tc.pass)
			}
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			assert.Equal(t, tc.wantCode, resp.StatusCode)
			if tc.wantCode == http.StatusUnauthorized {
				assert.Contains(t, resp.Header.Get("WWW-Authenticate"), "Basic")
			} else {
				assert.Equal(t, "application/x-git-upload-pack-advertisement", resp.Header.Get("Content-Type"))
			}
		})
	}

	// A real git client clones and pushes (the CLI sends large packs chunked,
	// which exercises spooling too when the push is big; this one is small).
	work := t.TempDir()
	authURL := strings.Replace(srv.URL("shop.git"), "http://", "http://alice:s3cret@", 1)
	out, err := gitCLI(t, work, "clone", "--quiet", authURL, "c")
	require.NoError(t, err, out)
	clone := filepath.Join(work, "c")
	require.NoError(t, os.WriteFile(filepath.Join(clone, "new.txt"), []byte("new\n"), 0o644))
	out, err = gitCLI(t, clone, "add", "new.txt")
	require.NoError(t, err, out)
	out, err = gitCLI(t, clone, "commit", "--quiet", "-m", "add new")
	require.NoError(t, err, out)
	out, err = gitCLI(t, clone, "push", "--quiet", "origin", "main")
	require.NoError(t, err, out)
	assert.EqualValues(t, 1, receives.Load())
	assert.GreaterOrEqual(t, adverts.Load(), int32(2))

	head, err := Head(ctx, bare, "main")
	require.NoError(t, err)
	assert.NotEqual(t, seed, head)
	local, err := gitCLI(t, clone, "rev-parse", "HEAD")
	require.NoError(t, err)
	assert.Equal(t, strings.TrimSpace(local), head)

	// Wrong password: the CLI fails and nothing changes remotely.
	badURL := strings.Replace(srv.URL("shop.git"), "http://", "http://alice:wrong@", 1)
	out, err = gitCLI(t, work, "clone", "--quiet", badURL, "bad")
	require.Error(t, err)
	assert.Contains(t, out, "Authentication failed")

	// Non-git paths are not served.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL("shop.git")+"/HEAD", nil)
	require.NoError(t, err)
	req.SetBasicAuth("alice", "s3cret")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestHTTPServerAnonymousAndContextClose(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	root := t.TempDir()
	_, err := InitBare(root, "r.git", "trunk")
	require.NoError(t, err)
	srv, err := Start(ctx, root, Options{})
	require.NoError(t, err)
	out, err := gitCLI(t, t.TempDir(), "ls-remote", "--symref", srv.URL("r.git"))
	require.NoError(t, err, out)

	cancel()
	require.Eventually(t, func() bool {
		_, err := http.Get(srv.URL("r.git") + "/info/refs?service=git-upload-pack")
		return err != nil
	}, 5e9, 1e7)
	assert.NoError(t, srv.Close())
}

func TestStartErrors(t *testing.T) {
	_, err := Start(context.Background(), filepath.Join(t.TempDir(), "missing"), Options{})
	assert.ErrorContains(t, err, "not a directory")
}
