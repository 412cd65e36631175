package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/go-logr/logr"

	"github.com/gitover/gitover/internal/gitserver"
)

// GitInfo tells a client how to reach the lab's repository.
type GitInfo struct {
	// URL is the clone URL (http://127.0.0.1:PORT/gitover/demo.git), without credentials.
	URL string
	// Username and Password are the basic-auth credentials (pushes allowed).
	Username, Password string
	// BarePath is the bare repository on disk (for gitserver.CommitFiles and Head).
	BarePath string
	// Branch is the branch Argo CD follows.
	Branch string
}

func gitRoot(dir string) string         { return filepath.Join(dir, "git", "repos") }
func gitPasswordPath(dir string) string { return filepath.Join(dir, "git", "password") }

// gitURL is the repository URL the lab's Git server serves.
func (s *state) gitURL() string {
	return fmt.Sprintf("http://%s/%s", loopback(s.Ports.Git), strings.TrimPrefix(s.RepoName, "/"))
}

func (s *state) barePath() string {
	return filepath.Join(gitRoot(s.Dir), filepath.FromSlash(s.RepoName))
}

// gitPassword returns the lab's Git password, creating it on first use.
func gitPassword(dir string) (string, error) {
	return readOrCreateSecret(gitPasswordPath(dir), 16)
}

// readOrCreateSecret returns the hex secret stored at path, creating n
// random bytes there (mode 0600) on first use.
func readOrCreateSecret(path string, n int) (string, error) {
	if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
		return string(b), nil
	}
	buf := make([]byte, n)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("generating secret %s: %w", filepath.Base(path), err)
	}
	pw := hex.EncodeToString(buf)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("creating directory of %s: %w", path, err)
	}
	if err := os.WriteFile(path, []byte(pw), 0o600); err != nil {
		return "", fmt.Errorf("writing secret %s: %w", filepath.Base(path), err)
	}
	return pw, nil
}

// seedRepository creates the bare repository with the contents of
// repoDir as its first commit, replacing placeholder by the lab's URL in
// every file. An existing repository is left alone (it keeps its history
// across `lab down`/`lab up`).
func seedRepository(ctx context.Context, s *state, repoDir, placeholder string) error {
	bare := s.barePath()
	if _, err := os.Stat(filepath.Join(bare, "HEAD")); err == nil {
		return nil
	}
	files := map[string][]byte{}
	err := filepath.WalkDir(repoDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == ".git" {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(repoDir, path)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if placeholder != "" {
			data = []byte(strings.ReplaceAll(string(data), placeholder, s.gitURL()))
		}
		files[filepath.ToSlash(rel)] = data
		return nil
	})
	if err != nil {
		return fmt.Errorf("reading the repository fixture %s: %w", repoDir, err)
	}
	if len(files) == 0 {
		return fmt.Errorf("repository fixture %s holds no files", repoDir)
	}
	if _, err := gitserver.InitBare(gitRoot(s.Dir), s.RepoName, s.Branch); err != nil {
		return fmt.Errorf("seeding the lab repository: %w", err)
	}
	if _, err := gitserver.CommitFiles(ctx, bare, s.Branch, files, "Seed the lab repository from "+filepath.Base(repoDir)+"\n"); err != nil {
		_ = os.RemoveAll(bare)
		return fmt.Errorf("seeding the lab repository: %w", err)
	}
	return nil
}

// ServeGit runs the lab's Git server (smart HTTP with basic auth on the
// port recorded in DIR/lab.json) until ctx ends or SIGTERM/SIGINT arrives.
// It is what the hidden `lab serve-git` subcommand runs in the background.
func ServeGit(ctx context.Context, dir string, log logr.Logger) error {
	st, err := loadState(dir)
	if err != nil {
		return err
	}
	pw, err := gitPassword(dir)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	srv, err := gitserver.Start(ctx, gitRoot(dir), gitserver.Options{
		Username: GitUsername,
		Password: pw,
		Addr:     loopback(st.Ports.Git),
		Logger:   log,
	})
	if err != nil {
		return fmt.Errorf("starting the lab's Git server: %w", err)
	}
	log.Info("serving Git", "url", srv.URL(st.RepoName))
	<-ctx.Done()
	if err := srv.Close(); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
