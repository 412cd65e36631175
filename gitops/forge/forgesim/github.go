package forgesim

// SIMULATION of the GitHub REST API's pull request endpoints, for tests.
// It reproduces the documented behaviour of:
//
//   - POST /repos/{owner}/{repo}/pulls            create (201; 422 "Validation Failed")
//   - GET  /repos/{owner}/{repo}/pulls            list (state, head, base, sort,
//     direction, per_page, page; Link header pagination)
//   - GET  /repos/{owner}/{repo}/pulls/{number}   get (404 when unknown)
//   - POST /repos/{owner}/{repo}/issues/{number}/labels
//
// under both the github.com root (https://api.github.com/...) and the
// Enterprise Server prefix (https://HOST/api/v3/...), with:
//
//   - authentication: "Authorization: Bearer|token <token>"; a wrong token
//     gets 401 {"message":"Bad credentials"}, no token gets 404 (the
//     repository is private);
//   - the 422 answers GitHub gives on create: "A pull request already exists
//     for owner:branch." (code custom) when an open pull request has the same
//     head and base, missing_field / invalid for head and base, and "No
//     commits between base and head";
//   - list items in the "pull-request-simple" shape, which has no "merged"
//     field (merged_at tells), and a merge_commit_sha that holds the test
//     merge commit while the pull request is open;
//   - the documented quirk that a head filter without the "owner:" prefix is
//     ignored (all pull requests are returned);
//   - X-RateLimit-* headers on every answer, and, through Inject, the primary
//     (403/429 with X-RateLimit-Remaining: 0 and X-RateLimit-Reset) and
//     secondary (403/429 with Retry-After) rate-limit answers.

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// GitHubConfig configures a GitHub simulation.
type GitHubConfig struct {
	Owner string // default acme
	Repo  string // default gitops
	Token string // the one valid token; default sim-github-token
	// Login authors the pull requests; default gitover-bot.
	Login string
	// WebURL is the web root in html_url; default https://github.com.
	WebURL string
	// Branches maps branch names to their tip; default main only.
	Branches map[string]string
	// FirstNumber is the number of the first pull request; default 1.
	FirstNumber int
	// LookupBranch, when set, is asked for branches the simulation does
	// not know, so that it can front a real Git repository (a test's Git
	// server): it returns the branch's tip, or false.
	LookupBranch func(name string) (string, bool)
}

// GitHubPull is one pull request in the simulation's store.
type GitHubPull struct {
	Number         int
	Title, Body    string
	Head, Base     string // branch names
	HeadSHA        string
	State          string // open or closed
	Draft          bool
	Merged         bool
	MergeCommitSHA string
	Labels         []string
	CreatedAt      time.Time
	UpdatedAt      time.Time
	MergedAt       *time.Time
	ClosedAt       *time.Time
}

// GitHub is a running simulation of the GitHub REST API.
type GitHub struct {
	recorder
	srv *httptest.Server
	cfg GitHubConfig

	mu        sync.Mutex
	pulls     []*GitHubPull
	branches  map[string]string
	next      int
	remaining int
}

// NewGitHub starts a GitHub simulation on a loopback port.
func NewGitHub(cfg GitHubConfig) *GitHub {
	if cfg.Owner == "" {
		cfg.Owner = "acme"
	}
	if cfg.Repo == "" {
		cfg.Repo = "gitops"
	}
	if cfg.Token == "" {
		cfg.Token = "sim-github-token"
	}
	if cfg.Login == "" {
		cfg.Login = "gitover-bot"
	}
	if cfg.WebURL == "" {
		cfg.WebURL = "https://github.com"
	}
	if cfg.FirstNumber == 0 {
		cfg.FirstNumber = 1
	}
	s := &GitHub{cfg: cfg, branches: map[string]string{}, next: cfg.FirstNumber, remaining: 5000}
	if len(cfg.Branches) == 0 {
		s.branches["main"] = FakeSHA("main")
	}
	for k, v := range cfg.Branches {
		s.branches[k] = v
	}
	s.srv = httptest.NewServer(s)
	return s
}

// URL is the simulation's root URL. Use it as an Enterprise Server base
// URL (the client appends /api/v3/), or point an http.Client at it to stand
// in for api.github.com.
func (s *GitHub) URL() string { return s.srv.URL }

// Close stops the server.
func (s *GitHub) Close() { s.srv.Close() }

// Config returns the configuration with defaults filled in.
func (s *GitHub) Config() GitHubConfig { return s.cfg }

// SetBranch creates or moves a branch (as a push would).
func (s *GitHub) SetBranch(name, sha string) {
	s.mu.Lock()
	s.branches[name] = sha
	s.mu.Unlock()
}

// branch returns a branch's tip from the store or, failing that, from
// LookupBranch. Callers hold s.mu.
func (s *GitHub) branch(name string) (string, bool) {
	if sha, ok := s.branches[name]; ok {
		return sha, true
	}
	if s.cfg.LookupBranch != nil {
		return s.cfg.LookupBranch(name)
	}
	return "", false
}

// AddPull stores a pull request as if it had been opened earlier and
// returns its number. Zero fields get defaults (state open, now).
func (s *GitHub) AddPull(p GitHubPull) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.Number == 0 {
		p.Number = s.next
	}
	if p.Number >= s.next {
		s.next = p.Number + 1
	}
	if p.State == "" {
		p.State = "open"
	}
	now := time.Now().UTC().Truncate(time.Second)
	if p.CreatedAt.IsZero() {
		p.CreatedAt = now
	}
	if p.UpdatedAt.IsZero() {
		p.UpdatedAt = p.CreatedAt
	}
	if p.HeadSHA == "" {
		p.HeadSHA = FakeSHA("head-" + p.Head + strconv.Itoa(p.Number))
	}
	if p.Merged && p.MergedAt == nil {
		t := p.UpdatedAt
		p.MergedAt = &t
	}
	if p.State == "closed" && p.ClosedAt == nil {
		t := p.UpdatedAt
		p.ClosedAt = &t
	}
	cp := p
	s.pulls = append(s.pulls, &cp)
	return p.Number
}

// Pulls returns a copy of the store, in number order.
func (s *GitHub) Pulls() []GitHubPull {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]GitHubPull, 0, len(s.pulls))
	for _, p := range s.pulls {
		out = append(out, *p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Number < out[j].Number })
	return out
}

// Merge merges an open pull request as a person would, recording the
// merge commit; the base branch moves to it.
func (s *GitHub) Merge(number int, mergeSHA string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.find(number)
	if p == nil || p.State != "open" {
		return fmt.Errorf("pull request %d is not open", number)
	}
	now := time.Now().UTC().Truncate(time.Second)
	p.State, p.Merged, p.MergeCommitSHA = "closed", true, mergeSHA
	p.MergedAt, p.ClosedAt, p.UpdatedAt = &now, &now, now
	s.branches[p.Base] = mergeSHA
	return nil
}

// ClosePull closes an open pull request without merging it.
func (s *GitHub) ClosePull(number int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.find(number)
	if p == nil || p.State != "open" {
		return fmt.Errorf("pull request %d is not open", number)
	}
	now := time.Now().UTC().Truncate(time.Second)
	p.State, p.ClosedAt, p.UpdatedAt = "closed", &now, now
	return nil
}

func (s *GitHub) find(number int) *GitHubPull {
	for _, p := range s.pulls {
		if p.Number == number {
			return p
		}
	}
	return nil
}

// GitHubPrimaryRateLimit is the answer GitHub documents for an exhausted
// primary rate limit: 403 or 429, X-RateLimit-Remaining: 0 and the reset
// time in X-RateLimit-Reset (UTC epoch seconds).
func GitHubPrimaryRateLimit(status int, reset time.Time) Fault {
	h := http.Header{}
	h.Set("X-RateLimit-Limit", "5000")
	h.Set("X-RateLimit-Remaining", "0")
	h.Set("X-RateLimit-Used", "5000")
	h.Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	h.Set("X-RateLimit-Resource", "core")
	return Fault{Status: status, Header: h, Body: `{"message":"API rate limit exceeded for user ID 1.",` +
		`"documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-primary-rate-limits"}`}
}

// GitHubSecondaryRateLimit is the answer GitHub documents for a secondary
// rate limit: 403 or 429 with Retry-After (seconds) and a message saying so.
func GitHubSecondaryRateLimit(status int, retryAfter time.Duration) Fault {
	h := http.Header{}
	h.Set("Retry-After", strconv.Itoa(int(retryAfter/time.Second)))
	return Fault{Status: status, Header: h, Body: `{"message":"You have exceeded a secondary rate limit. ` +
		`Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID.",` +
		`"documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"}`}
}

// ServeHTTP records the request and answers it.
func (s *GitHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req, err := s.record(r)
	sw := &statusWriter{ResponseWriter: w}
	defer func() { s.finish(req, sw.status) }()
	if err != nil {
		ghError(sw, http.StatusBadRequest, "Problems parsing JSON", "")
		return
	}
	s.serve(sw, r, req)
}

const ghDocs = "https://docs.github.com/rest"

func ghError(w http.ResponseWriter, status int, msg, docs string, errs ...map[string]any) {
	if docs == "" {
		docs = ghDocs
	}
	body := map[string]any{"message": msg, "documentation_url": docs, "status": strconv.Itoa(status)}
	if len(errs) > 0 {
		body["errors"] = errs
	}
	writeJSON(w, status, body)
}

func (s *GitHub) serve(w http.ResponseWriter, r *http.Request, req Request) {
	prefix := ""
	path := r.URL.Path
	if strings.HasPrefix(path, "/api/v3/") {
		prefix, path = "/api/v3", strings.TrimPrefix(path, "/api/v3")
	}

	tok := ""
	if a := r.Header.Get("Authorization"); a != "" {
		if f := strings.Fields(a); len(f) == 2 && (strings.EqualFold(f[0], "bearer") || strings.EqualFold(f[0], "token")) {
			tok = f[1]
		} else {
			tok = a
		}
	}
	switch {
	case tok == "":
		// A private repository is invisible without credentials.
		ghError(w, http.StatusNotFound, "Not Found", ghDocs+"/pulls/pulls")
		return
	case tok != s.cfg.Token:
		ghError(w, http.StatusUnauthorized, "Bad credentials", ghDocs)
		return
	}
	if f, ok := s.takeFault(r); ok {
		writeFault(w, f)
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.remaining--
	h := w.Header()
	h.Set("X-RateLimit-Limit", "5000")
	h.Set("X-RateLimit-Remaining", strconv.Itoa(s.remaining))
	h.Set("X-RateLimit-Used", strconv.Itoa(5000-s.remaining))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10))
	h.Set("X-RateLimit-Resource", "core")
	h.Set("X-GitHub-Media-Type", "github.v3; format=json")

	seg := strings.Split(strings.Trim(path, "/"), "/")
	if len(seg) < 4 || seg[0] != "repos" || !strings.EqualFold(seg[1], s.cfg.Owner) || !strings.EqualFold(seg[2], s.cfg.Repo) {
		ghError(w, http.StatusNotFound, "Not Found", "")
		return
	}
	api := "http://" + r.Host + prefix + "/repos/" + s.cfg.Owner + "/" + s.cfg.Repo
	switch {
	case len(seg) == 4 && seg[3] == "pulls" && r.Method == http.MethodGet:
		s.list(w, r, api)
	case len(seg) == 4 && seg[3] == "pulls" && r.Method == http.MethodPost:
		s.create(w, req, api)
	case len(seg) == 5 && seg[3] == "pulls" && r.Method == http.MethodGet:
		n, _ := strconv.Atoi(seg[4])
		p := s.find(n)
		if p == nil {
			ghError(w, http.StatusNotFound, "Not Found", ghDocs+"/pulls/pulls#get-a-pull-request")
			return
		}
		writeJSON(w, http.StatusOK, s.pullJSON(p, api, true))
	case len(seg) == 6 && seg[3] == "issues" && seg[5] == "labels" && r.Method == http.MethodPost:
		n, _ := strconv.Atoi(seg[4])
		s.addLabels(w, req, n, api)
	default:
		ghError(w, http.StatusNotFound, "Not Found", "")
	}
}

// list reproduces GET /repos/{owner}/{repo}/pulls.
func (s *GitHub) list(w http.ResponseWriter, r *http.Request, api string) {
	q := r.URL.Query()
	state := q.Get("state")
	if state == "" {
		state = "open"
	}
	if state != "open" && state != "closed" && state != "all" {
		ghError(w, http.StatusUnprocessableEntity, "Validation Failed", ghDocs+"/pulls/pulls#list-pull-requests",
			map[string]any{"resource": "PullRequest", "field": "state", "code": "invalid"})
		return
	}
	headOwner, headRef, headOK := strings.Cut(q.Get("head"), ":") // without "owner:" GitHub ignores the filter
	base := q.Get("base")
	var out []*GitHubPull
	for _, p := range s.pulls {
		if state != "all" && p.State != state {
			continue
		}
		if headOK && (!strings.EqualFold(headOwner, s.cfg.Owner) || p.Head != headRef) {
			continue
		}
		if base != "" && p.Base != base {
			continue
		}
		out = append(out, p)
	}
	sortBy := q.Get("sort")
	if sortBy == "" {
		sortBy = "created"
	}
	dir := q.Get("direction")
	if dir == "" {
		dir = "asc"
		if sortBy == "created" {
			dir = "desc"
		}
	}
	key := func(p *GitHubPull) time.Time {
		if sortBy == "updated" {
			return p.UpdatedAt
		}
		return p.CreatedAt
	}
	sort.SliceStable(out, func(i, j int) bool {
		ki, kj := key(out[i]), key(out[j])
		if ki.Equal(kj) {
			ki, kj = time.Unix(int64(out[i].Number), 0), time.Unix(int64(out[j].Number), 0)
		}
		if dir == "asc" {
			return ki.Before(kj)
		}
		return ki.After(kj)
	})

	perPage := atoiDefault(q.Get("per_page"), 30)
	if perPage > 100 {
		perPage = 100
	}
	page := atoiDefault(q.Get("page"), 1)
	from, to, last := paginate(len(out), page, perPage)
	if last > 1 {
		w.Header().Set("Link", pageLinks(r, page, last))
	}
	items := make([]map[string]any, 0, to-from)
	for _, p := range out[from:to] {
		items = append(items, s.pullJSON(p, api, false))
	}
	writeJSON(w, http.StatusOK, items)
}

// create reproduces POST /repos/{owner}/{repo}/pulls.
func (s *GitHub) create(w http.ResponseWriter, req Request, api string) {
	const docs = ghDocs + "/pulls/pulls#create-a-pull-request"
	var in struct {
		Title *string `json:"title"`
		Head  *string `json:"head"`
		Base  *string `json:"base"`
		Body  *string `json:"body"`
		Draft *bool   `json:"draft"`
	}
	if err := json.Unmarshal(req.Body, &in); err != nil {
		ghError(w, http.StatusBadRequest, "Problems parsing JSON", docs)
		return
	}
	for _, f := range []struct {
		name string
		v    *string
	}{{"head", in.Head}, {"base", in.Base}, {"title", in.Title}} {
		if f.v == nil || *f.v == "" {
			ghError(w, http.StatusUnprocessableEntity, "Validation Failed", docs,
				map[string]any{"resource": "PullRequest", "code": "missing_field", "field": f.name})
			return
		}
	}
	head := *in.Head
	if o, ref, ok := strings.Cut(head, ":"); ok && strings.EqualFold(o, s.cfg.Owner) {
		head = ref
	}
	headSHA, okHead := s.branch(head)
	baseSHA, okBase := s.branch(*in.Base)
	switch {
	case !okBase:
		ghError(w, http.StatusUnprocessableEntity, "Validation Failed", docs,
			map[string]any{"resource": "PullRequest", "field": "base", "code": "invalid"})
		return
	case !okHead:
		ghError(w, http.StatusUnprocessableEntity, "Validation Failed", docs,
			map[string]any{"resource": "PullRequest", "field": "head", "code": "invalid"})
		return
	}
	for _, p := range s.pulls {
		if p.State == "open" && p.Head == head && p.Base == *in.Base {
			ghError(w, http.StatusUnprocessableEntity, "Validation Failed", docs,
				map[string]any{"resource": "PullRequest", "code": "custom",
					"message": "A pull request already exists for " + s.cfg.Owner + ":" + head + "."})
			return
		}
	}
	if headSHA == baseSHA {
		ghError(w, http.StatusUnprocessableEntity, "Validation Failed", docs,
			map[string]any{"resource": "PullRequest", "code": "custom",
				"message": "No commits between " + *in.Base + " and " + head})
		return
	}
	now := time.Now().UTC().Truncate(time.Second)
	p := &GitHubPull{Number: s.next, Title: *in.Title, Head: head, Base: *in.Base, HeadSHA: headSHA,
		State: "open", CreatedAt: now, UpdatedAt: now}
	if in.Body != nil {
		p.Body = *in.Body
	}
	if in.Draft != nil {
		p.Draft = *in.Draft
	}
	s.next++
	s.pulls = append(s.pulls, p)
	w.Header().Set("Location", api+"/pulls/"+strconv.Itoa(p.Number))
	writeJSON(w, http.StatusCreated, s.pullJSON(p, api, true))
}

// addLabels reproduces POST /repos/{owner}/{repo}/issues/{number}/labels,
// which takes {"labels": [...]} or a bare array.
func (s *GitHub) addLabels(w http.ResponseWriter, req Request, n int, api string) {
	p := s.find(n)
	if p == nil {
		ghError(w, http.StatusNotFound, "Not Found", ghDocs+"/issues/labels#add-labels-to-an-issue")
		return
	}
	var labels []string
	var obj struct {
		Labels []string `json:"labels"`
	}
	if err := json.Unmarshal(req.Body, &obj); err == nil && obj.Labels != nil {
		labels = obj.Labels
	} else if err := json.Unmarshal(req.Body, &labels); err != nil {
		ghError(w, http.StatusBadRequest, "Problems parsing JSON", "")
		return
	}
	for _, l := range labels {
		if !contains(p.Labels, l) {
			p.Labels = append(p.Labels, l)
		}
	}
	out := make([]map[string]any, 0, len(p.Labels))
	for i, l := range p.Labels {
		out = append(out, map[string]any{"id": i + 1, "name": l, "color": "ededed", "default": false,
			"url": api + "/labels/" + l})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *GitHub) pullJSON(p *GitHubPull, api string, full bool) map[string]any {
	ts := func(t *time.Time) any {
		if t == nil {
			return nil
		}
		return t.UTC().Format(time.RFC3339)
	}
	repo := map[string]any{"name": s.cfg.Repo, "full_name": s.cfg.Owner + "/" + s.cfg.Repo,
		"owner": map[string]any{"login": s.cfg.Owner}}
	var mergeSHA any
	switch {
	case p.Merged:
		mergeSHA = p.MergeCommitSHA
	case p.State == "open":
		mergeSHA = FakeSHA(fmt.Sprintf("test-merge-%d-%s", p.Number, p.HeadSHA)) // the test merge commit
	}
	labels := make([]map[string]any, 0, len(p.Labels))
	for _, l := range p.Labels {
		labels = append(labels, map[string]any{"name": l})
	}
	created, updated := p.CreatedAt, p.UpdatedAt
	m := map[string]any{
		"url":              api + "/pulls/" + strconv.Itoa(p.Number),
		"id":               1000 + p.Number,
		"node_id":          "PR_sim" + strconv.Itoa(p.Number),
		"html_url":         strings.TrimSuffix(s.cfg.WebURL, "/") + "/" + s.cfg.Owner + "/" + s.cfg.Repo + "/pull/" + strconv.Itoa(p.Number),
		"number":           p.Number,
		"state":            p.State,
		"locked":           false,
		"title":            p.Title,
		"body":             p.Body,
		"user":             map[string]any{"login": s.cfg.Login},
		"labels":           labels,
		"draft":            p.Draft,
		"created_at":       ts(&created),
		"updated_at":       ts(&updated),
		"closed_at":        ts(p.ClosedAt),
		"merged_at":        ts(p.MergedAt),
		"merge_commit_sha": mergeSHA,
		"head": map[string]any{"label": s.cfg.Owner + ":" + p.Head, "ref": p.Head, "sha": p.HeadSHA,
			"user": map[string]any{"login": s.cfg.Owner}, "repo": repo},
		"base": map[string]any{"label": s.cfg.Owner + ":" + p.Base, "ref": p.Base, "sha": s.branches[p.Base],
			"user": map[string]any{"login": s.cfg.Owner}, "repo": repo},
	}
	if full {
		m["merged"] = p.Merged
		m["mergeable"] = nil
		m["mergeable_state"] = "unknown"
		if p.Merged {
			m["merged_by"] = map[string]any{"login": "reviewer"}
		} else {
			m["merged_by"] = nil
		}
		m["comments"], m["review_comments"], m["commits"] = 0, 0, 1
		m["maintainer_can_modify"] = false
	}
	return m
}

// FakeSHA is a deterministic 40-hex-digit commit id derived from s.
func FakeSHA(s string) string {
	sum := sha1.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func atoiDefault(s string, def int) int {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return def
	}
	return n
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
