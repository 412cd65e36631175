package webhook

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/require"
)

// Fuzz targets. `go test` runs their seed corpora; to fuzz for real, one
// target at a time (a short -fuzzminimizetime keeps the minimisation of the
// kilobyte-sized seeds from eating the time budget):
//
//	go test ./gitops/webhook -run '^$' -fuzz '^FuzzParseGitHub$' -fuzztime 60s -fuzzminimizetime 5s
//	go test ./gitops/webhook -run '^$' -fuzz '^FuzzParseGitLab$' -fuzztime 60s -fuzzminimizetime 5s
//	go test ./gitops/webhook -run '^$' -fuzz '^FuzzHandler$' -fuzztime 60s -fuzzminimizetime 5s

var githubSeeds = []struct{ event, file string }{
	{"push", "github/push.json"},
	{"push", "github/push_tag.json"},
	{"push", "github/push_branch_deleted.json"},
	{"ping", "github/ping.json"},
	{"pull_request", "github/pull_request_merged.json"},
	{"pull_request", "github/pull_request_closed.json"},
	{"pull_request", "github/pull_request_opened.json"},
	{"issues", "github/issues.json"},
}

var gitlabSeeds = []struct{ event, file string }{
	{"Push Hook", "gitlab/push.json"},
	{"Tag Push Hook", "gitlab/tag_push.json"},
	{"Merge Request Hook", "gitlab/merge_request_merge.json"},
	{"Merge Request Hook", "gitlab/merge_request_close.json"},
	{"Merge Request Hook", "gitlab/merge_request_open.json"},
	{"System Hook", "gitlab/merge_request_merge.json"},
	{"Issue Hook", "gitlab/issue.json"},
}

// hostileBodies are seeds every target starts from as well.
var hostileBodies = []string{
	``, `null`, `[]`, `"x"`, `0`, `{}`, `{"ref":null}`, `{"pull_request":null,"action":"closed"}`,
	`{"action":"closed","pull_request":{"number":1e400}}`,
	`{"action":"closed","pull_request":{"number":-1,"merged":"yes"}}`,
	`{"object_kind":"merge_request","object_attributes":{"action":"merge","iid":9223372036854775808}}`,
	`{"object_kind":"push","ref":"refs/heads/\u0000","before":"` + strings.Repeat("0", 40) + `"}`,
	`{"a":` + strings.Repeat(`{"a":`, 200) + `1` + strings.Repeat(`}`, 201),
	strings.Repeat("[", 12000),
	`{"ref":"refs/heads/main","before":"` + strings.Repeat("a", 40) + `","after":"` + strings.Repeat("b", 64) + `","repository":{"full_name":"a/b"}}`,
	"\xef\xbb\xbf{}", "{\"ref\":\"\xff\xfe\"}",
}

// checkParse asserts what every parser result must satisfy.
func checkParse(t *testing.T, provider Provider, ev Event, err error) {
	t.Helper()
	if err != nil {
		if !errors.Is(err, ErrIgnored) && !errors.Is(err, ErrMalformed) {
			t.Fatalf("unclassified error: %v", err)
		}
		if !reflect.DeepEqual(ev, Event{}) {
			t.Fatalf("event returned with an error: %+v", ev)
		}
		if len(err.Error()) > 200 {
			t.Fatalf("reason too long (%d bytes)", len(err.Error()))
		}
		return
	}
	if ev.Provider != provider {
		t.Fatalf("provider %q", ev.Provider)
	}
	checkEvent(t, ev)
}

// checkEvent asserts the invariants of an Event the parsers produced.
func checkEvent(t *testing.T, ev Event) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("event %+v: "+format, append([]any{ev}, args...)...)
	}
	isSHA := func(s string) bool {
		if len(s) != 40 && len(s) != 64 {
			return false
		}
		return strings.Trim(s, "0123456789abcdef") == ""
	}
	for name, s := range map[string]string{
		"repository": ev.Repository.FullName, "clone": ev.Repository.CloneURL, "ssh": ev.Repository.SSHURL,
		"web": ev.Repository.WebURL, "ref": ev.Ref, "head": ev.HeadBranch, "base": ev.BaseBranch, "sender": ev.Sender,
	} {
		if strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) || !utf8.ValidString(s) {
			fail("%s has control characters or bad UTF-8", name)
		}
		if len(s) > maxFieldBytes {
			fail("%s too long", name)
		}
	}
	if len(ev.Body) > MaxBodyTextBytes || len(ev.Title) > MaxTitleBytes || len(ev.Marker) > MaxMarkerBytes {
		fail("text bounds exceeded")
	}
	if !utf8.ValidString(ev.Body) || !utf8.ValidString(ev.Title) || !utf8.ValidString(ev.Marker) {
		fail("text is not valid UTF-8")
	}
	switch ev.Kind {
	case KindPing:
	case KindPush:
		if ev.Repository.FullName == "" || !strings.HasPrefix(ev.Ref, "refs/") || !isSHA(ev.Before) || !isSHA(ev.After) {
			fail("incomplete push")
		}
		if ev.Branch != "" && ev.Ref != "refs/heads/"+ev.Branch || ev.Tag != "" && ev.Ref != "refs/tags/"+ev.Tag {
			fail("branch/tag does not match ref")
		}
	case KindMerged, KindClosed:
		if ev.Repository.FullName == "" || ev.Number <= 0 || ev.HeadBranch == "" || ev.BaseBranch == "" {
			fail("incomplete request")
		}
		if ev.HeadSHA != "" && !isSHA(ev.HeadSHA) || ev.MergeCommitSHA != "" && !isSHA(ev.MergeCommitSHA) {
			fail("bad SHA")
		}
	default:
		fail("unknown kind")
	}
}

func FuzzParseGitHub(f *testing.F) {
	for _, s := range githubSeeds {
		f.Add(s.event, fixture(f, s.file))
	}
	for _, b := range hostileBodies {
		for _, event := range []string{"push", "pull_request", "ping"} {
			f.Add(event, []byte(b))
		}
	}
	f.Fuzz(func(t *testing.T, event string, body []byte) {
		ev, err := ParseGitHub(event, body)
		checkParse(t, ProviderGitHub, ev, err)
		ev2, err2 := ParseGitHub(event, body)
		if !reflect.DeepEqual(ev, ev2) || (err == nil) != (err2 == nil) {
			t.Fatal("parsing is not deterministic")
		}
	})
}

func FuzzParseGitLab(f *testing.F) {
	for _, s := range gitlabSeeds {
		f.Add(s.event, fixture(f, s.file))
	}
	for _, b := range hostileBodies {
		for _, event := range []string{"Push Hook", "Merge Request Hook", "System Hook"} {
			f.Add(event, []byte(b))
		}
	}
	f.Fuzz(func(t *testing.T, event string, body []byte) {
		ev, err := ParseGitLab(event, body)
		checkParse(t, ProviderGitLab, ev, err)
		ev2, err2 := ParseGitLab(event, body)
		if !reflect.DeepEqual(ev, ev2) || (err == nil) != (err2 == nil) {
			t.Fatal("parsing is not deterministic")
		}
	})
}

// Authentication modes of FuzzHandler.
const (
	authValid  = 0 // the right signature or token
	authHeader = 1 // the fuzzed header value as is
	authNone   = 2 // no header
)

// checkingQueue checks every event it is given and drops it.
type checkingQueue struct{ t *testing.T }

func (q *checkingQueue) Enqueue(_ context.Context, ev Event) error {
	q.t.Helper()
	checkEvent(q.t, ev)
	if !validDeliveryID(ev.DeliveryID) || ev.ReceivedAt.IsZero() {
		q.t.Fatalf("bad delivery id or time: %+v", ev)
	}
	return nil
}

func FuzzHandler(f *testing.F) {
	const limit = 64 << 10
	for _, s := range githubSeeds {
		f.Add(uint8(0), s.event, "application/json", "d-"+s.file, fixture(f, s.file), uint8(authValid), "")
	}
	for _, s := range gitlabSeeds {
		f.Add(uint8(1), s.event, "application/json; charset=utf-8", "u-"+s.file, fixture(f, s.file), uint8(authValid), "")
	}
	for i, b := range hostileBodies {
		f.Add(uint8(i), "push", "application/json", "", []byte(b), uint8(i%3), "sha256=00")
	}
	f.Add(uint8(0), "push", "application/x-www-form-urlencoded", "x", []byte("payload=%7B%7D"), uint8(authValid), "")
	f.Add(uint8(1), "Push Hook", "application/json", "bad id", []byte("{}"), uint8(authHeader), "gl-test-token-8a2d71")
	f.Add(uint8(0), "push", "application/json", "big", bytes.Repeat([]byte(" "), limit+1), uint8(authValid), "")

	q := &checkingQueue{}
	h, err := NewHandler(Config{GitHubSecret: testGitHubSecret, GitLabToken: testGitLabToken, MaxBodyBytes: limit},
		q, logr.Discard(), nil)
	require.NoError(f, err)
	allowed := map[int]bool{200: true, 202: true, 400: true, 401: true, 404: true, 405: true, 413: true, 415: true, 503: true}

	f.Fuzz(func(t *testing.T, provider uint8, event, contentType, delivery string, body []byte, auth uint8, header string) {
		q.t = t
		var r *http.Request
		gitlab := provider%2 == 1
		if gitlab {
			r = httptest.NewRequest(http.MethodPost, GitLabPath, bytes.NewReader(body))
			setHeader(r, GitLabEventHeader, event)
			setHeader(r, GitLabEventUUIDHeader, delivery)
			switch auth % 3 {
			case authValid:
				r.Header.Set(GitLabTokenHeader, string(testGitLabToken))
			case authHeader:
				setHeader(r, GitLabTokenHeader, header)
			}
		} else {
			r = httptest.NewRequest(http.MethodPost, GitHubPath, bytes.NewReader(body))
			setHeader(r, GitHubEventHeader, event)
			setHeader(r, GitHubDeliveryHeader, delivery)
			switch auth % 3 {
			case authValid:
				r.Header.Set(GitHubSignatureHeader, SignGitHub(testGitHubSecret, body))
			case authHeader:
				setHeader(r, GitHubSignatureHeader, header)
			}
		}
		setHeader(r, "Content-Type", contentType)

		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if !allowed[w.Code] {
			t.Fatalf("status %d: %s", w.Code, w.Body.String())
		}
		if n := value(h.m.panics.WithLabelValues("github")) + value(h.m.panics.WithLabelValues("gitlab")); n != 0 {
			t.Fatalf("handler panicked (%v)", n)
		}
		authentic := auth%3 == authValid ||
			auth%3 == authHeader && gitlab && header == string(testGitLabToken) ||
			auth%3 == authHeader && !gitlab && header == SignGitHub(testGitHubSecret, body)
		if (w.Code == 200 || w.Code == 202) && !authentic {
			t.Fatalf("unauthenticated request answered %d", w.Code)
		}
		if w.Code == 200 && w.Body.String() != "queued\n" && w.Body.String() != "duplicate delivery\n" {
			t.Fatalf("unexpected 200 body %q", w.Body.String())
		}
		if len(w.Body.String()) > 256 {
			t.Fatalf("answer too long: %d bytes", len(w.Body.String()))
		}
	})
}

// setHeader sets a header when value is a legal header value (net/http
// would refuse the others before they reach a handler).
func setHeader(r *http.Request, name, value string) {
	if value == "" || strings.ContainsAny(value, "\r\n\x00") {
		return
	}
	r.Header.Set(name, value)
}
