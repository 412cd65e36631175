package git

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// ErrCommitNotFound marks a commit that is neither in the cache nor in the
// fetched history of the branch.
var ErrCommitNotFound = errors.New("commit not found")

// SnapshotRequest says which tree Snapshot reads.
type SnapshotRequest struct {
	URL    string
	Branch string
	Auth   Auth
	// Commit, when set, reads that commit (a full SHA) instead of the
	// branch head. A commit the cache lacks is fetched with the branch.
	Commit string
	// NoFetch reads the branch head as last fetched into the cache; the
	// branch is fetched only when the cache has never seen it. The
	// controller uses it between webhook-invalidated or periodic fetches.
	NoFetch bool
}

// SnapshotFunc reads one commit's tree. The tree is valid only while the
// function runs: the clone's lock is held, so Apply and PushBranch on the
// same repository wait until it returns.
type SnapshotFunc func(ctx context.Context, tree fs.FS, sha string) error

// Snapshot fetches req.Branch (unless req.NoFetch) and calls fn with the
// tree of its head, or of req.Commit, read straight from the cache's object
// store. It returns the SHA that was read, and fn's error as it is.
func (c *Client) Snapshot(ctx context.Context, req SnapshotRequest, fn SnapshotFunc) (string, error) {
	if err := checkBranchName(req.Branch); err != nil {
		return "", err
	}
	cc, err := c.open(ctx, req.URL, req.Auth)
	if err != nil {
		return "", err
	}
	defer cc.unlock()
	var commit *object.Commit
	if req.Commit != "" {
		commit, err = c.commitOrFetch(ctx, cc, req.Branch, req.Commit)
	} else {
		commit, err = c.headOrFetch(ctx, cc, req.Branch, req.NoFetch)
	}
	if err != nil {
		return "", err
	}
	tree, err := newTreeFS(cc.repo.Storer, commit)
	if err != nil {
		return "", err
	}
	return commit.Hash.String(), fn(ctx, tree, commit.Hash.String())
}

// IsAncestor reports whether ancestor is descendant or one of its
// ancestors in the cached history of branch; commits the cache lacks are
// fetched with the branch first. History beyond a shallow boundary is
// unknown, so a commit older than the cache's first fetch reads as not an
// ancestor.
func (c *Client) IsAncestor(ctx context.Context, rawURL, branch string, auth Auth, ancestor, descendant string) (bool, error) {
	if err := checkBranchName(branch); err != nil {
		return false, err
	}
	cc, err := c.open(ctx, rawURL, auth)
	if err != nil {
		return false, err
	}
	defer cc.unlock()
	anc, err := parseSHA(ancestor)
	if err != nil {
		return false, err
	}
	desc, err := c.commitOrFetch(ctx, cc, branch, descendant)
	if err != nil {
		return false, err
	}
	if desc.Hash == anc {
		return true, nil
	}
	if _, err := c.commitOrFetch(ctx, cc, branch, ancestor); err != nil {
		return false, err
	}
	found := false
	err = walkHistory(ctx, cc, desc, 0, func(cm *object.Commit) bool {
		found = cm.Hash == anc
		return !found
	})
	return found, err
}

// FindCommit fetches branch and returns the newest of its last limit
// commits (newest first, every parent followed) whose message match
// accepts; found is false when none does. The controller finds the commit
// of an interrupted operation this way, by its Gitover-Operation trailer,
// instead of committing a second time.
func (c *Client) FindCommit(ctx context.Context, rawURL, branch string, auth Auth, match func(msg string) bool, limit int) (sha string, found bool, err error) {
	if err := checkBranchName(branch); err != nil {
		return "", false, err
	}
	if limit <= 0 {
		limit = 100
	}
	cc, err := c.open(ctx, rawURL, auth)
	if err != nil {
		return "", false, err
	}
	defer cc.unlock()
	head, err := c.headOrFetch(ctx, cc, branch, false)
	if err != nil {
		return "", false, err
	}
	err = walkHistory(ctx, cc, head, limit, func(cm *object.Commit) bool {
		if match(cm.Message) {
			sha, found = cm.Hash.String(), true
		}
		return !found
	})
	return sha, found, err
}

// headOrFetch returns branch's head in the cache, fetching it unless
// noFetch is set and the cache already tracks the branch.
func (c *Client) headOrFetch(ctx context.Context, cc *cached, branch string, noFetch bool) (*object.Commit, error) {
	if noFetch {
		if r, err := cc.repo.Reference(trackingRef(branch), true); err == nil {
			if cm, err := cc.repo.CommitObject(r.Hash()); err == nil {
				return cm, nil
			}
		}
	}
	head, missing, err := c.fetch(ctx, cc, branch)
	if err != nil {
		return nil, err
	}
	if missing {
		return nil, fmt.Errorf("branch %s does not exist in %s", branch, cc.url)
	}
	return head, nil
}

// commitOrFetch returns the commit sha from the cache, fetching branch
// once when the cache does not have it yet.
func (c *Client) commitOrFetch(ctx context.Context, cc *cached, branch, sha string) (*object.Commit, error) {
	h, err := parseSHA(sha)
	if err != nil {
		return nil, err
	}
	if cm, err := cc.repo.CommitObject(h); err == nil {
		return cm, nil
	}
	if _, missing, err := c.fetch(ctx, cc, branch); err != nil {
		return nil, err
	} else if missing {
		return nil, fmt.Errorf("branch %s does not exist in %s", branch, cc.url)
	}
	cm, err := cc.repo.CommitObject(h)
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not in the fetched history of %s in %s", ErrCommitNotFound, sha, branch, cc.url)
	}
	return cm, nil
}

// walkHistory visits start and its ancestors breadth first (newest
// generation first), each once, until visit returns false, limit commits
// were visited (0: no limit), or the cached history ends (a shallow
// boundary: parents the cache does not hold are skipped).
func walkHistory(ctx context.Context, cc *cached, start *object.Commit, limit int, visit func(*object.Commit) bool) error {
	seen := map[plumbing.Hash]bool{start.Hash: true}
	queue := []*object.Commit{start}
	for n := 0; len(queue) > 0; n++ {
		if limit > 0 && n >= limit {
			return nil
		}
		if n%256 == 0 && ctx.Err() != nil {
			return fmt.Errorf("walking the history of %s: %w", cc.url, ctx.Err())
		}
		cm := queue[0]
		queue = queue[1:]
		if !visit(cm) {
			return nil
		}
		for _, p := range cm.ParentHashes {
			if seen[p] {
				continue
			}
			seen[p] = true
			parent, err := cc.repo.CommitObject(p)
			switch {
			case errors.Is(err, plumbing.ErrObjectNotFound):
				continue // beyond the shallow boundary
			case err != nil:
				return fmt.Errorf("reading commit %s of %s: %w", p, cc.url, err)
			}
			queue = append(queue, parent)
		}
	}
	return nil
}

// parseSHA checks that s is a full commit SHA and returns its hash.
func parseSHA(s string) (plumbing.Hash, error) {
	h := plumbing.NewHash(s)
	if len(s) != 40 || h.String() != strings.ToLower(s) {
		return plumbing.ZeroHash, fmt.Errorf("%q is not a full commit SHA", s)
	}
	return h, nil
}
