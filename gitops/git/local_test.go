package git

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOpenLocal(t *testing.T) {
	repo := newWorkRepo(t, map[string]string{"hub/placement.yaml": "a: 1\n"})
	bare := t.TempDir()
	run(t, bare, "init", "--quiet", "--bare")
	file := filepath.Join(t.TempDir(), "f")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	linked := filepath.Join(t.TempDir(), "wt")
	run(t, repo, "worktree", "add", "--quiet", "-b", "other", linked)

	tests := []struct {
		name    string
		dir     string
		wantErr string
	}{
		{"work tree root", repo, ""},
		{"linked worktree", linked, ""},
		{"missing", filepath.Join(t.TempDir(), "nope"), "is not a Git repository: it does not exist"},
		{"a file", file, "is not a Git repository: it is not a directory"},
		{"plain directory", t.TempDir(), "is not a Git repository"},
		{"subdirectory", filepath.Join(repo, "hub"), "inside the work tree rooted at " + repo},
		{"bare", bare, "bare repository"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := OpenLocal(tc.dir)
			if tc.wantErr == "" {
				require.NoError(t, err)
				assert.Equal(t, tc.dir, l.Root())
				return
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrNotRepository)
			assert.Contains(t, err.Error(), tc.dir+" is not a Git repository")
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
}

func TestHead(t *testing.T) {
	ctx := context.Background()
	repo := newWorkRepo(t, map[string]string{"a": "a\n"})
	want := strings.TrimSpace(run(t, repo, "rev-parse", "HEAD"))

	l, err := OpenLocal(repo)
	require.NoError(t, err)
	branch, sha, err := l.Head(ctx)
	require.NoError(t, err)
	assert.Equal(t, "main", branch)
	assert.Equal(t, want, sha)

	run(t, repo, "checkout", "--quiet", "--detach")
	_, _, err = l.Head(ctx)
	assert.ErrorIs(t, err, ErrDetachedHead)
	assert.ErrorContains(t, err, "check out a branch")

	empty := t.TempDir()
	run(t, empty, "init", "--quiet", "--initial-branch=trunk")
	l, err = OpenLocal(empty)
	require.NoError(t, err)
	_, _, err = l.Head(ctx)
	assert.ErrorIs(t, err, ErrUnbornBranch)
	assert.ErrorContains(t, err, "trunk")
}

func TestEnsureClean(t *testing.T) {
	base := map[string]string{
		".gitignore":           "*.tmp\nbuild/\n",
		"hub/placement.yaml":   "kind: Placement\n",
		"hub/appset.yaml":      "kind: ApplicationSet\n",
		"app/.gitignore":       "secret.txt\n",
		"app/overlays/p/k.yml": "resources: []\n",
		"run.sh":               "#!/bin/sh\n",
	}
	tests := []struct {
		name   string
		mutate func(t *testing.T, dir string)
		want   []string // substrings of the error; nil: clean
	}{
		{"clean", func(*testing.T, string) {}, nil},
		{"touched but unchanged", func(t *testing.T, dir string) {
			future := time.Now().Add(time.Hour)
			require.NoError(t, os.Chtimes(filepath.Join(dir, "hub/placement.yaml"), future, future))
		}, nil},
		{"rewritten with the same bytes", func(t *testing.T, dir string) {
			writeFiles(t, dir, map[string]string{"hub/appset.yaml": "kind: ApplicationSet\n"})
		}, nil},
		{"ignored files and dirs", func(t *testing.T, dir string) {
			writeFiles(t, dir, map[string]string{"x.tmp": "", "build/out/a": "", "app/secret.txt": "s"})
		}, nil},
		{"empty untracked dir", func(t *testing.T, dir string) {
			require.NoError(t, os.MkdirAll(filepath.Join(dir, "empty/sub"), 0o755))
		}, nil},
		{"modified", func(t *testing.T, dir string) {
			writeFiles(t, dir, map[string]string{"hub/placement.yaml": "kind: Placement # edited\n"})
		}, []string{"hub/placement.yaml (modified)"}},
		{"modified same size", func(t *testing.T, dir string) {
			writeFiles(t, dir, map[string]string{"hub/placement.yaml": "kind: Placemenx\n"})
		}, []string{"hub/placement.yaml (modified)"}},
		{"staged", func(t *testing.T, dir string) {
			writeFiles(t, dir, map[string]string{"hub/new.yaml": "x\n"})
			run(t, dir, "add", "hub/new.yaml")
		}, []string{"hub/new.yaml (staged)"}},
		{"staged then reverted in work tree", func(t *testing.T, dir string) {
			writeFiles(t, dir, map[string]string{"hub/appset.yaml": "changed\n"})
			run(t, dir, "add", "hub/appset.yaml")
			writeFiles(t, dir, map[string]string{"hub/appset.yaml": "kind: ApplicationSet\n"})
		}, []string{"hub/appset.yaml (staged)", "hub/appset.yaml (modified)"}},
		{"untracked", func(t *testing.T, dir string) {
			writeFiles(t, dir, map[string]string{"notes.md": "n\n"})
		}, []string{"notes.md (untracked)"}},
		{"untracked dir", func(t *testing.T, dir string) {
			writeFiles(t, dir, map[string]string{"newdir/a/b.yaml": "n\n"})
		}, []string{"newdir/ (untracked)"}},
		{"deleted", func(t *testing.T, dir string) {
			require.NoError(t, os.Remove(filepath.Join(dir, "hub/appset.yaml")))
		}, []string{"hub/appset.yaml (deleted)"}},
		{"mode change", func(t *testing.T, dir string) {
			require.NoError(t, os.Chmod(filepath.Join(dir, "run.sh"), 0o755))
		}, []string{"run.sh (modified)"}},
		{"file replaced by dir", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "hub/appset.yaml")
			require.NoError(t, os.Remove(p))
			require.NoError(t, os.MkdirAll(filepath.Join(p, "x"), 0o755))
			writeFiles(t, dir, map[string]string{"hub/appset.yaml/x/y": "1"})
		}, []string{"hub/appset.yaml (modified)"}},
		{"more than ten", func(t *testing.T, dir string) {
			for i := 0; i < 12; i++ {
				writeFiles(t, dir, map[string]string{"u" + string(rune('a'+i)): "x"})
			}
		}, []string{"ua (untracked)", "uj (untracked)", ", ..."}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := newWorkRepo(t, base)
			tc.mutate(t, dir)
			l, err := OpenLocal(dir)
			require.NoError(t, err)
			err = l.EnsureClean(context.Background())
			// Cross-check with git itself.
			porcelain := run(t, dir, "status", "--porcelain")
			if tc.want == nil {
				assert.NoError(t, err)
				assert.Empty(t, porcelain)
				return
			}
			assert.NotEmpty(t, porcelain)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrDirty)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			var de *DirtyError
			require.True(t, errors.As(err, &de))
			assert.LessOrEqual(t, len(de.Paths), 10)
		})
	}
}

func TestTreeFS(t *testing.T) {
	dir := newWorkRepo(t, map[string]string{"a.yaml": "a\n", "d/b.yaml": "b\n"})
	l, err := OpenLocal(dir)
	require.NoError(t, err)
	fsys := l.Tree()
	require.NoError(t, fstest.TestFS(fsys, "a.yaml", "d/b.yaml"))
	entries, err := fs.ReadDir(fsys, ".")
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.Equal(t, []string{"a.yaml", "d"}, names)
	_, err = fs.ReadFile(fsys, ".git/config")
	assert.ErrorIs(t, err, fs.ErrNotExist)
	_, err = fsys.Open(".git")
	assert.ErrorIs(t, err, fs.ErrNotExist)
}

func TestLocalCommit(t *testing.T) {
	ctx := context.Background()
	dir := newWorkRepo(t, map[string]string{
		"hub/placement.yaml": "value: primary\n",
		"hub/untouched.yaml": "same\n",
		"tools/run.sh":       "#!/bin/sh\necho 1\n",
	})
	require.NoError(t, os.Chmod(filepath.Join(dir, "tools/run.sh"), 0o755))
	run(t, dir, "add", "tools/run.sh")
	run(t, dir, "commit", "--quiet", "-m", "exec")
	// An unrelated staged change must stay staged and out of the commit.
	writeFiles(t, dir, map[string]string{"staged.txt": "mine\n"})
	run(t, dir, "add", "staged.txt")
	before := strings.TrimSpace(run(t, dir, "rev-parse", "HEAD"))

	l, err := OpenLocal(dir)
	require.NoError(t, err)
	msg := Trailers("Fail over shop to dr2", [2]string{TrailerPlan, "shop"}, [2]string{TrailerAction, "Failover"}, [2]string{TrailerTarget, "dr2"})
	when := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	sha, err := l.Commit(ctx, map[string][]byte{
		"hub/placement.yaml":                  []byte("value: invalid\n"),
		"app/overlays/dr2/gitover-disks.yaml": []byte("kind: Job\n"),
		"tools/run.sh":                        []byte("#!/bin/sh\necho 2\n"),
	}, msg, Signature{Name: "Ops Bot", Email: "ops@example.com", When: when})
	require.NoError(t, err)

	assert.Equal(t, sha, strings.TrimSpace(run(t, dir, "rev-parse", "HEAD")))
	assert.Equal(t, before, strings.TrimSpace(run(t, dir, "rev-parse", "HEAD^")))
	assert.Equal(t, "main", strings.TrimSpace(run(t, dir, "rev-parse", "--abbrev-ref", "HEAD")))
	assert.Equal(t, "Ops Bot|ops@example.com|Ops Bot|ops@example.com|1740830400",
		strings.TrimSpace(run(t, dir, "log", "-1", "--format=%an|%ae|%cn|%ce|%at")))
	body := run(t, dir, "log", "-1", "--format=%B")
	tr := ParseTrailers(body)
	assert.Equal(t, []string{"shop"}, tr[TrailerPlan])
	assert.Equal(t, []string{"Failover"}, tr[TrailerAction])
	assert.Equal(t, []string{"dr2"}, tr[TrailerTarget])
	// git agrees about the trailers.
	assert.Contains(t, run(t, dir, "log", "-1", "--format=%(trailers:key=Gitover-Target,valueonly)"), "dr2")

	changed := run(t, dir, "diff-tree", "--no-commit-id", "--name-only", "-r", "HEAD")
	assert.Equal(t, "app/overlays/dr2/gitover-disks.yaml\nhub/placement.yaml\ntools/run.sh\n", changed)
	assert.Contains(t, run(t, dir, "ls-tree", "HEAD", "tools/run.sh"), "100755")
	// The index is consistent: only the unrelated staged file shows.
	assert.Equal(t, "A  staged.txt\n", run(t, dir, "status", "--porcelain"))
	got, err := os.ReadFile(filepath.Join(dir, "hub/placement.yaml"))
	require.NoError(t, err)
	assert.Equal(t, "value: invalid\n", string(got))
	fi, err := os.Stat(filepath.Join(dir, "tools/run.sh"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o755), fi.Mode().Perm())
	run(t, dir, "fsck", "--strict")
	assert.Contains(t, run(t, dir, "reflog", "-1"), "commit: Fail over shop to dr2")

	// Same content again: nothing to commit, nothing changed.
	snap := snapshotDir(t, dir)
	_, err = l.Commit(ctx, map[string][]byte{"hub/placement.yaml": []byte("value: invalid\n")}, "again", Signature{})
	assert.ErrorIs(t, err, ErrNoChanges)
	assert.Empty(t, diffSnapshots(snap, snapshotDir(t, dir)))
}

func TestLocalCommitRefusesBadPaths(t *testing.T) {
	dir := newWorkRepo(t, map[string]string{"hub/a.yaml": "a\n", "file": "f\n"})
	require.NoError(t, os.Symlink(t.TempDir(), filepath.Join(dir, "link")))
	run(t, dir, "add", "link")
	run(t, dir, "commit", "--quiet", "-m", "link")
	l, err := OpenLocal(dir)
	require.NoError(t, err)
	tests := []struct {
		path    string
		wantErr string
	}{
		{"../escape.yaml", "invalid repository path"},
		{"/abs.yaml", "invalid repository path"},
		{"hub/../x", "invalid repository path"},
		{".git/config", "never writes inside .git"},
		{"sub/.GIT/hooks/x", "never writes inside .git"},
		{"hub", "is a directory"},
		{"link/x.yaml", "symbolic link"},
		{"link", "not a regular file"},
		{"file/x.yaml", "is a file"},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			snap := snapshotDir(t, dir)
			_, err := l.Commit(context.Background(), map[string][]byte{tc.path: []byte("x\n")}, "m", Signature{})
			assert.ErrorContains(t, err, tc.wantErr)
			assert.Empty(t, diffSnapshots(snap, snapshotDir(t, dir)))
		})
	}
}

// TestLocalCommitRollback fails the commit at each stage and checks that the
// whole directory, .git included, is byte-identical afterwards.
func TestLocalCommitRollback(t *testing.T) {
	files := map[string][]byte{
		"hub/placement.yaml":           []byte("value: invalid\n"),
		"new/deep/dir/protection.yaml": []byte("kind: Job\n"),
		"z-last.yaml":                  []byte("z\n"),
	}
	injected := errors.New("injected failure")
	tests := []struct {
		name    string
		setup   func(t *testing.T, dir string) // a real obstacle
		stage   string                         // or an injected fault
		after   int                            // fail on the after-th call of stage
		wantErr string
	}{
		{"objects written", nil, "objects", 1, "injected"},
		{"after first file", nil, "file", 1, "injected"},
		{"after second file", nil, "file", 2, "injected"},
		{"index written", nil, "index", 1, "injected"},
		{"branch moved", nil, "ref", 1, "injected"},
		{"index locked by another git", func(t *testing.T, dir string) {
			writeFiles(t, dir, map[string]string{".git/index.lock": ""})
		}, "", 0, "another git process"},
		{"branch locked by another git", func(t *testing.T, dir string) {
			writeFiles(t, dir, map[string]string{".git/refs/heads/main.lock": ""})
		}, "", 0, "is updating main"},
		{"branch packed and locked", func(t *testing.T, dir string) {
			run(t, dir, "pack-refs", "--all")
			writeFiles(t, dir, map[string]string{".git/refs/heads/main.lock": ""})
		}, "", 0, "is updating main"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := newWorkRepo(t, map[string]string{"hub/placement.yaml": "value: primary\n", "z-last.yaml": "old\n"})
			run(t, dir, "status") // let git refresh the index's stat data
			if tc.setup != nil {
				tc.setup(t, dir)
			}
			l, err := OpenLocal(dir)
			require.NoError(t, err)
			snap := snapshotDir(t, dir)
			calls := 0
			commitFault = func(stage string) error {
				if stage == tc.stage {
					calls++
					if calls == tc.after {
						return injected
					}
				}
				return nil
			}
			defer func() { commitFault = nil }()
			_, err = l.Commit(context.Background(), files, "m", Signature{})
			require.Error(t, err)
			assert.ErrorContains(t, err, tc.wantErr)
			assert.Empty(t, diffSnapshots(snap, snapshotDir(t, dir)), "repository changed")
			if tc.setup == nil {
				assert.Empty(t, run(t, dir, "status", "--porcelain"))
			}
		})
	}
}

func TestLocalCommitMovedBranch(t *testing.T) {
	// Another process moves the branch between Head and the branch update
	// (update-ref needs no index lock, so it can).
	dir := newWorkRepo(t, map[string]string{"a": "a\n"})
	l, err := OpenLocal(dir)
	require.NoError(t, err)
	concurrent := ""
	commitFault = func(stage string) error {
		if stage == "index" {
			concurrent = strings.TrimSpace(run(t, dir, "commit-tree", "HEAD^{tree}", "-p", "HEAD", "-m", "concurrent"))
			run(t, dir, "update-ref", "refs/heads/main", concurrent)
		}
		return nil
	}
	defer func() { commitFault = nil }()
	_, err = l.Commit(context.Background(), map[string][]byte{"a": []byte("b\n")}, "m", Signature{})
	require.Error(t, err)
	assert.ErrorContains(t, err, "branch main moved")
	assert.Equal(t, concurrent, strings.TrimSpace(run(t, dir, "rev-parse", "HEAD")))
	got, err := os.ReadFile(filepath.Join(dir, "a"))
	require.NoError(t, err)
	assert.Equal(t, "a\n", string(got))
	assert.Empty(t, run(t, dir, "status", "--porcelain"))
}
