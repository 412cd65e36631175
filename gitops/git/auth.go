package git

import (
	"crypto/ed25519"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// DefaultTokenUsername is the user name sent with a token when none is
// given. GitHub ignores the name for tokens (and documents this one for App
// installation tokens); GitLab accepts any non-empty name for personal,
// project and group access tokens, but OAuth tokens need "oauth2".
const DefaultTokenUsername = "x-access-token"

// Secret data keys AuthFromSecret reads.
const (
	SecretUsername      = "username"
	SecretPassword      = "password"
	SecretToken         = "token"
	SecretSSHPrivateKey = "sshPrivateKey" // also accepted: "identity"
	SecretPassphrase    = "passphrase"
	SecretKnownHosts    = "known_hosts" // also accepted: "knownHosts"
)

// Auth holds the credentials for one remote. The zero value is anonymous.
// Its String, GoString and MarshalLog methods never reveal a secret, so an
// Auth may be logged or printed with %v.
type Auth struct {
	// HTTPS basic auth; a token goes in Password.
	Username string
	Password string

	// SSH: a PEM private key (OpenSSH, PKCS#1/#8), with its passphrase when
	// it is encrypted.
	SSHPrivateKey []byte
	SSHPassphrase []byte
	// KnownHosts is known_hosts content; KnownHostsFiles are known_hosts
	// files. With neither, ~/.ssh/known_hosts is used when it exists.
	KnownHosts      []byte
	KnownHostsFiles []string
	// InsecureIgnoreHostKey accepts any SSH host key. Never the default.
	InsecureIgnoreHostKey bool

	// InsecureAllowHTTP allows sending credentials over plain http:// to a
	// host that is not loopback. Never the default.
	InsecureAllowHTTP bool
}

// String describes the credentials without revealing them.
func (a Auth) String() string {
	switch {
	case len(a.SSHPrivateKey) > 0:
		s := "ssh-key"
		if a.InsecureIgnoreHostKey {
			s += " (host key NOT verified)"
		}
		return s
	case a.Password != "":
		return "basic auth as " + a.Username
	default:
		return "anonymous"
	}
}

// GoString keeps %#v from printing the fields.
func (a Auth) GoString() string { return "git.Auth{" + a.String() + "}" }

// MarshalLog implements logr.Marshaler.
func (a Auth) MarshalLog() any { return a.String() }

// AuthFromSecret builds credentials for rawURL from a Kubernetes Secret's
// data. For http(s) URLs it reads username with password or token (a token
// without a username gets DefaultTokenUsername); for SSH URLs sshPrivateKey
// (or identity, as Flux names it), optional passphrase, and known_hosts (or
// knownHosts). Empty data means anonymous access. Keys that do not fit the
// URL's scheme are an error, so a misconfiguration is not silently ignored.
func AuthFromSecret(data map[string][]byte, rawURL string) (Auth, error) {
	ep, err := endpoint(rawURL)
	if err != nil {
		return Auth{}, err
	}
	get := func(keys ...string) []byte {
		for _, k := range keys {
			if v, ok := data[k]; ok && len(v) > 0 {
				return v
			}
		}
		return nil
	}
	key := get(SecretSSHPrivateKey, "identity")
	user := strings.TrimSpace(string(get(SecretUsername)))
	pass := string(get(SecretPassword))
	token := strings.TrimSpace(string(get(SecretToken)))
	if ep.Protocol == "ssh" {
		if pass != "" || token != "" {
			return Auth{}, fmt.Errorf("secret for %s: %q/%q are for HTTPS URLs; an SSH URL needs %q", redactURL(rawURL), SecretPassword, SecretToken, SecretSSHPrivateKey)
		}
		if key == nil {
			return Auth{}, fmt.Errorf("secret for %s: no %q for an SSH URL", redactURL(rawURL), SecretSSHPrivateKey)
		}
		return Auth{
			SSHPrivateKey: key,
			SSHPassphrase: get(SecretPassphrase),
			KnownHosts:    get(SecretKnownHosts, "knownHosts"),
		}, nil
	}
	if key != nil {
		return Auth{}, fmt.Errorf("secret for %s: %q is for SSH URLs, but the URL is %s", redactURL(rawURL), SecretSSHPrivateKey, ep.Protocol)
	}
	return basicAuth(redactURL(rawURL), user, pass, token)
}

// basicAuth combines a user name with a password or a token.
func basicAuth(what, user, pass, token string) (Auth, error) {
	switch {
	case pass != "" && token != "":
		return Auth{}, fmt.Errorf("credentials for %s: both a password and a token are set; set one", what)
	case token != "":
		if user == "" {
			user = DefaultTokenUsername
		}
		return Auth{Username: user, Password: token}, nil
	case pass != "":
		if user == "" {
			return Auth{}, fmt.Errorf("credentials for %s: a password needs a username", what)
		}
		return Auth{Username: user, Password: pass}, nil
	case user != "":
		return Auth{}, fmt.Errorf("credentials for %s: username %q has no password or token", what, user)
	}
	return Auth{}, nil
}

// method turns the credentials into go-git's auth for ep (nil: anonymous).
func (a Auth) method(ep *transport.Endpoint) (transport.AuthMethod, error) {
	switch ep.Protocol {
	case "ssh":
		return a.sshMethod(ep)
	case "http", "https":
		if len(a.SSHPrivateKey) > 0 {
			return nil, fmt.Errorf("an SSH key cannot authenticate to %s URL %s", ep.Protocol, redactEndpoint(ep))
		}
		if a.Password == "" {
			return nil, nil
		}
		if ep.Protocol == "http" && !a.InsecureAllowHTTP && !isLoopback(ep.Host) {
			return nil, fmt.Errorf("refusing to send credentials over plain http to %s; use https", ep.Host)
		}
		return &githttp.BasicAuth{Username: a.Username, Password: a.Password}, nil
	case "file":
		return nil, nil
	}
	return nil, fmt.Errorf("unsupported Git URL scheme %q", ep.Protocol)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// sshKeyAuth is go-git's ssh.AuthMethod with our host key verification.
type sshKeyAuth struct {
	user     string
	signer   ssh.Signer
	callback ssh.HostKeyCallback
	algos    []string
}

func (s *sshKeyAuth) Name() string   { return "ssh-public-keys" }
func (s *sshKeyAuth) String() string { return "user: " + s.user + ", name: ssh-public-keys" }
func (s *sshKeyAuth) ClientConfig() (*ssh.ClientConfig, error) {
	return &ssh.ClientConfig{
		User:              s.user,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(s.signer)},
		HostKeyCallback:   s.callback,
		HostKeyAlgorithms: s.algos,
	}, nil
}

func (a Auth) sshMethod(ep *transport.Endpoint) (transport.AuthMethod, error) {
	if len(a.SSHPrivateKey) == 0 {
		return nil, fmt.Errorf("SSH URL %s needs a private key", redactEndpoint(ep))
	}
	if a.Password != "" {
		return nil, fmt.Errorf("SSH URL %s: a password or token cannot be used over SSH", redactEndpoint(ep))
	}
	var signer ssh.Signer
	var err error
	if len(a.SSHPassphrase) > 0 {
		signer, err = ssh.ParsePrivateKeyWithPassphrase(a.SSHPrivateKey, a.SSHPassphrase)
	} else {
		signer, err = ssh.ParsePrivateKey(a.SSHPrivateKey)
	}
	var missing *ssh.PassphraseMissingError
	switch {
	case errors.As(err, &missing):
		return nil, errors.New("the SSH private key is encrypted and no passphrase was given")
	case errors.Is(err, x509.IncorrectPasswordError):
		return nil, errors.New("the SSH private key's passphrase is wrong")
	case err != nil:
		return nil, fmt.Errorf("parsing the SSH private key: %w", err)
	}
	user := ep.User
	if user == "" {
		user = "git"
	}
	port := ep.Port
	if port == 0 {
		port = 22
	}
	hostport := net.JoinHostPort(ep.Host, strconv.Itoa(port))
	auth := &sshKeyAuth{user: user, signer: signer}
	if a.InsecureIgnoreHostKey {
		auth.callback = ssh.InsecureIgnoreHostKey() //nolint:gosec // explicitly requested by an option named insecure
		return auth, nil
	}
	cb, err := a.hostKeyCallback()
	if err != nil {
		return nil, fmt.Errorf("SSH host key verification for %s: %w", hostport, err)
	}
	auth.callback = explainHostKeyErrors(cb)
	auth.algos = hostKeyAlgorithms(cb, hostport)
	return auth, nil
}

// hostKeyCallback reads known_hosts from the configured content and files.
func (a Auth) hostKeyCallback() (ssh.HostKeyCallback, error) {
	files := append([]string(nil), a.KnownHostsFiles...)
	if len(a.KnownHosts) > 0 {
		f, err := os.CreateTemp("", "gitover-known-hosts-*")
		if err != nil {
			return nil, err
		}
		defer os.Remove(f.Name())
		_, err = f.Write(a.KnownHosts)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, err
		}
		files = append(files, f.Name())
	}
	if len(files) == 0 {
		if home, err := os.UserHomeDir(); err == nil {
			p := filepath.Join(home, ".ssh", "known_hosts")
			if _, err := os.Stat(p); err == nil {
				files = append(files, p)
			}
		}
	}
	if len(files) == 0 {
		return nil, errors.New("no known_hosts given (set known_hosts in the Secret or --known-hosts; " +
			"--insecure-ignore-host-key skips verification)")
	}
	cb, err := knownhosts.New(files...)
	if err != nil {
		return nil, fmt.Errorf("reading known_hosts: %w", err)
	}
	return cb, nil
}

// explainHostKeyErrors turns knownhosts' errors into ones a person can act on.
func explainHostKeyErrors(cb ssh.HostKeyCallback) ssh.HostKeyCallback {
	return func(host string, remote net.Addr, key ssh.PublicKey) error {
		err := cb(host, remote, key)
		var ke *knownhosts.KeyError
		switch {
		case errors.As(err, &ke) && len(ke.Want) == 0:
			return fmt.Errorf("host key of %s (%s %s) is not in known_hosts", host, key.Type(), ssh.FingerprintSHA256(key))
		case errors.As(err, &ke):
			return fmt.Errorf("host key of %s (%s %s) does NOT match known_hosts: possible man-in-the-middle attack, or the host key changed",
				host, key.Type(), ssh.FingerprintSHA256(key))
		}
		return err
	}
}

var (
	probeKeyOnce sync.Once
	probeKey     ssh.PublicKey
)

// hostKeyAlgorithms returns the algorithms of the keys known_hosts holds
// for hostport, so the server is asked for a key we can verify (otherwise it
// may offer, say, RSA while known_hosts lists its ed25519 key).
func hostKeyAlgorithms(cb ssh.HostKeyCallback, hostport string) []string {
	probeKeyOnce.Do(func() {
		pub, _, err := ed25519.GenerateKey(nil)
		if err == nil {
			probeKey, _ = ssh.NewPublicKey(pub)
		}
	})
	if probeKey == nil {
		return nil
	}
	err := cb(hostport, &net.TCPAddr{IP: net.IPv4zero}, probeKey)
	var ke *knownhosts.KeyError
	if !errors.As(err, &ke) {
		return nil
	}
	var algos []string
	seen := map[string]bool{}
	add := func(a ...string) {
		for _, s := range a {
			if !seen[s] {
				seen[s] = true
				algos = append(algos, s)
			}
		}
	}
	for _, k := range ke.Want {
		switch t := k.Key.Type(); t {
		case ssh.KeyAlgoRSA:
			add(ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA)
		default:
			add(t)
		}
	}
	return algos
}

// endpoint parses a Git URL (https://, http://, ssh://, scp-like
// user@host:path, file://) and refuses passwords embedded in it.
func endpoint(rawURL string) (*transport.Endpoint, error) {
	if rawURL == "" {
		return nil, errors.New("empty repository URL")
	}
	ep, err := transport.NewEndpoint(rawURL)
	if err != nil {
		return nil, fmt.Errorf("parsing repository URL %s: %w", redactURL(rawURL), err)
	}
	if ep.Password != "" {
		return nil, fmt.Errorf("repository URL %s carries a password: put credentials in a Secret or a --git-*-file flag instead", redactURL(rawURL))
	}
	return ep, nil
}

// redactURL removes any password from a URL for messages and logs.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		if i := strings.Index(raw, "://"); i >= 0 {
			if at := strings.LastIndex(raw, "@"); at > i {
				return raw[:i+3] + "***@" + raw[at+1:]
			}
		}
		return raw
	}
	return u.Redacted()
}

func redactEndpoint(ep *transport.Endpoint) string {
	c := *ep
	c.Password = ""
	return c.String()
}
