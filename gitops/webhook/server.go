package webhook

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
)

// Server timeouts. Webhook requests are small and answered at once, so the
// timeouts are short; they bound what slow or idle clients can hold.
const (
	ReadHeaderTimeout = 5 * time.Second
	ReadTimeout       = 30 * time.Second
	WriteTimeout      = 30 * time.Second
	IdleTimeout       = 90 * time.Second
	MaxHeaderBytes    = 64 << 10
	// ShutdownTimeout bounds the graceful shutdown in Serve.
	ShutdownTimeout = 10 * time.Second
)

// NewServer returns an http.Server for h on addr with the receiver's timeouts
// and header bound; the server's own errors go to log at V(1).
func NewServer(addr string, h http.Handler, log logr.Logger) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          newStdLogger(log),
	}
}

// Serve runs the webhook receiver configured by opts until ctx is done, then
// shuts it down gracefully (at most ShutdownTimeout). It returns nil after a
// clean shutdown; with the receiver disabled it just waits for ctx.
func Serve(ctx context.Context, opts *Options, q Queue, log logr.Logger) error {
	if !opts.Enabled() {
		log.Info("webhook receiver disabled")
		<-ctx.Done()
		return nil
	}
	if err := opts.Validate(); err != nil {
		return fmt.Errorf("webhook receiver options: %w", err)
	}
	cfg, err := opts.Config()
	if err != nil {
		return fmt.Errorf("webhook receiver options: %w", err)
	}
	reg := opts.Registerer
	if reg == nil {
		reg = prometheus.DefaultRegisterer
	}
	h, err := NewHandler(cfg, q, log, reg)
	if err != nil {
		return fmt.Errorf("webhook receiver: %w", err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", opts.BindAddress)
	if err != nil {
		return fmt.Errorf("webhook receiver listen on %s: %w", opts.BindAddress, err)
	}
	return serveListener(ctx, NewServer(opts.BindAddress, h, log), ln, log)
}

// serveListener serves srv on ln until ctx is done, then shuts it down.
func serveListener(ctx context.Context, srv *http.Server, ln net.Listener, log logr.Logger) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("webhook receiver listening", "address", ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("webhook receiver: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	if serveErr := <-errc; serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) && err == nil {
		err = serveErr
	}
	if err != nil {
		return fmt.Errorf("webhook receiver shutdown: %w", err)
	}
	log.Info("webhook receiver stopped")
	return nil
}

// newStdLogger adapts logr to the *log.Logger http.Server wants.
func newStdLogger(l logr.Logger) *log.Logger {
	return log.New(logWriter{l}, "", 0)
}

type logWriter struct{ l logr.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	w.l.V(1).Info("webhook http server", "message", strings.TrimSpace(string(p)))
	return len(p), nil
}
