package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const deliveryA = "72d3162e-cc78-11e3-81ab-4c9367dc0958"

func TestGitHubDeliveries(t *testing.T) {
	push := fixture(t, "github/push.json")
	otherSecret := []byte("not-the-secret")
	tests := []struct {
		name       string
		req        func() *http.Request
		wantStatus int
		wantBody   string
		wantKind   Kind // enqueued kind; "" means nothing enqueued
		wantReason string
	}{
		{
			name:       "valid signature, push",
			req:        func() *http.Request { return githubRequest("push", deliveryA, push, testGitHubSecret) },
			wantStatus: http.StatusOK, wantBody: "queued", wantKind: KindPush,
		},
		{
			name: "ping",
			req: func() *http.Request {
				return githubRequest("ping", deliveryA, fixture(t, "github/ping.json"), testGitHubSecret)
			},
			wantStatus: http.StatusOK, wantKind: KindPing,
		},
		{
			name: "pull request merged",
			req: func() *http.Request {
				return githubRequest("pull_request", deliveryA, fixture(t, "github/pull_request_merged.json"), testGitHubSecret)
			},
			wantStatus: http.StatusOK, wantKind: KindMerged,
		},
		{
			name: "pull request closed unmerged",
			req: func() *http.Request {
				return githubRequest("pull_request", deliveryA, fixture(t, "github/pull_request_closed.json"), testGitHubSecret)
			},
			wantStatus: http.StatusOK, wantKind: KindClosed,
		},
		{
			name: "pull request opened is accepted and ignored",
			req: func() *http.Request {
				return githubRequest("pull_request", deliveryA, fixture(t, "github/pull_request_opened.json"), testGitHubSecret)
			},
			wantStatus: http.StatusAccepted, wantBody: "event ignored",
		},
		{
			name: "other event is accepted and ignored",
			req: func() *http.Request {
				return githubRequest("issues", deliveryA, fixture(t, "github/issues.json"), testGitHubSecret)
			},
			wantStatus: http.StatusAccepted,
		},
		{
			name: "charset parameter in content type",
			req: func() *http.Request {
				r := githubRequest("push", deliveryA, push, testGitHubSecret)
				r.Header.Set("Content-Type", "application/json; charset=utf-8")
				return r
			},
			wantStatus: http.StatusOK, wantKind: KindPush,
		},
		{
			name:       "missing signature",
			req:        func() *http.Request { return githubRequest("push", deliveryA, push, nil) },
			wantStatus: http.StatusUnauthorized, wantReason: reasonMissingSignature,
		},
		{
			name:       "wrong secret",
			req:        func() *http.Request { return githubRequest("push", deliveryA, push, otherSecret) },
			wantStatus: http.StatusUnauthorized, wantReason: reasonBadSignature, wantBody: "signature does not match",
		},
		{
			name: "body tampered after signing",
			req: func() *http.Request {
				r := githubRequest("push", deliveryA, bytes.Replace(push, []byte("refs/heads/main"), []byte("refs/heads/prod"), 1), nil)
				r.Header.Set(GitHubSignatureHeader, SignGitHub(testGitHubSecret, push))
				return r
			},
			wantStatus: http.StatusUnauthorized, wantReason: reasonBadSignature,
		},
		{
			name: "legacy sha1 signature only",
			req: func() *http.Request {
				r := githubRequest("push", deliveryA, push, nil)
				r.Header.Set("X-Hub-Signature", "sha1=0123456789abcdef0123456789abcdef01234567")
				return r
			},
			wantStatus: http.StatusUnauthorized, wantReason: reasonMissingSignature,
		},
		{
			name: "sha1 prefix in the sha256 header",
			req: func() *http.Request {
				r := githubRequest("push", deliveryA, push, nil)
				r.Header.Set(GitHubSignatureHeader, strings.Replace(SignGitHub(testGitHubSecret, push), "sha256=", "sha1=", 1))
				return r
			},
			wantStatus: http.StatusUnauthorized, wantReason: reasonMalformedSignature,
		},
		{
			name: "signature not hex",
			req: func() *http.Request {
				r := githubRequest("push", deliveryA, push, nil)
				r.Header.Set(GitHubSignatureHeader, "sha256="+strings.Repeat("zz", 32))
				return r
			},
			wantStatus: http.StatusUnauthorized, wantReason: reasonMalformedSignature,
		},
		{
			name: "signature truncated",
			req: func() *http.Request {
				r := githubRequest("push", deliveryA, push, nil)
				r.Header.Set(GitHubSignatureHeader, SignGitHub(testGitHubSecret, push)[:70])
				return r
			},
			wantStatus: http.StatusUnauthorized, wantReason: reasonMalformedSignature,
		},
		{
			name: "unsigned garbage is refused before it is parsed",
			req: func() *http.Request {
				return githubRequest("push", deliveryA, []byte("{{{{"), nil)
			},
			wantStatus: http.StatusUnauthorized, wantReason: reasonMissingSignature,
		},
		{
			name:       "signed garbage",
			req:        func() *http.Request { return githubRequest("push", deliveryA, []byte(`{"ref":`), testGitHubSecret) },
			wantStatus: http.StatusBadRequest, wantReason: reasonMalformed, wantBody: "malformed payload",
		},
		{
			name: "signed wrong types",
			req: func() *http.Request {
				return githubRequest("push", deliveryA, []byte(`{"ref":["x"]}`), testGitHubSecret)
			},
			wantStatus: http.StatusBadRequest, wantReason: reasonMalformed, wantBody: `field "ref" has the wrong type`,
		},
		{
			name:       "missing event header",
			req:        func() *http.Request { return githubRequest("", deliveryA, push, testGitHubSecret) },
			wantStatus: http.StatusBadRequest, wantReason: reasonMissingEvent,
		},
		{
			name:       "delivery id with spaces",
			req:        func() *http.Request { return githubRequest("push", "a b", push, testGitHubSecret) },
			wantStatus: http.StatusBadRequest, wantReason: reasonBadDeliveryID,
		},
		{
			name:       "delivery id too long",
			req:        func() *http.Request { return githubRequest("push", strings.Repeat("a", 129), push, testGitHubSecret) },
			wantStatus: http.StatusBadRequest, wantReason: reasonBadDeliveryID,
		},
		{
			name: "GET",
			req: func() *http.Request {
				return httptest.NewRequest(http.MethodGet, GitHubPath, nil)
			},
			wantStatus: http.StatusMethodNotAllowed, wantReason: reasonMethod,
		},
		{
			name: "form-encoded delivery",
			req: func() *http.Request {
				body := []byte("payload=" + string(push))
				r := githubRequest("push", deliveryA, body, testGitHubSecret)
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				return r
			},
			wantStatus: http.StatusUnsupportedMediaType, wantReason: reasonMediaType, wantBody: "Content type to application/json",
		},
		{
			name: "no content type",
			req: func() *http.Request {
				r := githubRequest("push", deliveryA, push, testGitHubSecret)
				r.Header.Del("Content-Type")
				return r
			},
			wantStatus: http.StatusUnsupportedMediaType, wantReason: reasonMediaType,
		},
		{
			name: "gzip content encoding",
			req: func() *http.Request {
				r := githubRequest("push", deliveryA, push, testGitHubSecret)
				r.Header.Set("Content-Encoding", "gzip")
				return r
			},
			wantStatus: http.StatusUnsupportedMediaType, wantReason: reasonMediaType,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTestHandler(t, nil)
			w := do(h, tt.req())
			assert.Equal(t, tt.wantStatus, w.Code, w.Body.String())
			assert.Contains(t, w.Body.String(), tt.wantBody)
			assert.Equal(t, "nosniff", w.Header().Get("X-Content-Type-Options"))
			if tt.wantStatus == http.StatusMethodNotAllowed {
				assert.Equal(t, http.MethodPost, w.Header().Get("Allow"))
			}
			got := h.q.got()
			if tt.wantKind == "" {
				assert.Empty(t, got)
			} else {
				require.Len(t, got, 1)
				assert.Equal(t, tt.wantKind, got[0].Kind)
				assert.Equal(t, ProviderGitHub, got[0].Provider)
				assert.Equal(t, deliveryA, got[0].DeliveryID)
				assert.Equal(t, h.clock.now(), got[0].ReceivedAt)
				assert.InDelta(t, 1, value(h.m.deliveries.WithLabelValues("github", string(tt.wantKind), resultQueued)), 0)
			}
			if tt.wantReason != "" {
				assert.InDelta(t, 1, value(h.m.rejected.WithLabelValues("github", tt.wantReason)), 0)
			}
		})
	}
}

func TestGitLabDeliveries(t *testing.T) {
	push := fixture(t, "gitlab/push.json")
	tests := []struct {
		name       string
		req        func() *http.Request
		wantStatus int
		wantKind   Kind
		wantReason string
	}{
		{
			name:       "valid token, push",
			req:        func() *http.Request { return gitlabRequest("Push Hook", deliveryA, push, testGitLabToken) },
			wantStatus: http.StatusOK, wantKind: KindPush,
		},
		{
			name: "tag push",
			req: func() *http.Request {
				return gitlabRequest("Tag Push Hook", deliveryA, fixture(t, "gitlab/tag_push.json"), testGitLabToken)
			},
			wantStatus: http.StatusOK, wantKind: KindPush,
		},
		{
			name: "merge request merged",
			req: func() *http.Request {
				return gitlabRequest("Merge Request Hook", deliveryA, fixture(t, "gitlab/merge_request_merge.json"), testGitLabToken)
			},
			wantStatus: http.StatusOK, wantKind: KindMerged,
		},
		{
			name: "merge request closed",
			req: func() *http.Request {
				return gitlabRequest("Merge Request Hook", deliveryA, fixture(t, "gitlab/merge_request_close.json"), testGitLabToken)
			},
			wantStatus: http.StatusOK, wantKind: KindClosed,
		},
		{
			name: "merge request opened is ignored",
			req: func() *http.Request {
				return gitlabRequest("Merge Request Hook", deliveryA, fixture(t, "gitlab/merge_request_open.json"), testGitLabToken)
			},
			wantStatus: http.StatusAccepted,
		},
		{
			name: "issue hook is ignored",
			req: func() *http.Request {
				return gitlabRequest("Issue Hook", deliveryA, fixture(t, "gitlab/issue.json"), testGitLabToken)
			},
			wantStatus: http.StatusAccepted,
		},
		{
			name:       "missing token",
			req:        func() *http.Request { return gitlabRequest("Push Hook", deliveryA, push, nil) },
			wantStatus: http.StatusUnauthorized, wantReason: reasonMissingToken,
		},
		{
			name: "wrong token",
			req: func() *http.Request {
				return gitlabRequest("Push Hook", deliveryA, push, []byte("gl-test-token-8a2d72"))
			},
			wantStatus: http.StatusUnauthorized, wantReason: reasonBadToken,
		},
		{
			name:       "token prefix",
			req:        func() *http.Request { return gitlabRequest("Push Hook", deliveryA, push, testGitLabToken[:5]) },
			wantStatus: http.StatusUnauthorized, wantReason: reasonBadToken,
		},
		{
			name: "token with a suffix",
			req: func() *http.Request {
				return gitlabRequest("Push Hook", deliveryA, push, append(append([]byte{}, testGitLabToken...), 'x'))
			},
			wantStatus: http.StatusUnauthorized, wantReason: reasonBadToken,
		},
		{
			name: "GitHub signature is no GitLab token",
			req: func() *http.Request {
				r := gitlabRequest("Push Hook", deliveryA, push, nil)
				r.Header.Set(GitHubSignatureHeader, SignGitHub(testGitLabToken, push))
				return r
			},
			wantStatus: http.StatusUnauthorized, wantReason: reasonMissingToken,
		},
		{
			name:       "truncated JSON",
			req:        func() *http.Request { return gitlabRequest("Push Hook", deliveryA, push[:100], testGitLabToken) },
			wantStatus: http.StatusBadRequest, wantReason: reasonMalformed,
		},
		{
			name:       "missing event header",
			req:        func() *http.Request { return gitlabRequest("", deliveryA, push, testGitLabToken) },
			wantStatus: http.StatusBadRequest, wantReason: reasonMissingEvent,
		},
		{
			name: "PUT",
			req: func() *http.Request {
				r := gitlabRequest("Push Hook", deliveryA, push, testGitLabToken)
				r.Method = http.MethodPut
				return r
			},
			wantStatus: http.StatusMethodNotAllowed, wantReason: reasonMethod,
		},
		{
			name: "text/plain",
			req: func() *http.Request {
				r := gitlabRequest("Push Hook", deliveryA, push, testGitLabToken)
				r.Header.Set("Content-Type", "text/plain")
				return r
			},
			wantStatus: http.StatusUnsupportedMediaType, wantReason: reasonMediaType,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTestHandler(t, nil)
			w := do(h, tt.req())
			assert.Equal(t, tt.wantStatus, w.Code, w.Body.String())
			got := h.q.got()
			if tt.wantKind == "" {
				assert.Empty(t, got)
			} else {
				require.Len(t, got, 1)
				assert.Equal(t, tt.wantKind, got[0].Kind)
				assert.Equal(t, ProviderGitLab, got[0].Provider)
				assert.Equal(t, deliveryA, got[0].DeliveryID)
			}
			if tt.wantReason != "" {
				assert.InDelta(t, 1, value(h.m.rejected.WithLabelValues("gitlab", tt.wantReason)), 0)
			}
		})
	}
}

func TestDeduplication(t *testing.T) {
	ghPush := fixture(t, "github/push.json")
	glPush := fixture(t, "gitlab/push.json")
	gh := func(id string) *http.Request { return githubRequest("push", id, ghPush, testGitHubSecret) }
	gl := func(id string) *http.Request { return gitlabRequest("Push Hook", id, glPush, testGitLabToken) }
	type step struct {
		req        func() *http.Request
		advance    time.Duration
		wantStatus int
		wantBody   string
	}
	tests := []struct {
		name      string
		cfg       func(*Config)
		steps     []step
		wantQueue int
	}{
		{
			name: "replayed GitHub delivery",
			steps: []step{
				{req: func() *http.Request { return gh("d1") }, wantStatus: 200, wantBody: "queued"},
				{req: func() *http.Request { return gh("d1") }, wantStatus: 200, wantBody: "duplicate delivery"},
				{req: func() *http.Request { return gh("d2") }, wantStatus: 200, wantBody: "queued"},
			},
			wantQueue: 2,
		},
		{
			name: "replayed GitLab delivery",
			steps: []step{
				{req: func() *http.Request { return gl("u1") }, wantStatus: 200, wantBody: "queued"},
				{req: func() *http.Request { return gl("u1") }, wantStatus: 200, wantBody: "duplicate delivery"},
			},
			wantQueue: 1,
		},
		{
			name: "the same id from two providers is two deliveries",
			steps: []step{
				{req: func() *http.Request { return gh("same") }, wantStatus: 200, wantBody: "queued"},
				{req: func() *http.Request { return gl("same") }, wantStatus: 200, wantBody: "queued"},
			},
			wantQueue: 2,
		},
		{
			name: "GitLab Idempotency-Key wins over the event UUID (retries get a new UUID)",
			steps: []step{
				{req: func() *http.Request {
					r := gl("uuid-1")
					r.Header.Set(GitLabIdempotencyHeader, "idem-1")
					return r
				}, wantStatus: 200, wantBody: "queued"},
				{req: func() *http.Request {
					r := gl("uuid-2")
					r.Header.Set(GitLabIdempotencyHeader, "idem-1")
					return r
				}, wantStatus: 200, wantBody: "duplicate delivery"},
			},
			wantQueue: 1,
		},
		{
			name: "X-Gitlab-Webhook-UUID names the hook, not the delivery",
			steps: []step{
				{req: func() *http.Request {
					r := gl("uuid-1")
					r.Header.Set("X-Gitlab-Webhook-UUID", "hook-1")
					return r
				}, wantStatus: 200, wantBody: "queued"},
				{req: func() *http.Request {
					r := gl("uuid-2")
					r.Header.Set("X-Gitlab-Webhook-UUID", "hook-1")
					return r
				}, wantStatus: 200, wantBody: "queued"},
			},
			wantQueue: 2,
		},
		{
			name: "deliveries without id are not de-duplicated",
			steps: []step{
				{req: func() *http.Request { return gl("") }, wantStatus: 200, wantBody: "queued"},
				{req: func() *http.Request { return gl("") }, wantStatus: 200, wantBody: "queued"},
			},
			wantQueue: 2,
		},
		{
			name: "an id is forgotten after the TTL",
			cfg:  func(c *Config) { c.DedupTTL = time.Minute },
			steps: []step{
				{req: func() *http.Request { return gh("d1") }, wantStatus: 200, wantBody: "queued"},
				{req: func() *http.Request { return gh("d1") }, advance: 59 * time.Second, wantStatus: 200, wantBody: "duplicate"},
				{req: func() *http.Request { return gh("d1") }, advance: time.Second, wantStatus: 200, wantBody: "queued"},
			},
			wantQueue: 2,
		},
		{
			name: "the cache is bounded: the oldest id is evicted",
			cfg:  func(c *Config) { c.DedupSize = 2 },
			steps: []step{
				{req: func() *http.Request { return gh("a") }, wantStatus: 200, wantBody: "queued"},
				{req: func() *http.Request { return gh("b") }, wantStatus: 200, wantBody: "queued"},
				{req: func() *http.Request { return gh("c") }, wantStatus: 200, wantBody: "queued"},
				{req: func() *http.Request { return gh("c") }, wantStatus: 200, wantBody: "duplicate"},
				{req: func() *http.Request { return gh("a") }, wantStatus: 200, wantBody: "queued"},
			},
			wantQueue: 4,
		},
		{
			name: "a rejected delivery does not mark its id",
			steps: []step{
				{req: func() *http.Request {
					r := gh("d1")
					r.Header.Set(GitHubSignatureHeader, SignGitHub([]byte("wrong"), ghPush))
					return r
				}, wantStatus: 401},
				{req: func() *http.Request { return gh("d1") }, wantStatus: 200, wantBody: "queued"},
			},
			wantQueue: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTestHandler(t, tt.cfg)
			for i, s := range tt.steps {
				h.clock.advance(s.advance)
				w := do(h, s.req())
				assert.Equal(t, s.wantStatus, w.Code, "step %d: %s", i, w.Body.String())
				assert.Contains(t, w.Body.String(), s.wantBody, "step %d", i)
			}
			assert.Len(t, h.q.got(), tt.wantQueue)
			assert.LessOrEqual(t, h.dedup.len(), h.cfg.DedupSize)
		})
	}
}

func TestQueueFailures(t *testing.T) {
	push := fixture(t, "github/push.json")
	tests := []struct {
		name       string
		err        error
		wantBody   string
		wantResult string
	}{
		{"queue full", ErrQueueFull, "queue full", resultQueueFull},
		{"wrapped queue full", fmt.Errorf("controller: %w", ErrQueueFull), "queue full", resultQueueFull},
		{"other enqueue error", errors.New("consumer stopped"), "could not enqueue", resultEnqueue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTestHandler(t, nil)
			h.q.setErr(tt.err)
			w := do(h, githubRequest("push", deliveryA, push, testGitHubSecret))
			assert.Equal(t, http.StatusServiceUnavailable, w.Code)
			assert.Contains(t, w.Body.String(), tt.wantBody)
			assert.Equal(t, "1", w.Header().Get("Retry-After"))
			assert.InDelta(t, 1, value(h.m.deliveries.WithLabelValues("github", "push", tt.wantResult)), 0)

			// The id was not remembered: the redelivery goes through.
			h.q.setErr(nil)
			w = do(h, githubRequest("push", deliveryA, push, testGitHubSecret))
			assert.Equal(t, http.StatusOK, w.Code, w.Body.String())
			assert.Equal(t, "queued\n", w.Body.String())
			assert.Len(t, h.q.got(), 1)
		})
	}
}

func TestChanQueueFullAnswers503(t *testing.T) {
	q := NewChanQueue(1)
	h, err := NewHandler(Config{GitHubSecret: testGitHubSecret}, q, logr.Discard(), nil)
	require.NoError(t, err)
	push := fixture(t, "github/push.json")

	assert.Equal(t, http.StatusOK, do(h, githubRequest("push", "d1", push, testGitHubSecret)).Code)
	assert.Equal(t, http.StatusServiceUnavailable, do(h, githubRequest("push", "d2", push, testGitHubSecret)).Code)
	assert.Equal(t, "d1", receive(t, q).DeliveryID)
	assert.Equal(t, http.StatusOK, do(h, githubRequest("push", "d2", push, testGitHubSecret)).Code, "d2 was not marked seen")
	assert.Equal(t, "d2", receive(t, q).DeliveryID)
}

func TestBodyBounds(t *testing.T) {
	const limit = 4096
	push := fixture(t, "gitlab/push.json")
	require.Less(t, len(push), limit)
	atLimit := append(append([]byte{}, push...), bytes.Repeat([]byte(" "), limit-len(push))...)
	over := append(append([]byte{}, push...), bytes.Repeat([]byte(" "), limit-len(push)+1)...)
	huge := bytes.Repeat([]byte("A"), 8*limit)
	tests := []struct {
		name       string
		body       []byte
		length     int64 // Content-Length to announce; -1 unknown (chunked)
		wantStatus int
	}{
		{"body at the limit", atLimit, int64(len(atLimit)), http.StatusOK},
		{"declared length over the limit", over, int64(len(over)), http.StatusRequestEntityTooLarge},
		{"unknown length, body over the limit", over, -1, http.StatusRequestEntityTooLarge},
		{"lying length, body over the limit", huge, 100, http.StatusRequestEntityTooLarge},
		{"unknown length, body within the limit", push, -1, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTestHandler(t, func(c *Config) { c.MaxBodyBytes = limit })
			r := gitlabRequest("Push Hook", "", tt.body, testGitLabToken)
			r.ContentLength = tt.length
			w := do(h, r)
			assert.Equal(t, tt.wantStatus, w.Code, w.Body.String())
			if tt.wantStatus == http.StatusRequestEntityTooLarge {
				assert.Equal(t, "request body larger than 4096 bytes\n", w.Body.String())
				assert.Empty(t, h.q.got())
			}
		})
	}
}

// countingReader counts the bytes read from it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestDeclaredOversizeIsRejectedWithoutReading(t *testing.T) {
	h := newTestHandler(t, func(c *Config) { c.MaxBodyBytes = 1024 })
	body := &countingReader{r: bytes.NewReader(bytes.Repeat([]byte("x"), 1<<20))}
	r := httptest.NewRequest(http.MethodPost, GitHubPath, body)
	r.ContentLength = 1 << 20
	r.Header.Set("Content-Type", "application/json")
	w := do(h, r)
	assert.Equal(t, http.StatusRequestEntityTooLarge, w.Code)
	assert.Equal(t, 0, body.n, "the body was not read")
}

func TestInFlightBound(t *testing.T) {
	block := make(chan struct{})
	entered := make(chan struct{}, 4)
	q := queueFunc(func(context.Context, Event) error {
		entered <- struct{}{}
		<-block
		return nil
	})
	h, err := NewHandler(Config{GitHubSecret: testGitHubSecret, MaxInFlight: 1}, q, logr.Discard(), nil)
	require.NoError(t, err)
	push := fixture(t, "github/push.json")

	var wg sync.WaitGroup
	wg.Add(1)
	var first *httptest.ResponseRecorder
	go func() {
		defer wg.Done()
		first = do(h, githubRequest("push", "d1", push, testGitHubSecret))
	}()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		close(block)
		t.Fatal("the first delivery never reached the queue")
	}
	w := do(h, githubRequest("push", "d2", push, testGitHubSecret))
	assert.Equal(t, http.StatusServiceUnavailable, w.Code)
	assert.Contains(t, w.Body.String(), "too many concurrent deliveries")
	close(block)
	wg.Wait()
	assert.Equal(t, http.StatusOK, first.Code)
	assert.Equal(t, http.StatusOK, do(h, githubRequest("push", "d2", push, testGitHubSecret)).Code)
}

// queueFunc adapts a function to Queue.
type queueFunc func(ctx context.Context, ev Event) error

func (f queueFunc) Enqueue(ctx context.Context, ev Event) error { return f(ctx, ev) }

func TestProvidersAndInsecureMode(t *testing.T) {
	ghPush := fixture(t, "github/push.json")
	glPush := fixture(t, "gitlab/push.json")
	unsignedGH := func() *http.Request { return githubRequest("push", "", ghPush, nil) }
	unsignedGL := func() *http.Request { return gitlabRequest("Push Hook", "", glPush, nil) }
	tests := []struct {
		name           string
		cfg            Config
		wantGH, wantGL int
	}{
		{"only GitHub configured: GitLab is not found", Config{GitHubSecret: testGitHubSecret}, 401, 404},
		{"only GitLab configured: GitHub is not found", Config{GitLabToken: testGitLabToken}, 404, 401},
		{"insecure without secrets accepts unsigned", Config{AllowUnsigned: true}, 200, 200},
		{"insecure still checks a configured secret", Config{GitHubSecret: testGitHubSecret, AllowUnsigned: true}, 401, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := NewHandler(tt.cfg, &recordingQueue{}, logr.Discard(), nil)
			require.NoError(t, err)
			assert.Equal(t, tt.wantGH, do(h, unsignedGH()).Code)
			assert.Equal(t, tt.wantGL, do(h, unsignedGL()).Code)
		})
	}
}

func TestNewHandlerRefuses(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		q       Queue
		wantErr string
	}{
		{"no secret, not insecure", Config{}, discardQueue{}, "--webhook-insecure-allow-unsigned"},
		{"empty secrets", Config{GitHubSecret: []byte{}, GitLabToken: []byte{}}, discardQueue{}, "--webhook-github-secret-file"},
		{"no queue", Config{GitHubSecret: testGitHubSecret}, nil, "needs a queue"},
		{"negative body bound", Config{GitHubSecret: testGitHubSecret, MaxBodyBytes: -1}, discardQueue{}, "must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := NewHandler(tt.cfg, tt.q, logr.Discard(), nil)
			require.Error(t, err)
			assert.Nil(t, h)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
	_, err := NewHandler(Config{}, discardQueue{}, logr.Discard(), nil)
	assert.ErrorIs(t, err, ErrNoSecret)
}

func TestRoutes(t *testing.T) {
	h := newTestHandler(t, nil)
	tests := []struct {
		method, path string
		wantStatus   int
	}{
		{http.MethodGet, HealthzPath, 200},
		{http.MethodHead, HealthzPath, 200},
		{http.MethodPost, HealthzPath, 405},
		{http.MethodPost, "/webhooks/bitbucket", 404},
		{http.MethodPost, GitHubPath + "/", 404},
		{http.MethodPost, "/", 404},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			w := do(h, httptest.NewRequest(tt.method, tt.path, nil))
			assert.Equal(t, tt.wantStatus, w.Code)
		})
	}
	// The endpoints also work alone, mounted anywhere.
	push := fixture(t, "github/push.json")
	r := githubRequest("push", "alone", push, testGitHubSecret)
	r.URL.Path = "/hooks/gh"
	assert.Equal(t, http.StatusOK, do(h.GitHub(), r).Code)
	r = gitlabRequest("Push Hook", "alone", fixture(t, "gitlab/push.json"), testGitLabToken)
	r.URL.Path = "/hooks/gl"
	assert.Equal(t, http.StatusOK, do(h.GitLab(), r).Code)
}

func TestPanicIsRecoveredAndCounted(t *testing.T) {
	calls := 0
	q := queueFunc(func(context.Context, Event) error {
		calls++
		if calls == 1 {
			panic("consumer bug")
		}
		return nil
	})
	reg := prometheus.NewRegistry()
	h, err := NewHandler(Config{GitHubSecret: testGitHubSecret}, q, logr.Discard(), reg)
	require.NoError(t, err)
	push := fixture(t, "github/push.json")

	w := do(h, githubRequest("push", "p1", push, testGitHubSecret))
	assert.Equal(t, http.StatusInternalServerError, w.Code)
	assert.Equal(t, "internal error\n", w.Body.String())
	assert.InDelta(t, 1, value(h.m.panics.WithLabelValues("github")), 0)
	assert.Equal(t, http.StatusOK, do(h, githubRequest("push", "p2", push, testGitHubSecret)).Code, "the handler keeps serving")
}

func TestMetricsRegistered(t *testing.T) {
	h := newTestHandler(t, nil)
	do(h, githubRequest("push", "m1", fixture(t, "github/push.json"), testGitHubSecret))
	do(h, gitlabRequest("Push Hook", "m1", fixture(t, "gitlab/push.json"), []byte("bad")))
	names := map[string]bool{}
	families, err := h.reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		names[f.GetName()] = true
	}
	assert.True(t, names["gitover_webhook_deliveries_total"])
	assert.True(t, names["gitover_webhook_rejected_total"])
	assert.True(t, names["gitover_webhook_request_duration_seconds"])
	assert.Equal(t, 2, seriesCount(t, h.reg, "gitover_webhook_request_duration_seconds"))

	// A second handler on the same registry reuses the collectors.
	h2, err := NewHandler(Config{GitHubSecret: testGitHubSecret}, discardQueue{}, logr.Discard(), h.reg)
	require.NoError(t, err)
	do(h2, githubRequest("push", "m2", fixture(t, "github/push.json"), testGitHubSecret))
	assert.InDelta(t, 2, value(h.m.deliveries.WithLabelValues("github", "push", resultQueued)), 0)
}

func TestNoSecretsInLogs(t *testing.T) {
	var mu sync.Mutex
	var logs strings.Builder
	log := funcr.New(func(prefix, args string) {
		mu.Lock()
		defer mu.Unlock()
		logs.WriteString(prefix + " " + args + "\n")
	}, funcr.Options{Verbosity: 10})
	h, err := NewHandler(Config{GitHubSecret: testGitHubSecret, GitLabToken: testGitLabToken}, &recordingQueue{}, log, nil)
	require.NoError(t, err)

	ghPush := fixture(t, "github/push.json")
	glPush := fixture(t, "gitlab/push.json")
	wrongToken := "wrong-token-e41f0b"
	goodSig := SignGitHub(testGitHubSecret, ghPush)
	badSig := SignGitHub([]byte("x"), ghPush)
	requests := []*http.Request{
		githubRequest("push", "s1", ghPush, testGitHubSecret),
		githubRequest("push", "s1", ghPush, testGitHubSecret),
		githubRequest("push", "s2", ghPush, []byte("x")),
		githubRequest("push", "s3", []byte("{"), testGitHubSecret),
		gitlabRequest("Push Hook", "s4", glPush, testGitLabToken),
		gitlabRequest("Push Hook", "s5", glPush, []byte(wrongToken)),
		gitlabRequest("Issue Hook", "s6", glPush, testGitLabToken),
	}
	for _, r := range requests {
		do(h, r)
	}
	out := logs.String()
	require.Contains(t, out, "webhook delivery queued", "the log sink works")
	require.Contains(t, out, "bad_token")
	for _, secret := range []string{string(testGitHubSecret), string(testGitLabToken), wrongToken,
		strings.TrimPrefix(goodSig, "sha256="), strings.TrimPrefix(badSig, "sha256=")} {
		assert.NotContains(t, out, secret)
	}
}
