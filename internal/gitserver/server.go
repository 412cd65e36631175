// Package gitserver runs real Git servers on loopback for tests and the local
// lab: a smart-HTTP server (Go's net/http/cgi in front of `git http-backend`)
// with optional HTTP basic auth, an SSH server (golang.org/x/crypto/ssh in
// front of `git upload-pack` / `git receive-pack`) with public-key auth, and
// helpers that create bare repositories and land commits in them.
//
// Everything here shells out to the git CLI (2.28 or newer), which is what
// makes these servers real: the bytes on the wire are exactly what
// git-http-backend and git-upload-pack/git-receive-pack produce.
package gitserver

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
)

// DefaultAddr is where servers listen unless told otherwise: loopback, a free port.
const DefaultAddr = "127.0.0.1:0"

// maxBufferedBody bounds a chunked request body that is spooled to disk for
// git-http-backend (CGI needs a Content-Length).
const maxBufferedBody = 1 << 30

// Options configures the smart-HTTP server.
type Options struct {
	// Username and Password enable HTTP basic auth when Username is set;
	// every request must then carry them (compared in constant time).
	Username, Password string
	// Addr is the listen address; default 127.0.0.1:0 (a free loopback port).
	Addr string
	// BeforeReceivePack, when set, is called with the repository path (as in
	// URL, e.g. "shop.git") after a push's ref advertisement and before its
	// pack and ref updates reach git-receive-pack. A test uses it to land a
	// competing commit in the middle of a push.
	BeforeReceivePack func(repo string)
	// BeforeAdvertise, when set, is called with the repository path and the
	// service ("git-upload-pack" or "git-receive-pack") before the server
	// answers a ref advertisement (GET info/refs).
	BeforeAdvertise func(repo, service string)
	// Logger receives request and git-http-backend diagnostics (never
	// credentials). The zero value discards them.
	Logger logr.Logger
}

// Server is a running smart-HTTP Git server.
type Server struct {
	root    string
	opts    Options
	backend string
	ln      net.Listener
	srv     *http.Server
	done    chan struct{}
	once    sync.Once
	err     error
}

// Start serves the bare repositories under root over smart HTTP until ctx is
// done or Close is called. Repositories are addressed by their path relative
// to root (URL returns the address of one).
func Start(ctx context.Context, root string, opts Options) (*Server, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("resolving git server root %q: %w", root, err)
	}
	if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("git server root %q is not a directory", root)
	}
	backend, err := httpBackendPath(ctx)
	if err != nil {
		return nil, err
	}
	addr := opts.Addr
	if addr == "" {
		addr = DefaultAddr
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s for the git server: %w", addr, err)
	}
	s := &Server{root: abs, opts: opts, backend: backend, ln: ln, done: make(chan struct{})}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.opts.Logger.Error(err, "git server stopped")
		}
	}()
	go func() {
		select {
		case <-ctx.Done():
			_ = s.Close()
		case <-s.done:
		}
	}()
	return s, nil
}

// httpBackendPath finds git-http-backend in git's exec path.
func httpBackendPath(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "git", "--exec-path").Output()
	if err != nil {
		return "", fmt.Errorf("finding git's exec path (is git installed?): %w", err)
	}
	p := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("git-http-backend not found: %w", err)
	}
	return p, nil
}

// Addr returns the host:port the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL returns the clone URL of the repository at root/repo, e.g.
// http://127.0.0.1:PORT/shop.git. It never contains credentials.
func (s *Server) URL(repo string) string {
	return "http://" + s.Addr() + "/" + strings.TrimPrefix(filepath.ToSlash(repo), "/")
}

// Close stops the server and waits for it to finish.
func (s *Server) Close() error {
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.srv.Shutdown(ctx); err != nil {
			s.err = fmt.Errorf("stopping git server: %w", err)
			_ = s.srv.Close()
		}
		<-s.done
	})
	return s.err
}

// ServeHTTP authenticates the request and hands it to git-http-backend.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	log := s.opts.Logger.WithValues("method", r.Method, "path", r.URL.Path)
	user := "anonymous"
	if s.opts.Username != "" {
		u, p, ok := r.BasicAuth()
		// Compare both fields fully so timing reveals neither.
		uOK := subtle.ConstantTimeCompare([]byte(u), []byte(s.opts.Username))
		pOK := subtle.ConstantTimeCompare([]byte(p), []byte(s.opts.Password))
		if !ok || uOK&pOK != 1 {
			log.V(1).Info("git server: authentication failed")
			w.Header().Set("WWW-Authenticate", `Basic realm="gitover", charset="UTF-8"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		user = u
	}
	r.Header.Del("Authorization") // never hand credentials to the CGI environment

	repo, service := s.classify(r)
	if service == "" {
		http.NotFound(w, r)
		return
	}
	if r.Method == http.MethodGet && s.opts.BeforeAdvertise != nil {
		s.opts.BeforeAdvertise(repo, service)
	}
	if r.Method == http.MethodPost && service == "git-receive-pack" && s.opts.BeforeReceivePack != nil {
		s.opts.BeforeReceivePack(repo)
	}

	if len(r.TransferEncoding) > 0 && r.TransferEncoding[0] == "chunked" {
		cleanup, err := spoolBody(r)
		if err != nil {
			log.Error(err, "git server: reading chunked request body")
			http.Error(w, "cannot read request body", http.StatusBadRequest)
			return
		}
		defer cleanup()
	}

	h := &cgi.Handler{
		Path: s.backend,
		Dir:  s.root,
		Env: []string{
			"GIT_PROJECT_ROOT=" + s.root,
			"GIT_HTTP_EXPORT_ALL=1",
			"REMOTE_USER=" + user,
			// Allow pushes whatever the repository's own config says.
			"GIT_CONFIG_COUNT=1",
			"GIT_CONFIG_KEY_0=http.receivepack",
			"GIT_CONFIG_VALUE_0=true",
		},
		Stderr: logWriter{log},
	}
	h.ServeHTTP(w, r)
}

// classify returns the repository path and git service a request is for, or
// an empty service for anything that is not a smart-HTTP request.
func (s *Server) classify(r *http.Request) (repo, service string) {
	p := strings.TrimPrefix(r.URL.Path, "/")
	switch {
	case r.Method == http.MethodGet && strings.HasSuffix(p, "/info/refs"):
		svc := r.URL.Query().Get("service")
		if svc != "git-upload-pack" && svc != "git-receive-pack" {
			return "", ""
		}
		return strings.TrimSuffix(p, "/info/refs"), svc
	case r.Method == http.MethodPost && strings.HasSuffix(p, "/git-upload-pack"):
		return strings.TrimSuffix(p, "/git-upload-pack"), "git-upload-pack"
	case r.Method == http.MethodPost && strings.HasSuffix(p, "/git-receive-pack"):
		return strings.TrimSuffix(p, "/git-receive-pack"), "git-receive-pack"
	}
	return "", ""
}

// spoolBody replaces a chunked body by a temporary file with a known length,
// because CGI requires CONTENT_LENGTH (the git CLI sends large pushes chunked).
func spoolBody(r *http.Request) (func(), error) {
	f, err := os.CreateTemp("", "gitserver-body-*")
	if err != nil {
		return nil, err
	}
	cleanup := func() { _ = f.Close(); _ = os.Remove(f.Name()) }
	n, err := io.Copy(f, io.LimitReader(r.Body, maxBufferedBody+1))
	if err == nil && n > maxBufferedBody {
		err = fmt.Errorf("request body larger than %d bytes", maxBufferedBody)
	}
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		cleanup()
		return nil, err
	}
	r.Body = f
	r.ContentLength = n
	r.TransferEncoding = nil
	return cleanup, nil
}

// logWriter turns a child's stderr into log lines.
type logWriter struct{ log logr.Logger }

func (l logWriter) Write(p []byte) (int, error) {
	if msg := strings.TrimSpace(string(p)); msg != "" {
		l.log.Info("git-http-backend", "stderr", msg)
	}
	return len(p), nil
}
