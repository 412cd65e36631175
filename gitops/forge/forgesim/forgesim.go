// Package forgesim holds SIMULATIONS of the GitHub and GitLab REST APIs for
// tests: httptest servers that reproduce the documented wire behaviour of
// the pull/merge request endpoints gitover calls (status codes, bodies,
// pagination headers, rate-limit answers, authentication failures) over an
// in-memory store, and record every request they receive so tests can
// assert method, path, query, headers and JSON body.
//
// They are simulations, not the real services: GitHub and GitLab are hosted
// SaaS and cannot run in a test. Each handler's comment says which
// documented behaviour it reproduces. Nothing here is used by the product.
package forgesim

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Request is one HTTP request a simulation received.
type Request struct {
	Time   time.Time
	Method string
	Host   string
	// Path is the escaped path as sent on the wire, e.g.
	// /api/v4/projects/group%2Fapp/merge_requests.
	Path   string
	Query  url.Values
	Header http.Header
	Body   []byte
	// Status is the HTTP status the simulation answered with.
	Status int
}

// JSON decodes the request body into a generic value (map, slice, ...).
func (r Request) JSON() (any, error) {
	var v any
	err := json.Unmarshal(r.Body, &v)
	return v, err
}

// String is "METHOD /path?query", handy in assertion messages.
func (r Request) String() string {
	s := r.Method + " " + r.Path
	if q := r.Query.Encode(); q != "" {
		s += "?" + q
	}
	return s
}

// Fault is a canned answer the simulation gives instead of handling a
// request, e.g. a rate-limit response. It is checked after authentication.
type Fault struct {
	Method string // match only this method; empty matches any
	// PathSuffix matches requests whose unescaped path ends with it; empty matches any.
	PathSuffix string
	Status     int
	Header     http.Header
	Body       string
	// Times is how many matching requests it answers; 0 means once.
	Times int
}

// recorder is the request log and fault queue both simulations share.
type recorder struct {
	mu       sync.Mutex
	requests []Request
	faults   []Fault
	hook     func(Request)
}

func (rc *recorder) record(r *http.Request) (Request, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 10<<20))
	if err != nil {
		return Request{}, err
	}
	req := Request{
		Time:   time.Now(),
		Method: r.Method,
		Host:   r.Host,
		Path:   r.URL.EscapedPath(),
		Query:  r.URL.Query(),
		Header: r.Header.Clone(),
		Body:   body,
	}
	rc.mu.Lock()
	hook := rc.hook
	rc.mu.Unlock()
	if hook != nil {
		hook(req)
	}
	return req, nil
}

// finish appends the request to the log with the status it got.
func (rc *recorder) finish(req Request, status int) {
	req.Status = status
	rc.mu.Lock()
	rc.requests = append(rc.requests, req)
	rc.mu.Unlock()
}

// takeFault pops the first fault matching r, if any.
func (rc *recorder) takeFault(r *http.Request) (Fault, bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for i, f := range rc.faults {
		if f.Method != "" && f.Method != r.Method {
			continue
		}
		if f.PathSuffix != "" && !strings.HasSuffix(r.URL.Path, f.PathSuffix) {
			continue
		}
		if f.Times <= 1 {
			rc.faults = append(rc.faults[:i], rc.faults[i+1:]...)
		} else {
			rc.faults[i].Times--
		}
		return f, true
	}
	return Fault{}, false
}

// Requests returns a copy of every request received so far, oldest first.
func (rc *recorder) Requests() []Request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]Request(nil), rc.requests...)
}

// ClearRequests forgets the requests received so far.
func (rc *recorder) ClearRequests() {
	rc.mu.Lock()
	rc.requests = nil
	rc.mu.Unlock()
}

// Inject queues a fault; faults answer matching requests in order.
func (rc *recorder) Inject(f Fault) {
	rc.mu.Lock()
	rc.faults = append(rc.faults, f)
	rc.mu.Unlock()
}

// OnRequest sets a function called with every request before it is
// handled (outside the simulation's lock, so it may change the store);
// tests use it to stage races.
func (rc *recorder) OnRequest(fn func(Request)) {
	rc.mu.Lock()
	rc.hook = fn
	rc.mu.Unlock()
}

// writeJSON answers with a JSON body and status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func writeFault(w http.ResponseWriter, f Fault) {
	for k, vs := range f.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
	}
	w.WriteHeader(f.Status)
	_, _ = io.WriteString(w, f.Body)
}

// pageLinks builds an RFC 8288 Link header value for page-numbered
// listings (rel first/prev/next/last), as both forges send.
func pageLinks(r *http.Request, page, last int) string {
	base := url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath}
	link := func(p int, rel string) string {
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(p))
		u := base
		u.RawQuery = q.Encode()
		return "<" + u.String() + `>; rel="` + rel + `"`
	}
	var parts []string
	if page > 1 {
		parts = append(parts, link(page-1, "prev"))
	}
	if page < last {
		parts = append(parts, link(page+1, "next"))
	}
	parts = append(parts, link(1, "first"), link(last, "last"))
	return strings.Join(parts, ", ")
}

// paginate returns the slice of n items shown on page (1-based) and the
// number of the last page (at least 1).
func paginate(n, page, perPage int) (from, to, last int) {
	last = (n + perPage - 1) / perPage
	if last < 1 {
		last = 1
	}
	from = (page - 1) * perPage
	if from > n {
		from = n
	}
	to = from + perPage
	if to > n {
		to = n
	}
	return from, to, last
}
