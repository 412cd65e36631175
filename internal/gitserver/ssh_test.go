package gitserver

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
)

// TestSSHServer drives the server with the real OpenSSH client and git CLI.
func TestSSHServer(t *testing.T) {
	if _, err := os.Stat("/usr/bin/ssh"); err != nil {
		t.Skip("no OpenSSH client; the gitops/git tests cover the server with go-git")
	}
	ctx := context.Background()
	root := t.TempDir()
	bare, err := InitBare(root, "shop.git", "main")
	require.NoError(t, err)
	_, err = CommitFiles(ctx, bare, "main", map[string][]byte{"README": []byte("hi\n")}, "seed")
	require.NoError(t, err)

	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	signer, err := ssh.NewSignerFromKey(priv)
	require.NoError(t, err)
	block, err := ssh.MarshalPrivateKey(priv, "")
	require.NoError(t, err)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "id")
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600))

	srv, err := StartSSH(ctx, root, SSHOptions{AuthorizedKeys: []ssh.PublicKey{signer.PublicKey()}})
	require.NoError(t, err)
	defer srv.Close()
	known := filepath.Join(dir, "known_hosts")
	require.NoError(t, os.WriteFile(known, []byte(srv.KnownHostsLine()+"\n"), 0o600))

	sshCmd := "ssh -i " + keyFile + " -o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile=" + known + " -o StrictHostKeyChecking=yes"
	t.Setenv("GIT_SSH_COMMAND", sshCmd)
	work := t.TempDir()
	out, err := gitCLI(t, work, "clone", "--quiet", srv.URL("shop.git"), "c")
	require.NoError(t, err, out)
	clone := filepath.Join(work, "c")
	require.NoError(t, os.WriteFile(filepath.Join(clone, "x"), []byte("x\n"), 0o644))
	_, err = gitCLI(t, clone, "add", "x")
	require.NoError(t, err)
	_, err = gitCLI(t, clone, "commit", "--quiet", "-m", "x")
	require.NoError(t, err)
	out, err = gitCLI(t, clone, "push", "--quiet", "origin", "main")
	require.NoError(t, err, out)
	local, _ := gitCLI(t, clone, "rev-parse", "HEAD")
	head, err := Head(ctx, bare, "main")
	require.NoError(t, err)
	assert.Equal(t, strings.TrimSpace(local), head)

	// A different host key in known_hosts: the client refuses.
	other, err := NewEd25519Signer()
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(known, []byte("["+strings.Replace(srv.Addr(), ":", "]:", 1)+" "+
		strings.TrimSpace(string(ssh.MarshalAuthorizedKey(other.PublicKey())))+"\n"), 0o600))
	out, err = gitCLI(t, work, "ls-remote", srv.URL("shop.git"))
	require.Error(t, err)
	assert.Contains(t, out, "HOST IDENTIFICATION HAS CHANGED")

	// Commands other than upload-pack/receive-pack are refused.
	require.NoError(t, os.WriteFile(known, []byte(srv.KnownHostsLine()+"\n"), 0o600))
	client, err := ssh.Dial("tcp", srv.Addr(), &ssh.ClientConfig{
		User: "git", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.FixedHostKey(srv.HostKey()),
	})
	require.NoError(t, err)
	defer client.Close()
	sess, err := client.NewSession()
	require.NoError(t, err)
	out2, err := sess.CombinedOutput("sh -c id")
	require.Error(t, err)
	assert.Contains(t, string(out2), "command not allowed")

	// Unknown client keys are refused.
	stranger, err := NewEd25519Signer()
	require.NoError(t, err)
	_, err = ssh.Dial("tcp", srv.Addr(), &ssh.ClientConfig{
		User: "git", Auth: []ssh.AuthMethod{ssh.PublicKeys(stranger)},
		HostKeyCallback: ssh.FixedHostKey(srv.HostKey()),
	})
	assert.ErrorContains(t, err, "unable to authenticate")
}

func TestSSHParseCommand(t *testing.T) {
	root := t.TempDir()
	_, err := InitBare(root, "a.git", "main")
	require.NoError(t, err)
	s := &SSHServer{root: root}
	tests := []struct {
		cmd     string
		service string
		wantErr string
	}{
		{"git-upload-pack '/a.git'", "upload-pack", ""},
		{"git-receive-pack 'a.git'", "receive-pack", ""},
		{"git upload-pack '/a.git'", "upload-pack", ""},
		{"git-upload-pack '/../../etc'", "", "not found"},
		{"git-upload-pack '/missing.git'", "", "not found"},
		{"rm -rf /", "", "not allowed"},
		{"git-upload-pack", "", "not allowed"},
		{"git-upload-pack 'a.git'\\''x'", "", "invalid"},
	}
	for _, tc := range tests {
		t.Run(tc.cmd, func(t *testing.T) {
			svc, dir, err := s.parseCommand(tc.cmd)
			if tc.wantErr != "" {
				assert.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.service, svc)
			assert.Equal(t, filepath.Join(root, "a.git"), dir)
		})
	}
}
