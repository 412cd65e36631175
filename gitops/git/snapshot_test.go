package git

import (
	"context"
	"errors"
	"io/fs"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSnapshotReadsTheFetchedHead(t *testing.T) {
	r := newRemote(t)
	c := newClient(t)
	ctx := context.Background()
	read := func(req SnapshotRequest) (string, string) {
		t.Helper()
		var content string
		sha, err := c.Snapshot(ctx, req, func(_ context.Context, tree fs.FS, _ string) error {
			b, err := fs.ReadFile(tree, "hub/placement.yaml")
			content = string(b)
			return err
		})
		require.NoError(t, err)
		return sha, content
	}
	base := SnapshotRequest{URL: r.url, Branch: "main", Auth: goodAuth}

	first := r.head(t, "main")
	sha, content := read(base)
	assert.Equal(t, first, sha)
	assert.Contains(t, content, "value: primary")

	second := r.commitAsOther(t, "main", map[string]string{"hub/placement.yaml": "kind: Placement\nvalue: secondary\n"}, "flip")
	noFetch := base
	noFetch.NoFetch = true
	sha, content = read(noFetch)
	assert.Equal(t, first, sha, "NoFetch reads the head as last fetched")
	assert.Contains(t, content, "value: primary")

	sha, content = read(base)
	assert.Equal(t, second, sha, "a fetching snapshot sees the new head")
	assert.Contains(t, content, "value: secondary")

	old := base
	old.Commit = first
	sha, content = read(old)
	assert.Equal(t, first, sha, "Commit reads an older commit")
	assert.Contains(t, content, "value: primary")

	wantErr := errors.New("from fn")
	_, err := c.Snapshot(ctx, base, func(context.Context, fs.FS, string) error { return wantErr })
	assert.ErrorIs(t, err, wantErr)

	missing := base
	missing.Commit = strings.Repeat("ab", 20)
	_, err = c.Snapshot(ctx, missing, func(context.Context, fs.FS, string) error { return nil })
	assert.ErrorIs(t, err, ErrCommitNotFound)
}

func TestIsAncestorAndFindCommit(t *testing.T) {
	r := newRemote(t)
	c := newClient(t)
	ctx := context.Background()
	seed := r.head(t, "main")
	// Fetch once so that the cache's history starts at the seed commit.
	_, err := c.Head(ctx, r.url, "main", goodAuth)
	require.NoError(t, err)

	ours := r.commitAsOther(t, "main", map[string]string{"a": "1"}, "gitover: failover shop to dr2\n\nGitover-Operation: ns/x/uid-1\n")
	later := r.commitAsOther(t, "main", map[string]string{"b": "2"}, "unrelated")

	for _, tc := range []struct {
		name        string
		anc, desc   string
		want        bool
		wantErrLike error
	}{
		{name: "itself", anc: ours, desc: ours, want: true},
		{name: "direct parent", anc: ours, desc: later, want: true},
		{name: "seed", anc: seed, desc: later, want: true},
		{name: "descendant is not an ancestor", anc: later, desc: ours, want: false},
		{name: "unknown descendant", anc: ours, desc: strings.Repeat("cd", 20), wantErrLike: ErrCommitNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.IsAncestor(ctx, r.url, "main", goodAuth, tc.anc, tc.desc)
			if tc.wantErrLike != nil {
				assert.ErrorIs(t, err, tc.wantErrLike)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}

	byTrailer := func(op string) func(string) bool {
		return func(msg string) bool {
			for _, v := range ParseTrailers(msg)["Gitover-Operation"] {
				if v == op {
					return true
				}
			}
			return false
		}
	}
	sha, found, err := c.FindCommit(ctx, r.url, "main", goodAuth, byTrailer("ns/x/uid-1"), 10)
	require.NoError(t, err)
	assert.True(t, found)
	assert.Equal(t, ours, sha)

	_, found, err = c.FindCommit(ctx, r.url, "main", goodAuth, byTrailer("ns/x/uid-2"), 10)
	require.NoError(t, err)
	assert.False(t, found)

	_, found, err = c.FindCommit(ctx, r.url, "main", goodAuth, byTrailer("ns/x/uid-1"), 1)
	require.NoError(t, err)
	assert.False(t, found, "the limit bounds the walk: only the head is read")
}
