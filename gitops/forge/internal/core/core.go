// Package core holds the types shared by the forge package and its GitHub and
// GitLab providers. It exists only to break the import cycle between
// forge.New (which builds both providers) and the providers (which return
// forge types); package forge re-exports everything here under the same
// names, and callers should use those.
package core

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"

	"github.com/gitover/gitover/api/v1alpha1"
)

// Proposal is a pull/merge request gitover wants to exist.
type Proposal struct {
	Base   string   // branch the change is merged into, e.g. main
	Head   string   // branch holding the change (see forge.BranchName)
	Title  string   // one line
	Body   string   // Markdown (see forge.RenderBody)
	Labels []string // applied when the request is created
	Draft  bool     // open as a draft
}

// State is the lifecycle state of a request as gitover sees it.
type State string

// The states of a request. GitHub's "closed" is split into merged and
// closed (unmerged); GitLab's "opened" and "locked" (a merge in progress)
// are both open.
const (
	StateOpen   State = "open"
	StateMerged State = "merged"
	StateClosed State = "closed"
)

// Final reports whether the request can no longer change state by itself.
func (s State) Final() bool { return s == StateMerged || s == StateClosed }

// Status is a request as the forge last reported it.
type Status struct {
	Number int    // GitHub number or GitLab IID
	URL    string // web page a person opens
	State  State
	Title  string
	Body   string
	Head   string // source branch
	Base   string // target branch
	// HeadSHA is the commit at the tip of Head the forge knows about.
	HeadSHA string
	// MergeCommit is the commit the target branch points at after the merge
	// (merge, squash or fast-forward); empty unless State is merged.
	MergeCommit string
	MergedAt    time.Time // zero unless merged
	UpdatedAt   time.Time
}

// APIStatus converts the status to the Failover API's PullRequestStatus.
func (s Status) APIStatus() v1alpha1.PullRequestStatus {
	return v1alpha1.PullRequestStatus{
		URL:         s.URL,
		Number:      s.Number,
		Branch:      s.Head,
		State:       string(s.State),
		MergeCommit: s.MergeCommit,
	}
}

// Provider opens and reads pull/merge requests on one repository.
type Provider interface {
	// Name is the forge's display name: GitHub or GitLab.
	Name() string
	// Ensure makes sure exactly one request exists for p.Head. It returns
	// the open request for that head branch if there is one (adopting it,
	// created false), the merged one if the change already landed, and
	// otherwise creates a request (created true). When the forge answers
	// that a request already exists (a concurrent creator won the race),
	// Ensure adopts that request. It never opens a second request for a
	// head that has an open one.
	Ensure(ctx context.Context, p Proposal) (st Status, created bool, err error)
	// Get reads one request by number (GitHub) or IID (GitLab).
	Get(ctx context.Context, number int) (Status, error)
	// FindByHead returns the request for the head branch, reading every
	// page: the open one if any, otherwise the most recently updated merged
	// or closed one; nil when there is none.
	FindByHead(ctx context.Context, head string) (*Status, error)
}

// Errors a provider wraps so callers can tell failures apart with errors.Is.
var (
	// ErrUnauthorized: the forge rejected the API token (HTTP 401).
	ErrUnauthorized = errors.New("API token rejected")
	// ErrForbidden: the token is valid but lacks a permission (HTTP 403).
	ErrForbidden = errors.New("permission denied")
	// ErrNotFound: repository, project or request not found, or not visible to the token.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: the forge refused to create a second open request for a head branch.
	ErrAlreadyExists = errors.New("an open request already exists for the head branch")
	// ErrConflict: an open request for the head branch targets another base branch.
	ErrConflict = errors.New("the open request for the head branch targets another base branch")
	// ErrInvalid: the proposal is incomplete, or the forge rejected it as invalid (HTTP 400/422).
	ErrInvalid = errors.New("invalid request")
)

// RateLimitError says the forge refused a request because of a rate limit.
// Callers must not call the forge again before RetryAfter has passed.
type RateLimitError struct {
	Forge      string        // GitHub or GitLab
	RetryAfter time.Duration // how long to wait before the next request
	Message    string        // the forge's explanation, if any
}

func (e *RateLimitError) Error() string {
	msg := fmt.Sprintf("%s rate limit exceeded; retry after %s", e.Forge, e.RetryAfter.Round(time.Second))
	if e.Message != "" {
		msg += " (" + e.Message + ")"
	}
	return msg
}

// AsRateLimit returns the RateLimitError wrapped in err, if any.
func AsRateLimit(err error) (*RateLimitError, bool) {
	var rl *RateLimitError
	if errors.As(err, &rl) {
		return rl, true
	}
	return nil, false
}

// DefaultRateLimitWait is how long to wait when a rate-limited answer names
// no time; GitHub documents "wait for at least one minute" for that case.
const DefaultRateLimitWait = time.Minute

// RetryAfterFromHeader reads how long to wait from a rate-limited
// response's headers, in the order the forges document: Retry-After
// (seconds or an HTTP date), then X-RateLimit-Reset when
// X-RateLimit-Remaining is 0 (GitHub primary limit, epoch seconds), then
// RateLimit-Reset (GitLab, epoch seconds). ok is false when none applies.
func RetryAfterFromHeader(h http.Header, now time.Time) (d time.Duration, ok bool) {
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if secs, err := strconv.ParseInt(v, 10, 64); err == nil && secs >= 0 {
			return time.Duration(secs) * time.Second, true
		}
		if t, err := http.ParseTime(v); err == nil {
			return nonNegative(t.Sub(now)), true
		}
	}
	if h.Get("X-RateLimit-Remaining") == "0" {
		if t, ok := epoch(h.Get("X-RateLimit-Reset")); ok {
			return nonNegative(t.Sub(now)), true
		}
	}
	if t, ok := epoch(h.Get("RateLimit-Reset")); ok {
		return nonNegative(t.Sub(now)), true
	}
	return 0, false
}

func epoch(v string) (time.Time, bool) {
	secs, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || secs <= 0 {
		return time.Time{}, false
	}
	return time.Unix(secs, 0), true
}

func nonNegative(d time.Duration) time.Duration {
	if d < 0 {
		return 0
	}
	return d
}

// ExistsError is what a provider's create returns when the forge answers
// that an open request already exists for the head branch. Number is the
// existing request's number when the forge names it (GitLab does), else 0.
type ExistsError struct {
	Forge   string
	Number  int
	Message string
}

func (e *ExistsError) Error() string {
	return fmt.Sprintf("%s: %s", e.Forge, e.Message)
}

// Is makes errors.Is(err, ErrAlreadyExists) true.
func (e *ExistsError) Is(target error) bool { return target == ErrAlreadyExists }

// Ops are the forge-specific operations Ensure and FindByHead are built on.
type Ops struct {
	Forge string
	Log   logr.Logger
	// List returns every request (any state) whose head branch is head.
	List func(ctx context.Context, head string) ([]Status, error)
	// Create opens a request; it returns an *ExistsError when the forge
	// says one is already open for the head branch.
	Create func(ctx context.Context, p Proposal) (Status, error)
	// Get reads one request.
	Get func(ctx context.Context, number int) (Status, error)
}

// Validate checks that a proposal names everything a forge needs.
func Validate(p Proposal) error {
	var missing []string
	if strings.TrimSpace(p.Base) == "" {
		missing = append(missing, "base branch")
	}
	if strings.TrimSpace(p.Head) == "" {
		missing = append(missing, "head branch")
	}
	if strings.TrimSpace(p.Title) == "" {
		missing = append(missing, "title")
	}
	if len(missing) > 0 {
		return fmt.Errorf("proposal lacks %s: %w", strings.Join(missing, ", "), ErrInvalid)
	}
	if p.Base == p.Head {
		return fmt.Errorf("proposal's head and base are both %q: %w", p.Head, ErrInvalid)
	}
	return nil
}

// Ensure implements Provider.Ensure on top of ops: find, then create, then
// adopt on "already exists".
func Ensure(ctx context.Context, ops Ops, p Proposal) (Status, bool, error) {
	if err := Validate(p); err != nil {
		return Status{}, false, err
	}
	log := ops.Log.WithValues("forge", ops.Forge, "head", p.Head, "base", p.Base)

	all, err := ops.List(ctx, p.Head)
	if err != nil {
		return Status{}, false, fmt.Errorf("looking for an existing request for branch %s: %w", p.Head, err)
	}
	if st, ok, err := adoptable(all, p); ok || err != nil {
		if err == nil {
			log.V(1).Info("adopting existing request", "number", st.Number, "state", st.State)
		}
		return st, false, err
	}

	st, err := ops.Create(ctx, p)
	if err == nil {
		log.Info("opened request", "number", st.Number, "url", st.URL)
		return st, true, nil
	}
	var exists *ExistsError
	if !errors.As(err, &exists) {
		return Status{}, false, fmt.Errorf("creating a request for branch %s: %w", p.Head, err)
	}

	// Someone else opened it between our look-up and our create.
	log.Info("the forge says a request already exists; adopting it", "number", exists.Number)
	if exists.Number > 0 {
		st, gerr := ops.Get(ctx, exists.Number)
		if gerr != nil {
			return Status{}, false, fmt.Errorf("reading the existing request %d for branch %s: %w", exists.Number, p.Head, gerr)
		}
		if st.Head == p.Head && st.Base == p.Base && st.State == StateOpen {
			return st, false, nil
		}
	}
	all, lerr := ops.List(ctx, p.Head)
	if lerr != nil {
		return Status{}, false, fmt.Errorf("looking for the request that already exists for branch %s: %w", p.Head, lerr)
	}
	if st, ok, aerr := adoptable(all, p); ok || aerr != nil {
		return st, false, aerr
	}
	return Status{}, false, fmt.Errorf("creating a request for branch %s: the forge says one exists but it is not listed yet: %w", p.Head, err)
}

// adoptable picks the request Ensure returns instead of creating one: the
// open request for the head, or the merged one.
func adoptable(all []Status, p Proposal) (Status, bool, error) {
	SortRecentFirst(all)
	for _, st := range all {
		if st.State != StateOpen {
			continue
		}
		if st.Base != p.Base {
			return st, false, fmt.Errorf("request %d (%s) for branch %s targets %q, not %q: %w",
				st.Number, st.URL, p.Head, st.Base, p.Base, ErrConflict)
		}
		return st, true, nil
	}
	for _, st := range all {
		if st.State == StateMerged && st.Base == p.Base {
			return st, true, nil
		}
	}
	return Status{}, false, nil
}

// Pick returns the request FindByHead reports: the open one if any,
// otherwise the most recently updated merged or closed one.
func Pick(all []Status) *Status {
	if len(all) == 0 {
		return nil
	}
	SortRecentFirst(all)
	for i := range all {
		if all[i].State == StateOpen {
			st := all[i]
			return &st
		}
	}
	st := all[0]
	return &st
}

// SortRecentFirst orders requests by UpdatedAt, then number, newest first.
func SortRecentFirst(all []Status) {
	sort.SliceStable(all, func(i, j int) bool {
		if !all[i].UpdatedAt.Equal(all[j].UpdatedAt) {
			return all[i].UpdatedAt.After(all[j].UpdatedAt)
		}
		return all[i].Number > all[j].Number
	})
}

// MaxPages bounds how many pages a listing reads, so a misbehaving server
// cannot keep a caller paging forever.
const MaxPages = 50
