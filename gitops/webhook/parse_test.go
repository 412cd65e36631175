package webhook

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// mutateJSON decodes body, lets edit change it and encodes it again.
func mutateJSON(t testing.TB, body []byte, edit func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(body, &m))
	edit(m)
	out, err := json.Marshal(m)
	require.NoError(t, err)
	return out
}

// obj returns m[key] as an object.
func obj(m map[string]any, key string) map[string]any { return m[key].(map[string]any) }

// deepJSON returns n nested arrays.
func deepJSON(n int) []byte {
	return []byte(strings.Repeat("[", n) + strings.Repeat("]", n))
}

const (
	ghRepoName = "acme/gitops-dr"
	glRepoName = "platform/dr/gitops-dr"
)

func TestParseGitHub(t *testing.T) {
	push := fixture(t, "github/push.json")
	merged := fixture(t, "github/pull_request_merged.json")
	ghRepo := Repository{
		FullName: ghRepoName,
		CloneURL: "https://github.com/acme/gitops-dr.git",
		SSHURL:   "git@github.com:acme/gitops-dr.git",
		WebURL:   "https://github.com/acme/gitops-dr",
	}
	tests := []struct {
		name    string
		event   string
		body    []byte
		want    *Event // checked field by field when set
		check   func(t *testing.T, ev Event)
		wantErr error
	}{
		{
			name: "push to a branch", event: "push", body: push,
			want: &Event{
				Provider: ProviderGitHub, Kind: KindPush, Repository: ghRepo, Sender: "jdoe",
				Ref: "refs/heads/main", Branch: "main",
				Before: "6113728f27ae82c7b1a177c8d03f9e96e0adf246", After: "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
			},
		},
		{
			name: "push of a tag", event: "push", body: fixture(t, "github/push_tag.json"),
			check: func(t *testing.T, ev Event) {
				assert.Equal(t, KindPush, ev.Kind)
				assert.Equal(t, "refs/tags/v1.4.0", ev.Ref)
				assert.Equal(t, "v1.4.0", ev.Tag)
				assert.Empty(t, ev.Branch)
				assert.Equal(t, "0000000000000000000000000000000000000000", ev.Before)
				assert.False(t, ev.Deleted)
				assert.Equal(t, "release-bot", ev.Sender)
			},
		},
		{
			name: "push deleting a branch", event: "push", body: fixture(t, "github/push_branch_deleted.json"),
			check: func(t *testing.T, ev Event) {
				assert.True(t, ev.Deleted)
				assert.Equal(t, "gitover/failover-payments", ev.Branch)
			},
		},
		{
			name: "pull request merged", event: "pull_request", body: merged,
			want: &Event{
				Provider: ProviderGitHub, Kind: KindMerged, Repository: ghRepo, Sender: "jdoe",
				Number: 42, HeadBranch: "gitover/failover-payments", BaseBranch: "main",
				MergeCommitSHA: "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
				HeadSHA:        "9c2a3f0e4b7d8a1c6e5f40312b8d7c6a5e4f3021",
				Title:          "gitover: failover payments to site-b",
				Marker:         `{"plan":"payments","action":"failover","target":"site-b","base":"6113728f27ae82c7b1a177c8d03f9e96e0adf246"}`,
			},
			check: func(t *testing.T, ev Event) {
				assert.Contains(t, ev.Body, "| clusters/hub/placements/payments.yaml |")
				assert.False(t, ev.BodyTruncated)
			},
		},
		{
			name: "pull request closed without merge drops the test merge sha", event: "pull_request",
			body: fixture(t, "github/pull_request_closed.json"),
			check: func(t *testing.T, ev Event) {
				assert.Equal(t, KindClosed, ev.Kind)
				assert.Equal(t, int64(42), ev.Number)
				assert.Empty(t, ev.MergeCommitSHA)
				assert.NotEmpty(t, ev.Marker)
			},
		},
		{
			name: "pull request body null", event: "pull_request",
			body: mutateJSON(t, merged, func(m map[string]any) { obj(m, "pull_request")["body"] = nil }),
			check: func(t *testing.T, ev Event) {
				assert.Equal(t, KindMerged, ev.Kind)
				assert.Empty(t, ev.Body)
				assert.Empty(t, ev.Marker)
			},
		},
		{
			name: "pull request number falls back to top level", event: "pull_request",
			body:  mutateJSON(t, merged, func(m map[string]any) { delete(obj(m, "pull_request"), "number") }),
			check: func(t *testing.T, ev Event) { assert.Equal(t, int64(42), ev.Number) },
		},
		{
			name: "ping", event: "ping", body: fixture(t, "github/ping.json"),
			want: &Event{Provider: ProviderGitHub, Kind: KindPing, Repository: ghRepo, Sender: "jdoe"},
		},
		{
			name: "ping of an organization hook has no repository", event: "ping",
			body: []byte(`{"zen":"Keep it logically awesome.","hook_id":1,"hook":{"type":"Organization"}}`),
			want: &Event{Provider: ProviderGitHub, Kind: KindPing},
		},
		{name: "pull request opened is ignored", event: "pull_request", body: fixture(t, "github/pull_request_opened.json"), wantErr: ErrIgnored},
		{name: "issues event is ignored", event: "issues", body: fixture(t, "github/issues.json"), wantErr: ErrIgnored},
		{name: "unknown event is ignored without parsing", event: "workflow_run", body: []byte("not json"), wantErr: ErrIgnored},
		{name: "missing event", event: "", body: push, wantErr: ErrMalformed},

		{name: "truncated JSON", event: "push", body: push[:len(push)/2], wantErr: ErrMalformed},
		{name: "garbage", event: "push", body: []byte("\x00\xffnot json at all"), wantErr: ErrMalformed},
		{name: "empty body", event: "push", body: nil, wantErr: ErrMalformed},
		{name: "trailing garbage", event: "push", body: append(append([]byte{}, push...), []byte(`{}`)...), wantErr: ErrMalformed},
		{name: "JSON null", event: "push", body: []byte("null"), wantErr: ErrMalformed},
		{name: "JSON array", event: "push", body: []byte("[1,2,3]"), wantErr: ErrMalformed},
		{name: "JSON string", event: "pull_request", body: []byte(`"closed"`), wantErr: ErrMalformed},
		{name: "deep nesting", event: "push", body: deepJSON(100000), wantErr: ErrMalformed},
		{name: "deep nesting in an ignored field", event: "push",
			body: []byte(`{"x":` + string(deepJSON(20000)) + `}`), wantErr: ErrMalformed},
		{name: "null everywhere", event: "push",
			body: []byte(`{"ref":null,"before":null,"after":null,"repository":null,"sender":null}`), wantErr: ErrMalformed},
		{name: "pull_request null", event: "pull_request",
			body: []byte(`{"action":"closed","number":1,"pull_request":null,"repository":{"full_name":"a/b"}}`), wantErr: ErrMalformed},
		{name: "ref of the wrong type", event: "push",
			body: mutateJSON(t, push, func(m map[string]any) { m["ref"] = 5 }), wantErr: ErrMalformed},
		{name: "repository of the wrong type", event: "push",
			body: mutateJSON(t, push, func(m map[string]any) { m["repository"] = "acme/gitops-dr" }), wantErr: ErrMalformed},
		{name: "merged as a string", event: "pull_request",
			body: mutateJSON(t, merged, func(m map[string]any) { obj(m, "pull_request")["merged"] = "true" }), wantErr: ErrMalformed},
		{name: "number as a string", event: "pull_request",
			body: mutateJSON(t, merged, func(m map[string]any) { obj(m, "pull_request")["number"] = "42" }), wantErr: ErrMalformed},
		{name: "huge number", event: "pull_request",
			body: []byte(strings.Replace(string(merged), `"number": 42`, `"number": 1e400`, 1)), wantErr: ErrMalformed},
		{name: "number beyond int64", event: "pull_request",
			body: []byte(strings.Replace(string(merged), `"number": 42`, `"number": 99999999999999999999999`, 1)), wantErr: ErrMalformed},
		{name: "fractional number", event: "pull_request",
			body: []byte(strings.Replace(string(merged), `"number": 42`, `"number": 4.2`, 1)), wantErr: ErrMalformed},
		{name: "negative number", event: "pull_request",
			body: mutateJSON(t, merged, func(m map[string]any) { obj(m, "pull_request")["number"] = -3; m["number"] = -3 }), wantErr: ErrMalformed},
		{name: "head missing", event: "pull_request",
			body: mutateJSON(t, merged, func(m map[string]any) { delete(obj(m, "pull_request"), "head") }), wantErr: ErrMalformed},
		{name: "head sha not hex", event: "pull_request",
			body: mutateJSON(t, merged, func(m map[string]any) {
				obj(obj(m, "pull_request"), "head")["sha"] = "zz2a3f0e4b7d8a1c6e5f40312b8d7c6a5e4f3021"
			}), wantErr: ErrMalformed},
		{name: "merge sha too short", event: "pull_request",
			body: mutateJSON(t, merged, func(m map[string]any) { obj(m, "pull_request")["merge_commit_sha"] = "0d1a26e" }), wantErr: ErrMalformed},
		{name: "short ref", event: "push",
			body: mutateJSON(t, push, func(m map[string]any) { m["ref"] = "main" }), wantErr: ErrMalformed},
		{name: "after missing", event: "push",
			body: mutateJSON(t, push, func(m map[string]any) { delete(m, "after") }), wantErr: ErrMalformed},
		{name: "repository name missing", event: "push",
			body: mutateJSON(t, push, func(m map[string]any) { delete(obj(m, "repository"), "full_name") }), wantErr: ErrMalformed},
		{name: "control character in repository name", event: "push",
			body: mutateJSON(t, push, func(m map[string]any) { obj(m, "repository")["full_name"] = "acme/gitops-dr\n[fake log line]" }), wantErr: ErrMalformed},
		{name: "over-long ref", event: "push",
			body: mutateJSON(t, push, func(m map[string]any) { m["ref"] = "refs/heads/" + strings.Repeat("x", 2000) }), wantErr: ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := ParseGitHub(tt.event, tt.body)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				assert.Equal(t, Event{}, ev)
				assert.Less(t, len(err.Error()), 200, "reasons stay short")
				return
			}
			require.NoError(t, err)
			if tt.want != nil {
				got := ev
				got.Body, got.BodyTruncated = "", false
				assert.Equal(t, *tt.want, got)
			}
			if tt.check != nil {
				tt.check(t, ev)
			}
		})
	}
}

func TestParseGitLab(t *testing.T) {
	merge := fixture(t, "gitlab/merge_request_merge.json")
	push := fixture(t, "gitlab/push.json")
	glRepo := Repository{
		FullName: glRepoName,
		CloneURL: "https://gitlab.example.com/platform/dr/gitops-dr.git",
		SSHURL:   "git@gitlab.example.com:platform/dr/gitops-dr.git",
		WebURL:   "https://gitlab.example.com/platform/dr/gitops-dr",
	}
	tests := []struct {
		name    string
		event   string
		body    []byte
		want    *Event
		check   func(t *testing.T, ev Event)
		wantErr error
	}{
		{
			name: "push to a branch", event: "Push Hook", body: push,
			want: &Event{
				Provider: ProviderGitLab, Kind: KindPush, Repository: glRepo, Sender: "jdoe",
				Ref: "refs/heads/main", Branch: "main",
				Before: "95790bf891e76fee5e1747ab589903a6a1f80f22", After: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
			},
		},
		{
			name: "tag push", event: "Tag Push Hook", body: fixture(t, "gitlab/tag_push.json"),
			check: func(t *testing.T, ev Event) {
				assert.Equal(t, KindPush, ev.Kind)
				assert.Equal(t, "v1.4.0", ev.Tag)
				assert.Empty(t, ev.Branch)
			},
		},
		{
			name: "merge request merged", event: "Merge Request Hook", body: merge,
			want: &Event{
				Provider: ProviderGitLab, Kind: KindMerged, Repository: glRepo, Sender: "jdoe",
				Number: 7, HeadBranch: "gitover/failover-payments", BaseBranch: "main",
				MergeCommitSHA: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
				HeadSHA:        "b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327",
				Title:          "gitover: failover payments to site-b",
				Marker:         `{"plan":"payments","action":"failover","target":"site-b","base":"95790bf891e76fee5e1747ab589903a6a1f80f22"}`,
			},
		},
		{
			name: "merge request closed", event: "Merge Request Hook", body: fixture(t, "gitlab/merge_request_close.json"),
			check: func(t *testing.T, ev Event) {
				assert.Equal(t, KindClosed, ev.Kind)
				assert.Equal(t, int64(7), ev.Number)
				assert.Empty(t, ev.MergeCommitSHA)
			},
		},
		{
			name: "fast-forward merge without merge sha nor last commit", event: "Merge Request Hook",
			body: mutateJSON(t, merge, func(m map[string]any) {
				oa := obj(m, "object_attributes")
				oa["merge_commit_sha"] = nil
				oa["last_commit"] = nil
			}),
			check: func(t *testing.T, ev Event) {
				assert.Equal(t, KindMerged, ev.Kind)
				assert.Empty(t, ev.MergeCommitSHA)
				assert.Empty(t, ev.HeadSHA)
			},
		},
		{
			name: "system hook merge request", event: "System Hook", body: merge,
			check: func(t *testing.T, ev Event) { assert.Equal(t, KindMerged, ev.Kind) },
		},
		{
			name: "object_kind absent trusts the header", event: "Push Hook",
			body:  mutateJSON(t, push, func(m map[string]any) { delete(m, "object_kind") }),
			check: func(t *testing.T, ev Event) { assert.Equal(t, KindPush, ev.Kind) },
		},
		{name: "merge request opened is ignored", event: "Merge Request Hook", body: fixture(t, "gitlab/merge_request_open.json"), wantErr: ErrIgnored},
		{name: "merge request approved is ignored", event: "Merge Request Hook",
			body: mutateJSON(t, merge, func(m map[string]any) { obj(m, "object_attributes")["action"] = "approved" }), wantErr: ErrIgnored},
		{name: "issue hook is ignored", event: "Issue Hook", body: fixture(t, "gitlab/issue.json"), wantErr: ErrIgnored},
		{name: "system hook of another kind is ignored", event: "System Hook", body: fixture(t, "gitlab/issue.json"), wantErr: ErrIgnored},
		{name: "missing event", event: "", body: push, wantErr: ErrMalformed},
		{name: "object_kind contradicts the header", event: "Push Hook", body: merge, wantErr: ErrMalformed},

		{name: "truncated JSON", event: "Merge Request Hook", body: merge[:len(merge)-10], wantErr: ErrMalformed},
		{name: "garbage", event: "Push Hook", body: []byte("<html>502</html>"), wantErr: ErrMalformed},
		{name: "JSON null", event: "Merge Request Hook", body: []byte("null"), wantErr: ErrMalformed},
		{name: "deep nesting", event: "Push Hook", body: deepJSON(50000), wantErr: ErrMalformed},
		{name: "null everywhere", event: "Merge Request Hook",
			body: []byte(`{"object_kind":null,"project":null,"object_attributes":null,"user":null}`), wantErr: ErrMalformed},
		{name: "object_attributes null", event: "Merge Request Hook",
			body: mutateJSON(t, merge, func(m map[string]any) { m["object_attributes"] = nil }), wantErr: ErrMalformed},
		{name: "iid as a string", event: "Merge Request Hook",
			body: mutateJSON(t, merge, func(m map[string]any) { obj(m, "object_attributes")["iid"] = "7" }), wantErr: ErrMalformed},
		{name: "iid huge", event: "Merge Request Hook",
			body: []byte(strings.Replace(string(merge), `"iid": 7`, `"iid": 1e99999`, 1)), wantErr: ErrMalformed},
		{name: "iid zero", event: "Merge Request Hook",
			body: mutateJSON(t, merge, func(m map[string]any) { obj(m, "object_attributes")["iid"] = 0 }), wantErr: ErrMalformed},
		{name: "action of the wrong type", event: "Merge Request Hook",
			body: mutateJSON(t, merge, func(m map[string]any) { obj(m, "object_attributes")["action"] = []any{"merge"} }), wantErr: ErrMalformed},
		{name: "project of the wrong type", event: "Push Hook",
			body: mutateJSON(t, push, func(m map[string]any) { m["project"] = 15 }), wantErr: ErrMalformed},
		{name: "project missing", event: "Push Hook",
			body: mutateJSON(t, push, func(m map[string]any) { delete(m, "project") }), wantErr: ErrMalformed},
		{name: "target branch missing", event: "Merge Request Hook",
			body: mutateJSON(t, merge, func(m map[string]any) { delete(obj(m, "object_attributes"), "target_branch") }), wantErr: ErrMalformed},
		{name: "merge sha not hex", event: "Merge Request Hook",
			body: mutateJSON(t, merge, func(m map[string]any) { obj(m, "object_attributes")["merge_commit_sha"] = "HEAD~1" }), wantErr: ErrMalformed},
		{name: "before not a sha", event: "Push Hook",
			body: mutateJSON(t, push, func(m map[string]any) { m["before"] = "; rm -rf /" }), wantErr: ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := ParseGitLab(tt.event, tt.body)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				assert.Equal(t, Event{}, ev)
				assert.Less(t, len(err.Error()), 200, "reasons stay short")
				return
			}
			require.NoError(t, err)
			if tt.want != nil {
				got := ev
				got.Body, got.BodyTruncated = "", false
				assert.Equal(t, *tt.want, got)
			}
			if tt.check != nil {
				tt.check(t, ev)
			}
		})
	}
}

func TestParseBoundsText(t *testing.T) {
	marker := `<!-- gitover: {"plan":"payments"} -->`
	long := strings.Repeat("é", MaxBodyTextBytes) + "\n" + marker // 2-byte runes: the cut must respect them
	tests := []struct {
		name  string
		parse func(body string) (Event, error)
	}{
		{"github", func(body string) (Event, error) {
			b := mutateJSON(t, fixture(t, "github/pull_request_merged.json"), func(m map[string]any) {
				pr := obj(m, "pull_request")
				pr["body"] = body
				pr["title"] = strings.Repeat("t", 5000)
			})
			return ParseGitHub("pull_request", b)
		}},
		{"gitlab", func(body string) (Event, error) {
			b := mutateJSON(t, fixture(t, "gitlab/merge_request_merge.json"), func(m map[string]any) {
				oa := obj(m, "object_attributes")
				oa["description"] = body
				oa["title"] = strings.Repeat("t", 5000)
			})
			return ParseGitLab("Merge Request Hook", b)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := tt.parse(long)
			require.NoError(t, err)
			assert.True(t, ev.BodyTruncated)
			assert.LessOrEqual(t, len(ev.Body), MaxBodyTextBytes)
			assert.Greater(t, len(ev.Body), MaxBodyTextBytes-4)
			assert.True(t, utf8.ValidString(ev.Body))
			assert.Len(t, ev.Title, MaxTitleBytes)
			assert.Equal(t, `{"plan":"payments"}`, ev.Marker, "the marker is found beyond the cut")
		})
	}
}

func TestExtractMarker(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"none", "just a description", ""},
		{"simple", "text\n<!-- gitover: {\"a\":1} -->\nmore", `{"a":1}`},
		{"first of two", "<!-- gitover: one --> <!-- gitover: two -->", "one"},
		{"unterminated", "<!-- gitover: {\"a\":1}", ""},
		{"other comment", "<!-- renovate: x -->", ""},
		{"too long", "<!-- gitover: " + strings.Repeat("x", MaxMarkerBytes+1) + " -->", ""},
		{"empty", "<!-- gitover: -->", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, extractMarker(tt.body))
		})
	}
}
