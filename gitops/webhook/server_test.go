package webhook

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// startServer serves h on a loopback port with the receiver's server
// settings and returns its base URL; it is shut down when the test ends.
func startServer(t testing.TB, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- serveListener(ctx, NewServer(ln.Addr().String(), h, logr.Discard()), ln, logr.Discard())
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(ShutdownTimeout + time.Second):
			t.Error("server did not stop")
		}
	})
	return "http://" + ln.Addr().String()
}

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func TestServeLifecycle(t *testing.T) {
	secretFile := filepath.Join(t.TempDir(), "github-secret")
	require.NoError(t, os.WriteFile(secretFile, append(append([]byte{}, testGitHubSecret...), '\n'), 0o600))
	t.Setenv(EnvGitHubSecret, "")
	t.Setenv(EnvGitLabToken, "")

	opts := NewOptions()
	opts.BindAddress = freeAddr(t)
	opts.GitHubSecretFile = secretFile
	opts.Registerer = prometheus.NewRegistry()
	q := NewChanQueue(8)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, opts, q, logr.Discard()) }()

	base := "http://" + opts.BindAddress
	require.Eventually(t, func() bool {
		resp, err := http.Get(base + HealthzPath)
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 10*time.Second, 20*time.Millisecond)

	body := fixture(t, "github/pull_request_merged.json")
	req, err := http.NewRequest(http.MethodPost, base+GitHubPath, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(GitHubEventHeader, "pull_request")
	req.Header.Set(GitHubDeliveryHeader, deliveryA)
	req.Header.Set(GitHubSignatureHeader, SignGitHub(testGitHubSecret, body))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	ev := receive(t, q)
	assert.Equal(t, KindMerged, ev.Kind)
	assert.Equal(t, int64(42), ev.Number)

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(ShutdownTimeout + time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	_, err = http.Get(base + HealthzPath)
	assert.Error(t, err, "the listener is closed")
}

func TestServeRefusesBadOptions(t *testing.T) {
	t.Setenv(EnvGitHubSecret, "")
	t.Setenv(EnvGitLabToken, "")
	opts := NewOptions()
	opts.BindAddress = freeAddr(t)
	err := Serve(context.Background(), opts, NewChanQueue(1), logr.Discard())
	require.ErrorIs(t, err, ErrNoSecret)
}

func TestServeDisabled(t *testing.T) {
	opts := NewOptions()
	opts.BindAddress = DisabledBindAddress
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	assert.NoError(t, Serve(ctx, opts, NewChanQueue(1), logr.Discard()))
}

func TestNewServerSettings(t *testing.T) {
	srv := NewServer(":1", http.NotFoundHandler(), logr.Discard())
	assert.Equal(t, ReadHeaderTimeout, srv.ReadHeaderTimeout)
	assert.Equal(t, ReadTimeout, srv.ReadTimeout)
	assert.Equal(t, WriteTimeout, srv.WriteTimeout)
	assert.Equal(t, IdleTimeout, srv.IdleTimeout)
	assert.Equal(t, MaxHeaderBytes, srv.MaxHeaderBytes)
	assert.NotNil(t, srv.ErrorLog)
}

func TestRealServerBodyBounds(t *testing.T) {
	const limit = 8 << 10
	h := newTestHandler(t, func(c *Config) { c.MaxBodyBytes = limit })
	var mu sync.Mutex
	var lastTE []string
	var lastLength int64
	base := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		lastTE, lastLength = r.TransferEncoding, r.ContentLength
		mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	assertChunked := func(t *testing.T) {
		mu.Lock()
		defer mu.Unlock()
		assert.Equal(t, []string{"chunked"}, lastTE)
		assert.Equal(t, int64(-1), lastLength)
	}

	t.Run("chunked body over the limit", func(t *testing.T) {
		// An io.Reader of unknown length makes the client send chunks.
		body := io.MultiReader(strings.NewReader(`{"ref":"`), strings.NewReader(strings.Repeat("x", 4*limit)))
		req, err := http.NewRequest(http.MethodPost, base+GitLabPath, body)
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(GitLabTokenHeader, string(testGitLabToken))
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
		assertChunked(t)
	})

	t.Run("chunked body within the limit", func(t *testing.T) {
		push := fixture(t, "gitlab/push.json")
		req, err := http.NewRequest(http.MethodPost, base+GitLabPath, io.MultiReader(bytes.NewReader(push)))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(GitLabEventHeader, "Push Hook")
		req.Header.Set(GitLabTokenHeader, string(testGitLabToken))
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assertChunked(t)
	})

	t.Run("declared length over the limit is answered before the body is sent", func(t *testing.T) {
		conn, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), 5*time.Second)
		require.NoError(t, err)
		defer conn.Close()
		require.NoError(t, conn.SetDeadline(time.Now().Add(5*time.Second)))
		_, err = fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: gitover\r\nContent-Type: application/json\r\n"+
			"Content-Length: %d\r\n\r\n", GitHubPath, 3<<20)
		require.NoError(t, err)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		require.NoError(t, err)
		defer resp.Body.Close()
		assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
		assert.True(t, resp.Close, "the connection is closed")
	})

	t.Run("oversized headers", func(t *testing.T) {
		req, err := http.NewRequest(http.MethodPost, base+GitHubPath, strings.NewReader("{}"))
		require.NoError(t, err)
		req.Header.Set("X-Padding", strings.Repeat("p", 2*MaxHeaderBytes))
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		assert.Equal(t, http.StatusRequestHeaderFieldsTooLarge, resp.StatusCode)
	})
}
