package forgesim

// SIMULATION of the GitLab REST API (v4) merge request endpoints, for
// tests. It reproduces the documented behaviour of:
//
//   - POST /api/v4/projects/:id/merge_requests        create (201; 409 duplicate; 400 missing params)
//   - GET  /api/v4/projects/:id/merge_requests        list (state, source_branch,
//     target_branch, order_by, sort, page, per_page; offset pagination headers)
//   - GET  /api/v4/projects/:id/merge_requests/:iid   get (404 when unknown)
//
// where :id is the numeric project id or the URL-encoded full path
// (group%2Fsubgroup%2Fproject), with:
//
//   - authentication by "PRIVATE-TOKEN: <token>" or "Authorization: Bearer
//     <token>"; a wrong token gets 401 {"message":"401 Unauthorized"}, no
//     token gets 404 {"message":"404 Project Not Found"} (private project);
//   - 409 {"message":["Another open merge request already exists for this
//     source branch: !N"]} when an open merge request has the same source
//     and target branch;
//   - the pagination headers X-Page, X-Per-Page, X-Total, X-Total-Pages,
//     X-Next-Page (empty on the last page), X-Prev-Page and Link;
//   - states opened, closed, locked and merged; merge_commit_sha,
//     squash_commit_sha and sha as the API reports them after merge,
//     squash or fast-forward merges;
//   - RateLimit-* headers on every answer and, through Inject, the 429 "Retry
//     later" answer with Retry-After and RateLimit-Reset.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// GitLabConfig configures a GitLab simulation.
type GitLabConfig struct {
	Project   string // full path; default acme/platform/gitops
	ProjectID int    // numeric id; default 42
	Token     string // the one valid token; default sim-gitlab-token
	// WebURL is the instance's web root in web_url; default https://gitlab.example.com.
	WebURL string
	// Branches maps branch names to their tip; default main only.
	Branches map[string]string
	// FirstIID is the IID of the first merge request; default 1.
	FirstIID int
}

// GitLabMR is one merge request in the simulation's store.
type GitLabMR struct {
	IID                        int
	Title, Description         string
	SourceBranch, TargetBranch string
	SHA                        string // head of the source branch
	State                      string // opened, closed, locked, merged
	Labels                     []string
	Squash                     bool
	MergeCommitSHA             string
	SquashCommitSHA            string
	CreatedAt, UpdatedAt       time.Time
	MergedAt, ClosedAt         *time.Time
}

// GitLabMerge says how a person merged a merge request.
type GitLabMerge struct {
	// MergeCommitSHA is set by the merge-commit methods; empty for a fast-forward merge.
	MergeCommitSHA string
	// SquashCommitSHA is set when the commits were squashed.
	SquashCommitSHA string
}

// GitLab is a running simulation of the GitLab REST API.
type GitLab struct {
	recorder
	srv *httptest.Server
	cfg GitLabConfig

	mu       sync.Mutex
	mrs      []*GitLabMR
	branches map[string]string
	next     int
}

// NewGitLab starts a GitLab simulation on a loopback port.
func NewGitLab(cfg GitLabConfig) *GitLab {
	if cfg.Project == "" {
		cfg.Project = "acme/platform/gitops"
	}
	if cfg.ProjectID == 0 {
		cfg.ProjectID = 42
	}
	if cfg.Token == "" {
		cfg.Token = "sim-gitlab-token"
	}
	if cfg.WebURL == "" {
		cfg.WebURL = "https://gitlab.example.com"
	}
	if cfg.FirstIID == 0 {
		cfg.FirstIID = 1
	}
	s := &GitLab{cfg: cfg, branches: map[string]string{}, next: cfg.FirstIID}
	if len(cfg.Branches) == 0 {
		s.branches["main"] = FakeSHA("main")
	}
	for k, v := range cfg.Branches {
		s.branches[k] = v
	}
	s.srv = httptest.NewServer(s)
	return s
}

// URL is the instance's root URL (the client appends /api/v4/).
func (s *GitLab) URL() string { return s.srv.URL }

// Close stops the server.
func (s *GitLab) Close() { s.srv.Close() }

// Config returns the configuration with defaults filled in.
func (s *GitLab) Config() GitLabConfig { return s.cfg }

// SetBranch creates or moves a branch (as a push would).
func (s *GitLab) SetBranch(name, sha string) {
	s.mu.Lock()
	s.branches[name] = sha
	s.mu.Unlock()
}

// AddMR stores a merge request as if it had been opened earlier and
// returns its IID. Zero fields get defaults (state opened, now).
func (s *GitLab) AddMR(m GitLabMR) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.IID == 0 {
		m.IID = s.next
	}
	if m.IID >= s.next {
		s.next = m.IID + 1
	}
	if m.State == "" {
		m.State = "opened"
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	if m.CreatedAt.IsZero() {
		m.CreatedAt = now
	}
	if m.UpdatedAt.IsZero() {
		m.UpdatedAt = m.CreatedAt
	}
	if m.SHA == "" {
		m.SHA = FakeSHA("head-" + m.SourceBranch + strconv.Itoa(m.IID))
	}
	if m.State == "merged" && m.MergedAt == nil {
		t := m.UpdatedAt
		m.MergedAt = &t
	}
	if m.State == "closed" && m.ClosedAt == nil {
		t := m.UpdatedAt
		m.ClosedAt = &t
	}
	cp := m
	s.mrs = append(s.mrs, &cp)
	return m.IID
}

// MRs returns a copy of the store, in IID order.
func (s *GitLab) MRs() []GitLabMR {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]GitLabMR, 0, len(s.mrs))
	for _, m := range s.mrs {
		out = append(out, *m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].IID < out[j].IID })
	return out
}

// Merge merges an open merge request as a person would.
func (s *GitLab) Merge(iid int, how GitLabMerge) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.find(iid)
	if m == nil || m.State != "opened" {
		return fmt.Errorf("merge request !%d is not open", iid)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	m.State, m.MergedAt, m.UpdatedAt = "merged", &now, now
	m.MergeCommitSHA, m.SquashCommitSHA = how.MergeCommitSHA, how.SquashCommitSHA
	m.Squash = how.SquashCommitSHA != ""
	switch {
	case how.MergeCommitSHA != "":
		s.branches[m.TargetBranch] = how.MergeCommitSHA
	case how.SquashCommitSHA != "":
		s.branches[m.TargetBranch] = how.SquashCommitSHA
	default:
		s.branches[m.TargetBranch] = m.SHA
	}
	return nil
}

// CloseMR closes an open merge request without merging it.
func (s *GitLab) CloseMR(iid int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.find(iid)
	if m == nil || m.State != "opened" {
		return fmt.Errorf("merge request !%d is not open", iid)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	m.State, m.ClosedAt, m.UpdatedAt = "closed", &now, now
	return nil
}

func (s *GitLab) find(iid int) *GitLabMR {
	for _, m := range s.mrs {
		if m.IID == iid {
			return m
		}
	}
	return nil
}

// GitLabRateLimit is the answer GitLab documents for a request over a user
// or IP rate limit: 429 with the plain-text body "Retry later", Retry-After
// (seconds) and the RateLimit-* headers, RateLimit-Reset in epoch seconds.
func GitLabRateLimit(retryAfter time.Duration, reset time.Time) Fault {
	h := http.Header{}
	h.Set("Content-Type", "text/plain")
	h.Set("Retry-After", strconv.Itoa(int(retryAfter/time.Second)))
	h.Set("RateLimit-Name", "throttle_authenticated_api")
	h.Set("RateLimit-Limit", "2000")
	h.Set("RateLimit-Observed", "2001")
	h.Set("RateLimit-Remaining", "0")
	h.Set("RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	h.Set("RateLimit-ResetTime", reset.UTC().Format(http.TimeFormat))
	return Fault{Status: http.StatusTooManyRequests, Header: h, Body: "Retry later\n"}
}

// ServeHTTP records the request and answers it.
func (s *GitLab) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req, err := s.record(r)
	sw := &statusWriter{ResponseWriter: w}
	defer func() { s.finish(req, sw.status) }()
	if err != nil {
		writeJSON(sw, http.StatusBadRequest, map[string]any{"error": "failed to read body"})
		return
	}
	s.serve(sw, r, req)
}

var glDraftPrefix = regexp.MustCompile(`(?i)^\s*(\[draft\]|\(draft\)|draft:|draft\s-|draft\s)`)

func (s *GitLab) serve(w http.ResponseWriter, r *http.Request, req Request) {
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), "/api/v4/projects/")
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]any{"error": "404 Not Found"})
		return
	}
	seg := strings.Split(rest, "/")
	id, err := url.PathUnescape(seg[0])
	if err != nil {
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "404 Project Not Found"})
		return
	}

	tok := r.Header.Get("PRIVATE-TOKEN")
	if tok == "" {
		if f := strings.Fields(r.Header.Get("Authorization")); len(f) == 2 && strings.EqualFold(f[0], "bearer") {
			tok = f[1]
		}
	}
	switch {
	case tok == "":
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "404 Project Not Found"})
		return
	case tok != s.cfg.Token:
		writeJSON(w, http.StatusUnauthorized, map[string]any{"message": "401 Unauthorized"})
		return
	}
	if f, ok := s.takeFault(r); ok {
		writeFault(w, f)
		return
	}
	h := w.Header()
	h.Set("RateLimit-Limit", "2000")
	h.Set("RateLimit-Remaining", "1999")
	h.Set("RateLimit-Observed", "1")
	h.Set("RateLimit-Reset", strconv.FormatInt(time.Now().Add(time.Minute).Unix(), 10))

	if id != s.cfg.Project && id != strconv.Itoa(s.cfg.ProjectID) {
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "404 Project Not Found"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case len(seg) == 2 && seg[1] == "merge_requests" && r.Method == http.MethodGet:
		s.list(w, r)
	case len(seg) == 2 && seg[1] == "merge_requests" && r.Method == http.MethodPost:
		s.create(w, req)
	case len(seg) == 3 && seg[1] == "merge_requests" && r.Method == http.MethodGet:
		n, _ := strconv.Atoi(seg[2])
		m := s.find(n)
		if m == nil {
			writeJSON(w, http.StatusNotFound, map[string]any{"message": "404 Not found"})
			return
		}
		writeJSON(w, http.StatusOK, s.mrJSON(m))
	default:
		writeJSON(w, http.StatusNotFound, map[string]any{"error": "404 Not Found"})
	}
}

// list reproduces GET /projects/:id/merge_requests.
func (s *GitLab) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	state := q.Get("state")
	if state == "" {
		state = "all"
	}
	switch state {
	case "opened", "closed", "locked", "merged", "all":
	default:
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "state does not have a valid value"})
		return
	}
	var out []*GitLabMR
	for _, m := range s.mrs {
		if state != "all" && m.State != state {
			continue
		}
		if v := q.Get("source_branch"); v != "" && m.SourceBranch != v {
			continue
		}
		if v := q.Get("target_branch"); v != "" && m.TargetBranch != v {
			continue
		}
		out = append(out, m)
	}
	orderBy := q.Get("order_by")
	if orderBy == "" {
		orderBy = "created_at"
	}
	desc := q.Get("sort") != "asc"
	sort.SliceStable(out, func(i, j int) bool {
		ki, kj := out[i].CreatedAt, out[j].CreatedAt
		if orderBy == "updated_at" {
			ki, kj = out[i].UpdatedAt, out[j].UpdatedAt
		}
		if ki.Equal(kj) {
			ki, kj = time.Unix(int64(out[i].IID), 0), time.Unix(int64(out[j].IID), 0)
		}
		if desc {
			return ki.After(kj)
		}
		return ki.Before(kj)
	})
	perPage := atoiDefault(q.Get("per_page"), 20)
	if perPage > 100 {
		perPage = 100
	}
	page := atoiDefault(q.Get("page"), 1)
	from, to, last := paginate(len(out), page, perPage)
	h := w.Header()
	h.Set("X-Page", strconv.Itoa(page))
	h.Set("X-Per-Page", strconv.Itoa(perPage))
	h.Set("X-Total", strconv.Itoa(len(out)))
	h.Set("X-Total-Pages", strconv.Itoa(last))
	h.Set("X-Next-Page", "")
	h.Set("X-Prev-Page", "")
	if page < last {
		h.Set("X-Next-Page", strconv.Itoa(page+1))
	}
	if page > 1 {
		h.Set("X-Prev-Page", strconv.Itoa(page-1))
	}
	h.Set("Link", pageLinks(r, page, last))
	items := make([]map[string]any, 0, to-from)
	for _, m := range out[from:to] {
		items = append(items, s.mrJSON(m))
	}
	writeJSON(w, http.StatusOK, items)
}

// create reproduces POST /projects/:id/merge_requests.
func (s *GitLab) create(w http.ResponseWriter, req Request) {
	var in struct {
		Title        string          `json:"title"`
		Description  string          `json:"description"`
		SourceBranch string          `json:"source_branch"`
		TargetBranch string          `json:"target_branch"`
		Labels       json.RawMessage `json:"labels"`
		Squash       *bool           `json:"squash"`
	}
	if err := json.Unmarshal(req.Body, &in); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "body is not valid JSON"})
		return
	}
	var missing []string
	for _, f := range []struct{ name, v string }{{"title", in.Title}, {"source_branch", in.SourceBranch}, {"target_branch", in.TargetBranch}} {
		if f.v == "" {
			missing = append(missing, f.name+" is missing")
		}
	}
	if len(missing) > 0 {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": strings.Join(missing, ", ")})
		return
	}
	for _, m := range s.mrs {
		if m.State == "opened" && m.SourceBranch == in.SourceBranch && m.TargetBranch == in.TargetBranch {
			writeJSON(w, http.StatusConflict, map[string]any{
				"message": []string{"Another open merge request already exists for this source branch: !" + strconv.Itoa(m.IID)}})
			return
		}
	}
	var labels []string
	if len(in.Labels) > 0 {
		var str string
		if err := json.Unmarshal(in.Labels, &str); err == nil {
			for _, l := range strings.Split(str, ",") {
				if l = strings.TrimSpace(l); l != "" {
					labels = append(labels, l)
				}
			}
		} else {
			_ = json.Unmarshal(in.Labels, &labels)
		}
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	m := &GitLabMR{IID: s.next, Title: in.Title, Description: in.Description, SourceBranch: in.SourceBranch,
		TargetBranch: in.TargetBranch, State: "opened", Labels: labels, CreatedAt: now, UpdatedAt: now}
	if in.Squash != nil {
		m.Squash = *in.Squash
	}
	m.SHA = s.branches[in.SourceBranch]
	s.next++
	s.mrs = append(s.mrs, m)
	writeJSON(w, http.StatusCreated, s.mrJSON(m))
}

func (s *GitLab) mrJSON(m *GitLabMR) map[string]any {
	ts := func(t *time.Time) any {
		if t == nil {
			return nil
		}
		return t.UTC().Format("2006-01-02T15:04:05.000Z")
	}
	orNil := func(v string) any {
		if v == "" {
			return nil
		}
		return v
	}
	labels := m.Labels
	if labels == nil {
		labels = []string{}
	}
	draft := glDraftPrefix.MatchString(m.Title)
	created, updated := m.CreatedAt, m.UpdatedAt
	return map[string]any{
		"id":                          5000 + m.IID,
		"iid":                         m.IID,
		"project_id":                  s.cfg.ProjectID,
		"title":                       m.Title,
		"description":                 m.Description,
		"state":                       m.State,
		"created_at":                  ts(&created),
		"updated_at":                  ts(&updated),
		"merged_at":                   ts(m.MergedAt),
		"closed_at":                   ts(m.ClosedAt),
		"target_branch":               m.TargetBranch,
		"source_branch":               m.SourceBranch,
		"source_project_id":           s.cfg.ProjectID,
		"target_project_id":           s.cfg.ProjectID,
		"labels":                      labels,
		"draft":                       draft,
		"work_in_progress":            draft,
		"squash":                      m.Squash,
		"squash_on_merge":             m.Squash,
		"sha":                         m.SHA,
		"merge_commit_sha":            orNil(m.MergeCommitSHA),
		"squash_commit_sha":           orNil(m.SquashCommitSHA),
		"detailed_merge_status":       "mergeable",
		"has_conflicts":               false,
		"should_remove_source_branch": nil,
		"force_remove_source_branch":  false,
		"author":                      map[string]any{"id": 7, "username": "gitover-bot", "name": "gitover"},
		"references": map[string]any{"short": "!" + strconv.Itoa(m.IID), "relative": "!" + strconv.Itoa(m.IID),
			"full": s.cfg.Project + "!" + strconv.Itoa(m.IID)},
		"web_url": strings.TrimSuffix(s.cfg.WebURL, "/") + "/" + s.cfg.Project + "/-/merge_requests/" + strconv.Itoa(m.IID),
	}
}
