package forge

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gitover/gitover/api/v1alpha1"
	"github.com/gitover/gitover/gitops/forge/forgesim"
)

func TestParseRepoURL(t *testing.T) {
	tests := []struct {
		in      string
		want    RepoLocation
		wantErr bool
	}{
		{"https://github.com/acme/gitops.git", RepoLocation{Scheme: "https", Host: "github.com", Path: "acme/gitops"}, false},
		{"https://github.com/acme/gitops", RepoLocation{Scheme: "https", Host: "github.com", Path: "acme/gitops"}, false},
		{"https://github.com/acme/gitops/", RepoLocation{Scheme: "https", Host: "github.com", Path: "acme/gitops"}, false},
		{"https://user:secret@gitlab.example.com:8443/group/sub/app.git", RepoLocation{Scheme: "https", Host: "gitlab.example.com", Port: "8443", Path: "group/sub/app"}, false},
		{"http://127.0.0.1:3000/acme/gitops.git", RepoLocation{Scheme: "http", Host: "127.0.0.1", Port: "3000", Path: "acme/gitops"}, false},
		{"ssh://git@github.com/acme/gitops.git", RepoLocation{Scheme: "ssh", Host: "github.com", Path: "acme/gitops"}, false},
		{"ssh://git@ghe.example.com:2222/acme/gitops.git", RepoLocation{Scheme: "ssh", Host: "ghe.example.com", Port: "2222", Path: "acme/gitops"}, false},
		{"git@github.com:acme/gitops.git", RepoLocation{Scheme: "ssh", Host: "github.com", Path: "acme/gitops"}, false},
		{"git@gitlab.com:group/sub/app.git", RepoLocation{Scheme: "ssh", Host: "gitlab.com", Path: "group/sub/app"}, false},
		{"gitlab.example.com:group/app", RepoLocation{Scheme: "ssh", Host: "gitlab.example.com", Path: "group/app"}, false},
		{"/srv/git/gitops.git", RepoLocation{}, true},
		{"file:///srv/git/gitops.git", RepoLocation{}, true},
		{"./gitops", RepoLocation{}, true},
		{"https://github.com/", RepoLocation{}, true},
		{"", RepoLocation{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseRepoURL(tt.in)
			if tt.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

type baseURLer interface{ BaseURL() string }

func TestNew(t *testing.T) {
	const tok = "tok-SECRET-123"
	tests := []struct {
		name     string
		spec     v1alpha1.GitProvider
		repoURL  string
		token    string
		wantName string
		wantBase string
		wantErr  string
	}{
		{"github.com from https URL", v1alpha1.GitProvider{Type: "github"}, "https://github.com/acme/gitops.git", tok, "GitHub", "https://api.github.com/", ""},
		{"github.com from scp URL", v1alpha1.GitProvider{Type: "GitHub"}, "git@github.com:acme/gitops.git", tok, "GitHub", "https://api.github.com/", ""},
		{"github.com over ssh.github.com:443", v1alpha1.GitProvider{Type: "github"}, "ssh://git@ssh.github.com:443/acme/gitops.git", tok, "GitHub", "https://api.github.com/", ""},
		{"Enterprise derived from the URL host", v1alpha1.GitProvider{Type: "github"}, "git@ghe.example.com:acme/gitops.git", tok, "GitHub", "https://ghe.example.com/api/v3/", ""},
		{"Enterprise API URL given", v1alpha1.GitProvider{Type: "github", APIURL: "https://ghe.example.com/api/v3", Repository: "acme/gitops"}, "", tok, "GitHub", "https://ghe.example.com/api/v3/", ""},
		{"explicit repository wins", v1alpha1.GitProvider{Type: "github", Repository: "acme/other"}, "https://github.com/acme/gitops.git", tok, "GitHub", "https://api.github.com/", ""},
		{"gitlab.com", v1alpha1.GitProvider{Type: "gitlab"}, "https://gitlab.com/group/sub/app.git", tok, "GitLab", "https://gitlab.com/api/v4/", ""},
		{"self-managed derived from the URL", v1alpha1.GitProvider{Type: "gitlab"}, "git@gitlab.example.com:group/app.git", tok, "GitLab", "https://gitlab.example.com/api/v4/", ""},
		{"self-managed API URL given", v1alpha1.GitProvider{Type: "gitlab", APIURL: "https://git.example.com", Repository: "group/app"}, "", tok, "GitLab", "https://git.example.com/api/v4/", ""},
		{"unsupported type", v1alpha1.GitProvider{Type: "bitbucket"}, "https://bitbucket.org/a/b.git", tok, "", "", `"bitbucket" is not supported`},
		{"no token", v1alpha1.GitProvider{Type: "github"}, "https://github.com/acme/gitops.git", "", "", "", "no API token"},
		{"no repository", v1alpha1.GitProvider{Type: "gitlab"}, "", tok, "", "", "repository is unknown"},
		{"local URL and no repository", v1alpha1.GitProvider{Type: "github"}, "/srv/git/gitops", tok, "", "", "deriving the github repository"},
		{"GitHub path must be owner/name", v1alpha1.GitProvider{Type: "github"}, "https://ghe.example.com/a/b/c.git", tok, "", "", "must be owner/name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(tt.spec, tt.repoURL, tt.token, nil)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.NotContains(t, err.Error(), tok)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantName, p.Name())
			assert.Equal(t, tt.wantBase, p.(baseURLer).BaseURL())
		})
	}
}

// New with only a repository URL reaches the simulated forge on that host
// and opens a request there.
func TestNewEndToEnd(t *testing.T) {
	ctx := context.Background()
	gh := forgesim.NewGitHub(forgesim.GitHubConfig{Token: "t1"})
	defer gh.Close()
	gl := forgesim.NewGitLab(forgesim.GitLabConfig{Token: "t2"})
	defer gl.Close()
	head := BranchName([]string{"shop"}, "Failover", "dr2", forgesim.FakeSHA("main"))
	gh.SetBranch(head, forgesim.FakeSHA("x"))
	gl.SetBranch(head, forgesim.FakeSHA("x"))

	for _, tc := range []struct {
		typ, url, token string
		paths           func() []string
	}{
		{"github", gh.URL() + "/acme/gitops.git", "t1", func() []string { return requestPaths(gh.Requests()) }},
		{"gitlab", gl.URL() + "/acme/platform/gitops.git", "t2", func() []string { return requestPaths(gl.Requests()) }},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			p, err := New(v1alpha1.GitProvider{Type: tc.typ}, tc.url, tc.token, nil, WithPageSize(10))
			require.NoError(t, err)
			change := sampleChange()
			st, created, err := p.Ensure(ctx, Proposal{Base: "main", Head: head, Title: Title(change), Body: RenderBody(change, sampleInfo())})
			require.NoError(t, err)
			assert.True(t, created)
			m, ok := ParseMarker(st.Body)
			require.True(t, ok, "the forge echoes the body with its marker")
			assert.Equal(t, "dr2", m.Target)
			for _, path := range tc.paths() {
				assert.True(t, strings.HasPrefix(path, "/api/v"), path)
			}
		})
	}
}

func requestPaths(reqs []forgesim.Request) []string {
	var out []string
	for _, r := range reqs {
		out = append(out, r.Path)
	}
	return out
}

func TestStatusAPIStatus(t *testing.T) {
	st := Status{Number: 12, URL: "https://github.com/acme/gitops/pull/12", State: StateMerged, Head: "gitover/shop/failover-dr2-abc", MergeCommit: "deadbeef"}
	assert.Equal(t, v1alpha1.PullRequestStatus{URL: st.URL, Number: 12, Branch: st.Head, State: "merged", MergeCommit: "deadbeef"}, st.APIStatus())
}
