package controllers

import (
	"errors"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gitover/gitover/api/v1alpha1"
)

// Metrics are the controllers' Prometheus collectors, registered with
// controller-runtime's registry by the manager (served on /metrics).
type Metrics struct {
	// PhaseDuration is how long each Failover step took.
	PhaseDuration *prometheus.HistogramVec
	// Failovers counts finished Failovers by action and result.
	Failovers *prometheus.CounterVec
	// InFlight is the number of Failovers neither Succeeded nor Failed.
	InFlight prometheus.Gauge
	// RTO is the total recovery time of succeeded Failovers.
	RTO *prometheus.HistogramVec
	// PlanConverged is 1 while a DRPlan's Converged condition is True.
	PlanConverged *prometheus.GaugeVec

	mu       sync.Mutex
	inFlight map[string]bool
}

// NewMetrics creates the collectors and registers them with reg (when not
// nil); collectors an earlier call registered are reused, so several
// managers in one process (tests) share them.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		PhaseDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "gitover", Name: "failover_phase_duration_seconds",
			Help:    "Duration of each Failover phase (Checking, Committing, Proposing, AwaitingMerge, Converging, Verifying).",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600},
		}, []string{"phase"}),
		Failovers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gitover", Name: "failovers_total",
			Help: "Finished Failovers by action (Failover, Relocate) and result (Succeeded, Failed).",
		}, []string{"action", "result"}),
		InFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "gitover", Name: "failovers_in_flight",
			Help: "Failovers that are neither Succeeded nor Failed.",
		}),
		RTO: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "gitover", Name: "failover_rto_seconds",
			Help:    "Recovery time of succeeded Failovers (detect + switch + appDeploy), by action.",
			Buckets: []float64{1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600},
		}, []string{"action"}),
		PlanConverged: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "gitover", Name: "drplan_converged",
			Help: "1 while the DRPlan's Converged condition is True (Git and the live state agree), else 0.",
		}, []string{"namespace", "name"}),
		inFlight: map[string]bool{},
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.PhaseDuration, err = register(reg, m.PhaseDuration); err != nil {
		return nil, err
	}
	if m.Failovers, err = register(reg, m.Failovers); err != nil {
		return nil, err
	}
	if m.InFlight, err = register(reg, m.InFlight); err != nil {
		return nil, err
	}
	if m.RTO, err = register(reg, m.RTO); err != nil {
		return nil, err
	}
	if m.PlanConverged, err = register(reg, m.PlanConverged); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c with reg, returning the collector already
// registered under the same description if there is one.
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

// track counts the Failover key as in flight or not, from its phase; every Failover is
// reconciled after a restart, so the gauge rebuilds itself.
func (m *Metrics) track(key string, phase v1alpha1.FailoverPhase, gone bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	inFlight := !gone && phase != v1alpha1.PhaseSucceeded && phase != v1alpha1.PhaseFailed
	if inFlight {
		m.inFlight[key] = true
	} else {
		delete(m.inFlight, key)
	}
	m.InFlight.Set(float64(len(m.inFlight)))
}
