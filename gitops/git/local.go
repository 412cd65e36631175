package git

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Errors a caller may want to tell apart (match them with errors.Is).
var (
	// ErrNotRepository: the directory is not the root of a Git work tree.
	ErrNotRepository = errors.New("not a Git repository")
	// ErrDetachedHead: HEAD points at a commit, not a branch.
	ErrDetachedHead = errors.New("HEAD is detached")
	// ErrUnbornBranch: the current branch has no commits yet.
	ErrUnbornBranch = errors.New("branch has no commits yet")
	// ErrDirty: the work tree has changes that are not committed.
	ErrDirty = errors.New("work tree is not clean")
)

// NotRepositoryError says why a directory cannot be used as a repository.
type NotRepositoryError struct {
	Dir    string
	Reason string // e.g. "it does not exist"; may be empty
}

func (e *NotRepositoryError) Error() string {
	if e.Reason == "" {
		return e.Dir + " is not a Git repository"
	}
	return e.Dir + " is not a Git repository: " + e.Reason
}

// Is makes errors.Is(err, ErrNotRepository) true.
func (e *NotRepositoryError) Is(target error) bool { return target == ErrNotRepository }

// Local is a Git work tree on disk, opened at its root.
type Local struct {
	root      string // work tree root, absolute
	gitDir    string // HEAD, index, logs/HEAD
	commonDir string // objects, refs, packed-refs (differs from gitDir in linked worktrees)
	repo      *gogit.Repository
}

// OpenLocal opens the repository whose work tree root is dir. dir must be
// the root (the directory that holds .git), not a subdirectory: gitover's
// paths are relative to the repository root, and accepting a subdirectory
// would silently change what they mean. The error for a subdirectory names
// the root to use instead. Bare repositories are refused: committing needs
// a work tree.
func OpenLocal(dir string) (*Local, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, &NotRepositoryError{Dir: dir, Reason: err.Error()}
	}
	fi, err := os.Stat(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, &NotRepositoryError{Dir: dir, Reason: "it does not exist"}
	case err != nil:
		return nil, &NotRepositoryError{Dir: dir, Reason: err.Error()}
	case !fi.IsDir():
		return nil, &NotRepositoryError{Dir: dir, Reason: "it is not a directory"}
	}
	gitDir, commonDir, err := resolveGitDir(abs)
	if err != nil {
		return nil, &NotRepositoryError{Dir: dir, Reason: err.Error()}
	}
	if gitDir == "" {
		if isBareDir(abs) {
			return nil, &NotRepositoryError{Dir: dir, Reason: "it is a bare repository; gitover needs a work tree"}
		}
		if r, err := gogit.PlainOpenWithOptions(abs, &gogit.PlainOpenOptions{DetectDotGit: true}); err == nil {
			if wt, err := r.Worktree(); err == nil {
				return nil, &NotRepositoryError{Dir: dir, Reason: "it is inside the work tree rooted at " +
					wt.Filesystem.Root() + "; pass that directory"}
			}
		}
		return nil, &NotRepositoryError{Dir: dir}
	}
	repo, err := gogit.PlainOpenWithOptions(abs, &gogit.PlainOpenOptions{EnableDotGitCommonDir: true})
	if err != nil {
		return nil, &NotRepositoryError{Dir: dir, Reason: err.Error()}
	}
	return &Local{root: abs, gitDir: gitDir, commonDir: commonDir, repo: repo}, nil
}

// resolveGitDir finds root/.git: a directory, or a file "gitdir: PATH" as in
// linked worktrees; it returns empty strings when there is none.
func resolveGitDir(root string) (gitDir, commonDir string, err error) {
	dot := filepath.Join(root, ".git")
	fi, err := os.Lstat(dot)
	if errors.Is(err, fs.ErrNotExist) {
		return "", "", nil
	}
	if err != nil {
		return "", "", err
	}
	gitDir = dot
	if !fi.IsDir() {
		b, err := os.ReadFile(dot)
		if err != nil {
			return "", "", err
		}
		line := strings.TrimSpace(string(b))
		if !strings.HasPrefix(line, "gitdir: ") {
			return "", "", fmt.Errorf("%s is not a gitdir file", dot)
		}
		gitDir = strings.TrimPrefix(line, "gitdir: ")
		if !filepath.IsAbs(gitDir) {
			gitDir = filepath.Join(root, gitDir)
		}
	}
	commonDir = gitDir
	if b, err := os.ReadFile(filepath.Join(gitDir, "commondir")); err == nil {
		commonDir = strings.TrimSpace(string(b))
		if !filepath.IsAbs(commonDir) {
			commonDir = filepath.Join(gitDir, commonDir)
		}
	}
	return filepath.Clean(gitDir), filepath.Clean(commonDir), nil
}

// isBareDir reports whether dir looks like a bare repository.
func isBareDir(dir string) bool {
	for _, p := range []string{"HEAD", "objects", "refs"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			return false
		}
	}
	return true
}

// Root returns the work tree's root directory (absolute).
func (l *Local) Root() string { return l.root }

// Head returns the current branch's short name and the SHA it points at.
// A detached HEAD or a branch without commits is an error (ErrDetachedHead,
// ErrUnbornBranch) that says what to do.
func (l *Local) Head(ctx context.Context) (branch, sha string, err error) {
	if err := ctx.Err(); err != nil {
		return "", "", err
	}
	ref, err := l.head()
	if err != nil {
		return "", "", err
	}
	return ref.Name().Short(), ref.Hash().String(), nil
}

// head resolves HEAD to its branch reference (name = refs/heads/..., hash = tip).
func (l *Local) head() (*plumbing.Reference, error) {
	h, err := l.repo.Storer.Reference(plumbing.HEAD)
	if err != nil {
		return nil, fmt.Errorf("reading HEAD of %s: %w", l.root, err)
	}
	if h.Type() != plumbing.SymbolicReference {
		return nil, fmt.Errorf("%s: %w at %s; check out a branch first", l.root, ErrDetachedHead, h.Hash())
	}
	name := h.Target()
	if !name.IsBranch() {
		return nil, fmt.Errorf("%s: HEAD points at %s, not a branch", l.root, name)
	}
	ref, err := l.repo.Storer.Reference(name)
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return nil, fmt.Errorf("%s: %s: %w; make a first commit", l.root, name.Short(), ErrUnbornBranch)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s in %s: %w", name, l.root, err)
	}
	return plumbing.NewHashReference(name, ref.Hash()), nil
}

// headCommit returns HEAD's branch reference and commit.
func (l *Local) headCommit() (*plumbing.Reference, *object.Commit, error) {
	ref, err := l.head()
	if err != nil {
		return nil, nil, err
	}
	c, err := l.repo.CommitObject(ref.Hash())
	if err != nil {
		return nil, nil, fmt.Errorf("reading commit %s of %s: %w", ref.Hash(), l.root, err)
	}
	return ref, c, nil
}

// Tree returns the work tree as a read-only fs.FS. The .git entry at the
// root is hidden; everything else (including untracked files) is visible,
// so callers should EnsureClean first.
func (l *Local) Tree() fs.FS { return workFS{fsys: os.DirFS(l.root)} }

// workFS is os.DirFS without the root's .git.
type workFS struct{ fsys fs.FS }

var (
	_ fs.ReadFileFS = workFS{}
	_ fs.ReadDirFS  = workFS{}
	_ fs.StatFS     = workFS{}
)

func hiddenPath(name string) bool {
	first, _, _ := strings.Cut(name, "/")
	return first == ".git"
}

func (w workFS) Open(name string) (fs.File, error) {
	if hiddenPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	f, err := w.fsys.Open(name)
	if err != nil || name != "." {
		return f, err
	}
	if d, ok := f.(fs.ReadDirFile); ok {
		return rootDir{d}, nil
	}
	return f, nil
}

func (w workFS) ReadFile(name string) ([]byte, error) {
	if hiddenPath(name) {
		return nil, &fs.PathError{Op: "read", Path: name, Err: fs.ErrNotExist}
	}
	return fs.ReadFile(w.fsys, name)
}

func (w workFS) ReadDir(name string) ([]fs.DirEntry, error) {
	if hiddenPath(name) {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrNotExist}
	}
	entries, err := fs.ReadDir(w.fsys, name)
	if name == "." {
		entries = withoutGit(entries)
	}
	return entries, err
}

func (w workFS) Stat(name string) (fs.FileInfo, error) {
	if hiddenPath(name) {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
	}
	return fs.Stat(w.fsys, name)
}

func withoutGit(entries []fs.DirEntry) []fs.DirEntry {
	out := entries[:0]
	for _, e := range entries {
		if e.Name() != ".git" {
			out = append(out, e)
		}
	}
	return out
}

// rootDir filters .git out of the root directory's listing.
type rootDir struct{ fs.ReadDirFile }

func (d rootDir) ReadDir(n int) ([]fs.DirEntry, error) {
	entries, err := d.ReadDirFile.ReadDir(n)
	filtered := withoutGit(entries)
	if n > 0 && len(filtered) == 0 && len(entries) > 0 && err == nil {
		return d.ReadDir(n) // the batch held only .git
	}
	return filtered, err
}
