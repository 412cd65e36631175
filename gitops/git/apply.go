package git

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"regexp"
	"strings"
	"time"

	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Retry defaults for push races.
const (
	DefaultMaxAttempts    = 5
	DefaultInitialBackoff = 250 * time.Millisecond
	DefaultMaxBackoff     = 8 * time.Second
)

// ReplanFunc computes a change against a repository state: given the tree
// of head (read-only, straight from the object store), it returns the new
// content of each file to change and the commit message. It must derive
// everything from tree — it is called again on a newer head after a push
// race. No files means there is nothing to do (for example, somebody else
// already made the change). An error stops the operation and is returned.
type ReplanFunc func(ctx context.Context, tree fs.FS, head string) (files map[string][]byte, message string, err error)

// Request describes one change to a remote branch.
type Request struct {
	URL    string // https://, http:// (loopback), ssh://, user@host:path
	Branch string // the target branch, e.g. "main"
	Auth   Auth
	// Author of the commit; Committer defaults to Author, Author to
	// DefaultIdentity.
	Author    Signature
	Committer Signature
	Replan    ReplanFunc

	// MaxAttempts bounds push attempts (default DefaultMaxAttempts).
	MaxAttempts int
	// InitialBackoff and MaxBackoff shape the jittered exponential wait
	// between attempts (defaults DefaultInitialBackoff, DefaultMaxBackoff).
	InitialBackoff, MaxBackoff time.Duration

	// Base, for PushBranch only: build on this commit of Branch instead of
	// its current head (so the proposal matches a branch name derived from
	// it). It must be reachable from Branch's head.
	Base string
}

// Result reports what an operation did.
type Result struct {
	// Head is the pushed commit, or the existing head when nothing was
	// pushed ("" when nothing exists, e.g. no proposal branch was needed).
	Head string
	// Base is the commit the change was planned on (the last attempt's).
	Base string
	// Pushed is true when this call moved the remote branch.
	Pushed bool
	// Attempts is how many times the change was planned (1 without races).
	Attempts int
	// Branch is the branch written (Request.Branch, or PushBranch's branch).
	Branch string
	// State is what happened to the branch: Created, Updated, Unchanged or
	// NothingToDo.
	State BranchState
}

// BranchState says what an operation did to a branch.
type BranchState string

// The branch states.
const (
	Created     BranchState = "Created"
	Updated     BranchState = "Updated"
	Unchanged   BranchState = "Unchanged"   // a proposal branch already held this change
	NothingToDo BranchState = "NothingToDo" // Replan returned no files, or they changed nothing
)

// ErrBranchMoved marks a push rejected because the remote branch moved.
var ErrBranchMoved = errors.New("the remote branch moved")

// ErrForeignBranch marks a proposal branch that exists and is not gitover's.
var ErrForeignBranch = errors.New("branch exists and is not gitover's")

type movedError struct {
	branch, url string
	err         error
}

func (e *movedError) Error() string {
	return fmt.Sprintf("push of %s to %s rejected because the branch moved: %v", e.branch, e.url, e.err)
}
func (e *movedError) Unwrap() []error { return []error{ErrBranchMoved, e.err} }

// raceRejections are the messages with which servers refuse a push because
// the branch is no longer where the pusher saw it: git's receive-pack
// ("failed to update ref", "cannot lock ref '...': is at X but expected Y",
// "failed to lock"), GitHub ("incorrect old value provided", "fetch first",
// "non-fast-forward"), GitLab (the same git messages), go-git's own checks
// ("non-fast-forward update", "required to be X but is Y"), and
// --force-with-lease style "stale info".
var raceRejections = regexp.MustCompile(`(?i)non-fast-forward|fetch first|cannot lock ref|` +
	`incorrect old value provided|failed to update ref|failed to lock|stale info|reference already exists|` +
	`remote ref \S+ required to be \S+ but is`)

// IsBranchMoved reports whether err is a push rejection caused by the
// branch having moved (retry after re-planning), as opposed to a refusal
// that a retry cannot fix (hooks, protection rules, permissions).
func IsBranchMoved(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrBranchMoved) || errors.Is(err, gogit.ErrNonFastForwardUpdate) {
		return true
	}
	return raceRejections.MatchString(err.Error())
}

func (r *Request) defaults() error {
	if r.Replan == nil {
		return errors.New("request has no Replan function")
	}
	if err := checkBranchName(r.Branch); err != nil {
		return err
	}
	if r.MaxAttempts <= 0 {
		r.MaxAttempts = DefaultMaxAttempts
	}
	if r.InitialBackoff <= 0 {
		r.InitialBackoff = DefaultInitialBackoff
	}
	if r.MaxBackoff <= 0 {
		r.MaxBackoff = DefaultMaxBackoff
	}
	if r.MaxBackoff < r.InitialBackoff {
		r.MaxBackoff = r.InitialBackoff
	}
	return nil
}

func checkBranchName(b string) error {
	if b == "" {
		return errors.New("no branch given")
	}
	if strings.HasPrefix(b, "refs/") || strings.HasPrefix(b, "-") {
		return fmt.Errorf("branch %q: give the short name, e.g. main", b)
	}
	if err := plumbing.NewBranchReferenceName(b).Validate(); err != nil {
		return fmt.Errorf("invalid branch name %q: %w", b, err)
	}
	return nil
}

// backoff returns the jittered wait before attempt n+1 (n >= 1).
func (r *Request) backoff(n int) time.Duration {
	d := r.InitialBackoff
	for i := 1; i < n && d < r.MaxBackoff; i++ {
		d *= 2
	}
	if d > r.MaxBackoff {
		d = r.MaxBackoff
	}
	// Jitter to 50-150% so racing writers spread out.
	return time.Duration(float64(d) * (0.5 + rand.Float64()))
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// replan runs req.Replan on commit's tree.
func replan(ctx context.Context, cc *cached, req *Request, commit *object.Commit) (map[string][]byte, string, error) {
	tree, err := newTreeFS(cc.repo.Storer, commit)
	if err != nil {
		return nil, "", err
	}
	files, msg, err := req.Replan(ctx, tree, commit.Hash.String())
	if err != nil {
		return nil, "", fmt.Errorf("planning the change on %s of %s: %w", commit.Hash, cc.url, err)
	}
	return files, msg, nil
}

// Apply commits a change to req.Branch and pushes it, never forcing: it
// fetches the branch, asks Replan for the change on the fetched head,
// commits it on top, and pushes with the fetched head as the expected old
// value. When the push is rejected because the branch moved, it waits
// (jittered exponential backoff), fetches again and re-plans on the new
// head — the other writer's commits stay, ours goes on top — up to
// req.MaxAttempts times. No files from Replan, or files identical to the
// head's, end the call without pushing (State NothingToDo).
func (c *Client) Apply(ctx context.Context, req Request) (Result, error) {
	if err := req.defaults(); err != nil {
		return Result{}, fmt.Errorf("applying a change to %s: %w", redactURL(req.URL), err)
	}
	cc, err := c.open(ctx, req.URL, req.Auth)
	if err != nil {
		return Result{}, err
	}
	defer cc.unlock()
	log := c.log.WithValues("url", cc.url, "branch", req.Branch)
	res := Result{Branch: req.Branch}
	for attempt := 1; ; attempt++ {
		res.Attempts = attempt
		head, missing, err := c.fetch(ctx, cc, req.Branch)
		if err != nil {
			return res, err
		}
		if missing {
			return res, fmt.Errorf("branch %s does not exist in %s", req.Branch, cc.url)
		}
		res.Base, res.Head = head.Hash.String(), head.Hash.String()
		files, msg, err := replan(ctx, cc, &req, head)
		if err != nil {
			return res, err
		}
		if len(files) == 0 {
			log.Info("nothing to do", "head", res.Head, "attempt", attempt)
			res.State = NothingToDo
			return res, nil
		}
		commit, objects, err := commitOn(cc, head, files, msg, req.Author, req.Committer)
		if err != nil {
			return res, fmt.Errorf("committing to %s of %s: %w", req.Branch, cc.url, err)
		}
		if commit == nil {
			log.Info("nothing to do: the files already have this content", "head", res.Head, "attempt", attempt)
			res.State = NothingToDo
			return res, nil
		}
		err = c.push(ctx, cc, req.Branch, commit, objects, head.Hash, false)
		if err == nil {
			res.Head, res.Pushed, res.State = commit.Hash.String(), true, Updated
			log.Info("pushed", "head", res.Head, "base", res.Base, "attempts", attempt)
			return res, nil
		}
		if !errors.Is(err, ErrBranchMoved) {
			return res, err
		}
		if attempt >= req.MaxAttempts {
			return res, fmt.Errorf("gave up after %d attempts: %w", attempt, err)
		}
		wait := req.backoff(attempt)
		log.Info("push race: the branch moved; re-planning on the new head", "attempt", attempt, "wait", wait.String())
		if err := sleep(ctx, wait); err != nil {
			return res, fmt.Errorf("waiting to retry the push to %s: %w", cc.url, err)
		}
	}
}

// PushBranch publishes the change as branch (a proposal for a pull/merge
// request) on top of req.Branch's head — or of req.Base when set. It never
// touches req.Branch. If branch already holds exactly this change on the
// same base, nothing is pushed (State Unchanged). If it holds something
// else, it is replaced — with a lease on the commit seen — only when its
// head commit is gitover's (carries Gitover-* trailers); any other branch
// is left alone and ErrForeignBranch returned. Races retry like Apply.
func (c *Client) PushBranch(ctx context.Context, req Request, branch string) (Result, error) {
	if err := req.defaults(); err != nil {
		return Result{}, fmt.Errorf("pushing a proposal branch to %s: %w", redactURL(req.URL), err)
	}
	if err := checkBranchName(branch); err != nil {
		return Result{}, err
	}
	if branch == req.Branch {
		return Result{}, fmt.Errorf("proposal branch %s is the target branch itself", branch)
	}
	cc, err := c.open(ctx, req.URL, req.Auth)
	if err != nil {
		return Result{}, err
	}
	defer cc.unlock()
	log := c.log.WithValues("url", cc.url, "branch", branch, "base", req.Branch)
	res := Result{Branch: branch}
	for attempt := 1; ; attempt++ {
		res.Attempts = attempt
		base, err := c.proposalBase(ctx, cc, &req)
		if err != nil {
			return res, err
		}
		res.Base = base.Hash.String()
		existing, _, err := c.fetch(ctx, cc, branch)
		if err != nil {
			return res, err
		}
		res.Head = ""
		if existing != nil {
			res.Head = existing.Hash.String()
		}
		files, msg, err := replan(ctx, cc, &req, base)
		if err != nil {
			return res, err
		}
		if len(files) == 0 {
			res.State = NothingToDo
			return res, nil
		}
		commit, objects, err := commitOn(cc, base, files, msg, req.Author, req.Committer)
		if err != nil {
			return res, fmt.Errorf("committing on %s of %s: %w", base.Hash, cc.url, err)
		}
		if commit == nil {
			res.State = NothingToDo
			return res, nil
		}
		expect, force, state := plumbing.ZeroHash, false, Created
		if existing != nil {
			if existing.TreeHash == commit.TreeHash && len(existing.ParentHashes) == 1 && existing.ParentHashes[0] == base.Hash {
				log.Info("proposal branch already holds this change", "head", res.Head)
				res.State = Unchanged
				return res, nil
			}
			if !IsGitoverMessage(existing.Message) {
				return res, fmt.Errorf("%w: %s in %s points at %s, whose commit has no Gitover-* trailers; refusing to overwrite it",
					ErrForeignBranch, branch, cc.url, existing.Hash)
			}
			expect, force, state = existing.Hash, true, Updated
		}
		err = c.push(ctx, cc, branch, commit, objects, expect, force)
		if err == nil {
			res.Head, res.Pushed, res.State = commit.Hash.String(), true, state
			log.Info("pushed proposal branch", "head", res.Head, "state", string(state), "attempts", attempt)
			return res, nil
		}
		if !errors.Is(err, ErrBranchMoved) {
			return res, err
		}
		if attempt >= req.MaxAttempts {
			return res, fmt.Errorf("gave up after %d attempts: %w", attempt, err)
		}
		wait := req.backoff(attempt)
		log.Info("push race on the proposal branch; retrying", "attempt", attempt, "wait", wait.String())
		if err := sleep(ctx, wait); err != nil {
			return res, fmt.Errorf("waiting to retry the push to %s: %w", cc.url, err)
		}
	}
}

// proposalBase fetches req.Branch and returns req.Base's commit, or the head.
func (c *Client) proposalBase(ctx context.Context, cc *cached, req *Request) (*object.Commit, error) {
	head, missing, err := c.fetch(ctx, cc, req.Branch)
	if err != nil {
		return nil, err
	}
	if missing {
		return nil, fmt.Errorf("branch %s does not exist in %s", req.Branch, cc.url)
	}
	if req.Base == "" || req.Base == head.Hash.String() {
		return head, nil
	}
	h := plumbing.NewHash(req.Base)
	if h.String() != strings.ToLower(req.Base) {
		return nil, fmt.Errorf("base %q is not a full commit SHA", req.Base)
	}
	base, err := cc.repo.CommitObject(h)
	if err != nil {
		return nil, fmt.Errorf("base %s is not in the fetched history of %s in %s: %w", req.Base, req.Branch, cc.url, err)
	}
	return base, nil
}

// Head fetches branch and returns its head SHA (for naming a proposal
// branch after the base revision before calling PushBranch with Base set).
func (c *Client) Head(ctx context.Context, rawURL, branch string, auth Auth) (string, error) {
	if err := checkBranchName(branch); err != nil {
		return "", err
	}
	cc, err := c.open(ctx, rawURL, auth)
	if err != nil {
		return "", err
	}
	defer cc.unlock()
	head, missing, err := c.fetch(ctx, cc, branch)
	if err != nil {
		return "", err
	}
	if missing {
		return "", fmt.Errorf("branch %s does not exist in %s", branch, cc.url)
	}
	return head.Hash.String(), nil
}

var branchUnsafe = regexp.MustCompile(`[^a-z0-9._-]+`)

// ProposalBranch returns the deterministic proposal branch name for a plan,
// action and target site on a base revision:
// gitover/<plan>/<action>-<target>-<first 12 hex of base>, lower-cased,
// with characters git refuses replaced by '-'.
func ProposalBranch(plan, action, target, base string) string {
	if len(base) > 12 {
		base = base[:12]
	}
	clean := func(s string) string {
		s = strings.ToLower(s)
		s = branchUnsafe.ReplaceAllString(s, "-")
		s = strings.Trim(s, ".-")
		s = strings.ReplaceAll(s, "..", "-")
		if s == "" {
			s = "x"
		}
		return strings.TrimSuffix(s, ".lock")
	}
	return "gitover/" + clean(plan) + "/" + clean(action) + "-" + clean(target) + "-" + clean(base)
}
