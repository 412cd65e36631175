//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gitover/gitover/api/v1alpha1"
	"github.com/gitover/gitover/internal/lab"
)

// failoverTiming is one measured Failover.
type failoverTiming struct {
	total   time.Duration // requested → verified
	switch_ time.Duration // requested → commit on main (the controller's own work)
	deploy  time.Duration // commit → target Applications Synced and Healthy (Argo CD + OCM)
	steps   map[v1alpha1.FailoverPhase]time.Duration
}

// BenchmarkControllerFailover measures request → Verified on the lab (mini
// fixture, Direct mode), side by side in one run: the controller nudging
// Argo CD (hub Application, ApplicationSet and Application refreshes), then
// the same controller with --no-argocd-nudges, relying on Argo CD's polling
// (hub Application reconciliation, ApplicationSet requeueAfterSeconds 30).
// Each mode runs LAB_BENCH_FAILOVERS round trips (dr1 → dr2 → dr1, default
// 2). Reported per mode: median total, switch (request → commit on main,
// the controller's own work: checks, plan, render, push) and appDeploy, and
// the median duration of each step. Run with `make controller-bench`.
func BenchmarkControllerFailover(b *testing.B) {
	requireTools(b)
	rounds := envInt("LAB_BENCH_FAILOVERS", 2)
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rounds)*20*time.Minute+10*time.Minute)
	defer cancel()
	dir := b.TempDir()
	out, err := labCLI(ctx, b, upArgs(dir)...)
	require.NoError(b, err, "lab up:\n%s", out)
	b.Cleanup(func() { _, _ = labCLI(context.Background(), b, "down", "--dir", dir) })
	l, err := lab.Open(dir, testLogger(b))
	require.NoError(b, err)
	h := newControllerHarness(ctx, b, l)

	for i := 0; i < b.N; i++ {
		results := map[string][]failoverTiming{}
		for _, mode := range []struct {
			name  string
			flags []string
		}{{"nudged", nil}, {"polled", []string{"--no-argocd-nudges"}}} {
			h.start(ctx, mode.flags...)
			for r := 0; r < rounds; r++ {
				for _, hop := range []struct {
					action v1alpha1.Action
					target string
				}{{v1alpha1.ActionFailover, "dr2"}, {v1alpha1.ActionRelocate, "dr1"}} {
					name := fmt.Sprintf("bench-%d-%s-%d-%s", i, mode.name, r, hop.target)
					h.request(ctx, name, hop.action, hop.target, v1alpha1.ModeDirect)
					fo := h.waitPhase(ctx, name, 10*time.Minute, v1alpha1.PhaseSucceeded)
					h.verifyLab(ctx, fo)
					results[mode.name] = append(results[mode.name], timing(b, fo))
					h.logRun(fo)
				}
			}
			h.stop()
		}
		report(b, results)
	}
}

// timing extracts the measurements of a succeeded Failover.
func timing(b *testing.B, fo *v1alpha1.Failover) failoverTiming {
	tl := fo.Status.Timeline
	require.NotNil(b, tl.Requested)
	require.NotNil(b, tl.Verified)
	require.NotNil(b, fo.Status.RTO)
	t := failoverTiming{
		total:   tl.Verified.Sub(tl.Requested.Time),
		switch_: fo.Status.RTO.Switch.Duration,
		deploy:  fo.Status.RTO.AppDeploy.Duration,
		steps:   map[v1alpha1.FailoverPhase]time.Duration{},
	}
	for _, s := range fo.Status.Steps {
		if s.FinishedAt != nil {
			t.steps[s.Name] = s.FinishedAt.Sub(s.StartedAt.Time)
		}
	}
	return t
}

// report logs the table and reports the medians as benchmark metrics.
func report(b *testing.B, results map[string][]failoverTiming) {
	med := func(ts []failoverTiming, f func(failoverTiming) time.Duration) time.Duration {
		var d []time.Duration
		for _, t := range ts {
			d = append(d, f(t))
		}
		return median(d)
	}
	span := func(ts []failoverTiming, f func(failoverTiming) time.Duration) string {
		var d []time.Duration
		for _, t := range ts {
			d = append(d, f(t))
		}
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return fmt.Sprintf("%6.2f s (%.2f-%.2f)", median(d).Seconds(), d[0].Seconds(), d[len(d)-1].Seconds())
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n%-24s %-24s %-24s\n", "request → Verified", "nudged", "polled")
	rows := []struct {
		name string
		f    func(failoverTiming) time.Duration
	}{
		{"total", func(t failoverTiming) time.Duration { return t.total }},
		{"switch (controller)", func(t failoverTiming) time.Duration { return t.switch_ }},
		{"appDeploy (Argo CD)", func(t failoverTiming) time.Duration { return t.deploy }},
	}
	for _, ph := range []v1alpha1.FailoverPhase{v1alpha1.PhaseChecking, v1alpha1.PhaseCommitting, v1alpha1.PhaseConverging, v1alpha1.PhaseVerifying} {
		ph := ph
		rows = append(rows, struct {
			name string
			f    func(failoverTiming) time.Duration
		}{"  " + string(ph), func(t failoverTiming) time.Duration { return t.steps[ph] }})
	}
	for _, r := range rows {
		fmt.Fprintf(&sb, "%-24s %-24s %-24s\n", r.name, span(results["nudged"], r.f), span(results["polled"], r.f))
	}
	nudged, polled := med(results["nudged"], rows[0].f), med(results["polled"], rows[0].f)
	fmt.Fprintf(&sb, "polled / nudged: %.1fx (%d failovers each)\n", polled.Seconds()/nudged.Seconds(), len(results["nudged"]))
	b.Log(sb.String())
	b.ReportMetric(nudged.Seconds(), "nudged-s")
	b.ReportMetric(polled.Seconds(), "polled-s")
	b.ReportMetric(med(results["nudged"], rows[1].f).Seconds(), "switch-s")
	b.ReportMetric(polled.Seconds()/nudged.Seconds(), "speedup")
}
