package gitserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// Identity used by CommitFiles.
const (
	commitName  = "gitserver"
	commitEmail = "gitserver@example.invalid"
)

// InitBare creates root/name as an empty bare repository whose HEAD points at
// branch (e.g. "main") and returns its path. name may contain slashes
// ("org/shop.git"). It fails if root/name already exists.
func InitBare(root, name string, branch string) (string, error) {
	if branch == "" {
		return "", errors.New("creating bare repository: empty branch name")
	}
	clean := path.Clean("/" + filepath.ToSlash(name))
	if clean == "/" || strings.Contains(name, "..") {
		return "", fmt.Errorf("creating bare repository: invalid name %q", name)
	}
	p := filepath.Join(root, filepath.FromSlash(clean))
	if _, err := os.Stat(p); err == nil {
		return "", fmt.Errorf("creating bare repository: %s already exists", p)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", fmt.Errorf("creating bare repository %s: %w", p, err)
	}
	ctx := context.Background()
	if _, err := runGit(ctx, "", nil, nil, "init", "--quiet", "--bare", "--initial-branch="+branch, p); err != nil {
		return "", fmt.Errorf("creating bare repository %s: %w", p, err)
	}
	if _, err := runGit(ctx, p, nil, nil, "config", "http.receivepack", "true"); err != nil {
		return "", fmt.Errorf("configuring bare repository %s: %w", p, err)
	}
	return p, nil
}

// CommitFiles lands one commit on branch of the bare repository at repoPath,
// writing files (slash paths relative to the repository root; a nil value
// deletes the path) on top of the branch's current head, or as the first
// commit when the branch does not exist yet. It updates the branch with a
// compare-and-swap, as a concurrent pusher would, and returns the new commit's
// SHA. Tests use it to play "another engineer" pushing a competing commit.
func CommitFiles(ctx context.Context, repoPath, branch string, files map[string][]byte, msg string) (string, error) {
	ref := "refs/heads/" + branch
	tmp, err := os.MkdirTemp("", "gitserver-commit-*")
	if err != nil {
		return "", fmt.Errorf("committing to %s: %w", repoPath, err)
	}
	defer os.RemoveAll(tmp)
	env := []string{
		"GIT_INDEX_FILE=" + filepath.Join(tmp, "index"),
		"GIT_AUTHOR_NAME=" + commitName, "GIT_AUTHOR_EMAIL=" + commitEmail,
		"GIT_COMMITTER_NAME=" + commitName, "GIT_COMMITTER_EMAIL=" + commitEmail,
	}
	parent := ""
	if out, err := runGit(ctx, repoPath, env, nil, "rev-parse", "--verify", "--quiet", ref+"^{commit}"); err == nil {
		parent = strings.TrimSpace(out)
		if _, err := runGit(ctx, repoPath, env, nil, "read-tree", parent); err != nil {
			return "", fmt.Errorf("committing to %s: reading %s: %w", repoPath, branch, err)
		}
	}
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		content := files[p]
		if content == nil {
			if _, err := runGit(ctx, repoPath, env, nil, "rm", "--cached", "--quiet", "--ignore-unmatch", "--", p); err != nil {
				return "", fmt.Errorf("committing to %s: removing %s: %w", repoPath, p, err)
			}
			continue
		}
		blob, err := runGit(ctx, repoPath, env, content, "hash-object", "-w", "--stdin")
		if err != nil {
			return "", fmt.Errorf("committing to %s: writing %s: %w", repoPath, p, err)
		}
		if _, err := runGit(ctx, repoPath, env, nil, "update-index", "--add", "--cacheinfo",
			"100644,"+strings.TrimSpace(blob)+","+p); err != nil {
			return "", fmt.Errorf("committing to %s: staging %s: %w", repoPath, p, err)
		}
	}
	tree, err := runGit(ctx, repoPath, env, nil, "write-tree")
	if err != nil {
		return "", fmt.Errorf("committing to %s: writing tree: %w", repoPath, err)
	}
	args := []string{"commit-tree", strings.TrimSpace(tree), "-F", "-"}
	if parent != "" {
		args = append(args, "-p", parent)
	}
	sha, err := runGit(ctx, repoPath, env, []byte(msg), args...)
	if err != nil {
		return "", fmt.Errorf("committing to %s: %w", repoPath, err)
	}
	sha = strings.TrimSpace(sha)
	old := parent
	if old == "" {
		old = strings.Repeat("0", len(sha))
	}
	if _, err := runGit(ctx, repoPath, env, nil, "update-ref", ref, sha, old); err != nil {
		return "", fmt.Errorf("committing to %s: moving %s: %w", repoPath, branch, err)
	}
	return sha, nil
}

// Head returns the SHA branch points at in the bare repository at repoPath.
func Head(ctx context.Context, repoPath, branch string) (string, error) {
	out, err := runGit(ctx, repoPath, nil, nil, "rev-parse", "--verify", "refs/heads/"+branch+"^{commit}")
	if err != nil {
		return "", fmt.Errorf("reading %s in %s: %w", branch, repoPath, err)
	}
	return strings.TrimSpace(out), nil
}

// runGit runs git with dir as its git directory (when set) and returns stdout.
func runGit(ctx context.Context, gitDir string, env []string, stdin []byte, args ...string) (string, error) {
	if gitDir != "" {
		args = append([]string{"--git-dir", gitDir}, args...)
	}
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Env = append(os.Environ(), env...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}
