package overlays

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gitover/gitover/api/v1alpha1"
	"github.com/gitover/gitover/internal/monorepo"
)

// peakHeap samples the live heap while f runs and returns its maximum.
func peakHeap(f func()) uint64 {
	var peak uint64
	var mu sync.Mutex
	stop := make(chan struct{})
	done := make(chan struct{})
	sample := func() {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		mu.Lock()
		if m.HeapAlloc > peak {
			peak = m.HeapAlloc
		}
		mu.Unlock()
	}
	go func() {
		defer close(done)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				sample()
			}
		}
	}()
	f()
	close(stop)
	<-done
	sample()
	return peak
}

// maxRSS is the process's peak resident set size in bytes.
func maxRSS() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Maxrss) * 1024
}

// cpuSeconds is the CPU time (user + system) the process has used; unlike
// wall time it does not grow when other processes share the cores.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// BenchmarkFailover1000Apps plans, validates (kustomize before and after)
// and applies, in memory, a failover of every application of a generated
// 1,000-application monorepo. "unprotected" is the worst case: the failover
// also adds disk protection to all 2,000 overlays, so every overlay renders
// twice. "protected" is the usual case after `gitover protect`.
func BenchmarkFailover1000Apps(b *testing.B) {
	for _, tc := range []struct {
		name      string
		topology  string
		protected bool
		warm      bool // a render cache that has seen the repository (the controller's steady state)
	}{
		{"dual/unprotected", monorepo.TopologyDual, false, false},
		{"dual/protected", monorepo.TopologyDual, true, false},
		{"dual/protected/warm-cache", monorepo.TopologyDual, true, true},
		{"single/protected", monorepo.TopologySingle, true, false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			dir := filepath.Join(b.TempDir(), "repo")
			plans, err := monorepo.Write(dir, monorepo.Options{Apps: 1000, Topology: tc.topology, OldStyleEvery: 10})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			tree := os.DirFS(dir)
			if tc.protected {
				c, err := Plan(ctx, tree, plans, Request{Action: v1alpha1.ActionProtect})
				if err != nil {
					b.Fatal(err)
				}
				for p, content := range c.Files {
					if err := os.WriteFile(filepath.Join(dir, p), content, 0o644); err != nil {
						b.Fatal(err)
					}
				}
			}
			var opts []Option
			if tc.warm {
				cache := NewMemoryRenderCache()
				opts = append(opts, WithRenderCache(cache))
				// What `gitover plan` (or the controller watching the
				// repository) does first: the same request, once.
				if _, err := Plan(ctx, tree, plans, Request{Action: v1alpha1.ActionFailover, Target: "dr2"}, opts...); err != nil {
					b.Fatal(err)
				}
			}
			runtime.GC()
			b.ResetTimer()
			cpu0 := cpuSeconds()
			var peak uint64
			for i := 0; i < b.N; i++ {
				var c *Change
				p := peakHeap(func() {
					c, err = Plan(ctx, tree, plans, Request{Action: v1alpha1.ActionFailover, Target: "dr2"}, opts...)
				})
				if err != nil {
					b.Fatal(err)
				}
				if len(c.Plans) != 1000 || c.Plans[0].AlreadyActive {
					b.Fatalf("unexpected change: %d plans", len(c.Plans))
				}
				if p > peak {
					peak = p
				}
			}
			b.ReportMetric((cpuSeconds()-cpu0)/float64(b.N), "cpu-s/op")
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
			b.ReportMetric(maxRSS()/(1<<20), "maxRSS-MB")
		})
	}
}
