package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gitover/gitover/gitops/git"
)

// fixture paths, relative to this package.
var (
	seedRepo  = filepath.Join("..", "..", "testdata", "repos", "seed004")
	seedPlan  = filepath.Join("..", "..", "testdata", "plans", "seed004.yaml")
	seedSites = [2]string{"dr1", "dr2"}
)

// gitRepo copies a fixture into a new Git repository with one commit.
func gitRepo(t *testing.T, fixture string) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.CopyFS(dir, os.DirFS(fixture)))
	runGit(t, dir, "init", "-q", "-b", "main")
	runGit(t, dir, "add", "-A")
	runGit(t, dir, "commit", "-q", "-m", "initial")
	return dir
}

func runGit(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_GLOBAL=/dev/null")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "git %v: %s", args, out)
	return strings.TrimSpace(string(out))
}

// snapshot hashes every file under dir, .git included.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		rel, _ := filepath.Rel(dir, p)
		out[rel] = hex.EncodeToString(sum[:])
		return nil
	}))
	return out
}

// gitover runs the command line in-process.
func gitover(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	root := NewRoot(Streams{Out: &out, Err: &errb})
	if cmd, _, err := root.Find(args); err == nil && cmd.Flags().Lookup("render-cache") != nil {
		args = append(args, "--render-cache", t.TempDir()) // keep tests off the user's cache
	}
	root.SetArgs(args)
	err = root.ExecuteContext(context.Background())
	return out.String(), errb.String(), err
}

func TestFailoverCommitsOnce(t *testing.T) {
	dir := gitRepo(t, seedRepo)
	before := runGit(t, dir, "rev-parse", "HEAD")
	out, _, err := gitover(t, "failover", "--plan", seedPlan, "--repo", dir, "--to", seedSites[1], "--author", "Ops Person <ops@example.com>")
	require.NoError(t, err, out)

	sha := lastLine(out)
	assert.Equal(t, sha, runGit(t, dir, "rev-parse", "HEAD"), "prints the new HEAD")
	assert.Equal(t, before, runGit(t, dir, "rev-parse", "HEAD~1"), "exactly one commit on top")
	msg := runGit(t, dir, "log", "-1", "--format=%B")
	tr := git.ParseTrailers(msg)
	assert.NotEmpty(t, tr[git.TrailerPlan])
	assert.Equal(t, []string{"failover"}, tr[git.TrailerAction])
	assert.Equal(t, []string{seedSites[1]}, tr[git.TrailerTarget])
	assert.Equal(t, "Ops Person <ops@example.com>", runGit(t, dir, "log", "-1", "--format=%an <%ae>"))
	assert.Empty(t, runGit(t, dir, "status", "--porcelain"), "the work tree matches the commit")

	// Second time: already active, no commit, exit 0.
	snap := snapshot(t, dir)
	out, _, err = gitover(t, "failover", "--plan", seedPlan, "--repo", dir, "--to", seedSites[1])
	require.NoError(t, err)
	assert.Contains(t, out, "already active on "+seedSites[1])
	assert.Equal(t, snap, snapshot(t, dir))

	// Relocating back restores every Placement and ApplicationSet file.
	_, _, err = gitover(t, "relocate", "--plan", seedPlan, "--repo", dir, "--to", seedSites[0])
	require.NoError(t, err)
	hubDiff := runGit(t, dir, "diff", "--stat", before, "HEAD", "--", "hub")
	assert.Empty(t, hubDiff, "hub files are byte-identical after failover + relocate")
	assert.Equal(t, []string{"relocate"}, git.ParseTrailers(runGit(t, dir, "log", "-1", "--format=%B"))[git.TrailerAction])
}

func TestDryRunAndPlanWriteNothing(t *testing.T) {
	dir := gitRepo(t, seedRepo)
	snap := snapshot(t, dir)
	out, _, err := gitover(t, "failover", "--plan", seedPlan, "--repo", dir, "--to", seedSites[1], "--dry-run")
	require.NoError(t, err)
	assert.Contains(t, out, "dry run: nothing committed")
	assert.Contains(t, out, "+++ b/hub/placement.yaml")
	assert.Equal(t, snap, snapshot(t, dir))

	out, _, err = gitover(t, "plan", "--plan", seedPlan, "--repo", dir, "--to", seedSites[1])
	require.NoError(t, err)
	assert.Contains(t, out, "diff --git a/hub/placement.yaml b/hub/placement.yaml")
	assert.Equal(t, snap, snapshot(t, dir))
}

func TestPlanThenFailoverRendersOnce(t *testing.T) {
	dir := gitRepo(t, seedRepo)
	cache := t.TempDir()
	var out bytes.Buffer
	run := func(args ...string) {
		root := NewRoot(Streams{Out: &out, Err: &out})
		root.SetArgs(append(args, "--render-cache", cache))
		require.NoError(t, root.ExecuteContext(context.Background()), out.String())
	}
	run("plan", "--plan", seedPlan, "--repo", dir, "--to", seedSites[1])
	assert.NotContains(t, out.String(), "cached render")
	out.Reset()
	run("failover", "--plan", seedPlan, "--repo", dir, "--to", seedSites[1])
	assert.Contains(t, out.String(), "2 of them unchanged since a cached render", "the plan's renders answer the failover's")
}

func TestProtectThenFailoverHasNoWarning(t *testing.T) {
	dir := gitRepo(t, seedRepo)
	out, _, err := gitover(t, "protect", "--plan", seedPlan, "--repo", dir)
	require.NoError(t, err, out)
	assert.Equal(t, []string{"protect"}, git.ParseTrailers(runGit(t, dir, "log", "-1", "--format=%B"))[git.TrailerAction])
	out, _, err = gitover(t, "protect", "--plan", seedPlan, "--repo", dir)
	require.NoError(t, err)
	assert.Contains(t, out, "already in place")

	out, _, err = gitover(t, "failover", "--plan", seedPlan, "--repo", dir, "--to", seedSites[1])
	require.NoError(t, err)
	assert.NotContains(t, out, "had no up-to-date disk protection")
}

func TestBadInputLeavesTheRepositoryAlone(t *testing.T) {
	plan, err := os.ReadFile(seedPlan)
	require.NoError(t, err)
	cases := []struct {
		name   string
		mutate func(t *testing.T, dir string) (planPath, repo string)
		to     string
		want   []string
	}{
		{name: "unknown site", to: "dr9", want: []string{`no site "dr9"`}},
		{name: "missing file", mutate: commitChange(func(dir string) error { return os.Remove(filepath.Join(dir, "hub", "placement.yaml")) }), want: []string{"hub/placement.yaml", "does not exist"}},
		{name: "placement not in file", mutate: commitChange(edit("hub/placement.yaml", "name: elasticsearch-demo-app-placement\n", "name: renamed\n")), want: []string{"hub/placement.yaml", "no Placement named"}},
		{name: "appset not in file", mutate: commitChange(edit("hub/applicationset.yaml", "name: elasticsearch-demo-app\n", "name: renamed\n")), want: []string{"hub/applicationset.yaml", "no ApplicationSet named"}},
		{name: "inconsistent: two sites active", mutate: commitChange(edit("hub/placement-secondary.yaml", `- "invalid"`, `- "secondary"`)), want: []string{"2 sites are active", "hub/placement.yaml", "hub/placement-secondary.yaml"}},
		{name: "overlay missing", mutate: commitChange(func(dir string) error { return os.RemoveAll(filepath.Join(dir, "app", "overlays", "secondary")) }), want: []string{"app/overlays/secondary"}},
		{name: "kustomize render failure", mutate: commitChange(edit("app/overlays/secondary/kustomization.yaml", "bases:\n", "bases:\n  - ../../missing\n")), want: []string{"app/overlays/secondary", "kustomize build failed before any edit", "missing"}},
		{name: "malformed yaml", mutate: commitChange(func(dir string) error {
			return appendFile(filepath.Join(dir, "hub", "placement.yaml"), "spec: [unclosed\n")
		}), want: []string{"hub/placement.yaml", "not valid YAML"}},
		{name: "dirty work tree", mutate: func(t *testing.T, dir string) (string, string) {
			require.NoError(t, appendFile(filepath.Join(dir, "hub", "placement.yaml"), "# local edit\n"))
			return seedPlan, dir
		}, want: []string{"not clean", "hub/placement.yaml"}},
		{name: "untracked file", mutate: func(t *testing.T, dir string) (string, string) {
			require.NoError(t, os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o644))
			return seedPlan, dir
		}, want: []string{"not clean", "notes.txt"}},
		{name: "not a git repository", mutate: func(t *testing.T, dir string) (string, string) {
			plain := filepath.Join(dir, "app")
			return seedPlan, plain
		}, want: []string{"not a Git repository"}},
		{name: "malformed plan", mutate: func(t *testing.T, dir string) (string, string) {
			p := filepath.Join(t.TempDir(), "plan.yaml")
			require.NoError(t, os.WriteFile(p, append(append([]byte{}, plan...), []byte("  bogus: 1\n")...), 0o644))
			return p, dir
		}, want: []string{"plan.yaml", `unknown field "bogus"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := gitRepo(t, seedRepo)
			planPath, repo := seedPlan, dir
			if tc.mutate != nil {
				planPath, repo = tc.mutate(t, dir)
			}
			to := tc.to
			if to == "" {
				to = seedSites[1]
			}
			snap := snapshot(t, dir)
			out, _, err := gitover(t, "failover", "--plan", planPath, "--repo", repo, "--to", to)
			require.Error(t, err, out)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.Equal(t, snap, snapshot(t, dir), "repository (HEAD, index and every file) unchanged")
		})
	}
}

// commitChange mutates the fixture and commits, so that only the plan is wrong.
func commitChange(f func(dir string) error) func(t *testing.T, dir string) (string, string) {
	return func(t *testing.T, dir string) (string, string) {
		require.NoError(t, f(dir))
		runGit(t, dir, "add", "-A")
		runGit(t, dir, "commit", "-q", "-m", "break it")
		return seedPlan, dir
	}
}

func edit(file, old, new string) func(dir string) error {
	return func(dir string) error {
		p := filepath.Join(dir, filepath.FromSlash(file))
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if !bytes.Contains(b, []byte(old)) {
			return &os.PathError{Op: "edit: no " + old + " in", Path: p, Err: os.ErrNotExist}
		}
		return os.WriteFile(p, bytes.Replace(b, []byte(old), []byte(new), 1), 0o644)
	}
}

func appendFile(p, s string) error {
	f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteString(s)
	return err
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func TestDemoRunsTheEmbeddedSample(t *testing.T) {
	for _, topology := range []string{"dual", "single"} {
		t.Run(topology, func(t *testing.T) {
			dir := t.TempDir()
			out, _, err := gitover(t, "demo", "--local", "--topology", topology, "--dir", dir)
			require.NoError(t, err, out)
			repo := filepath.Join(dir, "repo")
			assert.Equal(t, []string{"gitover: failover shop to dr2", "gitover: protect the VM disks of shop", "Sample application: shop on dr1"},
				strings.Split(runGit(t, repo, "log", "--format=%s"), "\n"))
			assert.Contains(t, out, "$ git show")
			active, _, err := gitover(t, "status", "--plan", filepath.Join(dir, "plan.yaml"), "--repo", repo)
			require.NoError(t, err)
			assert.Contains(t, active, "shop\tactive on dr2")
		})
	}
}
