package webhook

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOptionsFlags(t *testing.T) {
	o := NewOptions()
	fs := pflag.NewFlagSet("gitover", pflag.ContinueOnError)
	o.AddFlags(fs)
	assert.Equal(t, DefaultBindAddress, o.BindAddress)
	assert.Equal(t, DefaultMaxBodyBytes, o.MaxBodyBytes)
	for _, name := range []string{"webhook-bind-address", "webhook-github-secret-file", "webhook-gitlab-token-file",
		"webhook-insecure-allow-unsigned", "webhook-max-body-bytes"} {
		assert.NotNil(t, fs.Lookup(name), name)
	}

	require.NoError(t, fs.Parse([]string{
		"--webhook-bind-address=127.0.0.1:9000",
		"--webhook-github-secret-file=/etc/gitover/github",
		"--webhook-gitlab-token-file=/etc/gitover/gitlab",
		"--webhook-insecure-allow-unsigned",
		"--webhook-max-body-bytes=1048576",
	}))
	assert.Equal(t, &Options{
		BindAddress:           "127.0.0.1:9000",
		GitHubSecretFile:      "/etc/gitover/github",
		GitLabTokenFile:       "/etc/gitover/gitlab",
		InsecureAllowUnsigned: true,
		MaxBodyBytes:          1 << 20,
	}, o)
}

func TestOptionsValidateAndConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		return p
	}
	ghFile := write("github", "gh-file-secret\n")
	glFile := write("gitlab", "gl-file-token\r\n")
	emptyFile := write("empty", "\n")

	tests := []struct {
		name       string
		opts       func(o *Options)
		env        map[string]string
		wantErr    string
		wantNoSec  bool
		wantConfig func(t *testing.T, c Config)
	}{
		{
			name: "secrets from files, trailing line breaks removed",
			opts: func(o *Options) { o.GitHubSecretFile, o.GitLabTokenFile = ghFile, glFile },
			wantConfig: func(t *testing.T, c Config) {
				assert.Equal(t, []byte("gh-file-secret"), c.GitHubSecret)
				assert.Equal(t, []byte("gl-file-token"), c.GitLabToken)
				assert.False(t, c.AllowUnsigned)
				assert.Equal(t, DefaultMaxBodyBytes, c.MaxBodyBytes)
			},
		},
		{
			name: "secrets from the environment",
			env:  map[string]string{EnvGitHubSecret: "gh-env-secret", EnvGitLabToken: "gl-env-token"},
			wantConfig: func(t *testing.T, c Config) {
				assert.Equal(t, []byte("gh-env-secret"), c.GitHubSecret)
				assert.Equal(t, []byte("gl-env-token"), c.GitLabToken)
			},
		},
		{
			name: "one provider only",
			opts: func(o *Options) { o.GitLabTokenFile = glFile },
			wantConfig: func(t *testing.T, c Config) {
				assert.Empty(t, c.GitHubSecret)
				assert.Equal(t, []byte("gl-file-token"), c.GitLabToken)
			},
		},
		{
			name:    "no secret refuses to start",
			wantErr: "--webhook-insecure-allow-unsigned", wantNoSec: true,
		},
		{
			name: "insecure without secret",
			opts: func(o *Options) { o.InsecureAllowUnsigned = true },
			wantConfig: func(t *testing.T, c Config) {
				assert.True(t, c.AllowUnsigned)
				assert.Empty(t, c.GitHubSecret)
			},
		},
		{
			name:    "file and environment both set",
			opts:    func(o *Options) { o.GitHubSecretFile = ghFile },
			env:     map[string]string{EnvGitHubSecret: "gh-env-secret"},
			wantErr: "not both",
		},
		{
			name:    "missing file",
			opts:    func(o *Options) { o.GitHubSecretFile = filepath.Join(dir, "nope") },
			wantErr: "reading --webhook-github-secret-file",
		},
		{
			name:    "empty file",
			opts:    func(o *Options) { o.GitLabTokenFile = emptyFile },
			wantErr: "is empty",
		},
		{
			name:    "bind address without port",
			opts:    func(o *Options) { o.GitHubSecretFile, o.BindAddress = ghFile, "localhost" },
			wantErr: "--webhook-bind-address",
		},
		{
			name:    "body bound too small",
			opts:    func(o *Options) { o.GitHubSecretFile, o.MaxBodyBytes = ghFile, 10 },
			wantErr: "--webhook-max-body-bytes",
		},
		{
			name:    "body bound too large",
			opts:    func(o *Options) { o.GitHubSecretFile, o.MaxBodyBytes = ghFile, 64<<20 },
			wantErr: "--webhook-max-body-bytes",
		},
		{
			name: "disabled receiver needs no secret",
			opts: func(o *Options) { o.BindAddress = DisabledBindAddress },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(EnvGitHubSecret, "")
			t.Setenv(EnvGitLabToken, "")
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			o := NewOptions()
			if tt.opts != nil {
				tt.opts(o)
			}
			err := o.Validate()
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				for _, secret := range []string{"gh-file-secret", "gl-file-token", "gh-env-secret"} {
					assert.NotContains(t, err.Error(), secret)
				}
				if tt.wantNoSec {
					assert.ErrorIs(t, err, ErrNoSecret)
				}
				return
			}
			require.NoError(t, err)
			if tt.wantConfig != nil {
				c, err := o.Config()
				require.NoError(t, err)
				tt.wantConfig(t, c)
			}
		})
	}
}
