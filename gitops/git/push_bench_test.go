package git

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gitover/gitover/internal/gitserver"
	"github.com/gitover/gitover/internal/monorepo"
)

// monorepoRemote serves a bare copy of the 1,000-application monorepo
// (internal/monorepo, about 9,000 files) over smart HTTP with basic auth.
func monorepoRemote(b *testing.B) string {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	work := filepath.Join(b.TempDir(), "work")
	_, err := monorepo.Write(work, monorepo.Options{Apps: 1000})
	require.NoError(b, err)
	run(b, work, "init", "--quiet", "--initial-branch=main")
	run(b, work, "add", "-A")
	run(b, work, "commit", "--quiet", "-m", "1,000 applications")
	root := b.TempDir()
	run(b, root, "clone", "--quiet", "--bare", work, "apps.git")
	srv, err := gitserver.Start(ctx, root, gitserver.Options{Username: testUser, Password: testPass})
	require.NoError(b, err)
	b.Cleanup(func() { _ = srv.Close() })
	return srv.URL("apps.git")
}

// benchReplan edits two files the way a failover does: a hub file shared
// by 250 apps and one app's overlay, with content that differs per call.
func benchReplan(n *int) ReplanFunc {
	return func(_ context.Context, tree fs.FS, head string) (map[string][]byte, string, error) {
		*n++
		hub, err := fs.ReadFile(tree, "hub/placements-000.yaml")
		if err != nil {
			return nil, "", err
		}
		app := monorepo.AppName(*n % 1000)
		patch := "apps/" + app + "/overlays/secondary/web-patch.yaml"
		overlay, err := fs.ReadFile(tree, patch)
		if err != nil {
			return nil, "", err
		}
		mark := fmt.Sprintf("# failover %d on %s\n", *n, head[:12])
		return map[string][]byte{
			"hub/placements-000.yaml": append(hub, mark...),
			patch:                     append(overlay, mark...),
		}, Trailers("Fail over "+app, [2]string{TrailerPlan, app}, [2]string{TrailerAction, "Failover"}, [2]string{TrailerTarget, "dr2"}), nil
	}
}

// BenchmarkWarmCachePushFailover: with the monorepo already cloned into the
// cache, one iteration is fetch + replan (two edited files) + commit + push
// over smart HTTP. The "cold" sub-benchmark is the first operation on an
// empty cache (a depth-1 clone) for comparison.
func BenchmarkWarmCachePushFailover(b *testing.B) {
	url := monorepoRemote(b)
	ctx := context.Background()
	n := 0
	req := Request{URL: url, Branch: "main", Auth: goodAuth, Replan: benchReplan(&n),
		Author: Signature{Name: "bench", Email: "bench@example.invalid"}}

	b.Run("cold", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			c, err := NewClient(Options{CacheDir: b.TempDir()})
			require.NoError(b, err)
			res, err := c.Apply(ctx, req)
			require.NoError(b, err)
			require.True(b, res.Pushed)
		}
	})
	b.Run("warm", func(b *testing.B) {
		c, err := NewClient(Options{CacheDir: b.TempDir()})
		require.NoError(b, err)
		_, err = c.Apply(ctx, req) // warm the cache
		require.NoError(b, err)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			res, err := c.Apply(ctx, req)
			require.NoError(b, err)
			require.True(b, res.Pushed)
			require.Equal(b, 1, res.Attempts)
			require.True(b, strings.HasPrefix(res.Head, ""))
		}
	})
}
