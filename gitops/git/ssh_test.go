package git

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/gitover/gitover/internal/gitserver"
)

// sshKey returns a fresh ed25519 key as PEM (encrypted when passphrase is
// set) and its public key.
func sshKey(t *testing.T, passphrase string) ([]byte, ssh.PublicKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	var block *pem.Block
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(priv, "gitover test")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "gitover test", []byte(passphrase))
	}
	require.NoError(t, err)
	sp, err := ssh.NewPublicKey(pub)
	require.NoError(t, err)
	return pem.EncodeToMemory(block), sp
}

// TestApplyOverSSH pushes through a real SSH server (x/crypto/ssh serving
// git upload-pack/receive-pack) and checks host key verification against
// known_hosts for real: accepted, mismatched, unknown, missing, bypassed.
func TestApplyOverSSH(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	bare, err := gitserver.InitBare(root, "shop.git", "main")
	require.NoError(t, err)
	_, err = gitserver.CommitFiles(ctx, bare, "main", map[string][]byte{"README.md": []byte("shop\n")}, "seed")
	require.NoError(t, err)

	key, pub := sshKey(t, "")
	encKey, encPub := sshKey(t, "open sesame")
	strangerKey, _ := sshKey(t, "")
	srv, err := gitserver.StartSSH(ctx, root, gitserver.SSHOptions{AuthorizedKeys: []ssh.PublicKey{pub, encPub}})
	require.NoError(t, err)
	defer srv.Close()

	rsaPriv, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	rsaSigner, err := ssh.NewSignerFromKey(rsaPriv)
	require.NoError(t, err)
	rsaSrv, err := gitserver.StartSSH(ctx, root, gitserver.SSHOptions{HostKey: rsaSigner, AuthorizedKeys: []ssh.PublicKey{pub}})
	require.NoError(t, err)
	defer rsaSrv.Close()

	impostor, err := gitserver.NewEd25519Signer()
	require.NoError(t, err)
	wrongKeyLine := knownhosts.Line([]string{knownhosts.Normalize(srv.Addr())}, impostor.PublicKey())
	otherHostLine := knownhosts.Line([]string{"[git.example.com]:22"}, srv.HostKey())
	khFile := filepath.Join(t.TempDir(), "known_hosts")
	require.NoError(t, os.WriteFile(khFile, []byte(srv.KnownHostsLine()+"\n"), 0o600))

	tests := []struct {
		name    string
		url     string
		auth    Auth
		wantErr string
	}{
		{"known host", srv.URL("shop.git"), Auth{SSHPrivateKey: key, KnownHosts: []byte(srv.KnownHostsLine())}, ""},
		{"known_hosts file", srv.URL("shop.git"), Auth{SSHPrivateKey: key, KnownHostsFiles: []string{khFile}}, ""},
		{"rsa host key", rsaSrv.URL("shop.git"), Auth{SSHPrivateKey: key, KnownHosts: []byte(rsaSrv.KnownHostsLine())}, ""},
		{"encrypted key", srv.URL("shop.git"), Auth{SSHPrivateKey: encKey, SSHPassphrase: []byte("open sesame"), KnownHosts: []byte(srv.KnownHostsLine())}, ""},
		{"insecure bypass", srv.URL("shop.git"), Auth{SSHPrivateKey: key, InsecureIgnoreHostKey: true}, ""},
		{"host key mismatch", srv.URL("shop.git"), Auth{SSHPrivateKey: key, KnownHosts: []byte(wrongKeyLine)}, "does NOT match known_hosts"},
		{"host not in known_hosts", srv.URL("shop.git"), Auth{SSHPrivateKey: key, KnownHosts: []byte(otherHostLine)}, "is not in known_hosts"},
		{"no known_hosts", srv.URL("shop.git"), Auth{SSHPrivateKey: key}, "no known_hosts given"},
		{"encrypted key without passphrase", srv.URL("shop.git"), Auth{SSHPrivateKey: encKey, KnownHosts: []byte(srv.KnownHostsLine())}, "no passphrase"},
		{"wrong passphrase", srv.URL("shop.git"), Auth{SSHPrivateKey: encKey, SSHPassphrase: []byte("nope"), KnownHosts: []byte(srv.KnownHostsLine())}, "passphrase is wrong"},
		{"unauthorised client key", srv.URL("shop.git"), Auth{SSHPrivateKey: strangerKey, KnownHosts: []byte(srv.KnownHostsLine())}, "authentication to " + srv.URL("shop.git") + " failed"},
		{"password over ssh", srv.URL("shop.git"), Auth{Username: "u", Password: "p"}, "needs a private key"},
	}
	t.Setenv("HOME", t.TempDir()) // no ~/.ssh/known_hosts to fall back on
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(t)
			before := strings.TrimSpace(run(t, bare, "rev-parse", "main"))
			file := "ssh/" + strings.ReplaceAll(tc.name, " ", "-") + ".txt"
			res, err := c.Apply(ctx, Request{
				URL: tc.url, Branch: "main", Auth: tc.auth,
				Replan: func(_ context.Context, tree fs.FS, _ string) (map[string][]byte, string, error) {
					return map[string][]byte{file: []byte{byte('a' + i)}}, "over ssh: " + tc.name, nil
				},
			})
			after := strings.TrimSpace(run(t, bare, "rev-parse", "main"))
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.ErrorContains(t, err, tc.wantErr)
				assert.Equal(t, before, after, "nothing may be written remotely")
				return
			}
			require.NoError(t, err)
			assert.True(t, res.Pushed)
			assert.Equal(t, after, res.Head)
			assert.Equal(t, before, strings.TrimSpace(run(t, bare, "rev-parse", "main^")))
		})
	}
}

func TestHostKeyAlgorithms(t *testing.T) {
	ed, err := gitserver.NewEd25519Signer()
	require.NoError(t, err)
	rsaPriv, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	rsaPub, err := ssh.NewPublicKey(&rsaPriv.PublicKey)
	require.NoError(t, err)
	lines := knownhosts.Line([]string{"[h.example]:2222"}, ed.PublicKey()) + "\n" +
		knownhosts.Line([]string{"[h.example]:2222"}, rsaPub) + "\n" +
		knownhosts.Line([]string{"other.example"}, ed.PublicKey()) + "\n"
	cb, err := Auth{KnownHosts: []byte(lines)}.hostKeyCallback()
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{ssh.KeyAlgoED25519, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA},
		hostKeyAlgorithms(cb, "h.example:2222"))
	assert.Equal(t, []string{ssh.KeyAlgoED25519}, hostKeyAlgorithms(cb, "other.example:22"))
	assert.Empty(t, hostKeyAlgorithms(cb, "unknown.example:22"))
}
