package webhook

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Results recorded in gitover_webhook_deliveries_total.
const (
	resultQueued    = "queued"
	resultDuplicate = "duplicate"
	resultIgnored   = "ignored"
	resultQueueFull = "queue_full"
	resultEnqueue   = "enqueue_error"
)

// Reasons recorded in gitover_webhook_rejected_total. Every label value is a
// constant: nothing a sender controls becomes a label.
const (
	reasonMethod             = "method_not_allowed"
	reasonDisabled           = "provider_disabled"
	reasonTooLarge           = "body_too_large"
	reasonMediaType          = "unsupported_media_type"
	reasonReadError          = "read_error"
	reasonOverloaded         = "overloaded"
	reasonMissingSignature   = "missing_signature"
	reasonMalformedSignature = "malformed_signature"
	reasonBadSignature       = "bad_signature"
	reasonMissingToken       = "missing_token"
	reasonBadToken           = "bad_token"
	reasonMissingEvent       = "missing_event"
	reasonBadDeliveryID      = "bad_delivery_id"
	reasonMalformed          = "malformed_payload"
	reasonPanic              = "internal_error"
)

// kindOther labels deliveries that were ignored before a kind was known.
const kindOther = "other"

// metrics holds the receiver's Prometheus collectors.
type metrics struct {
	deliveries *prometheus.CounterVec
	rejected   *prometheus.CounterVec
	panics     *prometheus.CounterVec
	latency    *prometheus.HistogramVec
}

// newMetrics creates the collectors and registers them with reg (when not
// nil). Collectors already registered by an earlier Handler are reused.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gitover", Subsystem: "webhook", Name: "deliveries_total",
			Help: "Authenticated webhook deliveries by provider, event kind and result (queued, duplicate, ignored, queue_full, enqueue_error).",
		}, []string{"provider", "kind", "result"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gitover", Subsystem: "webhook", Name: "rejected_total",
			Help: "Webhook requests rejected before delivery, by provider and reason.",
		}, []string{"provider", "reason"}),
		panics: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gitover", Subsystem: "webhook", Name: "panics_total",
			Help: "Webhook requests that panicked and were answered 500 (should stay 0).",
		}, []string{"provider"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "gitover", Subsystem: "webhook", Name: "request_duration_seconds",
			Help:    "Time to answer a webhook request, by provider.",
			Buckets: []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5},
		}, []string{"provider"}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.deliveries, err = register(reg, m.deliveries); err != nil {
		return nil, err
	}
	if m.rejected, err = register(reg, m.rejected); err != nil {
		return nil, err
	}
	if m.panics, err = register(reg, m.panics); err != nil {
		return nil, err
	}
	if m.latency, err = register(reg, m.latency); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c with reg, returning the collector already registered
// under the same description if there is one.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, err
}
