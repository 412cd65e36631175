package github

// Tests against forgesim.GitHub, a SIMULATION of the GitHub REST API.

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gitover/gitover/gitops/forge/forgesim"
	"github.com/gitover/gitover/gitops/forge/internal/core"
)

const (
	token = "ghp_simTOKEN0123456789"
	head  = "gitover/shop/failover-dr2-0123456789ab"
	base  = "main"
)

func newSim(t *testing.T) *forgesim.GitHub {
	t.Helper()
	sim := forgesim.NewGitHub(forgesim.GitHubConfig{Token: token})
	t.Cleanup(sim.Close)
	sim.SetBranch(head, forgesim.FakeSHA("change"))
	return sim
}

func newProvider(t *testing.T, sim *forgesim.GitHub, mutate ...func(*Config)) *Provider {
	t.Helper()
	cfg := Config{APIURL: sim.URL(), Owner: "acme", Repo: "gitops", Token: token}
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

// wantRequest is the part of a received request a test asserts.
type wantRequest struct {
	method string
	path   string
	query  url.Values
	body   string // JSON, compared semantically; empty: no body
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
		assert.Equal(t, "Bearer "+token, g.Header.Get("Authorization"), "request %d auth", i)
		assert.Equal(t, "2022-11-28", g.Header.Get("X-GitHub-Api-Version"), "request %d api version", i)
		assert.Equal(t, "gitover", g.Header.Get("User-Agent"), "request %d user agent", i)
	}
}

const prefix = "/api/v3/repos/acme/gitops"

func listQuery(page string) url.Values {
	q := url.Values{"state": {"all"}, "head": {"acme:" + head}, "sort": {"created"}, "direction": {"desc"}, "per_page": {"100"}}
	if page != "" {
		q.Set("page", page)
	}
	return q
}

func createBody(p core.Proposal) string {
	b, _ := json.Marshal(map[string]any{"title": p.Title, "head": p.Head, "base": p.Base, "body": p.Body})
	return string(b)
}

func TestEnsure(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name        string
		seed        func(*forgesim.GitHub)
		proposal    func() core.Proposal
		race        bool // another creator opens the request between our look-up and our create
		wantCreated bool
		wantNumber  int
		wantState   core.State
		wantPulls   int
		want        []wantRequest
	}{{
		name:        "creates and labels the pull request",
		proposal:    proposal,
		wantCreated: true, wantNumber: 1, wantState: core.StateOpen, wantPulls: 1,
		want: []wantRequest{
			{method: "GET", path: prefix + "/pulls", query: listQuery(""), status: 200},
			{method: "POST", path: prefix + "/pulls", body: createBody(proposal()), status: 201},
			{method: "POST", path: prefix + "/issues/1/labels", body: `{"labels":["gitover","failover"]}`, status: 200},
		},
	}, {
		name: "opens a draft without labels",
		proposal: func() core.Proposal {
			p := proposal()
			p.Draft, p.Labels = true, nil
			return p
		},
		wantCreated: true, wantNumber: 1, wantState: core.StateOpen, wantPulls: 1,
		want: []wantRequest{
			{method: "GET", path: prefix + "/pulls", query: listQuery("")},
			{method: "POST", path: prefix + "/pulls", body: `{"title":"gitover: failover shop to dr2","head":"` + head +
				`","base":"main","body":"body\n<!-- gitover: {} -->","draft":true}`, status: 201},
		},
	}, {
		name: "adopts the open pull request it finds",
		seed: func(s *forgesim.GitHub) {
			s.AddPull(forgesim.GitHubPull{Number: 7, Head: head, Base: base, Title: "earlier"})
		},
		proposal:   proposal,
		wantNumber: 7, wantState: core.StateOpen, wantPulls: 1,
		want: []wantRequest{{method: "GET", path: prefix + "/pulls", query: listQuery(""), status: 200}},
	}, {
		name:     "adopts after a 422 already-exists answer (race)",
		proposal: proposal,
		race:     true,
		// The racing creator's pull request is #1; ours was never created.
		wantNumber: 1, wantState: core.StateOpen, wantPulls: 1,
		want: []wantRequest{
			{method: "GET", path: prefix + "/pulls", query: listQuery(""), status: 200},
			{method: "POST", path: prefix + "/pulls", body: createBody(proposal()), status: 422},
			{method: "GET", path: prefix + "/pulls", query: listQuery(""), status: 200},
		},
	}, {
		name: "returns the merged pull request instead of opening another",
		seed: func(s *forgesim.GitHub) {
			s.AddPull(forgesim.GitHubPull{Number: 3, Head: head, Base: base, State: "closed", Merged: true, MergeCommitSHA: "abc"})
		},
		proposal:   proposal,
		wantNumber: 3, wantState: core.StateMerged, wantPulls: 1,
		want: []wantRequest{{method: "GET", path: prefix + "/pulls", query: listQuery("")}},
	}, {
		name: "opens a new one when the earlier was closed unmerged",
		seed: func(s *forgesim.GitHub) {
			s.AddPull(forgesim.GitHubPull{Number: 3, Head: head, Base: base, State: "closed"})
		},
		proposal:    func() core.Proposal { p := proposal(); p.Labels = nil; return p },
		wantCreated: true, wantNumber: 4, wantState: core.StateOpen, wantPulls: 2,
		want: []wantRequest{
			{method: "GET", path: prefix + "/pulls", query: listQuery("")},
			{method: "POST", path: prefix + "/pulls", status: 201, body: createBody(func() core.Proposal { p := proposal(); p.Labels = nil; return p }())},
		},
	}, {
		name: "ignores other branches the server returned",
		seed: func(s *forgesim.GitHub) {
			s.AddPull(forgesim.GitHubPull{Number: 2, Head: "gitover/other/failover-dr2-aaaaaaaaaaaa", Base: base})
		},
		proposal:    func() core.Proposal { p := proposal(); p.Labels = nil; return p },
		wantCreated: true, wantNumber: 3, wantState: core.StateOpen, wantPulls: 2,
		want: []wantRequest{
			{method: "GET", path: prefix + "/pulls", query: listQuery("")},
			{method: "POST", path: prefix + "/pulls", status: 201, body: createBody(func() core.Proposal { p := proposal(); p.Labels = nil; return p }())},
		},
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
					if r.Method == "POST" && strings.HasSuffix(r.Path, "/pulls") && !raced {
						raced = true
						sim.AddPull(forgesim.GitHubPull{Head: head, Base: base, Title: "the other creator's"})
					}
				})
			}
			p := newProvider(t, sim)
			st, created, err := p.Ensure(ctx, tt.proposal())
			require.NoError(t, err)
			assert.Equal(t, tt.wantCreated, created)
			assert.Equal(t, tt.wantNumber, st.Number)
			assert.Equal(t, tt.wantState, st.State)
			assert.Equal(t, head, st.Head)
			assert.Equal(t, base, st.Base)
			assertRequests(t, sim.Requests(), tt.want)
			assert.Len(t, sim.Pulls(), tt.wantPulls)
		})
	}
}

func TestEnsureCreatedFields(t *testing.T) {
	sim := newSim(t)
	st, created, err := newProvider(t, sim).Ensure(context.Background(), proposal())
	require.NoError(t, err)
	require.True(t, created)
	assert.Equal(t, "https://github.com/acme/gitops/pull/1", st.URL)
	assert.Equal(t, forgesim.FakeSHA("change"), st.HeadSHA)
	assert.Empty(t, st.MergeCommit, "an open pull request's merge_commit_sha is a test merge, not a result")
	assert.Equal(t, "gitover: failover shop to dr2", st.Title)
	assert.Contains(t, st.Body, "<!-- gitover:")
	assert.False(t, st.UpdatedAt.IsZero())
	pulls := sim.Pulls()
	require.Len(t, pulls, 1)
	assert.Equal(t, []string{"gitover", "failover"}, pulls[0].Labels)
}

// Ensure is idempotent: twice on one provider, then on a new provider (a
// restarted controller), the simulation holds one pull request.
func TestEnsureTwiceAndAfterRestart(t *testing.T) {
	ctx := context.Background()
	sim := newSim(t)
	first, created, err := newProvider(t, sim).Ensure(ctx, proposal())
	require.NoError(t, err)
	require.True(t, created)

	again, created, err := newProvider(t, sim).Ensure(ctx, proposal())
	require.NoError(t, err)
	assert.False(t, created)
	assert.Equal(t, first.Number, again.Number)

	p := newProvider(t, sim) // restart
	restarted, created, err := p.Ensure(ctx, proposal())
	require.NoError(t, err)
	assert.False(t, created)
	assert.Equal(t, first.Number, restarted.Number)

	assert.Len(t, sim.Pulls(), 1)
	posts := 0
	for _, r := range sim.Requests() {
		if r.Method == "POST" && strings.HasSuffix(r.Path, "/pulls") {
			posts++
		}
	}
	assert.Equal(t, 1, posts)
}

func TestEnsureConflictingBase(t *testing.T) {
	sim := newSim(t)
	sim.AddPull(forgesim.GitHubPull{Number: 5, Head: head, Base: "release"})
	_, _, err := newProvider(t, sim).Ensure(context.Background(), proposal())
	require.ErrorIs(t, err, core.ErrConflict)
	assert.Contains(t, err.Error(), `targets "release", not "main"`)
	assert.Len(t, sim.Requests(), 1, "no create after a conflict")
}

func TestEnsureInvalidProposal(t *testing.T) {
	sim := newSim(t)
	_, _, err := newProvider(t, sim).Ensure(context.Background(), core.Proposal{Head: head, Base: base})
	require.ErrorIs(t, err, core.ErrInvalid)
	assert.Empty(t, sim.Requests())
}

func TestFindByHeadPaginates(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	at := func(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }
	tests := []struct {
		name       string
		seed       []forgesim.GitHubPull
		wantNumber int
		wantState  core.State
		wantPages  []string // page query of each list request
	}{{
		name: "open one on the last page wins over newer closed ones",
		seed: []forgesim.GitHubPull{
			{Number: 1, Head: head, Base: base, CreatedAt: at(0), UpdatedAt: at(9)},
			{Number: 2, Head: head, Base: base, State: "closed", CreatedAt: at(1), UpdatedAt: at(1)},
			{Number: 3, Head: head, Base: base, State: "closed", Merged: true, MergeCommitSHA: "m3", CreatedAt: at(2), UpdatedAt: at(2)},
			{Number: 4, Head: head, Base: base, State: "closed", CreatedAt: at(3), UpdatedAt: at(3)},
			{Number: 5, Head: head, Base: base, State: "closed", CreatedAt: at(4), UpdatedAt: at(4)},
			{Number: 6, Head: "gitover/other/x", Base: base, CreatedAt: at(5)},
		},
		wantNumber: 1, wantState: core.StateOpen,
		wantPages: []string{"", "2", "3"},
	}, {
		name: "most recently updated finished one when none is open",
		seed: []forgesim.GitHubPull{
			{Number: 1, Head: head, Base: base, State: "closed", CreatedAt: at(0), UpdatedAt: at(8)},
			{Number: 2, Head: head, Base: base, State: "closed", Merged: true, MergeCommitSHA: "m2", CreatedAt: at(1), UpdatedAt: at(9)},
			{Number: 3, Head: head, Base: base, State: "closed", CreatedAt: at(2), UpdatedAt: at(2)},
		},
		wantNumber: 2, wantState: core.StateMerged,
		wantPages: []string{"", "2"},
	}, {
		name:      "none",
		wantPages: []string{""},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := newSim(t)
			for _, p := range tt.seed {
				sim.AddPull(p)
			}
			p := newProvider(t, sim, func(c *Config) { c.PerPage = 2 })
			st, err := p.FindByHead(context.Background(), head)
			require.NoError(t, err)
			var want []wantRequest
			for _, page := range tt.wantPages {
				q := listQuery(page)
				q.Set("per_page", "2")
				want = append(want, wantRequest{method: "GET", path: prefix + "/pulls", query: q, status: 200})
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

func TestGetStates(t *testing.T) {
	tests := []struct {
		name      string
		pull      forgesim.GitHubPull
		wantState core.State
		wantMerge string
	}{
		{"open", forgesim.GitHubPull{Head: head, Base: base}, core.StateOpen, ""},
		{"merged", forgesim.GitHubPull{Head: head, Base: base, State: "closed", Merged: true, MergeCommitSHA: "deadbeef"}, core.StateMerged, "deadbeef"},
		{"closed unmerged", forgesim.GitHubPull{Head: head, Base: base, State: "closed"}, core.StateClosed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := newSim(t)
			n := sim.AddPull(tt.pull)
			st, err := newProvider(t, sim).Get(context.Background(), n)
			require.NoError(t, err)
			assert.Equal(t, tt.wantState, st.State)
			assert.Equal(t, tt.wantMerge, st.MergeCommit)
			assert.Equal(t, tt.wantState == core.StateMerged, !st.MergedAt.IsZero())
			assertRequests(t, sim.Requests(), []wantRequest{{method: "GET", path: prefix + "/pulls/1", status: 200}})
		})
	}
}

func TestGetAfterMergeInSimulation(t *testing.T) {
	sim := newSim(t)
	p := newProvider(t, sim)
	st, _, err := p.Ensure(context.Background(), proposal())
	require.NoError(t, err)
	require.NoError(t, sim.Merge(st.Number, "feedface"))
	got, err := p.Get(context.Background(), st.Number)
	require.NoError(t, err)
	assert.Equal(t, core.StateMerged, got.State)
	assert.Equal(t, "feedface", got.MergeCommit)
}

func TestRateLimits(t *testing.T) {
	reset := time.Now().Add(2 * time.Minute)
	tests := []struct {
		name  string
		fault forgesim.Fault
		want  time.Duration
		// blocked: go-github remembers the limit and refuses the next call
		// itself, without a request reaching the server.
		blocked bool
	}{
		{"primary 403", forgesim.GitHubPrimaryRateLimit(403, reset), time.Until(reset), true},
		{"primary 429", forgesim.GitHubPrimaryRateLimit(429, reset), time.Until(reset), false},
		{"secondary 403 with Retry-After", forgesim.GitHubSecondaryRateLimit(403, 90*time.Second), 90 * time.Second, true},
		{"secondary 429 with Retry-After", forgesim.GitHubSecondaryRateLimit(429, 90*time.Second), 90 * time.Second, false},
		{"secondary 403 without a time", forgesim.Fault{Status: 403, Body: `{"message":"You have exceeded a secondary rate limit."}`}, time.Minute, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := newSim(t)
			sim.Inject(tt.fault)
			p := newProvider(t, sim)
			_, _, err := p.Ensure(context.Background(), proposal())
			rl, ok := core.AsRateLimit(err)
			require.True(t, ok, "want a RateLimitError, got %v", err)
			assert.Equal(t, "GitHub", rl.Forge)
			assert.InDelta(t, tt.want.Seconds(), rl.RetryAfter.Seconds(), 2)
			assert.Len(t, sim.Requests(), 1)
			assert.Empty(t, sim.Pulls())

			_, err = p.Get(context.Background(), 1)
			if tt.blocked {
				_, ok := core.AsRateLimit(err)
				assert.True(t, ok, "still limited: %v", err)
				assert.Len(t, sim.Requests(), 1, "the client must not call GitHub before the reset")
			}
		})
	}
}

func TestRateLimitThenSuccess(t *testing.T) {
	sim := newSim(t)
	sim.Inject(forgesim.GitHubSecondaryRateLimit(429, time.Second))
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
	assert.Len(t, sim.Pulls(), 1)
	reqs := sim.Requests()
	require.Len(t, reqs, 4)
	assert.Equal(t, 429, reqs[0].Status)
	assert.GreaterOrEqual(t, reqs[1].Time.Sub(reqs[0].Time), time.Second)
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
		mutate:  func(c *Config) { c.Token = "ghp_WRONGtoken987" },
		wantErr: core.ErrUnauthorized,
		want:    []string{"GitHub rejected the API token", "Bad credentials"},
	}, {
		name:    "404 unknown repository",
		mutate:  func(c *Config) { c.Repo = "nope" },
		wantErr: core.ErrNotFound,
		want:    []string{"acme/nope", "not visible to the token"},
	}, {
		name: "403 missing permission",
		fault: &forgesim.Fault{Status: 403, Body: `{"message":"Resource not accessible by personal access token",` +
			`"documentation_url":"https://docs.github.com/rest/pulls/pulls#list-pull-requests","status":"403"}`},
		wantErr: core.ErrForbidden,
		want:    []string{"Resource not accessible by personal access token", "Pull requests: write"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := newSim(t)
			if tt.fault != nil {
				sim.Inject(*tt.fault)
			}
			cfg := Config{APIURL: sim.URL(), Owner: "acme", Repo: "gitops", Token: token}
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
			_, isRL := core.AsRateLimit(err)
			assert.False(t, isRL)
			assert.Len(t, sim.Requests(), 1, "no retry after a definitive error")
			assert.Empty(t, sim.Pulls())
		})
	}
}

// rewrite sends every request to the simulation, keeping the Host it was
// addressed to, to check which URLs a provider calls for github.com.
type rewrite struct{ target *url.URL }

func (r rewrite) RoundTrip(req *http.Request) (*http.Response, error) {
	out := req.Clone(req.Context())
	out.URL.Scheme, out.URL.Host = r.target.Scheme, r.target.Host
	out.Host = req.URL.Host
	return http.DefaultTransport.RoundTrip(out)
}

func TestBaseURLs(t *testing.T) {
	tests := []struct {
		api      string
		wantBase string
	}{
		{"", "https://api.github.com/"},
		{"https://api.github.com", "https://api.github.com/"},
		{"https://ghe.example.com", "https://ghe.example.com/api/v3/"},
		{"https://ghe.example.com/api/v3", "https://ghe.example.com/api/v3/"},
		{"https://ghe.example.com/api/v3/", "https://ghe.example.com/api/v3/"},
		{"http://127.0.0.1:8080/", "http://127.0.0.1:8080/api/v3/"},
	}
	for _, tt := range tests {
		t.Run(tt.api, func(t *testing.T) {
			p, err := New(Config{APIURL: tt.api, Owner: "acme", Repo: "gitops", Token: token})
			require.NoError(t, err)
			assert.Equal(t, tt.wantBase, p.BaseURL())
		})
	}

	t.Run("github.com requests reach api.github.com/repos/...", func(t *testing.T) {
		sim := newSim(t)
		target, _ := url.Parse(sim.URL())
		p := newProvider(t, sim, func(c *Config) {
			c.APIURL = ""
			c.HTTPClient = &http.Client{Transport: rewrite{target}}
		})
		_, err := p.FindByHead(context.Background(), head)
		require.NoError(t, err)
		reqs := sim.Requests()
		require.Len(t, reqs, 1)
		assert.Equal(t, "api.github.com", reqs[0].Host)
		assert.Equal(t, "/repos/acme/gitops/pulls", reqs[0].Path)
		assert.Equal(t, 200, reqs[0].Status)
	})
}

func TestNewRejects(t *testing.T) {
	for _, cfg := range []Config{
		{Owner: "acme", Repo: "gitops"},
		{Owner: "", Repo: "gitops", Token: token},
		{APIURL: "ghe.example.com", Owner: "acme", Repo: "gitops", Token: token},
	} {
		_, err := New(cfg)
		assert.Error(t, err, "%+v", cfg)
	}
}

// A pull request that could not be labelled still counts as created: the
// caller must not open it again. The failure is logged.
func TestEnsureLabelFailureIsNotFatal(t *testing.T) {
	sim := newSim(t)
	sim.Inject(forgesim.Fault{Method: "POST", PathSuffix: "/labels", Status: 403,
		Body: `{"message":"Resource not accessible by personal access token","status":"403"}`})
	var logged []string
	p := newProvider(t, sim, func(c *Config) {
		c.Log = funcr.New(func(prefix, args string) { logged = append(logged, args) }, funcr.Options{})
	})
	st, created, err := p.Ensure(context.Background(), proposal())
	require.NoError(t, err)
	assert.True(t, created)
	assert.Equal(t, 1, st.Number)
	assert.Len(t, sim.Pulls(), 1)
	joined := strings.Join(logged, "\n")
	assert.Contains(t, joined, "could not label the pull request")
	assert.NotContains(t, joined, token)
}

func TestEnsureNothingToPropose(t *testing.T) {
	sim := newSim(t)
	sim.SetBranch(head, forgesim.FakeSHA("main")) // the branch holds no commit beyond main
	_, _, err := newProvider(t, sim).Ensure(context.Background(), proposal())
	require.ErrorIs(t, err, core.ErrInvalid)
	assert.Contains(t, err.Error(), "No commits between main and "+head)
	assert.Empty(t, sim.Pulls())
}
