package controllercmd

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gitover/gitover/gitops/webhook"
)

func TestValidate(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "github")
	require.NoError(t, os.WriteFile(secret, []byte("s3cret\n"), 0o600))
	t.Setenv(webhook.EnvGitHubSecret, "")
	t.Setenv(webhook.EnvGitLabToken, "")

	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "no webhook secret", args: nil, wantErr: "secret"},
		{name: "secret file", args: []string{"--webhook-github-secret-file", secret}},
		{name: "insecure flag", args: []string{"--webhook-insecure-allow-unsigned"}},
		{name: "receiver disabled", args: []string{"--webhook-bind-address", "0"}},
		{name: "bad bind address", args: []string{"--webhook-bind-address", "nonsense", "--webhook-insecure-allow-unsigned"}, wantErr: "--webhook-bind-address"},
		{name: "no cache dir", args: []string{"--webhook-bind-address", "0", "--git-cache-dir", ""}, wantErr: "--git-cache-dir"},
		{name: "zero poll", args: []string{"--webhook-bind-address", "0", "--pr-poll-interval", "0s"}, wantErr: "--pr-poll-interval"},
		{name: "no workers", args: []string{"--webhook-bind-address", "0", "--failover-workers", "0"}, wantErr: "workers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := NewOptions()
			require.NoError(t, newCommand(o).ParseFlags(tc.args))
			validated := o.Validate()
			if tc.wantErr == "" {
				assert.NoError(t, validated)
				return
			}
			require.Error(t, validated)
			assert.Contains(t, validated.Error(), tc.wantErr)
		})
	}
}
