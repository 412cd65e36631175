//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/kubernetes"

	"github.com/gitover/gitover/internal/lab"
)

// The lab's own fixture: plain workloads (ConfigMap, Deployment with zero
// replicas, Service) until the KubeVirt/CDI simulator exists.
const (
	miniPlan      = "internal/lab/testdata/plans/mini.yaml"
	miniRepo      = "internal/lab/testdata/repos/mini"
	miniHubPath   = "hub/single"
	miniAppSet    = "mini"
	miniPlacement = "mini-placement"
	miniNamespace = "mini"
	placementFile = "hub/single/placement.yaml"
	appSetFile    = "hub/single/appset.yaml"
)

// labCLI runs the lab command (a separate process, as a user would) and
// returns its combined output.
func labCLI(ctx context.Context, t testing.TB, args ...string) (string, error) {
	t.Helper()
	full := append(append([]string{}, helper[1:]...), args...)
	cmd := exec.CommandContext(ctx, helper[0], full...)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "GITOVER_LAB_BIN="+binDir)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	return out.String(), err
}

// miniConfig is the Config of a lab on the mini fixture in dir.
func miniConfig(dir string, log logr.Logger) lab.Config {
	return lab.Config{
		Dir:      dir,
		BinDir:   binDir,
		Helper:   helper,
		PlanFile: filepath.Join(repoRoot, miniPlan),
		RepoDir:  filepath.Join(repoRoot, miniRepo),
		HubPath:  miniHubPath,
		Logger:   log,
	}
}

// upArgs are the CLI flags for a lab on the mini fixture.
func upArgs(dir string) []string {
	return []string{"up", "--dir", dir, "--bin", binDir,
		"--plan", filepath.Join(repoRoot, miniPlan), "--repo", filepath.Join(repoRoot, miniRepo), "--hub-path", miniHubPath}
}

// testLogger logs through t.
func testLogger(t testing.TB) logr.Logger {
	if tt, ok := t.(*testing.T); ok {
		return testr.New(tt)
	}
	return logr.Discard()
}

func kube(t testing.TB, l *lab.Lab, cluster string) kubernetes.Interface {
	t.Helper()
	cfg, err := l.RESTConfig(cluster)
	require.NoError(t, err)
	cs, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	return cs
}

// gitWork is a clone of the lab repository, pushed to over smart HTTP
// with basic auth (the credentials travel in a header, never in a URL).
type gitWork struct {
	dir  string
	auth string
	info lab.GitInfo
}

func cloneLabRepo(ctx context.Context, t testing.TB, l *lab.Lab) *gitWork {
	t.Helper()
	info, err := l.Git()
	require.NoError(t, err)
	w := &gitWork{
		dir:  t.TempDir(),
		auth: "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(info.Username+":"+info.Password)),
		info: info,
	}
	w.git(ctx, t, "", "clone", "--quiet", "--branch", info.Branch, info.URL, w.dir)
	w.git(ctx, t, w.dir, "config", "user.name", "gitover e2e")
	w.git(ctx, t, w.dir, "config", "user.email", "e2e@gitover.invalid")
	return w
}

func (w *gitWork) git(ctx context.Context, t testing.TB, dir string, args ...string) string {
	t.Helper()
	full := append([]string{"-c", "http.extraHeader=" + w.auth}, args...)
	cmd := exec.CommandContext(ctx, "git", full...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "git %s: %s", args[0], out)
	return strings.TrimSpace(string(out))
}

// flip rewrites the mini fixture's Placement value (and, with overlay, the
// ApplicationSet's overlay path) from one site to the other, commits and
// pushes; it returns the pushed commit.
func (w *gitWork) flip(ctx context.Context, t testing.TB, from, to string, overlay bool) string {
	t.Helper()
	w.git(ctx, t, w.dir, "pull", "--quiet", "--ff-only")
	replace := func(file, old, new string) {
		path := filepath.Join(w.dir, filepath.FromSlash(file))
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		require.Contains(t, string(data), old, "%s is not at %s", file, from)
		require.NoError(t, os.WriteFile(path, []byte(strings.Replace(string(data), old, new, 1)), 0o644))
	}
	replace(placementFile, "- "+from+"\n", "- "+to+"\n")
	if overlay {
		replace(appSetFile, "path: app/overlays/"+from+"\n", "path: app/overlays/"+to+"\n")
	}
	w.git(ctx, t, w.dir, "commit", "--quiet", "-am", fmt.Sprintf("Fail over mini from %s to %s", from, to))
	w.git(ctx, t, w.dir, "push", "--quiet", "origin", "HEAD:"+w.info.Branch)
	return w.git(ctx, t, w.dir, "rev-parse", "HEAD")
}

// waitDecision waits until the Placement's decisions select exactly want.
func waitDecision(ctx context.Context, t testing.TB, l *lab.Lab, placement string, want []string, timeout time.Duration) {
	t.Helper()
	var got []string
	require.Eventually(t, func() bool {
		var err error
		got, err = l.PlacementDecisions(ctx, l.ArgoCDNamespace(), placement)
		return err == nil && strings.Join(got, ",") == strings.Join(want, ",")
	}, timeout, 50*time.Millisecond, "PlacementDecisions of %s: want %v", placement, want)
}

func itoa(i int) string { return strconv.Itoa(i) }

// listening reports whether something accepts connections on 127.0.0.1:port.
func listening(port int) bool {
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", itoa(port)), 200*time.Millisecond)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}
