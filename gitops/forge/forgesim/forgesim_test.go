package forgesim

// Wire-level checks of the SIMULATIONS themselves, with plain HTTP: the
// answers the providers rely on have the documented shapes.

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type call struct {
	method, path, body string
	header             map[string]string
}

func do(t *testing.T, base string, c call) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(c.method, base+c.path, strings.NewReader(c.body))
	require.NoError(t, err)
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

func TestGitHubWire(t *testing.T) {
	sim := NewGitHub(GitHubConfig{Token: "tok"})
	defer sim.Close()
	sim.SetBranch("feature", FakeSHA("f"))
	auth := map[string]string{"Authorization": "Bearer tok"}
	create := `{"title":"t","head":"feature","base":"main"}`
	tests := []struct {
		name       string
		call       call
		wantStatus int
		wantBody   string // JSON subset or substring
		wantHeader map[string]string
	}{
		{"bad token", call{"GET", "/repos/acme/gitops/pulls", "", map[string]string{"Authorization": "token nope"}}, 401, `"message":"Bad credentials"`, nil},
		{"no token on a private repository", call{"GET", "/repos/acme/gitops/pulls", "", nil}, 404, `"message":"Not Found"`, nil},
		{"create", call{"POST", "/api/v3/repos/acme/gitops/pulls", create, auth}, 201, `"number":1`, map[string]string{"Location": "/api/v3/repos/acme/gitops/pulls/1"}},
		{"duplicate", call{"POST", "/repos/acme/gitops/pulls", create, auth}, 422,
			`"errors":[{"code":"custom","message":"A pull request already exists for acme:feature.","resource":"PullRequest"}]`, nil},
		{"unknown head", call{"POST", "/repos/acme/gitops/pulls", `{"title":"t","head":"nope","base":"main"}`, auth}, 422, `"field":"head"`, nil},
		{"list item has no merged field", call{"GET", "/repos/acme/gitops/pulls?head=acme:feature", "", auth}, 200, `"merged_at":null`, map[string]string{"X-RateLimit-Resource": "core"}},
		{"get has merged", call{"GET", "/repos/acme/gitops/pulls/1", "", auth}, 200, `"merged":false`, nil},
		{"unknown pull", call{"GET", "/repos/acme/gitops/pulls/99", "", auth}, 404, `"message":"Not Found"`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, sim.URL(), tt.call)
			assert.Equal(t, tt.wantStatus, resp.StatusCode, body)
			assert.Contains(t, body, tt.wantBody)
			for k, v := range tt.wantHeader {
				assert.Contains(t, resp.Header.Get(k), v, k)
			}
		})
	}

	t.Run("list items omit merged", func(t *testing.T) {
		_, body := do(t, sim.URL(), call{"GET", "/repos/acme/gitops/pulls", "", auth})
		var items []map[string]any
		require.NoError(t, json.Unmarshal([]byte(body), &items))
		require.Len(t, items, 1)
		assert.NotContains(t, items[0], "merged")
		assert.NotNil(t, items[0]["merge_commit_sha"], "an open pull request carries its test merge commit")
	})

	t.Run("head filter without owner is ignored", func(t *testing.T) {
		sim.AddPull(GitHubPull{Head: "other", Base: "main"})
		_, body := do(t, sim.URL(), call{"GET", "/repos/acme/gitops/pulls?head=feature", "", auth})
		assert.Equal(t, 2, strings.Count(body, `"number"`))
		_, body = do(t, sim.URL(), call{"GET", "/repos/acme/gitops/pulls?head=acme:feature", "", auth})
		assert.Equal(t, 1, strings.Count(body, `"number"`))
	})

	t.Run("Link header pagination", func(t *testing.T) {
		resp, _ := do(t, sim.URL(), call{"GET", "/repos/acme/gitops/pulls?per_page=1&page=1", "", auth})
		link := resp.Header.Get("Link")
		assert.Contains(t, link, `?page=2&per_page=1>; rel="next"`)
		assert.Contains(t, link, `rel="last"`)
		resp, _ = do(t, sim.URL(), call{"GET", "/repos/acme/gitops/pulls?per_page=1&page=2", "", auth})
		assert.NotContains(t, resp.Header.Get("Link"), `rel="next"`)
		assert.Contains(t, resp.Header.Get("Link"), `?page=1&per_page=1>; rel="prev"`)
	})

	t.Run("primary rate limit", func(t *testing.T) {
		reset := time.Now().Add(time.Minute)
		sim.Inject(GitHubPrimaryRateLimit(403, reset))
		resp, body := do(t, sim.URL(), call{"GET", "/repos/acme/gitops/pulls", "", auth})
		assert.Equal(t, 403, resp.StatusCode)
		assert.Equal(t, "0", resp.Header.Get("X-RateLimit-Remaining"))
		assert.Contains(t, body, "API rate limit exceeded")
		resp, _ = do(t, sim.URL(), call{"GET", "/repos/acme/gitops/pulls", "", auth})
		assert.Equal(t, 200, resp.StatusCode, "a fault answers once")
	})

	t.Run("requests are recorded with their status", func(t *testing.T) {
		reqs := sim.Requests()
		require.NotEmpty(t, reqs)
		assert.Equal(t, 401, reqs[0].Status)
		assert.Equal(t, "token nope", reqs[0].Header.Get("Authorization"))
		assert.JSONEq(t, create, string(reqs[2].Body))
	})
}

func TestGitLabWire(t *testing.T) {
	sim := NewGitLab(GitLabConfig{Token: "tok"})
	defer sim.Close()
	auth := map[string]string{"PRIVATE-TOKEN": "tok"}
	const mrs = "/api/v4/projects/acme%2Fplatform%2Fgitops/merge_requests"
	create := `{"title":"t","source_branch":"feature","target_branch":"main","labels":"a,b"}`
	tests := []struct {
		name       string
		call       call
		wantStatus int
		wantBody   string
		wantHeader map[string]string
	}{
		{"bad token", call{"GET", mrs, "", map[string]string{"PRIVATE-TOKEN": "nope"}}, 401, `{"message":"401 Unauthorized"}`, nil},
		{"no token", call{"GET", mrs, "", nil}, 404, `{"message":"404 Project Not Found"}`, nil},
		{"bearer token", call{"GET", mrs, "", map[string]string{"Authorization": "Bearer tok"}}, 200, `[]`, nil},
		{"numeric project id", call{"GET", "/api/v4/projects/42/merge_requests", "", auth}, 200, `[]`, nil},
		{"missing params", call{"POST", mrs, `{"title":"t"}`, auth}, 400, `source_branch is missing, target_branch is missing`, nil},
		{"create", call{"POST", mrs, create, auth}, 201, `"labels":["a","b"]`, nil},
		{"duplicate", call{"POST", mrs, create, auth}, 409, `{"message":["Another open merge request already exists for this source branch: !1"]}`, nil},
		{"list headers", call{"GET", mrs + "?per_page=1", "", auth}, 200, `"state":"opened"`,
			map[string]string{"X-Total": "1", "X-Total-Pages": "1", "X-Page": "1", "X-Per-Page": "1"}},
		{"unmerged SHAs are null", call{"GET", mrs + "/1", "", auth}, 200, `"merge_commit_sha":null`, nil},
		{"unknown merge request", call{"GET", mrs + "/9", "", auth}, 404, `{"message":"404 Not found"}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, sim.URL(), tt.call)
			assert.Equal(t, tt.wantStatus, resp.StatusCode, body)
			assert.Contains(t, body, tt.wantBody)
			for k, v := range tt.wantHeader {
				assert.Equal(t, v, resp.Header.Get(k), k)
			}
		})
	}

	t.Run("X-Next-Page", func(t *testing.T) {
		sim.AddMR(GitLabMR{SourceBranch: "other", TargetBranch: "main"})
		resp, _ := do(t, sim.URL(), call{"GET", mrs + "?per_page=1", "", auth})
		assert.Equal(t, "2", resp.Header.Get("X-Next-Page"))
		assert.Equal(t, "2", resp.Header.Get("X-Total-Pages"))
		resp, _ = do(t, sim.URL(), call{"GET", mrs + "?per_page=1&page=2", "", auth})
		assert.Equal(t, "", resp.Header.Get("X-Next-Page"))
		assert.Equal(t, "1", resp.Header.Get("X-Prev-Page"))
	})

	t.Run("rate limit", func(t *testing.T) {
		reset := time.Now().Add(30 * time.Second)
		sim.Inject(GitLabRateLimit(30*time.Second, reset))
		resp, body := do(t, sim.URL(), call{"GET", mrs, "", auth})
		assert.Equal(t, 429, resp.StatusCode)
		assert.Equal(t, "Retry later\n", body)
		assert.Equal(t, "30", resp.Header.Get("Retry-After"))
		assert.Equal(t, "0", resp.Header.Get("RateLimit-Remaining"))
	})

	t.Run("squashed fast-forward merge", func(t *testing.T) {
		require.NoError(t, sim.Merge(1, GitLabMerge{SquashCommitSHA: "sss"}))
		_, body := do(t, sim.URL(), call{"GET", mrs + "/1", "", auth})
		assert.Contains(t, body, `"state":"merged"`)
		assert.Contains(t, body, `"merge_commit_sha":null`)
		assert.Contains(t, body, `"squash_commit_sha":"sss"`)
		assert.Error(t, sim.Merge(1, GitLabMerge{}), "merging twice")
	})
}
