//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/require"

	"github.com/gitover/gitover/internal/lab"
)

// memorySampler records the peak of the lab's summed RSS.
type memorySampler struct {
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	peak uint64
}

func sampleMemory(l *lab.Lab, every time.Duration) *memorySampler {
	s := &memorySampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			m := l.MemoryBytes()
			s.mu.Lock()
			if m > s.peak {
				s.peak = m
			}
			s.mu.Unlock()
			select {
			case <-s.stop:
				return
			case <-time.After(every):
			}
		}
	}()
	return s
}

// Peak stops sampling and returns the peak in MiB.
func (s *memorySampler) Peak() float64 {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return float64(s.peak) / (1 << 20)
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkLabUp measures a warm `lab up` (tools built, fresh lab
// directory), the peak memory of the whole lab while the app deploys, and
// a restart of a stopped lab on its existing directory.
func BenchmarkLabUp(b *testing.B) {
	requireTools(b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	var ups, reups []time.Duration
	var peak float64
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		l, err := lab.New(miniConfig(dir, logr.Discard()))
		require.NoError(b, err)
		sampler := sampleMemory(l, 250*time.Millisecond)
		start := time.Now()
		require.NoError(b, l.Up(ctx))
		ups = append(ups, time.Since(start))
		require.NoError(b, l.NudgeApplicationSet(ctx, miniAppSet))
		require.NoError(b, l.WaitApplication(ctx, "mini-dr1", 2*time.Minute, lab.SyncedAndHealthy("")))
		time.Sleep(5 * time.Second) // let the controllers settle after the first sync
		if p := sampler.Peak(); p > peak {
			peak = p
		}
		require.NoError(b, l.Down(ctx))
		start = time.Now()
		require.NoError(b, l.Up(ctx))
		reups = append(reups, time.Since(start))
		require.NoError(b, l.Down(ctx))
	}
	b.ReportMetric(median(ups).Seconds(), "up-s")
	b.ReportMetric(median(reups).Seconds(), "reup-s")
	b.ReportMetric(peak, "peak-MiB")
	b.Logf("warm lab up (fresh dir): %s; restart on existing dir: %s; peak memory of all lab processes: %.0f MiB",
		median(ups).Round(time.Millisecond), median(reups).Round(time.Millisecond), peak)
}

// flipTiming is one Placement flip.
type flipTiming struct {
	nudged bool
	// hub: commit pushed -> hub Application synced at it (hub refreshed).
	hub time.Duration
	// decision: Placement on the hub -> PlacementDecision selects the target.
	decision time.Duration
	// synced: Placement on the hub -> target Application Synced+Healthy at the commit.
	synced time.Duration
	// gone: Placement on the hub -> source Application deleted.
	gone time.Duration
}

// BenchmarkLabFlip flips the mini app between dr1 and dr2 by committing a
// flipped Placement to Git, alternately nudging the ApplicationSet
// (application-set-refresh) once the PlacementDecision changed and leaving
// it to its requeueAfterSeconds (30 s in the fixture). In both modes the hub
// Application is refreshed right after the push, so both start when the
// flipped Placement lands on the hub.
//
// Only the Placement changes (the overlay path stays): a commit that also
// changes the ApplicationSet makes the applicationset-controller regenerate
// at once, and whether that lands before or after OCM's new decision (a race
// of milliseconds) would decide the polled time.
func BenchmarkLabFlip(b *testing.B) {
	requireTools(b)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute)
	defer cancel()
	dir := b.TempDir()
	l, err := lab.New(miniConfig(dir, logr.Discard()))
	require.NoError(b, err)
	require.NoError(b, l.Up(ctx))
	defer func() { require.NoError(b, l.Down(context.Background())) }()
	sampler := sampleMemory(l, 250*time.Millisecond)
	require.NoError(b, l.NudgeApplicationSet(ctx, miniAppSet))
	require.NoError(b, l.WaitApplication(ctx, "mini-dr1", 2*time.Minute, lab.SyncedAndHealthy("")))
	work := cloneLabRepo(ctx, b, l)

	rounds := envInt("LAB_BENCH_FLIPS", 3)
	site := map[string]string{"dr1": "primary", "dr2": "secondary"}
	from, to := "dr1", "dr2"
	var timings []flipTiming
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for r := 0; r < rounds; r++ {
			// Alternate which mode goes first so that each flips both ways.
			for _, nudged := range []bool{r%2 == 0, r%2 != 0} {
				timings = append(timings, flipOnce(ctx, b, l, work, site[from], site[to], from, to, nudged))
				from, to = to, from
			}
		}
	}
	b.StopTimer()
	peak := sampler.Peak()
	var n, p []flipTiming
	for _, ft := range timings {
		if ft.nudged {
			n = append(n, ft)
		} else {
			p = append(p, ft)
		}
	}
	pick := func(ts []flipTiming, f func(flipTiming) time.Duration) time.Duration {
		var d []time.Duration
		for _, t := range ts {
			d = append(d, f(t))
		}
		return median(d)
	}
	for _, mode := range []struct {
		name string
		ts   []flipTiming
	}{{"nudged", n}, {"polled", p}} {
		b.ReportMetric(pick(mode.ts, func(t flipTiming) time.Duration { return t.synced }).Seconds(), mode.name+"-synced-s")
		synced := make([]time.Duration, 0, len(mode.ts))
		for _, t := range mode.ts {
			synced = append(synced, t.synced)
		}
		sort.Slice(synced, func(i, j int) bool { return synced[i] < synced[j] })
		b.Logf("%-6s flips=%d  median: commit->hub %6s  placement->decision %6s  placement->target Synced+Healthy %7s (min %s, max %s)  placement->source gone %7s",
			mode.name, len(mode.ts),
			pick(mode.ts, func(t flipTiming) time.Duration { return t.hub }).Round(10*time.Millisecond),
			pick(mode.ts, func(t flipTiming) time.Duration { return t.decision }).Round(10*time.Millisecond),
			pick(mode.ts, func(t flipTiming) time.Duration { return t.synced }).Round(10*time.Millisecond),
			synced[0].Round(10*time.Millisecond), synced[len(synced)-1].Round(10*time.Millisecond),
			pick(mode.ts, func(t flipTiming) time.Duration { return t.gone }).Round(10*time.Millisecond))
	}
	b.ReportMetric(peak, "peak-MiB")
	b.Logf("peak memory of all lab processes during the flips: %.0f MiB", peak)
}

func flipOnce(ctx context.Context, b *testing.B, l *lab.Lab, work *gitWork, fromValue, toValue, from, to string, nudged bool) flipTiming {
	b.Helper()
	ft := flipTiming{nudged: nudged}
	start := time.Now()
	sha := work.flip(ctx, b, fromValue, toValue, false)
	require.NoError(b, l.RefreshApplication(ctx, l.HubApplication()))
	require.NoError(b, l.WaitApplication(ctx, l.HubApplication(), time.Minute, lab.SyncedAndHealthy(sha)))
	placed := time.Now()
	ft.hub = placed.Sub(start)
	waitDecision(ctx, b, l, miniPlacement, []string{to}, time.Minute)
	ft.decision = time.Since(placed)
	if nudged {
		require.NoError(b, l.NudgeApplicationSet(ctx, miniAppSet))
	}
	require.NoError(b, l.WaitApplication(ctx, "mini-"+to, 2*time.Minute, lab.SyncedAndHealthy(sha)))
	ft.synced = time.Since(placed)
	require.NoError(b, l.WaitApplication(ctx, "mini-"+from, 2*time.Minute, lab.Gone()))
	ft.gone = time.Since(placed)
	mode := map[bool]string{true: "nudged", false: "polled"}[nudged]
	b.Logf("%s flip %s->%s: %s", mode, from, to, fmt.Sprintf("hub %s decision %s synced %s gone %s",
		ft.hub.Round(10*time.Millisecond), ft.decision.Round(10*time.Millisecond), ft.synced.Round(10*time.Millisecond), ft.gone.Round(10*time.Millisecond)))
	return ft
}
