package labcmd

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
	for _, flag := range []string{"plan", "repo", "hub-path", "topology", "bin", "timeout", "keep-on-failure"} {
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
