package webhook

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
)

var (
	testGitHubSecret = []byte("gh-test-secret-3f1c9e")
	testGitLabToken  = []byte("gl-test-token-8a2d71")
)

// fixture returns a payload from testdata.
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

// recordingQueue records enqueued events and can be told to fail.
type recordingQueue struct {
	mu     sync.Mutex
	events []Event
	err    error
}

func (q *recordingQueue) Enqueue(_ context.Context, ev Event) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		return q.err
	}
	q.events = append(q.events, ev)
	return nil
}

func (q *recordingQueue) setErr(err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.err = err
}

func (q *recordingQueue) got() []Event {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]Event(nil), q.events...)
}

// discardQueue accepts and drops everything.
type discardQueue struct{}

func (discardQueue) Enqueue(context.Context, Event) error { return nil }

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testHandler is a Handler with its queue, registry and clock.
type testHandler struct {
	*Handler
	q     *recordingQueue
	reg   *prometheus.Registry
	clock *fakeClock
}

// newTestHandler builds a Handler with both secrets, adjusted by mutate.
func newTestHandler(t testing.TB, mutate func(*Config)) *testHandler {
	t.Helper()
	cfg := Config{GitHubSecret: testGitHubSecret, GitLabToken: testGitLabToken}
	if mutate != nil {
		mutate(&cfg)
	}
	q := &recordingQueue{}
	reg := prometheus.NewRegistry()
	h, err := NewHandler(cfg, q, logr.Discard(), reg)
	require.NoError(t, err)
	clock := &fakeClock{t: time.Date(2024, 5, 15, 15, 22, 0, 0, time.UTC)}
	h.now = clock.now
	return &testHandler{Handler: h, q: q, reg: reg, clock: clock}
}

// githubRequest builds a signed GitHub delivery (unsigned when secret is nil).
func githubRequest(event, delivery string, body, secret []byte) *http.Request {
	r := httptest.NewRequest(http.MethodPost, GitHubPath, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("User-Agent", "GitHub-Hookshot/044aadd")
	if event != "" {
		r.Header.Set(GitHubEventHeader, event)
	}
	if delivery != "" {
		r.Header.Set(GitHubDeliveryHeader, delivery)
	}
	if secret != nil {
		r.Header.Set(GitHubSignatureHeader, SignGitHub(secret, body))
	}
	return r
}

// gitlabRequest builds a GitLab delivery carrying token (none when nil).
func gitlabRequest(event, uuid string, body, token []byte) *http.Request {
	r := httptest.NewRequest(http.MethodPost, GitLabPath, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("User-Agent", "GitLab/17.5.0")
	if event != "" {
		r.Header.Set(GitLabEventHeader, event)
	}
	if uuid != "" {
		r.Header.Set(GitLabEventUUIDHeader, uuid)
	}
	if token != nil {
		r.Header.Set(GitLabTokenHeader, string(token))
	}
	return r
}

// do serves r and returns the recorder.
func do(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// value returns the current value of a counter.
func value(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}

// seriesCount returns how many series the family name has in reg.
func seriesCount(t testing.TB, reg *prometheus.Registry, name string) int {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() == name {
			return len(f.GetMetric())
		}
	}
	return 0
}

// receive takes the next event from q, failing the test after a while.
func receive(t testing.TB, q *ChanQueue) Event {
	t.Helper()
	select {
	case ev := <-q.C():
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event in the queue")
		return Event{}
	}
}
