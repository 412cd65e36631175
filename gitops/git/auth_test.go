package git

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAuthFromSecret(t *testing.T) {
	key := []byte("-----BEGIN OPENSSH PRIVATE KEY-----\nxyz\n-----END OPENSSH PRIVATE KEY-----\n")
	tests := []struct {
		name    string
		data    map[string][]byte
		url     string
		want    Auth
		wantErr string
	}{
		{"token only", map[string][]byte{"token": []byte("ghp_abc\n")}, "https://github.com/o/r.git",
			Auth{Username: DefaultTokenUsername, Password: "ghp_abc"}, ""},
		{"username and token", map[string][]byte{"username": []byte("oauth2"), "token": []byte("glpat-x")}, "https://gitlab.com/o/r.git",
			Auth{Username: "oauth2", Password: "glpat-x"}, ""},
		{"username and password", map[string][]byte{"username": []byte("bob"), "password": []byte("pw")}, "https://git.example.com/r.git",
			Auth{Username: "bob", Password: "pw"}, ""},
		{"empty secret is anonymous", map[string][]byte{}, "https://github.com/o/r.git", Auth{}, ""},
		{"password and token", map[string][]byte{"username": []byte("b"), "password": []byte("p"), "token": []byte("t")}, "https://h/r.git",
			Auth{}, "both a password and a token"},
		{"password without username", map[string][]byte{"password": []byte("p")}, "https://h/r.git", Auth{}, "needs a username"},
		{"username alone", map[string][]byte{"username": []byte("bob")}, "https://h/r.git", Auth{}, "has no password or token"},
		{"ssh key", map[string][]byte{"sshPrivateKey": key, "known_hosts": []byte("h ssh-ed25519 AAAA"), "passphrase": []byte("pp")}, "ssh://git@h/r.git",
			Auth{SSHPrivateKey: key, KnownHosts: []byte("h ssh-ed25519 AAAA"), SSHPassphrase: []byte("pp")}, ""},
		{"flux-style keys, scp URL", map[string][]byte{"identity": key, "knownHosts": []byte("kh")}, "git@github.com:o/r.git",
			Auth{SSHPrivateKey: key, KnownHosts: []byte("kh")}, ""},
		{"ssh URL without key", map[string][]byte{"known_hosts": []byte("kh")}, "ssh://git@h/r.git", Auth{}, "no \"sshPrivateKey\""},
		{"token for ssh URL", map[string][]byte{"token": []byte("t")}, "ssh://git@h/r.git", Auth{}, "are for HTTPS URLs"},
		{"key for https URL", map[string][]byte{"sshPrivateKey": key}, "https://h/r.git", Auth{}, "is for SSH URLs"},
		{"password in URL", map[string][]byte{}, "https://u:secret@h/r.git", Auth{}, "carries a password"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := AuthFromSecret(tc.data, tc.url)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.ErrorContains(t, err, tc.wantErr)
				assert.NotContains(t, err.Error(), "secret@")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestAuthNeverPrintsSecrets(t *testing.T) {
	a := Auth{Username: "bob", Password: "s3cr3t-token", SSHPassphrase: []byte("pp-secret")}
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(f, a)
		assert.NotContains(t, out, "s3cr3t-token", f)
		assert.NotContains(t, out, "pp-secret", f)
	}
	assert.Equal(t, "basic auth as bob", a.MarshalLog())
	assert.Equal(t, "anonymous", Auth{}.String())
	assert.Contains(t, Auth{SSHPrivateKey: []byte("k"), InsecureIgnoreHostKey: true}.String(), "NOT verified")

	ep, err := endpoint("https://h.example/r.git")
	require.NoError(t, err)
	m, err := a.method(ep)
	require.NoError(t, err)
	assert.NotContains(t, m.String(), "s3cr3t-token")
	assert.Equal(t, &githttp.BasicAuth{Username: "bob", Password: "s3cr3t-token"}, m)
}

func TestRedactURL(t *testing.T) {
	tests := map[string]string{
		"https://u:pw@h/r.git":   "https://u:xxxxx@h/r.git",
		"https://u@h/r.git":      "https://u@h/r.git",
		"https://h/r.git":        "https://h/r.git",
		"git@github.com:o/r.git": "git@github.com:o/r.git",
		"ssh://git@h:22/r.git":   "ssh://git@h:22/r.git",
		"https://u:p%zz@h/r":     "https://***@h/r",
	}
	for in, want := range tests {
		assert.Equal(t, want, redactURL(in), in)
	}
}

func TestFlags(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		return p
	}
	tokenFile := write("token", "ghp_token\n")
	passFile := write("pass", "pw\r\n")
	emptyFile := write("empty", "\n")
	keyFile := write("key", "KEY")
	khFile := write("kh", "h ssh-ed25519 AAAA\n")
	ppFile := write("pp", "phrase\n")
	tests := []struct {
		name    string
		args    []string
		env     string
		url     string
		want    Auth
		wantErr string
	}{
		{"token file", []string{"--git-token-file", tokenFile}, "", "https://h/r.git",
			Auth{Username: DefaultTokenUsername, Password: "ghp_token"}, ""},
		{"token from env", nil, "env-token", "https://h/r.git", Auth{Username: DefaultTokenUsername, Password: "env-token"}, ""},
		{"file beats env", []string{"--git-username", "bob", "--git-password-file", passFile}, "env-token", "https://h/r.git",
			Auth{Username: "bob", Password: "pw"}, ""},
		{"anonymous", nil, "", "https://h/r.git", Auth{}, ""},
		{"empty token file", []string{"--git-token-file", emptyFile}, "", "https://h/r.git", Auth{}, "is empty"},
		{"missing file", []string{"--git-token-file", filepath.Join(dir, "nope")}, "", "https://h/r.git", Auth{}, "reading --git-token-file"},
		{"ssh", []string{"--ssh-key", keyFile, "--known-hosts", khFile, "--ssh-key-passphrase-file", ppFile}, "", "ssh://git@h/r.git",
			Auth{SSHPrivateKey: []byte("KEY"), SSHPassphrase: []byte("phrase"), KnownHostsFiles: []string{khFile}}, ""},
		{"ssh insecure", []string{"--ssh-key", keyFile, "--insecure-ignore-host-key"}, "", "git@h:r.git",
			Auth{SSHPrivateKey: []byte("KEY"), InsecureIgnoreHostKey: true}, ""},
		{"ssh without key", nil, "", "ssh://git@h/r.git", Auth{}, "needs --ssh-key"},
		{"ssh with token file", []string{"--ssh-key", keyFile, "--git-token-file", tokenFile}, "", "ssh://git@h/r.git", Auth{}, "are for HTTPS remotes"},
		{"key for https", []string{"--ssh-key", keyFile}, "", "https://h/r.git", Auth{}, "is for SSH remotes"},
		{"missing known_hosts", []string{"--ssh-key", keyFile, "--known-hosts", filepath.Join(dir, "nope")}, "", "ssh://git@h/r.git", Auth{}, "reading --known-hosts"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(EnvToken, tc.env)
			t.Setenv(EnvSSHPassphrase, "")
			var f Flags
			fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
			f.AddFlags(fs)
			require.NoError(t, fs.Parse(tc.args))
			got, err := f.Auth(tc.url)
			if tc.wantErr != "" {
				assert.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestCachePath(t *testing.T) {
	c := newClient(t)
	a, err := c.CachePath("https://github.com/org/shop.git")
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(c.dir, "github.com"), filepath.Dir(a))
	assert.Regexp(t, `^org_shop-[0-9a-f]{12}\.git$`, filepath.Base(a))
	b, err := c.CachePath("git@github.com:org/shop.git")
	require.NoError(t, err)
	assert.NotEqual(t, a, b, "different transports get different clones")
	again, err := c.CachePath("https://github.com/org/shop.git")
	require.NoError(t, err)
	assert.Equal(t, a, again)
	p, err := c.CachePath("http://127.0.0.1:8080/a/b/../c.git")
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(c.dir, "127.0.0.1_8080"), filepath.Dir(p))
}
