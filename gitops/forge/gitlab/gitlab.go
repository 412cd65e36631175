// Package gitlab opens and tracks gitover's merge requests on GitLab.com
// and self-managed GitLab through the official client-go.
package gitlab

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	gl "gitlab.com/gitlab-org/api/client-go"

	"github.com/gitover/gitover/gitops/forge/internal/core"
)

// Forge is the display name used in errors and logs.
const Forge = "GitLab"

// Config says which project to work on and how to reach it.
type Config struct {
	// BaseURL is the instance root (https://gitlab.example.com) or its API
	// base (…/api/v4); empty means https://gitlab.com.
	BaseURL string
	// Project is the project's full path (group/subgroup/name) or numeric id.
	Project string
	// Token is a personal, group or project access token, sent as
	// PRIVATE-TOKEN; it is never logged.
	Token string
	// HTTPClient carries the requests; nil means a client with a 30 s timeout.
	HTTPClient *http.Client
	Log        logr.Logger
	// PerPage is the page size of listings; 0 means 100 (GitLab's maximum).
	PerPage int
}

// Provider implements forge.Provider for one GitLab project.
type Provider struct {
	client  *gl.Client
	project string
	perPage int64
	log     logr.Logger
}

// New builds a provider. It makes no request.
func New(cfg Config) (*Provider, error) {
	if strings.Trim(cfg.Project, "/") == "" {
		return nil, fmt.Errorf("GitLab project path is empty")
	}
	if cfg.Token == "" {
		return nil, fmt.Errorf("GitLab API token is empty")
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	opts := []gl.ClientOptionFunc{
		gl.WithHTTPClient(hc),
		// Rate-limited and failed answers come back to gitover, which
		// decides when to ask again; the client must not sleep or retry.
		gl.WithoutRetries(),
		gl.WithUserAgent("gitover"),
	}
	if b := strings.TrimSpace(cfg.BaseURL); b != "" {
		opts = append(opts, gl.WithBaseURL(strings.TrimSuffix(strings.TrimSuffix(b, "/"), "/api/v4")))
	}
	client, err := gl.NewClient(cfg.Token, opts...)
	if err != nil {
		return nil, fmt.Errorf("building the GitLab client: %w", err)
	}
	perPage := int64(cfg.PerPage)
	if perPage <= 0 || perPage > 100 {
		perPage = 100
	}
	project := strings.Trim(cfg.Project, "/")
	return &Provider{client: client, project: project, perPage: perPage,
		log: cfg.Log.WithValues("forge", Forge, "project", project)}, nil
}

// BaseURL is the REST API base the provider calls.
func (p *Provider) BaseURL() string { return p.client.BaseURL().String() }

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
		return nil, fmt.Errorf("looking for the merge request of branch %s: %w", head, err)
	}
	return core.Pick(all), nil
}

// Get implements forge.Provider.
func (p *Provider) Get(ctx context.Context, iid int) (core.Status, error) {
	mr, _, err := p.client.MergeRequests.GetMergeRequest(p.project, int64(iid), nil, gl.WithContext(ctx))
	if err != nil {
		return core.Status{}, p.wrap(err, fmt.Sprintf("reading merge request !%d", iid))
	}
	return status(&mr.BasicMergeRequest), nil
}

// list reads every merge request (any state) whose source branch is head,
// following X-Next-Page.
func (p *Provider) list(ctx context.Context, head string) ([]core.Status, error) {
	opts := &gl.ListProjectMergeRequestsOptions{
		SourceBranch: gl.Ptr(head),
		OrderBy:      gl.Ptr("created_at"),
		Sort:         gl.Ptr("desc"),
		ListOptions:  gl.ListOptions{PerPage: p.perPage},
	}
	var out []core.Status
	for page := 0; page < core.MaxPages; page++ {
		mrs, resp, err := p.client.MergeRequests.ListProjectMergeRequests(p.project, opts, gl.WithContext(ctx))
		if err != nil {
			return nil, p.wrap(err, "listing merge requests of branch "+head)
		}
		for _, mr := range mrs {
			if mr.SourceBranch == head {
				out = append(out, status(mr))
			}
		}
		if resp.NextPage == 0 {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
	return nil, fmt.Errorf("listing merge requests of branch %s: more than %d pages", head, core.MaxPages)
}

// create opens a merge request. GitLab has no draft flag on create: a
// "Draft: " title prefix makes it a draft.
func (p *Provider) create(ctx context.Context, pr core.Proposal) (core.Status, error) {
	title := pr.Title
	if pr.Draft && !strings.HasPrefix(strings.ToLower(title), "draft:") {
		title = "Draft: " + title
	}
	opts := &gl.CreateMergeRequestOptions{
		Title:        gl.Ptr(title),
		Description:  gl.Ptr(pr.Body),
		SourceBranch: gl.Ptr(pr.Head),
		TargetBranch: gl.Ptr(pr.Base),
	}
	if len(pr.Labels) > 0 {
		labels := gl.LabelOptions(pr.Labels)
		opts.Labels = &labels
	}
	mr, _, err := p.client.MergeRequests.CreateMergeRequest(p.project, opts, gl.WithContext(ctx))
	if err != nil {
		if n, msg, ok := alreadyExists(err); ok {
			return core.Status{}, &core.ExistsError{Forge: Forge, Number: n, Message: msg}
		}
		return core.Status{}, p.wrap(err, "creating a merge request from "+pr.Head+" into "+pr.Base)
	}
	return status(&mr.BasicMergeRequest), nil
}

var existsRe = regexp.MustCompile(`already exists for this source branch: !(\d+)`)

// alreadyExists recognises GitLab's 409 "Another open merge request already
// exists for this source branch: !N" and returns N.
func alreadyExists(err error) (int, string, bool) {
	var er *gl.ErrorResponse
	if !errors.As(err, &er) || !er.HasStatusCode(http.StatusConflict) {
		return 0, "", false
	}
	m := existsRe.FindStringSubmatch(string(er.Body))
	if m == nil {
		return 0, "", false
	}
	n, _ := strconv.Atoi(m[1])
	return n, strings.Trim(er.Message, "[]"), true
}

// status converts a merge request. "opened" and "locked" (a merge in
// progress) are open. The commit the target branch points at after a merge
// is merge_commit_sha when a merge commit was made, else squash_commit_sha
// for a squashed fast-forward, else sha for a plain fast-forward.
func status(mr *gl.BasicMergeRequest) core.Status {
	st := core.Status{
		Number:  int(mr.IID),
		URL:     mr.WebURL,
		Title:   mr.Title,
		Body:    mr.Description,
		Head:    mr.SourceBranch,
		Base:    mr.TargetBranch,
		HeadSHA: mr.SHA,
	}
	if mr.UpdatedAt != nil {
		st.UpdatedAt = *mr.UpdatedAt
	}
	switch mr.State {
	case "merged":
		st.State = core.StateMerged
		switch {
		case mr.MergeCommitSHA != "":
			st.MergeCommit = mr.MergeCommitSHA
		case mr.SquashCommitSHA != "":
			st.MergeCommit = mr.SquashCommitSHA
		default:
			st.MergeCommit = mr.SHA
		}
		if mr.MergedAt != nil {
			st.MergedAt = *mr.MergedAt
		}
	case "closed":
		st.State = core.StateClosed
	default:
		st.State = core.StateOpen
	}
	return st
}

// wrap turns a client-go error into one of forge's errors, saying what was
// being done. Messages name the forge and never contain the token.
func (p *Provider) wrap(err error, doing string) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s on %s: %w", doing, Forge, err)
	}
	if errors.Is(err, gl.ErrNotFound) {
		return fmt.Errorf("%s: %s answered 404: project %s or the merge request does not exist or is not visible to the token: %w",
			doing, Forge, p.project, core.ErrNotFound)
	}
	var er *gl.ErrorResponse
	if !errors.As(err, &er) || er.Response == nil {
		return fmt.Errorf("%s on %s: %w", doing, Forge, err)
	}
	msg := strings.TrimSpace(er.Message)
	switch code := er.Response.StatusCode; code {
	case http.StatusTooManyRequests:
		wait, ok := core.RetryAfterFromHeader(er.Response.Header, time.Now())
		if !ok {
			wait = core.DefaultRateLimitWait
		}
		return fmt.Errorf("%s: %w", doing, &core.RateLimitError{Forge: Forge, RetryAfter: wait, Message: strings.TrimPrefix(msg, "failed to parse unknown error format: ")})
	case http.StatusUnauthorized:
		return fmt.Errorf("%s: %s rejected the API token (HTTP 401 %q); check that it is valid, not expired or revoked: %w",
			doing, Forge, msg, core.ErrUnauthorized)
	case http.StatusForbidden:
		return fmt.Errorf("%s: %s refused it (HTTP 403 %q); the token needs the api scope and at least the Developer role on %s: %w",
			doing, Forge, msg, p.project, core.ErrForbidden)
	case http.StatusBadRequest, http.StatusUnprocessableEntity, http.StatusConflict:
		return fmt.Errorf("%s: %s rejected it (HTTP %d %q): %w", doing, Forge, code, msg, core.ErrInvalid)
	}
	return fmt.Errorf("%s on %s: %w", doing, Forge, err)
}
