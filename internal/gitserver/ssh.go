package gitserver

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"github.com/go-logr/logr"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// SSHOptions configures the SSH server.
type SSHOptions struct {
	// Addr is the listen address; default 127.0.0.1:0.
	Addr string
	// HostKey is the server's host key; a fresh ed25519 key when nil.
	HostKey ssh.Signer
	// AuthorizedKeys are the client public keys allowed to connect (any user
	// name). At least one is required.
	AuthorizedKeys []ssh.PublicKey
	// Logger receives diagnostics; the zero value discards them.
	Logger logr.Logger
}

// SSHServer serves the bare repositories under a root over SSH, running
// `git upload-pack` / `git receive-pack` for the exec requests the git
// transport sends (what git-shell would allow, and nothing else).
type SSHServer struct {
	root    string
	opts    SSHOptions
	ln      net.Listener
	config  *ssh.ServerConfig
	hostKey ssh.Signer
	wg      sync.WaitGroup
	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	closed  bool
	once    sync.Once
}

// StartSSH starts an SSH Git server for the bare repositories under root.
func StartSSH(ctx context.Context, root string, opts SSHOptions) (*SSHServer, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("resolving ssh git server root %q: %w", root, err)
	}
	if len(opts.AuthorizedKeys) == 0 {
		return nil, errors.New("starting ssh git server: no authorized keys")
	}
	hostKey := opts.HostKey
	if hostKey == nil {
		if hostKey, err = NewEd25519Signer(); err != nil {
			return nil, fmt.Errorf("generating ssh host key: %w", err)
		}
	}
	authorized := make(map[string]bool, len(opts.AuthorizedKeys))
	for _, k := range opts.AuthorizedKeys {
		authorized[string(k.Marshal())] = true
	}
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if authorized[string(key.Marshal())] {
				return &ssh.Permissions{}, nil
			}
			return nil, fmt.Errorf("public key of %s not authorized", meta.User())
		},
	}
	cfg.AddHostKey(hostKey)
	addr := opts.Addr
	if addr == "" {
		addr = DefaultAddr
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s for the ssh git server: %w", addr, err)
	}
	s := &SSHServer{root: abs, opts: opts, ln: ln, config: cfg, hostKey: hostKey, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	go func() {
		<-ctx.Done()
		_ = s.Close()
	}()
	return s, nil
}

// NewEd25519Signer returns a fresh ed25519 key as an ssh.Signer.
func NewEd25519Signer() (ssh.Signer, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	return ssh.NewSignerFromKey(priv)
}

// Addr returns the host:port the server listens on.
func (s *SSHServer) Addr() string { return s.ln.Addr().String() }

// URL returns the ssh:// clone URL of the repository at root/repo.
func (s *SSHServer) URL(repo string) string {
	return "ssh://git@" + s.Addr() + "/" + strings.TrimPrefix(filepath.ToSlash(repo), "/")
}

// HostKey returns the server's public host key.
func (s *SSHServer) HostKey() ssh.PublicKey { return s.hostKey.PublicKey() }

// KnownHostsLine returns a known_hosts line that trusts this server.
func (s *SSHServer) KnownHostsLine() string {
	return knownhosts.Line([]string{knownhosts.Normalize(s.Addr())}, s.HostKey())
}

// Close stops accepting, drops open connections and waits for handlers.
func (s *SSHServer) Close() error {
	var err error
	s.once.Do(func() {
		s.mu.Lock()
		s.closed = true
		for c := range s.conns {
			_ = c.Close()
		}
		s.mu.Unlock()
		err = s.ln.Close()
		s.wg.Wait()
	})
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

func (s *SSHServer) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				_ = c.Close()
			}()
			s.serveConn(c)
		}()
	}
}

func (s *SSHServer) serveConn(c net.Conn) {
	sc, chans, reqs, err := ssh.NewServerConn(c, s.config)
	if err != nil {
		s.opts.Logger.V(1).Info("ssh git server: handshake failed", "err", err.Error())
		return
	}
	defer sc.Close()
	go ssh.DiscardRequests(reqs)
	var wg sync.WaitGroup
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "only session channels")
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.serveSession(ch, chReqs)
		}()
	}
	wg.Wait()
}

// serveSession runs the one exec request a git client sends.
func (s *SSHServer) serveSession(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	for req := range reqs {
		switch req.Type {
		case "env":
			_ = req.Reply(true, nil) // GIT_PROTOCOL and friends: accepted, ignored
		case "exec":
			var payload struct{ Command string }
			if err := ssh.Unmarshal(req.Payload, &payload); err != nil {
				_ = req.Reply(false, nil)
				return
			}
			service, dir, err := s.parseCommand(payload.Command)
			if err != nil {
				_ = req.Reply(true, nil)
				fmt.Fprintf(ch.Stderr(), "fatal: %v\n", err)
				sendExit(ch, 128)
				return
			}
			_ = req.Reply(true, nil)
			sendExit(ch, s.run(ch, service, dir))
			return
		default:
			_ = req.Reply(false, nil)
		}
	}
}

// parseCommand accepts `git-upload-pack 'repo'`, `git-receive-pack 'repo'`
// (and the `git upload-pack` spelling) for a repository under the root.
func (s *SSHServer) parseCommand(cmd string) (service, dir string, err error) {
	fields := strings.SplitN(strings.TrimSpace(cmd), " ", 2)
	if len(fields) == 2 && fields[0] == "git" {
		fields = strings.SplitN(fields[1], " ", 2)
		fields[0] = "git-" + fields[0]
	}
	if len(fields) != 2 || (fields[0] != "git-upload-pack" && fields[0] != "git-receive-pack") {
		return "", "", fmt.Errorf("command not allowed: %q", cmd)
	}
	arg := strings.TrimSpace(fields[1])
	arg = strings.TrimSuffix(strings.TrimPrefix(arg, "'"), "'")
	rel := path.Clean("/" + arg)
	if rel == "/" || strings.ContainsAny(arg, "'\\\x00") {
		return "", "", fmt.Errorf("invalid repository path %q", arg)
	}
	dir = filepath.Join(s.root, filepath.FromSlash(rel))
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return "", "", fmt.Errorf("repository %q not found", arg)
	}
	return strings.TrimPrefix(fields[0], "git-"), dir, nil
}

// run executes `git <service> <dir>` wired to the channel and returns its exit code.
func (s *SSHServer) run(ch ssh.Channel, service, dir string) int {
	cmd := exec.Command("git", service, dir)
	cmd.Stdout = ch
	var stderr bytes.Buffer
	cmd.Stderr = io.MultiWriter(ch.Stderr(), &stderr)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return 128
	}
	if err := cmd.Start(); err != nil {
		s.opts.Logger.Error(err, "ssh git server: starting git", "service", service)
		return 128
	}
	// Copy without waiting: the client need not close its side.
	go func() {
		_, _ = io.Copy(stdin, ch)
		_ = stdin.Close()
	}()
	err = cmd.Wait()
	if err != nil {
		s.opts.Logger.V(1).Info("ssh git server: git exited", "service", service, "err", err.Error(), "stderr", stderr.String())
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode()
		}
		return 128
	}
	return 0
}

func sendExit(ch ssh.Channel, code int) {
	_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{uint32(code)}))
}
