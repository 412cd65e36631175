package overlays

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gitover/gitover/api/v1alpha1"
)

func checkMessage(c *Change, name string) string {
	for _, ch := range c.Checks {
		if ch.Name == name {
			return ch.Message
		}
	}
	return ""
}

func TestRenderCacheAnswersOnlyUnchangedInputs(t *testing.T) {
	ctx := context.Background()
	cache := NewMemoryRenderCache()
	p := plan(t, followPlan)
	repo := tree(followRepo)

	first, err := Plan(ctx, repo, []*v1alpha1.DRPlan{p}, failover("west"), WithRenderCache(cache))
	require.NoError(t, err)
	assert.NotContains(t, checkMessage(first, "render-before"), "cached")
	assert.Equal(t, 2, cache.Len(), "the two overlays")

	second, err := Plan(ctx, repo, []*v1alpha1.DRPlan{p}, failover("west"), WithRenderCache(cache))
	require.NoError(t, err)
	assert.Contains(t, checkMessage(second, "render-before"), "2 of them unchanged since a cached render")
	assert.Contains(t, checkMessage(second, "render-after"), "unchanged since a cached render", "the after state was cached by the first run")
	assert.Equal(t, first.Files, second.Files)

	// Break the base that both overlays read: the cache must not hide it.
	broken := with(followRepo, map[string]string{"app/base/kustomization.yaml": "resources:\n- vm.yaml\n- missing.yaml\n"})
	_, err = Plan(ctx, tree(broken), []*v1alpha1.DRPlan{p}, failover("west"), WithRenderCache(cache))
	require.ErrorIs(t, err, ErrRender)
	assert.Contains(t, err.Error(), "missing.yaml")

	// A new file in a directory kustomize lists is a change too.
	entries := cache.Lookup("app/overlays/east")
	require.NotEmpty(t, entries)
	for p := range entries[0].Inputs {
		assert.False(t, strings.HasPrefix(p, ".git"), p)
	}
}

func TestFileRenderCacheRoundTrip(t *testing.T) {
	dir := t.TempDir()
	c := OpenFileRenderCache(dir, "/some/repo")
	c.Store("app", CachedRender{Kind: sourceKustomize, Resources: 3, Inputs: map[string]string{"app/kustomization.yaml": "f:abc"}})
	require.NoError(t, c.Save())

	again := OpenFileRenderCache(dir, "/some/repo")
	assert.Equal(t, c.Lookup("app"), again.Lookup("app"))
	assert.Empty(t, OpenFileRenderCache(dir, "/other/repo").Lookup("app"), "one file per repository")

	// A cache written by another version is ignored.
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	require.Len(t, files, 1)
	b, _ := os.ReadFile(files[0])
	require.NoError(t, os.WriteFile(files[0], []byte(strings.Replace(string(b), `"version":"`, `"version":"old-`, 1)), 0o600))
	assert.Empty(t, OpenFileRenderCache(dir, "/some/repo").Lookup("app"))
}

func TestFingerprintsMatchGitObjectHashes(t *testing.T) {
	// `printf 'hello\n' | git hash-object --stdin`
	assert.Equal(t, "ce013625030ba8dba906f756967f9e9ca394464a", gitBlobHash([]byte("hello\n")))
	repo := tree(map[string]string{"a/file.yaml": "hello\n"})
	assert.Equal(t, "g:ce013625030ba8dba906f756967f9e9ca394464a", fingerprint(repo, "a/file.yaml", false))
	changed := WithChanges(repo, map[string][]byte{"a/file.yaml": []byte("bye\n")})
	assert.Equal(t, "g:"+gitBlobHash([]byte("bye\n")), fingerprint(changed, "a/file.yaml", false))
	assert.Equal(t, "-", fingerprint(repo, "a/missing.yaml", false))
}
