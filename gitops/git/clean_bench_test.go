package git

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	gogit "github.com/go-git/go-git/v5"
	"github.com/stretchr/testify/require"
)

// newLargeWorkRepo commits apps×files small files with the git CLI. File
// times are set in the past so that the index is not "racy" (as in a
// repository that was checked out a while ago).
func newLargeWorkRepo(b testing.TB, apps, files int) string {
	dir := b.TempDir()
	run(b, dir, "init", "--quiet", "--initial-branch=main")
	past := time.Now().Add(-time.Hour)
	for a := 0; a < apps; a++ {
		d := filepath.Join(dir, "apps", fmt.Sprintf("app-%04d", a))
		require.NoError(b, os.MkdirAll(d, 0o755))
		for f := 0; f < files; f++ {
			p := filepath.Join(d, fmt.Sprintf("f%02d.yaml", f))
			require.NoError(b, os.WriteFile(p, []byte(fmt.Sprintf("app: %d\nfile: %d\n", a, f)), 0o644))
			require.NoError(b, os.Chtimes(p, past, past))
		}
	}
	run(b, dir, "add", "-A")
	run(b, dir, "commit", "--quiet", "-m", "apps")
	return dir
}

// BenchmarkEnsureClean measures the clean check on a 10,000-file work tree,
// against go-git's Worktree.Status for reference.
func BenchmarkEnsureClean(b *testing.B) {
	dir := newLargeWorkRepo(b, 1000, 10)
	ctx := context.Background()
	b.Run("gitover", func(b *testing.B) {
		l, err := OpenLocal(dir)
		require.NoError(b, err)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			require.NoError(b, l.EnsureClean(ctx))
		}
	})
	b.Run("go-git-status", func(b *testing.B) {
		r, err := gogit.PlainOpen(dir)
		require.NoError(b, err)
		wt, err := r.Worktree()
		require.NoError(b, err)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			st, err := wt.Status()
			require.NoError(b, err)
			require.True(b, st.IsClean())
		}
	})
}

// TestEnsureCleanLarge checks correctness at size: clean, then one change deep inside.
func TestEnsureCleanLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("large repository")
	}
	dir := newLargeWorkRepo(t, 100, 10)
	l, err := OpenLocal(dir)
	require.NoError(t, err)
	start := time.Now()
	require.NoError(t, l.EnsureClean(context.Background()))
	t.Logf("EnsureClean on 1,000 files: %v", time.Since(start))
	writeFiles(t, dir, map[string]string{"apps/app-0042/f05.yaml": "app: 42\nfile: 6\n"})
	require.ErrorContains(t, l.EnsureClean(context.Background()), "apps/app-0042/f05.yaml (modified)")
}
