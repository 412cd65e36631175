// Package forge turns a gitover change into a pull request (GitHub) or
// merge request (GitLab) a person reviews and merges, and tracks it until
// it is merged or closed.
//
// The pieces, in the order a PullRequest-mode failover uses them:
//
//   - BranchName names the branch the Git transport pushes the change to;
//   - Title and RenderBody describe the change for the reviewer, with a
//     hidden marker ParseMarker reads back;
//   - New builds the Provider for a DRPlan's spec.git.provider;
//     Provider.Ensure opens the request, or adopts the one already open
//     for the branch, so that retries and restarts never open a second;
//   - Tracker waits for the merge: webhooks call Notify for an immediate
//     check, polling is the fallback, and rate-limit answers
//     (*RateLimitError) are honoured.
//
// Subpackages github and gitlab implement Provider; forgesim holds the
// test simulations of both REST APIs.
package forge

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/go-logr/logr"

	"github.com/gitover/gitover/api/v1alpha1"
	"github.com/gitover/gitover/gitops/forge/github"
	"github.com/gitover/gitover/gitops/forge/gitlab"
	"github.com/gitover/gitover/gitops/forge/internal/core"
)

// The shared types, defined in internal/core so the providers can use them.
type (
	// Proposal is a pull/merge request gitover wants to exist.
	Proposal = core.Proposal
	// State is open, merged or closed.
	State = core.State
	// Status is a request as the forge last reported it.
	Status = core.Status
	// Provider opens and reads requests on one repository.
	Provider = core.Provider
	// RateLimitError says the forge refused a request because of a rate
	// limit; do not call it again before RetryAfter has passed.
	RateLimitError = core.RateLimitError
	// ExistsError is the forge's "an open request already exists" answer.
	ExistsError = core.ExistsError
)

// The request states.
const (
	StateOpen   = core.StateOpen
	StateMerged = core.StateMerged
	StateClosed = core.StateClosed
)

// Errors to test with errors.Is.
var (
	ErrUnauthorized  = core.ErrUnauthorized
	ErrForbidden     = core.ErrForbidden
	ErrNotFound      = core.ErrNotFound
	ErrAlreadyExists = core.ErrAlreadyExists
	ErrConflict      = core.ErrConflict
	ErrInvalid       = core.ErrInvalid
)

// AsRateLimit returns the *RateLimitError wrapped in err, if any.
func AsRateLimit(err error) (*RateLimitError, bool) { return core.AsRateLimit(err) }

// Provider types accepted in spec.git.provider.type.
const (
	TypeGitHub = "github"
	TypeGitLab = "gitlab"
)

// Option tunes New.
type Option func(*options)

type options struct {
	log     logr.Logger
	perPage int
}

// WithLogger sets the logger the provider reports to.
func WithLogger(l logr.Logger) Option { return func(o *options) { o.log = l } }

// WithPageSize sets the page size of listings (default 100, the maximum
// both forges allow); tests use small pages to exercise pagination.
func WithPageSize(n int) Option { return func(o *options) { o.perPage = n } }

// New builds the Provider for a plan's spec.git.provider.
//
// spec.Repository names the repository (GitHub owner/name, GitLab project
// path); when empty it is derived from repoURL, which may be https://,
// ssh:// or scp-like (git@host:group/project.git). spec.APIURL is the API
// base; when empty it is github.com or gitlab.com, unless repoURL names
// another host, in which case that host's API is used
// (https://HOST/api/v3/ for GitHub Enterprise Server, https://HOST/api/v4/
// for self-managed GitLab; http and a port are kept for http:// URLs).
//
// token authenticates every request (GitHub: "Authorization: Bearer";
// GitLab: "PRIVATE-TOKEN"); it is never logged or put in errors. A nil
// httpClient means one with a 30 s timeout.
func New(spec v1alpha1.GitProvider, repoURL, token string, httpClient *http.Client, opts ...Option) (Provider, error) {
	var o options
	for _, fn := range opts {
		fn(&o)
	}
	typ := strings.ToLower(strings.TrimSpace(spec.Type))
	if typ != TypeGitHub && typ != TypeGitLab {
		return nil, fmt.Errorf("git provider type %q is not supported (want %s or %s)", spec.Type, TypeGitHub, TypeGitLab)
	}
	if token == "" {
		return nil, fmt.Errorf("no API token for the %s provider: set apiToken in the plan's Git secret", typ)
	}

	repo := strings.Trim(strings.TrimSuffix(strings.TrimSpace(spec.Repository), ".git"), "/")
	var loc RepoLocation
	if repoURL != "" {
		l, err := ParseRepoURL(repoURL)
		switch {
		case err == nil:
			loc = l
		case repo == "":
			return nil, fmt.Errorf("deriving the %s repository from the Git URL: %w", typ, err)
		}
	}
	if repo == "" {
		repo = loc.Path
	}
	if repo == "" {
		return nil, fmt.Errorf("the %s repository is unknown: set spec.git.provider.repository or spec.git.url", typ)
	}
	api := strings.TrimSpace(spec.APIURL)

	switch typ {
	case TypeGitHub:
		owner, name, ok := strings.Cut(repo, "/")
		if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
			return nil, fmt.Errorf("GitHub repository %q must be owner/name", repo)
		}
		if api == "" && loc.Host != "" && !saasHost(loc.Host, "github.com", "www.github.com", "ssh.github.com") {
			api = loc.webRoot() + "/api/v3/"
		}
		return github.New(github.Config{APIURL: api, Owner: owner, Repo: name, Token: token,
			HTTPClient: httpClient, Log: o.log, PerPage: o.perPage})
	default:
		if api == "" && loc.Host != "" && !saasHost(loc.Host, "gitlab.com", "www.gitlab.com", "altssh.gitlab.com") {
			api = loc.webRoot()
		}
		return gitlab.New(gitlab.Config{BaseURL: api, Project: repo, Token: token,
			HTTPClient: httpClient, Log: o.log, PerPage: o.perPage})
	}
}

// saasHost reports whether host is one of the hosted service's names.
func saasHost(host string, names ...string) bool {
	for _, n := range names {
		if strings.EqualFold(host, n) {
			return true
		}
	}
	return false
}

// RepoLocation is where a Git remote URL points.
type RepoLocation struct {
	Scheme string // https, http, ssh (scp-like URLs are ssh)
	Host   string // host name, without user or port
	Port   string // as written, empty when absent
	// Path is the repository path without leading slash and ".git", e.g.
	// acme/gitops or group/subgroup/project.
	Path string
}

// webRoot is the forge's web/API root for the host: the URL's own scheme
// and port for http(s) remotes, https://HOST for ssh remotes.
func (l RepoLocation) webRoot() string {
	if l.Scheme == "http" || l.Scheme == "https" {
		host := l.Host
		if l.Port != "" {
			host += ":" + l.Port
		}
		return l.Scheme + "://" + host
	}
	return "https://" + l.Host
}

// ParseRepoURL splits a Git remote URL — https://host/owner/repo.git,
// ssh://git@host:22/owner/repo.git or scp-like git@host:owner/repo.git —
// into host and repository path. Local paths and file:// URLs are refused.
func ParseRepoURL(raw string) (RepoLocation, error) {
	raw = strings.TrimSpace(raw)
	var loc RepoLocation
	if strings.Contains(raw, "://") {
		u, err := url.Parse(raw)
		if err != nil {
			return loc, fmt.Errorf("parsing Git URL: %w", err)
		}
		switch u.Scheme {
		case "https", "http", "ssh", "git+ssh", "ssh+git":
		default:
			return loc, fmt.Errorf("Git URL scheme %q names no forge repository", u.Scheme)
		}
		loc.Scheme, loc.Host, loc.Port, loc.Path = u.Scheme, u.Hostname(), u.Port(), u.Path
		if strings.Contains(u.Scheme, "ssh") {
			loc.Scheme = "ssh"
		}
	} else {
		// scp-like: [user@]host:path, where host has no slash.
		hostPart, path, ok := strings.Cut(raw, ":")
		if !ok || hostPart == "" || strings.Contains(hostPart, "/") || strings.HasPrefix(path, "//") {
			return loc, fmt.Errorf("Git URL %q is neither a URL nor scp-like (user@host:path)", raw)
		}
		if i := strings.LastIndex(hostPart, "@"); i >= 0 {
			hostPart = hostPart[i+1:]
		}
		loc.Scheme, loc.Host, loc.Path = "ssh", hostPart, path
	}
	loc.Path = strings.Trim(strings.TrimSuffix(strings.Trim(loc.Path, "/"), ".git"), "/")
	if loc.Host == "" {
		return loc, fmt.Errorf("Git URL %q names no host", raw)
	}
	if loc.Path == "" {
		return loc, fmt.Errorf("Git URL %q names no repository path", raw)
	}
	return loc, nil
}
