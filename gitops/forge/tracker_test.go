package forge

// Tracker tests against forgesim, SIMULATIONS of the GitHub and GitLab
// REST APIs.

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gitover/gitover/api/v1alpha1"
	"github.com/gitover/gitover/gitops/forge/forgesim"
)

const mergeSHA = "4e1243bd22c66e76c2ba9eddc1f91394e57f9f83"

// simForge is one simulated forge with an open request to track.
type simForge struct {
	provider  Provider
	open      Status
	requests  func() []forgesim.Request
	merge     func() error
	close     func() error
	inject    func(forgesim.Fault)
	rateLimit func(time.Duration) forgesim.Fault
	badToken  forgesim.Fault
}

var forges = map[string]func(t *testing.T) simForge{
	"GitHub": func(t *testing.T) simForge {
		sim := forgesim.NewGitHub(forgesim.GitHubConfig{})
		t.Cleanup(sim.Close)
		f := simForge{requests: sim.Requests, inject: sim.Inject,
			rateLimit: func(d time.Duration) forgesim.Fault { return forgesim.GitHubSecondaryRateLimit(429, d) },
			badToken:  forgesim.Fault{Status: 401, Body: `{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest","status":"401"}`}}
		f.provider = openOn(t, &f, "github", sim.URL()+"/acme/gitops.git", sim.Config().Token, sim.SetBranch)
		f.merge = func() error { return sim.Merge(f.open.Number, mergeSHA) }
		f.close = func() error { return sim.ClosePull(f.open.Number) }
		return f
	},
	"GitLab": func(t *testing.T) simForge {
		sim := forgesim.NewGitLab(forgesim.GitLabConfig{})
		t.Cleanup(sim.Close)
		f := simForge{requests: sim.Requests, inject: sim.Inject,
			rateLimit: func(d time.Duration) forgesim.Fault { return forgesim.GitLabRateLimit(d, time.Now().Add(d)) },
			badToken:  forgesim.Fault{Status: 401, Body: `{"message":"401 Unauthorized"}`}}
		f.provider = openOn(t, &f, "gitlab", sim.URL()+"/acme/platform/gitops.git", sim.Config().Token, sim.SetBranch)
		f.merge = func() error { return sim.Merge(f.open.Number, forgesim.GitLabMerge{MergeCommitSHA: mergeSHA}) }
		f.close = func() error { return sim.CloseMR(f.open.Number) }
		return f
	},
}

// openOn builds a provider for the simulation and opens a request on it.
func openOn(t *testing.T, f *simForge, typ, repoURL, token string, setBranch func(string, string)) Provider {
	t.Helper()
	head := BranchName([]string{"shop"}, "Failover", "dr2", forgesim.FakeSHA("main"))
	setBranch(head, forgesim.FakeSHA("change"))
	p, err := New(v1alpha1.GitProvider{Type: typ}, repoURL, token, nil)
	require.NoError(t, err)
	f.open, _, err = p.Ensure(context.Background(), Proposal{Base: "main", Head: head, Title: "gitover: failover shop to dr2"})
	require.NoError(t, err)
	require.Equal(t, StateOpen, f.open.State)
	return p
}

// reads returns the requests that read the tracked request.
func (f simForge) reads() []forgesim.Request {
	var out []forgesim.Request
	for _, r := range f.requests() {
		if r.Method == http.MethodGet && !strings.HasSuffix(r.Path, "/pulls") && !strings.HasSuffix(r.Path, "/merge_requests") {
			out = append(out, r)
		}
	}
	return out
}

// waitReads blocks until the tracker has read the request n times.
func (f simForge) waitReads(t *testing.T, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return len(f.reads()) >= n }, 5*time.Second, 2*time.Millisecond)
}

type waitResult struct {
	st  Status
	err error
	at  time.Time
}

func startWait(ctx context.Context, tr *Tracker, st Status) <-chan waitResult {
	ch := make(chan waitResult, 1)
	go func() {
		got, err := tr.Wait(ctx, st)
		ch <- waitResult{got, err, time.Now()}
	}()
	return ch
}

func TestTracker(t *testing.T) {
	tests := []struct {
		name string
		opts TrackerOptions
		run  func(t *testing.T, f simForge, tr *Tracker, done <-chan waitResult)
	}{{
		name: "merge seen within milliseconds of Notify",
		opts: TrackerOptions{PollInterval: time.Hour},
		run: func(t *testing.T, f simForge, tr *Tracker, done <-chan waitResult) {
			f.waitReads(t, 1)
			require.NoError(t, f.merge())
			start := time.Now()
			tr.Notify(f.open.Number)
			r := <-done
			require.NoError(t, r.err)
			assert.Less(t, r.at.Sub(start), 500*time.Millisecond)
			assert.Equal(t, StateMerged, r.st.State)
			assert.Equal(t, mergeSHA, r.st.MergeCommit)
			assert.Len(t, f.reads(), 2)
		},
	}, {
		name: "merge seen within milliseconds of NotifyHead",
		opts: TrackerOptions{PollInterval: time.Hour},
		run: func(t *testing.T, f simForge, tr *Tracker, done <-chan waitResult) {
			f.waitReads(t, 1)
			require.NoError(t, f.merge())
			tr.NotifyHead("gitover/other/failover-dr2-000000000000") // not ours: no read
			tr.Notify(f.open.Number + 100)
			time.Sleep(50 * time.Millisecond)
			assert.Len(t, f.reads(), 1)
			start := time.Now()
			tr.NotifyHead(f.open.Head)
			r := <-done
			require.NoError(t, r.err)
			assert.Less(t, r.at.Sub(start), 500*time.Millisecond)
			assert.Equal(t, mergeSHA, r.st.MergeCommit)
		},
	}, {
		name: "merge seen by polling without a webhook",
		opts: TrackerOptions{PollInterval: 150 * time.Millisecond, Jitter: 0.1},
		run: func(t *testing.T, f simForge, tr *Tracker, done <-chan waitResult) {
			f.waitReads(t, 1)
			require.NoError(t, f.merge())
			merged := time.Now()
			r := <-done
			require.NoError(t, r.err)
			assert.Less(t, r.at.Sub(merged), 165*time.Millisecond+300*time.Millisecond, "within one jittered interval (plus scheduling slack)")
			assert.Equal(t, StateMerged, r.st.State)
			reads := f.reads()
			require.Len(t, reads, 2)
			gap := reads[1].Time.Sub(reads[0].Time)
			assert.GreaterOrEqual(t, gap, 135*time.Millisecond, "not before interval-jitter")
		},
	}, {
		name: "closed without merge",
		opts: TrackerOptions{PollInterval: time.Hour},
		run: func(t *testing.T, f simForge, tr *Tracker, done <-chan waitResult) {
			f.waitReads(t, 1)
			require.NoError(t, f.close())
			tr.Notify(f.open.Number)
			r := <-done
			require.NoError(t, r.err)
			assert.Equal(t, StateClosed, r.st.State)
			assert.Empty(t, r.st.MergeCommit)
		},
	}, {
		name: "a rate-limited answer delays the next read as instructed, notifications notwithstanding",
		opts: TrackerOptions{PollInterval: 20 * time.Millisecond},
		run: func(t *testing.T, f simForge, tr *Tracker, done <-chan waitResult) {
			f.waitReads(t, 1)
			f.inject(f.rateLimit(time.Second))
			require.NoError(t, f.merge())
			f.waitReads(t, 2) // the rate-limited one
			for i := 0; i < 10; i++ {
				tr.Notify(f.open.Number)
				time.Sleep(20 * time.Millisecond)
			}
			r := <-done
			require.NoError(t, r.err)
			assert.Equal(t, StateMerged, r.st.State)
			reads := f.reads()
			require.Len(t, reads, 3, "no read while rate limited")
			assert.Equal(t, 429, reads[1].Status)
			assert.GreaterOrEqual(t, reads[2].Time.Sub(reads[1].Time), time.Second)
			assert.Less(t, reads[2].Time.Sub(reads[1].Time), 3*time.Second)
		},
	}, {
		name: "a transient failure is retried at the poll interval",
		opts: TrackerOptions{PollInterval: 20 * time.Millisecond},
		run: func(t *testing.T, f simForge, tr *Tracker, done <-chan waitResult) {
			f.waitReads(t, 1)
			f.inject(forgesim.Fault{Status: 502, Body: "<html>Bad Gateway</html>", Header: http.Header{"Content-Type": {"text/html"}}})
			require.NoError(t, f.merge())
			r := <-done
			require.NoError(t, r.err)
			assert.Equal(t, StateMerged, r.st.State)
			reads := f.reads()
			require.GreaterOrEqual(t, len(reads), 3)
			assert.Equal(t, 502, reads[1].Status)
		},
	}, {
		name: "a rejected token ends the wait",
		opts: TrackerOptions{PollInterval: 20 * time.Millisecond},
		run: func(t *testing.T, f simForge, tr *Tracker, done <-chan waitResult) {
			f.waitReads(t, 1)
			f.inject(f.badToken)
			r := <-done
			require.ErrorIs(t, r.err, ErrUnauthorized)
			assert.Len(t, f.reads(), 2)
		},
	}}
	for forge, mk := range forges {
		for _, tt := range tests {
			t.Run(forge+"/"+tt.name, func(t *testing.T) {
				f := mk(t)
				tr := NewTracker(f.provider, tt.opts)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				tt.run(t, f, tr, startWait(ctx, tr, f.open))
			})
		}
	}
}

func TestTrackerRateLimitBeyondDeadline(t *testing.T) {
	for forge, mk := range forges {
		t.Run(forge, func(t *testing.T) {
			f := mk(t)
			f.inject(f.rateLimit(2 * time.Minute))
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			start := time.Now()
			_, err := NewTracker(f.provider, TrackerOptions{PollInterval: 10 * time.Millisecond}).Wait(ctx, f.open)
			rl, ok := AsRateLimit(err)
			require.True(t, ok, "got %v", err)
			assert.InDelta(t, 120, rl.RetryAfter.Seconds(), 2)
			assert.Less(t, time.Since(start), time.Second, "gives up at once instead of sleeping past the deadline")
			assert.Len(t, f.reads(), 1)
		})
	}
}

func TestTrackerContextEnds(t *testing.T) {
	f := forges["GitHub"](t)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := NewTracker(f.provider, TrackerOptions{PollInterval: time.Hour}).Wait(ctx, f.open)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestTrackerFinalStatusNeedsNoRead(t *testing.T) {
	f := forges["GitLab"](t)
	before := len(f.requests())
	st := Status{Number: 99, State: StateMerged, MergeCommit: "abc"}
	got, err := NewTracker(f.provider, TrackerOptions{}).Wait(context.Background(), st)
	require.NoError(t, err)
	assert.Equal(t, st, got)
	assert.Len(t, f.requests(), before)
}

func TestTrackerJitter(t *testing.T) {
	tr := NewTracker(nil, TrackerOptions{PollInterval: time.Second, Jitter: 0.2})
	lo, hi := time.Hour, time.Duration(0)
	for i := 0; i < 500; i++ {
		d := tr.jittered()
		lo, hi = min(lo, d), max(hi, d)
	}
	assert.GreaterOrEqual(t, lo, 800*time.Millisecond)
	assert.LessOrEqual(t, hi, 1200*time.Millisecond)
	assert.Greater(t, hi-lo, 200*time.Millisecond, "actually spread")
	assert.Equal(t, 30*time.Second, NewTracker(nil, TrackerOptions{}).opts.PollInterval)
}
