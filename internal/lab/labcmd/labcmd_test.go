package labcmd

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gitover/gitover/internal/lab"
	"github.com/gitover/gitover/internal/sim/kubeletsim"
	"github.com/gitover/gitover/internal/sim/kubevirtsim"
)

func TestCommandTree(t *testing.T) {
	cmd := NewCommand()
	assert.Equal(t, "lab", cmd.Name())
	for _, name := range []string{"up", "down", "status", "env", "fail", "restore", "serve-git"} {
		sub, _, err := cmd.Find([]string{name})
		require.NoError(t, err, name)
		assert.Equal(t, name, sub.Name())
	}
	serve, _, err := cmd.Find([]string{"serve-git"})
	require.NoError(t, err)
	assert.True(t, serve.Hidden, "serve-git is a hidden helper")
	for _, flag := range []string{"plan", "repo", "hub-path", "topology", "bin", "timeout", "keep-on-failure", "simulations", "wait-apps"} {
		up, _, _ := cmd.Find([]string{"up"})
		assert.NotNil(t, up.Flags().Lookup(flag), "up --%s", flag)
	}
}

func TestHelperCommand(t *testing.T) {
	exe, err := os.Executable()
	require.NoError(t, err)
	tests := []struct {
		name string
		tree func() *cobra.Command // returns the "up" command inside its tree
		want []string
	}{
		{
			name: "lab under a gitover root",
			tree: func() *cobra.Command {
				root := &cobra.Command{Use: "gitover"}
				lab := NewCommand()
				root.AddCommand(lab)
				up, _, _ := lab.Find([]string{"up"})
				return up
			},
			want: []string{exe, "lab"},
		},
		{
			name: "lab as the root",
			tree: func() *cobra.Command {
				up, _, _ := NewCommand().Find([]string{"up"})
				return up
			},
			want: []string{exe},
		},
		{
			name: "lab nested deeper",
			tree: func() *cobra.Command {
				root := &cobra.Command{Use: "gitover"}
				dev := &cobra.Command{Use: "dev"}
				root.AddCommand(dev)
				lab := NewCommand()
				dev.AddCommand(lab)
				up, _, _ := lab.Find([]string{"up"})
				return up
			},
			want: []string{exe, "dev", "lab"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := helperCommand(tt.tree())
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestShellQuote(t *testing.T) {
	tests := map[string]string{
		"/plain/path":    "'/plain/path'",
		"with space":     "'with space'",
		"it's":           `'it'\''s'`,
		"$(rm -rf /)":    "'$(rm -rf /)'",
		"":               "''",
		"a\"double\"one": `'a"double"one'`,
	}
	for in, want := range tests {
		assert.Equal(t, want, shellQuote(in), in)
	}
}

func TestCommandsOnMissingLab(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"status", "--dir", dir},
		{"env", "--dir", dir},
		{"fail", "dr1", "--dir", dir},
		{"restore", "dr1", "--dir", dir},
	} {
		t.Run(args[0], func(t *testing.T) {
			cmd := NewCommand()
			var out bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetErr(&out)
			cmd.SetArgs(args)
			err := cmd.Execute()
			require.Error(t, err)
			assert.Contains(t, err.Error(), "no lab in "+dir)
		})
	}
}

func TestDownOnMissingLabIsANoOp(t *testing.T) {
	cmd := NewCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs([]string{"down", "--dir", t.TempDir()})
	require.NoError(t, cmd.Execute())
	assert.Contains(t, out.String(), "no lab in")
}

func TestWriteSamples(t *testing.T) {
	for _, topology := range []string{"single", "dual"} {
		t.Run(topology, func(t *testing.T) {
			dir := t.TempDir()
			repo, plan, err := writeSamples(dir, topology)
			require.NoError(t, err)
			assert.FileExists(t, plan)
			assert.DirExists(t, filepath.Join(repo, "hub", topology))
			assert.FileExists(t, filepath.Join(repo, "app", "base", "kustomization.yaml"))
			// A second call replaces the first copy.
			_, _, err = writeSamples(dir, topology)
			require.NoError(t, err)
		})
	}
	_, _, err := writeSamples(t.TempDir(), "triple")
	require.ErrorContains(t, err, "want single or dual")
}

func TestServeGitNeedsDir(t *testing.T) {
	cmd := NewCommand()
	cmd.SetArgs([]string{"serve-git"})
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	require.ErrorContains(t, cmd.Execute(), "--dir")
}

func TestSimulations(t *testing.T) {
	cfg := lab.Config{}
	WithSimulations(&cfg, "/opt/gitover", "registry.example.com/dr/gitover:v2")
	require.NotNil(t, cfg.PrepareCluster)
	require.NotNil(t, cfg.ExtraProcesses)
	assert.Empty(t, cfg.ExtraProcesses(lab.Cluster{Name: "hub", Hub: true}), "nothing is simulated on the hub")

	dr1 := lab.Cluster{Name: "dr1", Kubeconfig: "/lab/kubeconfig/dr1.yaml", LabDir: "/lab",
		Peers: []lab.Cluster{{Name: "dr2", Kubeconfig: "/lab/kubeconfig/dr2.yaml"}}}
	specs := cfg.ExtraProcesses(dr1)
	byName := map[string]lab.ProcessSpec{}
	for _, s := range specs {
		assert.Equal(t, "/opt/gitover", s.Path)
		byName[s.Name] = s
	}
	require.Len(t, byName, 3)
	kubelet := strings.Join(byName["sim-kubelet-dr1"].Args, " ")
	assert.Contains(t, kubelet, "sim kubelet --kubeconfig /lab/kubeconfig/dr1.yaml")
	assert.Contains(t, kubelet, "--gitover-bin /opt/gitover")
	assert.Contains(t, kubelet, "--images ghcr.io/gitover/gitover,registry.example.com/dr/gitover:v2", "gitover's image and the plan's")
	assert.Contains(t, kubelet, "--log-dir /lab/logs/pods/dr1")
	assert.Contains(t, strings.Join(byName["sim-kubevirt-dr1"].Args, " "), "sim kubevirt --kubeconfig /lab/kubeconfig/dr1.yaml --cluster-name dr1 --install-crds=false")
	assert.Contains(t, strings.Join(byName["sim-replicate-dr2-to-dr1"].Args, " "),
		"sim replicate --from-kubeconfig /lab/kubeconfig/dr2.yaml --from-name dr2 --to-kubeconfig /lab/kubeconfig/dr1.yaml --to-name dr1")

	// The sim commands the specs name exist in the binary's command tree.
	root := &cobra.Command{Use: "gitover"}
	sim := kubevirtsim.NewCommand()
	sim.AddCommand(kubeletsim.NewCommand())
	root.AddCommand(sim)
	for _, s := range specs {
		c, rest, err := root.Find(s.Args)
		require.NoError(t, err, s.Name)
		require.NoError(t, c.ParseFlags(rest), s.Name)
	}
}

func TestPlanImages(t *testing.T) {
	dir := t.TempDir()
	_, plan, err := writeSamples(dir, "single")
	require.NoError(t, err)
	images, err := planImages(plan)
	require.NoError(t, err)
	assert.Empty(t, images, "the demo plan uses gitover's default image")
	data, err := os.ReadFile(plan)
	require.NoError(t, err)
	custom := strings.Replace(string(data), "    enabled: true\n", "    enabled: true\n    image: registry.example.com/dr/gitover:v2\n", 1)
	require.NotEqual(t, string(data), custom)
	require.NoError(t, os.WriteFile(plan, []byte(custom), 0o644))
	images, err = planImages(plan)
	require.NoError(t, err)
	assert.Equal(t, []string{"registry.example.com/dr/gitover:v2"}, images)
}
