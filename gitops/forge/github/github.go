// Package github opens and tracks gitover's pull requests on GitHub.com and
// GitHub Enterprise Server through go-github.
package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-logr/logr"
	gh "github.com/google/go-github/v60/github"

	"github.com/gitover/gitover/gitops/forge/internal/core"
)

// Forge is the display name used in errors and logs.
const Forge = "GitHub"

// Config says which repository to work on and how to reach it.
type Config struct {
	// APIURL is the REST API base. Empty means github.com
	// (https://api.github.com/). For Enterprise Server give https://HOST or
	// https://HOST/api/v3/; uploads go to https://HOST/api/uploads/.
	APIURL string
	Owner  string
	Repo   string
	// Token is sent as "Authorization: Bearer <token>"; it is never logged.
	Token string
	// HTTPClient carries the requests; nil means a client with a 30 s timeout.
	HTTPClient *http.Client
	Log        logr.Logger
	// PerPage is the page size of listings; 0 means 100 (GitHub's maximum).
	PerPage int
}

// Provider implements forge.Provider for one GitHub repository.
type Provider struct {
	client  *gh.Client
	owner   string
	repo    string
	perPage int
	log     logr.Logger
}

// New builds a provider. It makes no request.
func New(cfg Config) (*Provider, error) {
	if cfg.Owner == "" || cfg.Repo == "" {
		return nil, fmt.Errorf("GitHub repository must be owner/name, got %q/%q", cfg.Owner, cfg.Repo)
	}
	if cfg.Token == "" {
		return nil, fmt.Errorf("GitHub API token is empty")
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	client := gh.NewClient(hc).WithAuthToken(cfg.Token)
	if api := strings.TrimSpace(cfg.APIURL); api != "" && !isDotCom(api) {
		base, uploads, err := enterpriseURLs(api)
		if err != nil {
			return nil, err
		}
		if client, err = client.WithEnterpriseURLs(base, uploads); err != nil {
			return nil, fmt.Errorf("setting GitHub Enterprise URLs from %q: %w", api, err)
		}
	}
	client.UserAgent = "gitover"
	perPage := cfg.PerPage
	if perPage <= 0 || perPage > 100 {
		perPage = 100
	}
	return &Provider{client: client, owner: cfg.Owner, repo: cfg.Repo, perPage: perPage,
		log: cfg.Log.WithValues("forge", Forge, "repository", cfg.Owner+"/"+cfg.Repo)}, nil
}

// isDotCom reports whether api names github.com's own API.
func isDotCom(api string) bool {
	u, err := url.Parse(api)
	return err == nil && (u.Host == "api.github.com" || u.Host == "github.com")
}

// enterpriseURLs derives the API and uploads bases of an Enterprise Server
// from the API URL a user gave (with or without /api/v3).
func enterpriseURLs(api string) (base, uploads string, err error) {
	u, err := url.Parse(api)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", "", fmt.Errorf("GitHub API URL %q is not an absolute URL", api)
	}
	root := strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), "/api/v3")
	base = u.Scheme + "://" + u.Host + root + "/api/v3/"
	uploads = u.Scheme + "://" + u.Host + root + "/api/uploads/"
	return base, uploads, nil
}

// BaseURL is the REST API base the provider calls.
func (p *Provider) BaseURL() string { return p.client.BaseURL.String() }

// Name implements forge.Provider.
func (p *Provider) Name() string { return Forge }

// Ensure implements forge.Provider.
func (p *Provider) Ensure(ctx context.Context, pr core.Proposal) (core.Status, bool, error) {
	return core.Ensure(ctx, core.Ops{Forge: Forge, Log: p.log, List: p.list, Create: p.create, Get: p.Get}, pr)
}

// FindByHead implements forge.Provider.
func (p *Provider) FindByHead(ctx context.Context, head string) (*core.Status, error) {
	all, err := p.list(ctx, head)
	if err != nil {
		return nil, fmt.Errorf("looking for the pull request of branch %s: %w", head, err)
	}
	return core.Pick(all), nil
}

// Get implements forge.Provider.
func (p *Provider) Get(ctx context.Context, number int) (core.Status, error) {
	pr, _, err := p.client.PullRequests.Get(ctx, p.owner, p.repo, number)
	if err != nil {
		return core.Status{}, p.wrap(err, fmt.Sprintf("reading pull request #%d", number))
	}
	return status(pr), nil
}

// list reads every pull request (any state) whose head is the branch head
// in this repository, following the Link header's next pages.
func (p *Provider) list(ctx context.Context, head string) ([]core.Status, error) {
	opts := &gh.PullRequestListOptions{
		State: "all",
		// GitHub ignores a head filter without the "owner:" prefix.
		Head:        p.owner + ":" + head,
		Sort:        "created",
		Direction:   "desc",
		ListOptions: gh.ListOptions{PerPage: p.perPage},
	}
	var out []core.Status
	for page := 0; page < core.MaxPages; page++ {
		prs, resp, err := p.client.PullRequests.List(ctx, p.owner, p.repo, opts)
		if err != nil {
			return nil, p.wrap(err, "listing pull requests of branch "+head)
		}
		for _, pr := range prs {
			// Defend against a filter the server ignored.
			if pr.GetHead().GetRef() == head && strings.EqualFold(pr.GetHead().GetRepo().GetOwner().GetLogin(), p.owner) {
				out = append(out, status(pr))
			}
		}
		if resp.NextPage == 0 {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
	return nil, fmt.Errorf("listing pull requests of branch %s: more than %d pages", head, core.MaxPages)
}

// create opens a pull request and labels it.
func (p *Provider) create(ctx context.Context, pr core.Proposal) (core.Status, error) {
	np := &gh.NewPullRequest{Title: &pr.Title, Head: &pr.Head, Base: &pr.Base, Body: &pr.Body}
	if pr.Draft {
		np.Draft = gh.Bool(true)
	}
	created, _, err := p.client.PullRequests.Create(ctx, p.owner, p.repo, np)
	if err != nil {
		if msg, ok := alreadyExists(err); ok {
			return core.Status{}, &core.ExistsError{Forge: Forge, Message: msg}
		}
		return core.Status{}, p.wrap(err, "creating a pull request from "+pr.Head+" into "+pr.Base)
	}
	st := status(created)
	if len(pr.Labels) > 0 {
		if err := p.addLabels(ctx, st.Number, pr.Labels); err != nil {
			// The pull request exists; a missing label must not make the
			// caller open it again.
			p.log.Error(err, "could not label the pull request", "number", st.Number, "labels", pr.Labels)
		}
	}
	return st, nil
}

// addLabels adds labels to a pull request with the documented
// {"labels": [...]} body.
func (p *Provider) addLabels(ctx context.Context, number int, labels []string) error {
	u := fmt.Sprintf("repos/%s/%s/issues/%d/labels", url.PathEscape(p.owner), url.PathEscape(p.repo), number)
	req, err := p.client.NewRequest(http.MethodPost, u, map[string][]string{"labels": labels})
	if err != nil {
		return fmt.Errorf("building the label request: %w", err)
	}
	if _, err := p.client.Do(ctx, req, nil); err != nil {
		return p.wrap(err, fmt.Sprintf("labelling pull request #%d", number))
	}
	return nil
}

// alreadyExists recognises GitHub's 422 "A pull request already exists
// for owner:branch." validation error.
func alreadyExists(err error) (string, bool) {
	var er *gh.ErrorResponse
	if !errors.As(err, &er) || er.Response == nil || er.Response.StatusCode != http.StatusUnprocessableEntity {
		return "", false
	}
	for _, e := range er.Errors {
		if strings.Contains(e.Message, "A pull request already exists") {
			return e.Message, true
		}
	}
	return "", false
}

// status converts a go-github pull request. A merged pull request is
// "closed" with merged_at set (list answers carry no "merged" field); its
// merge_commit_sha is then the commit on the base branch. Before the merge
// that field holds a test merge commit and is ignored.
func status(pr *gh.PullRequest) core.Status {
	st := core.Status{
		Number:    pr.GetNumber(),
		URL:       pr.GetHTMLURL(),
		Title:     pr.GetTitle(),
		Body:      pr.GetBody(),
		Head:      pr.GetHead().GetRef(),
		Base:      pr.GetBase().GetRef(),
		HeadSHA:   pr.GetHead().GetSHA(),
		UpdatedAt: pr.GetUpdatedAt().Time,
	}
	switch {
	case pr.MergedAt != nil || pr.GetMerged():
		st.State = core.StateMerged
		st.MergeCommit = pr.GetMergeCommitSHA()
		st.MergedAt = pr.GetMergedAt().Time
	case pr.GetState() == "closed":
		st.State = core.StateClosed
	default:
		st.State = core.StateOpen
	}
	return st
}

// wrap turns a go-github error into one of forge's errors, saying what was
// being done. Messages name the forge and never contain the token.
func (p *Provider) wrap(err error, doing string) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s on %s: %w", doing, Forge, err)
	}
	now := time.Now()
	var rl *gh.RateLimitError
	var abuse *gh.AbuseRateLimitError
	var er *gh.ErrorResponse
	switch {
	case errors.As(err, &rl):
		wait := nonNegative(rl.Rate.Reset.Time.Sub(now))
		if rl.Response != nil {
			if d, ok := core.RetryAfterFromHeader(rl.Response.Header, now); ok && d > wait {
				wait = d
			}
		}
		return fmt.Errorf("%s: %w", doing, &core.RateLimitError{Forge: Forge, RetryAfter: wait, Message: rl.Message})
	case errors.As(err, &abuse):
		wait := core.DefaultRateLimitWait
		if abuse.RetryAfter != nil {
			wait = nonNegative(*abuse.RetryAfter)
		}
		return fmt.Errorf("%s: %w", doing, &core.RateLimitError{Forge: Forge, RetryAfter: wait, Message: abuse.Message})
	case errors.As(err, &er) && er.Response != nil:
		code := er.Response.StatusCode
		msg := er.Message
		if (code == http.StatusTooManyRequests || code == http.StatusForbidden) && isRateLimit(er) {
			wait, ok := core.RetryAfterFromHeader(er.Response.Header, now)
			if !ok {
				wait = core.DefaultRateLimitWait
			}
			return fmt.Errorf("%s: %w", doing, &core.RateLimitError{Forge: Forge, RetryAfter: wait, Message: msg})
		}
		switch code {
		case http.StatusUnauthorized:
			return fmt.Errorf("%s: %s rejected the API token (HTTP 401 %q); check that it is valid and not expired: %w",
				doing, Forge, msg, core.ErrUnauthorized)
		case http.StatusForbidden:
			return fmt.Errorf("%s: %s refused it (HTTP 403 %q); the token needs the Pull requests: write and Contents: write permissions on %s/%s: %w",
				doing, Forge, msg, p.owner, p.repo, core.ErrForbidden)
		case http.StatusNotFound:
			return fmt.Errorf("%s: %s answered 404: repository %s/%s or the pull request does not exist or is not visible to the token: %w",
				doing, Forge, p.owner, p.repo, core.ErrNotFound)
		case http.StatusUnprocessableEntity, http.StatusBadRequest:
			return fmt.Errorf("%s: %s rejected it: %v: %w", doing, Forge, err, core.ErrInvalid)
		}
	}
	return fmt.Errorf("%s on %s: %w", doing, Forge, err)
}

// isRateLimit tells a rate-limit 403/429 from a permission 403: GitHub
// documents X-RateLimit-Remaining: 0 or Retry-After, or a message naming
// the (secondary) rate limit. Every 429 is one.
func isRateLimit(er *gh.ErrorResponse) bool {
	h := er.Response.Header
	return er.Response.StatusCode == http.StatusTooManyRequests ||
		h.Get("X-RateLimit-Remaining") == "0" || h.Get("Retry-After") != "" ||
		strings.Contains(strings.ToLower(er.Message), "rate limit")
}

func nonNegative(d time.Duration) time.Duration {
	if d < 0 {
		return 0
	}
	return d
}
