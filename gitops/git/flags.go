package git

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"
)

// Environment variables the CLI flags fall back to.
const (
	EnvToken         = "GITOVER_GIT_TOKEN"
	EnvSSHPassphrase = "GITOVER_SSH_KEY_PASSPHRASE"
)

// Flags are the CLI's Git credential flags. Secrets are read from files
// (or the environment), never taken literally from the command line, where
// they would show in process listings and shell history.
type Flags struct {
	Username              string
	PasswordFile          string
	TokenFile             string
	SSHKeyFile            string
	SSHKeyPassphraseFile  string
	KnownHostsFile        string
	InsecureIgnoreHostKey bool
}

// AddFlags registers the flags on fs.
func (f *Flags) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&f.Username, "git-username", "", "user name for HTTPS Git remotes (default with a token: "+DefaultTokenUsername+")")
	fs.StringVar(&f.PasswordFile, "git-password-file", "", "file holding the HTTPS password")
	fs.StringVar(&f.TokenFile, "git-token-file", "", "file holding an HTTPS access token (or set "+EnvToken+")")
	fs.StringVar(&f.SSHKeyFile, "ssh-key", "", "SSH private key file for ssh:// or user@host:path remotes")
	fs.StringVar(&f.SSHKeyPassphraseFile, "ssh-key-passphrase-file", "", "file holding the SSH key's passphrase (or set "+EnvSSHPassphrase+")")
	fs.StringVar(&f.KnownHostsFile, "known-hosts", "", "known_hosts file for SSH host key verification (default ~/.ssh/known_hosts)")
	fs.BoolVar(&f.InsecureIgnoreHostKey, "insecure-ignore-host-key", false, "INSECURE: accept any SSH host key")
}

// Auth reads the files the flags name and returns credentials for rawURL.
func (f *Flags) Auth(rawURL string) (Auth, error) {
	ep, err := endpoint(rawURL)
	if err != nil {
		return Auth{}, err
	}
	pass, err := readSecretFile("--git-password-file", f.PasswordFile)
	if err != nil {
		return Auth{}, err
	}
	token, err := readSecretFile("--git-token-file", f.TokenFile)
	if err != nil {
		return Auth{}, err
	}
	if token == "" && pass == "" {
		token = strings.TrimSpace(os.Getenv(EnvToken))
	}
	if ep.Protocol != "ssh" {
		if f.SSHKeyFile != "" {
			return Auth{}, fmt.Errorf("--ssh-key is for SSH remotes; %s is %s", redactURL(rawURL), ep.Protocol)
		}
		return basicAuth(redactURL(rawURL), f.Username, pass, token)
	}
	if f.PasswordFile != "" || f.TokenFile != "" {
		return Auth{}, fmt.Errorf("--git-password-file/--git-token-file are for HTTPS remotes; %s is SSH (use --ssh-key)", redactURL(rawURL))
	}
	if f.SSHKeyFile == "" {
		return Auth{}, fmt.Errorf("SSH remote %s needs --ssh-key", redactURL(rawURL))
	}
	key, err := os.ReadFile(f.SSHKeyFile)
	if err != nil {
		return Auth{}, fmt.Errorf("reading --ssh-key: %w", err)
	}
	passphrase, err := readSecretFile("--ssh-key-passphrase-file", f.SSHKeyPassphraseFile)
	if err != nil {
		return Auth{}, err
	}
	if passphrase == "" {
		passphrase = os.Getenv(EnvSSHPassphrase)
	}
	a := Auth{SSHPrivateKey: key, InsecureIgnoreHostKey: f.InsecureIgnoreHostKey}
	if passphrase != "" {
		a.SSHPassphrase = []byte(passphrase)
	}
	if f.KnownHostsFile != "" {
		if _, err := os.Stat(f.KnownHostsFile); err != nil {
			return Auth{}, fmt.Errorf("reading --known-hosts: %w", err)
		}
		a.KnownHostsFiles = []string{f.KnownHostsFile}
	}
	return a, nil
}

// readSecretFile returns a file's content without its trailing line break.
func readSecretFile(flag, path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", flag, err)
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", fmt.Errorf("%s %s is empty", flag, path)
	}
	return s, nil
}
