package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
)

// Paths served by Handler.
const (
	GitHubPath  = "/webhooks/github"
	GitLabPath  = "/webhooks/gitlab"
	HealthzPath = "/healthz"
)

// Defaults applied by NewHandler to zero Config fields.
const (
	DefaultMaxBodyBytes int64 = 2 << 20
	DefaultDedupSize          = 10000
	DefaultDedupTTL           = 24 * time.Hour
	DefaultMaxInFlight        = 64
)

// maxDeliveryIDBytes bounds a delivery id; GitHub and GitLab send UUIDs.
const maxDeliveryIDBytes = 128

// ErrNoSecret is returned by NewHandler (and Options.Validate) when no
// provider secret is configured and unsigned deliveries are not allowed.
var ErrNoSecret = errors.New("no webhook secret configured: set --webhook-github-secret-file " +
	"(or " + EnvGitHubSecret + ") for GitHub, --webhook-gitlab-token-file (or " + EnvGitLabToken +
	") for GitLab, or pass --webhook-insecure-allow-unsigned to accept unauthenticated deliveries (testing only)")

// Config configures a Handler.
type Config struct {
	// GitHubSecret is the secret of the GitHub webhooks; deliveries must carry
	// a valid X-Hub-Signature-256. Empty: the GitHub endpoint answers 404,
	// unless AllowUnsigned.
	GitHubSecret []byte
	// GitLabToken is the secret token of the GitLab webhooks, compared with
	// X-Gitlab-Token. Empty: the GitLab endpoint answers 404, unless
	// AllowUnsigned.
	GitLabToken []byte
	// AllowUnsigned makes the endpoints of providers without a secret accept
	// unauthenticated deliveries (flag --webhook-insecure-allow-unsigned).
	// Providers with a secret still require it. For tests and labs only.
	AllowUnsigned bool
	// MaxBodyBytes bounds a request body (DefaultMaxBodyBytes when 0).
	MaxBodyBytes int64
	// DedupSize is how many delivery ids are remembered (DefaultDedupSize when 0).
	DedupSize int
	// DedupTTL is how long a delivery id is remembered (DefaultDedupTTL when 0).
	DedupTTL time.Duration
	// MaxInFlight bounds the requests whose bodies are read and processed at
	// once, and so the memory held by bodies (DefaultMaxInFlight when 0);
	// requests beyond it are answered 503.
	MaxInFlight int
}

// Handler receives GitHub and GitLab webhooks, verifies them, parses them
// into Events and hands them to a Queue. It serves GitHubPath, GitLabPath and
// HealthzPath; GitHub() and GitLab() return the two endpoints alone.
//
// Answers: 200 queued or duplicate delivery; 202 authenticated but ignored
// (another event or action); 400 malformed payload, missing event header or
// invalid delivery id; 401 missing or wrong signature/token; 404 provider
// not configured; 405 not POST; 413 body over the bound; 415 not JSON;
// 503 queue full or too many requests at once (deliver again); 500 only if
// a bug panicked (counted in gitover_webhook_panics_total).
type Handler struct {
	cfg      Config
	q        Queue
	log      logr.Logger
	m        *metrics
	dedup    *dedup
	now      func() time.Time
	inflight chan struct{}
	bufs     sync.Pool

	ghVerify *githubVerifier // nil: unsigned (or disabled)
	glVerify *gitlabVerifier // nil: unsigned (or disabled)
	github   endpoint
	gitlab   endpoint
	mux      *http.ServeMux
}

// endpoint holds what differs between the providers.
type endpoint struct {
	provider    Provider
	enabled     bool
	eventHeader string
	parse       func(event string, body []byte) (Event, error)
}

// NewHandler returns a Handler that delivers to q. It refuses to be built
// when neither GitHubSecret nor GitLabToken is set and AllowUnsigned is false
// (ErrNoSecret). Metrics are registered with reg when it is not nil.
func NewHandler(cfg Config, q Queue, log logr.Logger, reg prometheus.Registerer) (*Handler, error) {
	if q == nil {
		return nil, errors.New("webhook handler needs a queue")
	}
	if len(cfg.GitHubSecret) == 0 && len(cfg.GitLabToken) == 0 && !cfg.AllowUnsigned {
		return nil, ErrNoSecret
	}
	if cfg.MaxBodyBytes < 0 || cfg.DedupSize < 0 || cfg.DedupTTL < 0 || cfg.MaxInFlight < 0 {
		return nil, errors.New("webhook config: MaxBodyBytes, DedupSize, DedupTTL and MaxInFlight must not be negative")
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.DedupSize == 0 {
		cfg.DedupSize = DefaultDedupSize
	}
	if cfg.DedupTTL == 0 {
		cfg.DedupTTL = DefaultDedupTTL
	}
	if cfg.MaxInFlight == 0 {
		cfg.MaxInFlight = DefaultMaxInFlight
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("registering webhook metrics: %w", err)
	}
	h := &Handler{
		cfg:      cfg,
		q:        q,
		log:      log,
		m:        m,
		now:      time.Now,
		inflight: make(chan struct{}, cfg.MaxInFlight),
	}
	h.dedup = newDedup(cfg.DedupSize, cfg.DedupTTL, func() time.Time { return h.now() })
	if len(cfg.GitHubSecret) > 0 {
		h.ghVerify = newGitHubVerifier(cfg.GitHubSecret)
	}
	if len(cfg.GitLabToken) > 0 {
		h.glVerify = newGitLabVerifier(cfg.GitLabToken)
	}
	h.github = endpoint{
		provider: ProviderGitHub, enabled: h.ghVerify != nil || cfg.AllowUnsigned,
		eventHeader: GitHubEventHeader, parse: ParseGitHub,
	}
	h.gitlab = endpoint{
		provider: ProviderGitLab, enabled: h.glVerify != nil || cfg.AllowUnsigned,
		eventHeader: GitLabEventHeader, parse: ParseGitLab,
	}
	h.mux = http.NewServeMux()
	h.mux.Handle(GitHubPath, h.GitHub())
	h.mux.Handle(GitLabPath, h.GitLab())
	h.mux.HandleFunc(HealthzPath, serveHealthz)

	if cfg.AllowUnsigned {
		log.Info("WARNING: webhook receiver accepts unauthenticated deliveries for providers without a secret (insecure mode)",
			"githubSigned", h.ghVerify != nil, "gitlabSigned", h.glVerify != nil)
	}
	log.V(1).Info("webhook receiver configured", "github", h.github.enabled, "gitlab", h.gitlab.enabled,
		"maxBodyBytes", cfg.MaxBodyBytes, "dedupSize", cfg.DedupSize, "dedupTTL", cfg.DedupTTL)
	return h, nil
}

// ServeHTTP routes GitHubPath, GitLabPath and HealthzPath; other paths get 404.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mux.ServeHTTP(w, r)
}

// GitHub returns the handler of GitHub deliveries alone.
func (h *Handler) GitHub() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.serve(&h.github, w, r) })
}

// GitLab returns the handler of GitLab deliveries alone.
func (h *Handler) GitLab() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.serve(&h.gitlab, w, r) })
}

// serveHealthz answers liveness probes.
func serveHealthz(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		reply(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	reply(w, http.StatusOK, "ok")
}

// serve runs one delivery through the checks, in order of cost: method,
// provider, declared length, content type, concurrency, bounded body read,
// authentication, headers, parse, de-duplication, enqueue.
func (h *Handler) serve(ep *endpoint, w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	status := 0
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler { //nolint:errorlint // sentinel value, compared as net/http does
				panic(v)
			}
			h.m.panics.WithLabelValues(string(ep.provider)).Inc()
			h.m.rejected.WithLabelValues(string(ep.provider), reasonPanic).Inc()
			h.log.Error(fmt.Errorf("panic: %v", v), "webhook handler panicked", "provider", ep.provider)
			if status == 0 {
				status = reply(w, http.StatusInternalServerError, "internal error")
			}
		}
		h.m.latency.WithLabelValues(string(ep.provider)).Observe(time.Since(start).Seconds())
	}()
	status = h.handle(ep, w, r)
}

// handle does the work of serve and returns the status it answered.
func (h *Handler) handle(ep *endpoint, w http.ResponseWriter, r *http.Request) int {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return h.reject(ep, w, r, http.StatusMethodNotAllowed, reasonMethod, "method not allowed: use POST")
	}
	if !ep.enabled {
		return h.reject(ep, w, r, http.StatusNotFound, reasonDisabled,
			string(ep.provider)+" webhooks are not enabled on this receiver (no secret configured)")
	}
	limit := h.cfg.MaxBodyBytes
	if r.ContentLength > limit {
		w.Header().Set("Connection", "close")
		return h.reject(ep, w, r, http.StatusRequestEntityTooLarge, reasonTooLarge, tooLargeMessage(limit))
	}
	if msg := checkContentType(ep.provider, r.Header); msg != "" {
		return h.reject(ep, w, r, http.StatusUnsupportedMediaType, reasonMediaType, msg)
	}

	select {
	case h.inflight <- struct{}{}:
		defer func() { <-h.inflight }()
	default:
		w.Header().Set("Retry-After", "1")
		return h.reject(ep, w, r, http.StatusServiceUnavailable, reasonOverloaded, "too many concurrent deliveries, deliver again later")
	}

	buf := h.getBuffer()
	defer h.putBuffer(buf)
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength) + bytes.MinRead)
	}
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, limit)); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			w.Header().Set("Connection", "close")
			return h.reject(ep, w, r, http.StatusRequestEntityTooLarge, reasonTooLarge, tooLargeMessage(limit))
		}
		return h.reject(ep, w, r, http.StatusBadRequest, reasonReadError, "could not read the request body")
	}
	body := buf.Bytes()

	if reason := h.authenticate(ep.provider, r.Header, body); reason != "" {
		return h.reject(ep, w, r, http.StatusUnauthorized, reason, unauthorizedMessage(reason))
	}
	event := r.Header.Get(ep.eventHeader)
	if event == "" {
		return h.reject(ep, w, r, http.StatusBadRequest, reasonMissingEvent, "missing "+ep.eventHeader+" header")
	}
	id := deliveryID(ep.provider, r.Header)
	if !validDeliveryID(id) {
		return h.reject(ep, w, r, http.StatusBadRequest, reasonBadDeliveryID, "invalid delivery id header")
	}

	ev, err := ep.parse(event, body)
	if err != nil {
		if errors.Is(err, ErrIgnored) {
			h.m.deliveries.WithLabelValues(string(ep.provider), kindOther, resultIgnored).Inc()
			h.log.V(1).Info("webhook delivery ignored", "provider", ep.provider, "event", clip(event), "delivery", id, "reason", err.Error())
			return reply(w, http.StatusAccepted, err.Error())
		}
		return h.reject(ep, w, r, http.StatusBadRequest, reasonMalformed, err.Error())
	}
	ev.DeliveryID = id
	ev.ReceivedAt = h.now()
	return h.deliver(ep, w, r, ev)
}

// deliver de-duplicates ev by delivery id and enqueues it. An id is
// remembered only once its event is in the queue.
func (h *Handler) deliver(ep *endpoint, w http.ResponseWriter, r *http.Request, ev Event) int {
	provider, kind := string(ep.provider), string(ev.Kind)
	key := ""
	if ev.DeliveryID != "" {
		key = provider + ":" + ev.DeliveryID
		if !h.dedup.reserve(key) {
			h.m.deliveries.WithLabelValues(provider, kind, resultDuplicate).Inc()
			h.log.V(1).Info("duplicate webhook delivery", "provider", provider, "kind", kind, "delivery", ev.DeliveryID)
			return reply(w, http.StatusOK, "duplicate delivery")
		}
	}
	if err := h.q.Enqueue(r.Context(), ev); err != nil {
		if key != "" {
			h.dedup.release(key)
		}
		w.Header().Set("Retry-After", "1")
		if errors.Is(err, ErrQueueFull) {
			h.m.deliveries.WithLabelValues(provider, kind, resultQueueFull).Inc()
			h.log.Info("webhook queue full, delivery refused", "provider", provider, "kind", kind, "delivery", ev.DeliveryID)
			return reply(w, http.StatusServiceUnavailable, "queue full, deliver again later")
		}
		h.m.deliveries.WithLabelValues(provider, kind, resultEnqueue).Inc()
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			// The sender hung up or the server is stopping.
			h.log.V(1).Info("webhook delivery abandoned", "provider", provider, "kind", kind, "delivery", ev.DeliveryID, "reason", err.Error())
		} else {
			h.log.Error(err, "webhook delivery could not be enqueued", "provider", provider, "kind", kind, "delivery", ev.DeliveryID)
		}
		return reply(w, http.StatusServiceUnavailable, "could not enqueue, deliver again later")
	}
	if key != "" {
		h.dedup.commit(key)
	}
	h.m.deliveries.WithLabelValues(provider, kind, resultQueued).Inc()
	log := h.log
	if ev.Kind == KindPush {
		log = log.V(1) // pushes are frequent; merges, closes and pings are not
	}
	log.Info("webhook delivery queued", "provider", provider, "kind", kind, "delivery", ev.DeliveryID,
		"repository", ev.Repository.FullName, "ref", ev.Ref, "number", ev.Number)
	return reply(w, http.StatusOK, "queued")
}

// authenticate returns "" when the request is authentic (or the provider is
// unsigned in insecure mode), else the rejection reason. Headers holding
// secrets are never logged.
func (h *Handler) authenticate(p Provider, hdr http.Header, body []byte) string {
	switch p {
	case ProviderGitHub:
		if h.ghVerify == nil {
			return ""
		}
		return h.ghVerify.verify(hdr.Get(GitHubSignatureHeader), body)
	case ProviderGitLab:
		if h.glVerify == nil {
			return ""
		}
		return h.glVerify.verify(hdr.Get(GitLabTokenHeader))
	}
	return reasonBadSignature
}

// reject counts, logs (at V(1): senders control how often) and answers a
// refused request.
func (h *Handler) reject(ep *endpoint, w http.ResponseWriter, r *http.Request, code int, reason, msg string) int {
	h.m.rejected.WithLabelValues(string(ep.provider), reason).Inc()
	h.log.V(1).Info("webhook request rejected", "provider", ep.provider, "status", code, "reason", reason,
		"remote", r.RemoteAddr, "detail", msg)
	return reply(w, code, msg)
}

// reply writes a short plain-text answer and returns code.
func reply(w http.ResponseWriter, code int, msg string) int {
	hdr := w.Header()
	hdr.Set("Content-Type", "text/plain; charset=utf-8")
	hdr.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(msg + "\n"))
	return code
}

// deliveryID returns the id a delivery is de-duplicated by: X-GitHub-Delivery
// for GitHub; for GitLab Idempotency-Key (GitLab >= 17.4, the same on every
// retry of one delivery), else X-Gitlab-Event-UUID. X-Gitlab-Webhook-UUID
// identifies the hook, not the delivery, and is never used.
func deliveryID(p Provider, hdr http.Header) string {
	if p == ProviderGitHub {
		return hdr.Get(GitHubDeliveryHeader)
	}
	if id := hdr.Get(GitLabIdempotencyHeader); id != "" {
		return id
	}
	return hdr.Get(GitLabEventUUIDHeader)
}

// validDeliveryID accepts an absent id (the delivery is then not
// de-duplicated) or 1-128 characters of [A-Za-z0-9._:-].
func validDeliveryID(id string) bool {
	if len(id) > maxDeliveryIDBytes {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

// checkContentType returns "" for an identity-encoded JSON body, else the
// message of a 415 answer. GitHub's form-encoded deliveries
// (Content type application/x-www-form-urlencoded) are refused on purpose:
// one parsing path, fully fuzzed.
func checkContentType(p Provider, hdr http.Header) string {
	if enc := hdr.Get("Content-Encoding"); enc != "" && !strings.EqualFold(enc, "identity") {
		return "unsupported content encoding: send the body uncompressed"
	}
	ct := hdr.Get("Content-Type")
	if ct == "application/json" {
		return ""
	}
	if mt, _, err := mime.ParseMediaType(ct); err == nil && mt == "application/json" {
		return ""
	}
	if p == ProviderGitHub {
		return "unsupported content type: set the GitHub webhook's Content type to application/json"
	}
	return "unsupported content type: expected application/json"
}

// unauthorizedMessage is the body of a 401 answer for reason.
func unauthorizedMessage(reason string) string {
	switch reason {
	case reasonMissingSignature:
		return "missing " + GitHubSignatureHeader + " header (is the webhook secret set?)"
	case reasonMalformedSignature:
		return "malformed " + GitHubSignatureHeader + " header"
	case reasonMissingToken:
		return "missing " + GitLabTokenHeader + " header (is the webhook secret token set?)"
	case reasonBadToken:
		return "invalid " + GitLabTokenHeader
	default:
		return "signature does not match"
	}
}

// tooLargeMessage is the body of a 413 answer.
func tooLargeMessage(limit int64) string {
	return "request body larger than " + strconv.FormatInt(limit, 10) + " bytes"
}

// maxPooledBuffer is the largest body buffer kept for reuse.
const maxPooledBuffer = 256 << 10

func (h *Handler) getBuffer() *bytes.Buffer {
	if b, ok := h.bufs.Get().(*bytes.Buffer); ok {
		return b
	}
	return new(bytes.Buffer)
}

func (h *Handler) putBuffer(b *bytes.Buffer) {
	if b.Cap() > maxPooledBuffer {
		return
	}
	b.Reset()
	h.bufs.Put(b)
}
