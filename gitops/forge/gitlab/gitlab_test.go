package gitlab

// Tests against forgesim.GitLab, a SIMULATION of the GitLab REST API.

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gitover/gitover/gitops/forge/forgesim"
	"github.com/gitover/gitover/gitops/forge/internal/core"
)

const (
	token = "glpat-simTOKEN0123456789"
	head  = "gitover/shop/failover-dr2-0123456789ab"
	base  = "main"
	// The project path URL-encoded as client-go sends it.
	prefix = "/api/v4/projects/acme%2Fplatform%2Fgitops"
)

func newSim(t *testing.T) *forgesim.GitLab {
	t.Helper()
	sim := forgesim.NewGitLab(forgesim.GitLabConfig{Token: token})
	t.Cleanup(sim.Close)
	sim.SetBranch(head, forgesim.FakeSHA("change"))
	return sim
}

func newProvider(t *testing.T, sim *forgesim.GitLab, mutate ...func(*Config)) *Provider {
	t.Helper()
	cfg := Config{BaseURL: sim.URL(), Project: "acme/platform/gitops", Token: token}
	for _, m := range mutate {
		m(&cfg)
	}
	p, err := New(cfg)
	require.NoError(t, err)
	return p
}

func proposal() core.Proposal {
	return core.Proposal{Base: base, Head: head, Title: "gitover: failover shop to dr2",
		Body: "body\n<!-- gitover: {} -->", Labels: []string{"gitover", "failover"}}
}

type wantRequest struct {
	method string
	path   string
	query  url.Values
	body   string
	status int
}

func assertRequests(t *testing.T, got []forgesim.Request, want []wantRequest) {
	t.Helper()
	require.Len(t, got, len(want), "requests: %v", got)
	for i, w := range want {
		g := got[i]
		assert.Equal(t, w.method, g.Method, "request %d", i)
		assert.Equal(t, w.path, g.Path, "request %d", i)
		if w.query == nil {
			w.query = url.Values{}
		}
		assert.Equal(t, w.query, g.Query, "request %d query", i)
		if w.body == "" {
			assert.Empty(t, g.Body, "request %d body", i)
		} else {
			assert.JSONEq(t, w.body, string(g.Body), "request %d body", i)
		}
		if w.status != 0 {
			assert.Equal(t, w.status, g.Status, "request %d status", i)
		}
		assert.Equal(t, token, g.Header.Get("PRIVATE-TOKEN"), "request %d auth", i)
		assert.Empty(t, g.Header.Get("Authorization"), "request %d: one credential only", i)
		assert.Equal(t, "gitover", g.Header.Get("User-Agent"), "request %d user agent", i)
	}
}

func listQuery(page string) url.Values {
	q := url.Values{"source_branch": {head}, "order_by": {"created_at"}, "sort": {"desc"}, "per_page": {"100"}}
	if page != "" {
		q.Set("page", page)
	}
	return q
}

func createBody(title string, labels string) string {
	m := map[string]any{"title": title, "description": "body\n<!-- gitover: {} -->",
		"source_branch": head, "target_branch": base}
	if labels != "" {
		m["labels"] = labels
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func TestEnsure(t *testing.T) {
	tests := []struct {
		name        string
		seed        func(*forgesim.GitLab)
		proposal    func() core.Proposal
		race        bool
		wantCreated bool
		wantNumber  int
		wantState   core.State
		wantMRs     int
		want        []wantRequest
	}{{
		name:        "creates the merge request with its labels",
		proposal:    proposal,
		wantCreated: true, wantNumber: 1, wantState: core.StateOpen, wantMRs: 1,
		want: []wantRequest{
			{method: "GET", path: prefix + "/merge_requests", query: listQuery(""), status: 200},
			{method: "POST", path: prefix + "/merge_requests", body: createBody("gitover: failover shop to dr2", "gitover,failover"), status: 201},
		},
	}, {
		name:        "a draft gets the Draft: title prefix",
		proposal:    func() core.Proposal { p := proposal(); p.Draft, p.Labels = true, nil; return p },
		wantCreated: true, wantNumber: 1, wantState: core.StateOpen, wantMRs: 1,
		want: []wantRequest{
			{method: "GET", path: prefix + "/merge_requests", query: listQuery("")},
			{method: "POST", path: prefix + "/merge_requests", body: createBody("Draft: gitover: failover shop to dr2", ""), status: 201},
		},
	}, {
		name:       "adopts the open merge request it finds",
		seed:       func(s *forgesim.GitLab) { s.AddMR(forgesim.GitLabMR{IID: 9, SourceBranch: head, TargetBranch: base}) },
		proposal:   proposal,
		wantNumber: 9, wantState: core.StateOpen, wantMRs: 1,
		want: []wantRequest{{method: "GET", path: prefix + "/merge_requests", query: listQuery(""), status: 200}},
	}, {
		name:       "adopts the merge request named by a 409 (race)",
		proposal:   proposal,
		race:       true,
		wantNumber: 1, wantState: core.StateOpen, wantMRs: 1,
		want: []wantRequest{
			{method: "GET", path: prefix + "/merge_requests", query: listQuery(""), status: 200},
			{method: "POST", path: prefix + "/merge_requests", body: createBody("gitover: failover shop to dr2", "gitover,failover"), status: 409},
			{method: "GET", path: prefix + "/merge_requests/1", status: 200},
		},
	}, {
		name: "returns the merged merge request instead of opening another",
		seed: func(s *forgesim.GitLab) {
			s.AddMR(forgesim.GitLabMR{IID: 4, SourceBranch: head, TargetBranch: base, State: "merged", MergeCommitSHA: "m4"})
		},
		proposal:   proposal,
		wantNumber: 4, wantState: core.StateMerged, wantMRs: 1,
		want: []wantRequest{{method: "GET", path: prefix + "/merge_requests", query: listQuery("")}},
	}, {
		name: "a locked (merging) one is open and adopted",
		seed: func(s *forgesim.GitLab) {
			s.AddMR(forgesim.GitLabMR{IID: 4, SourceBranch: head, TargetBranch: base, State: "locked"})
		},
		proposal:    proposal,
		wantCreated: false, wantNumber: 4, wantState: core.StateOpen, wantMRs: 1,
		want: []wantRequest{{method: "GET", path: prefix + "/merge_requests", query: listQuery("")}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := newSim(t)
			if tt.seed != nil {
				tt.seed(sim)
			}
			if tt.race {
				raced := false
				sim.OnRequest(func(r forgesim.Request) {
					if r.Method == "POST" && !raced {
						raced = true
						sim.AddMR(forgesim.GitLabMR{SourceBranch: head, TargetBranch: base, Title: "the other creator's"})
					}
				})
			}
			st, created, err := newProvider(t, sim).Ensure(context.Background(), tt.proposal())
			require.NoError(t, err)
			assert.Equal(t, tt.wantCreated, created)
			assert.Equal(t, tt.wantNumber, st.Number)
			assert.Equal(t, tt.wantState, st.State)
			assert.Equal(t, head, st.Head)
			assert.Equal(t, base, st.Base)
			assertRequests(t, sim.Requests(), tt.want)
			assert.Len(t, sim.MRs(), tt.wantMRs)
		})
	}
}

func TestEnsureCreatedFields(t *testing.T) {
	sim := newSim(t)
	st, created, err := newProvider(t, sim).Ensure(context.Background(), proposal())
	require.NoError(t, err)
	require.True(t, created)
	assert.Equal(t, "https://gitlab.example.com/acme/platform/gitops/-/merge_requests/1", st.URL)
	assert.Equal(t, forgesim.FakeSHA("change"), st.HeadSHA)
	assert.Empty(t, st.MergeCommit)
	mrs := sim.MRs()
	require.Len(t, mrs, 1)
	assert.Equal(t, []string{"gitover", "failover"}, mrs[0].Labels)
}

func TestEnsureTwiceAndAfterRestart(t *testing.T) {
	ctx := context.Background()
	sim := newSim(t)
	first, created, err := newProvider(t, sim).Ensure(ctx, proposal())
	require.NoError(t, err)
	require.True(t, created)
	p := newProvider(t, sim)
	again, created, err := p.Ensure(ctx, proposal())
	require.NoError(t, err)
	assert.False(t, created)
	assert.Equal(t, first.Number, again.Number)
	restarted, created, err := newProvider(t, sim).Ensure(ctx, proposal())
	require.NoError(t, err)
	assert.False(t, created)
	assert.Equal(t, first.Number, restarted.Number)
	assert.Len(t, sim.MRs(), 1)
	posts := 0
	for _, r := range sim.Requests() {
		if r.Method == "POST" {
			posts++
		}
	}
	assert.Equal(t, 1, posts)
}

func TestFindByHeadPaginates(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	at := func(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }
	tests := []struct {
		name       string
		seed       []forgesim.GitLabMR
		wantNumber int
		wantState  core.State
		wantPages  []string
	}{{
		name: "open one on the last page wins",
		seed: []forgesim.GitLabMR{
			{IID: 1, SourceBranch: head, TargetBranch: base, CreatedAt: at(0)},
			{IID: 2, SourceBranch: head, TargetBranch: base, State: "closed", CreatedAt: at(1)},
			{IID: 3, SourceBranch: head, TargetBranch: base, State: "merged", MergeCommitSHA: "m3", CreatedAt: at(2)},
			{IID: 4, SourceBranch: head, TargetBranch: base, State: "closed", CreatedAt: at(3)},
			{IID: 5, SourceBranch: head, TargetBranch: base, State: "closed", CreatedAt: at(4)},
			{IID: 6, SourceBranch: "feature", TargetBranch: base, CreatedAt: at(5)},
		},
		wantNumber: 1, wantState: core.StateOpen,
		wantPages: []string{"", "2", "3"},
	}, {
		name: "most recently updated finished one when none is open",
		seed: []forgesim.GitLabMR{
			{IID: 1, SourceBranch: head, TargetBranch: base, State: "merged", MergeCommitSHA: "m1", CreatedAt: at(0), UpdatedAt: at(3)},
			{IID: 2, SourceBranch: head, TargetBranch: base, State: "closed", CreatedAt: at(1), UpdatedAt: at(9)},
			{IID: 3, SourceBranch: head, TargetBranch: base, State: "closed", CreatedAt: at(2), UpdatedAt: at(2)},
		},
		wantNumber: 2, wantState: core.StateClosed,
		wantPages: []string{"", "2"},
	}, {
		name:      "none",
		wantPages: []string{""},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := newSim(t)
			for _, m := range tt.seed {
				sim.AddMR(m)
			}
			st, err := newProvider(t, sim, func(c *Config) { c.PerPage = 2 }).FindByHead(context.Background(), head)
			require.NoError(t, err)
			var want []wantRequest
			for _, page := range tt.wantPages {
				q := listQuery(page)
				q.Set("per_page", "2")
				want = append(want, wantRequest{method: "GET", path: prefix + "/merge_requests", query: q, status: 200})
			}
			assertRequests(t, sim.Requests(), want)
			if tt.wantNumber == 0 {
				assert.Nil(t, st)
				return
			}
			require.NotNil(t, st)
			assert.Equal(t, tt.wantNumber, st.Number)
			assert.Equal(t, tt.wantState, st.State)
		})
	}
}

// The merge commit is what the target branch points at after the merge,
// which depends on the project's merge method.
func TestGetMergeCommit(t *testing.T) {
	headSHA := forgesim.FakeSHA("change")
	tests := []struct {
		name      string
		merge     *forgesim.GitLabMerge // nil: close instead
		wantState core.State
		wantSHA   string
	}{
		{"merge commit", &forgesim.GitLabMerge{MergeCommitSHA: "mmm"}, core.StateMerged, "mmm"},
		{"squash with merge commit", &forgesim.GitLabMerge{MergeCommitSHA: "mmm", SquashCommitSHA: "sss"}, core.StateMerged, "mmm"},
		{"squash and fast-forward", &forgesim.GitLabMerge{SquashCommitSHA: "sss"}, core.StateMerged, "sss"},
		{"fast-forward", &forgesim.GitLabMerge{}, core.StateMerged, headSHA},
		{"closed unmerged", nil, core.StateClosed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := newSim(t)
			p := newProvider(t, sim)
			st, _, err := p.Ensure(context.Background(), proposal())
			require.NoError(t, err)
			if tt.merge != nil {
				require.NoError(t, sim.Merge(st.Number, *tt.merge))
			} else {
				require.NoError(t, sim.CloseMR(st.Number))
			}
			sim.ClearRequests()
			got, err := p.Get(context.Background(), st.Number)
			require.NoError(t, err)
			assert.Equal(t, tt.wantState, got.State)
			assert.Equal(t, tt.wantSHA, got.MergeCommit)
			assert.Equal(t, tt.wantState == core.StateMerged, !got.MergedAt.IsZero())
			assertRequests(t, sim.Requests(), []wantRequest{{method: "GET", path: prefix + "/merge_requests/1", status: 200}})
		})
	}
}

func TestRateLimits(t *testing.T) {
	reset := time.Now().Add(3 * time.Minute)
	onlyReset := forgesim.GitLabRateLimit(0, reset)
	onlyReset.Header.Del("Retry-After")
	bare := forgesim.Fault{Status: 429, Body: "Retry later\n", Header: http.Header{"Content-Type": {"text/plain"}}}
	tests := []struct {
		name  string
		fault forgesim.Fault
		want  time.Duration
	}{
		{"Retry-After", forgesim.GitLabRateLimit(90*time.Second, reset), 90 * time.Second},
		{"RateLimit-Reset only", onlyReset, time.Until(reset)},
		{"no time given", bare, time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := newSim(t)
			sim.Inject(tt.fault)
			_, _, err := newProvider(t, sim).Ensure(context.Background(), proposal())
			rl, ok := core.AsRateLimit(err)
			require.True(t, ok, "want a RateLimitError, got %v", err)
			assert.Equal(t, "GitLab", rl.Forge)
			assert.InDelta(t, tt.want.Seconds(), rl.RetryAfter.Seconds(), 2)
			assert.Contains(t, err.Error(), "Retry later")
			assert.Len(t, sim.Requests(), 1, "client-go must not retry by itself")
			assert.Empty(t, sim.MRs())
		})
	}
}

func TestRateLimitThenSuccess(t *testing.T) {
	sim := newSim(t)
	sim.Inject(forgesim.GitLabRateLimit(time.Second, time.Now().Add(time.Second)))
	p := newProvider(t, sim)
	_, _, err := p.Ensure(context.Background(), proposal())
	rl, ok := core.AsRateLimit(err)
	require.True(t, ok, "got %v", err)
	assert.Equal(t, time.Second, rl.RetryAfter)
	time.Sleep(rl.RetryAfter)
	st, created, err := p.Ensure(context.Background(), proposal())
	require.NoError(t, err)
	assert.True(t, created)
	assert.Equal(t, 1, st.Number)
	reqs := sim.Requests()
	require.Len(t, reqs, 3)
	assert.Equal(t, 429, reqs[0].Status)
	assert.Equal(t, 201, reqs[2].Status)
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Config)
		fault   *forgesim.Fault
		wantErr error
		want    []string
	}{{
		name:    "401 bad token",
		mutate:  func(c *Config) { c.Token = "glpat-WRONGtoken987" },
		wantErr: core.ErrUnauthorized,
		want:    []string{"GitLab rejected the API token", "401 Unauthorized"},
	}, {
		name:    "404 unknown project",
		mutate:  func(c *Config) { c.Project = "acme/nope" },
		wantErr: core.ErrNotFound,
		want:    []string{"project acme/nope", "not visible to the token"},
	}, {
		name:    "403 insufficient scope",
		fault:   &forgesim.Fault{Status: 403, Body: `{"error":"insufficient_scope","error_description":"The request requires higher privileges than provided by the access token.","scope":"api"}`},
		wantErr: core.ErrForbidden,
		want:    []string{"insufficient_scope", "api scope"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := newSim(t)
			if tt.fault != nil {
				sim.Inject(*tt.fault)
			}
			cfg := Config{BaseURL: sim.URL(), Project: "acme/platform/gitops", Token: token}
			if tt.mutate != nil {
				tt.mutate(&cfg)
			}
			p, err := New(cfg)
			require.NoError(t, err)
			_, _, err = p.Ensure(context.Background(), proposal())
			require.ErrorIs(t, err, tt.wantErr)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.NotContains(t, err.Error(), cfg.Token)
			assert.Len(t, sim.Requests(), 1)
			assert.Empty(t, sim.MRs())
		})
	}
}

type rewrite struct{ target *url.URL }

func (r rewrite) RoundTrip(req *http.Request) (*http.Response, error) {
	out := req.Clone(req.Context())
	out.URL.Scheme, out.URL.Host = r.target.Scheme, r.target.Host
	out.Host = req.URL.Host
	return http.DefaultTransport.RoundTrip(out)
}

func TestBaseURLs(t *testing.T) {
	tests := []struct {
		base     string
		wantBase string
	}{
		{"", "https://gitlab.com/api/v4/"},
		{"https://gitlab.example.com", "https://gitlab.example.com/api/v4/"},
		{"https://gitlab.example.com/", "https://gitlab.example.com/api/v4/"},
		{"https://gitlab.example.com/api/v4", "https://gitlab.example.com/api/v4/"},
		{"https://example.com/gitlab", "https://example.com/gitlab/api/v4/"},
	}
	for _, tt := range tests {
		t.Run(tt.base, func(t *testing.T) {
			p, err := New(Config{BaseURL: tt.base, Project: "acme/gitops", Token: token})
			require.NoError(t, err)
			assert.Equal(t, tt.wantBase, p.BaseURL())
		})
	}

	t.Run("gitlab.com requests reach gitlab.com/api/v4/...", func(t *testing.T) {
		sim := newSim(t)
		target, _ := url.Parse(sim.URL())
		p := newProvider(t, sim, func(c *Config) {
			c.BaseURL = ""
			c.HTTPClient = &http.Client{Transport: rewrite{target}}
		})
		_, err := p.FindByHead(context.Background(), head)
		require.NoError(t, err)
		reqs := sim.Requests()
		require.Len(t, reqs, 1)
		assert.Equal(t, "gitlab.com", reqs[0].Host)
		assert.True(t, strings.HasPrefix(reqs[0].Path, prefix), reqs[0].Path)
	})
}

func TestNewRejects(t *testing.T) {
	for _, cfg := range []Config{{Project: "acme/gitops"}, {Token: token}} {
		_, err := New(cfg)
		assert.Error(t, err, "%+v", cfg)
	}
}
