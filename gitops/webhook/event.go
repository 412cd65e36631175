package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Provider names the Git hosting service that sent a delivery.
type Provider string

// The providers gitover receives webhooks from.
const (
	ProviderGitHub Provider = "github"
	ProviderGitLab Provider = "gitlab"
)

// Kind is what happened, reduced to the few facts gitover acts on.
type Kind string

// The kinds of event the receiver delivers to the queue.
const (
	// KindPush is a push to a branch or a tag (also a branch or tag deletion).
	KindPush Kind = "push"
	// KindMerged is a pull/merge request that was merged.
	KindMerged Kind = "merged"
	// KindClosed is a pull/merge request that was closed without being merged.
	KindClosed Kind = "closed"
	// KindPing is GitHub's hook-creation ping; it proves the hook reaches gitover.
	KindPing Kind = "ping"
)

// Size bounds applied to the text an Event carries, so that a queue full of
// events stays small whatever the senders put in their payloads.
const (
	// MaxBodyTextBytes bounds Event.Body; longer descriptions are cut at a
	// UTF-8 boundary and Event.BodyTruncated is set.
	MaxBodyTextBytes = 16 << 10
	// MaxTitleBytes bounds Event.Title (GitHub and GitLab allow 255 characters).
	MaxTitleBytes = 1 << 10
	// MaxMarkerBytes bounds Event.Marker; a longer marker is not extracted.
	MaxMarkerBytes = 4 << 10
	// maxRefBytes bounds refs and branch names.
	maxRefBytes = 1 << 10
	// maxFieldBytes bounds repository names, URLs and user names.
	maxFieldBytes = 2 << 10
)

// The hidden machine marker gitover writes into the pull/merge requests it
// opens: "<!-- gitover: {...} -->". Event.Marker carries the text in between.
const (
	MarkerPrefix = "<!-- gitover:"
	MarkerSuffix = "-->"
)

// Repository identifies the repository an event is about.
type Repository struct {
	// FullName is GitHub's full_name ("owner/name") or GitLab's
	// path_with_namespace ("group/subgroup/name").
	FullName string
	// CloneURL is the HTTPS clone URL (GitHub clone_url, GitLab git_http_url).
	CloneURL string
	// SSHURL is the SSH clone URL (GitHub ssh_url, GitLab git_ssh_url).
	SSHURL string
	// WebURL is the repository's page (GitHub html_url, GitLab web_url).
	WebURL string
}

// Event is one verified, parsed delivery, as handed to the Queue.
//
// Parsers fill everything except DeliveryID and ReceivedAt, which come from
// the HTTP request and are set by the Handler.
type Event struct {
	Provider   Provider
	Kind       Kind
	DeliveryID string
	Repository Repository
	// Sender is the login/username of the user who caused the event.
	Sender     string
	ReceivedAt time.Time

	// Push events.

	// Ref is the full ref pushed ("refs/heads/main", "refs/tags/v1").
	Ref string
	// Branch is Ref without "refs/heads/", empty for tags.
	Branch string
	// Tag is Ref without "refs/tags/", empty for branches.
	Tag string
	// Before and After are the ref's old and new commit SHAs (all zeros for
	// a created or deleted ref).
	Before, After string
	// Deleted is true when the push deleted the ref.
	Deleted bool

	// Pull/merge request events.

	// Number is GitHub's pull request number or GitLab's merge request iid.
	Number int64
	// HeadBranch is the source branch, BaseBranch the target branch.
	HeadBranch, BaseBranch string
	// MergeCommitSHA is the commit the merge produced (GitHub merge_commit_sha,
	// GitLab object_attributes.merge_commit_sha). It can be empty, e.g. after
	// a GitLab fast-forward merge; HeadSHA is then what landed.
	MergeCommitSHA string
	// HeadSHA is the last commit of the source branch.
	HeadSHA string
	// Title is the request's title, at most MaxTitleBytes.
	Title string
	// Body is the request's description, at most MaxBodyTextBytes.
	Body string
	// BodyTruncated reports that Body was cut to MaxBodyTextBytes.
	BodyTruncated bool
	// Marker is the trimmed text of the first "<!-- gitover: ... -->" comment
	// in the full description (found before Body is cut), or empty.
	Marker string
}

// Errors that classify what the parsers and the queue return.
var (
	// ErrIgnored marks a well-formed delivery that gitover does not act on
	// (another event type or action). The Handler answers 202.
	ErrIgnored = errors.New("event ignored")
	// ErrMalformed marks a payload that cannot be parsed or lacks what the
	// event requires. The Handler answers 400.
	ErrMalformed = errors.New("malformed payload")
)

// malformed returns an error wrapping ErrMalformed.
func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// ignored returns an error wrapping ErrIgnored.
func ignored(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrIgnored, fmt.Sprintf(format, args...))
}

// decodeJSON unmarshals body into v and turns decoder errors into short
// ErrMalformed reasons that never echo the sender's bytes back.
func decodeJSON(body []byte, v any) error {
	err := json.Unmarshal(body, v)
	if err == nil {
		return nil
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		if strings.Contains(syn.Error(), "max depth") {
			return malformed("JSON nesting too deep")
		}
		return malformed("invalid JSON at offset %d", syn.Offset)
	case errors.As(err, &typ):
		field := typ.Field
		if len(field) > 128 {
			field = field[:128]
		}
		return malformed("field %q has the wrong type", field)
	default:
		// io.ErrUnexpectedEOF ("unexpected end of JSON input") and kin.
		return malformed("invalid JSON")
	}
}

// checkField rejects over-long values and ASCII control characters in
// identifiers, refs and URLs (they end up in logs and git commands).
func checkField(name, value string, limit int) error {
	if len(value) > limit {
		return malformed("%s longer than %d bytes", name, limit)
	}
	for i := 0; i < len(value); i++ {
		if c := value[i]; c < 0x20 || c == 0x7f {
			return malformed("%s contains a control character", name)
		}
	}
	if !utf8.ValidString(value) {
		return malformed("%s is not valid UTF-8", name)
	}
	return nil
}

// normalizeSHA checks that s is empty or a full hexadecimal object name
// (SHA-1 or SHA-256) and returns it in lower case.
func normalizeSHA(name, s string, required bool) (string, error) {
	if s == "" {
		if required {
			return "", malformed("%s is missing", name)
		}
		return "", nil
	}
	if len(s) != 40 && len(s) != 64 {
		return "", malformed("%s is not a commit SHA", name)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return "", malformed("%s is not a commit SHA", name)
		}
	}
	return strings.ToLower(s), nil
}

// isZeroSHA reports whether s is the all-zero object name Git uses for a
// missing ref side.
func isZeroSHA(s string) bool {
	return s != "" && strings.Trim(s, "0") == ""
}

// truncateUTF8 cuts s to at most limit bytes without splitting a rune and
// reports whether it cut anything.
func truncateUTF8(s string, limit int) (string, bool) {
	if len(s) <= limit {
		return s, false
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut], true
}

// extractMarker returns the trimmed text of the first gitover marker comment
// in body, or "" when there is none or it is longer than MaxMarkerBytes.
func extractMarker(body string) string {
	start := strings.Index(body, MarkerPrefix)
	if start < 0 {
		return ""
	}
	rest := body[start+len(MarkerPrefix):]
	end := strings.Index(rest, MarkerSuffix)
	if end < 0 {
		return ""
	}
	marker := strings.TrimSpace(rest[:end])
	if len(marker) > MaxMarkerBytes || !utf8.ValidString(marker) {
		return ""
	}
	return marker
}

// setText fills Title, Body, BodyTruncated and Marker from a request's
// title and description, applying the size bounds.
func (ev *Event) setText(title, body string) {
	ev.Title, _ = truncateUTF8(title, MaxTitleBytes)
	ev.Marker = extractMarker(body)
	ev.Body, ev.BodyTruncated = truncateUTF8(body, MaxBodyTextBytes)
}

// setRef fills Ref, Branch and Tag from a full ref name.
func (ev *Event) setRef(ref string) error {
	if ref == "" {
		return malformed("ref is missing")
	}
	if err := checkField("ref", ref, maxRefBytes); err != nil {
		return err
	}
	if !strings.HasPrefix(ref, "refs/") {
		return malformed("ref is not a full ref name")
	}
	ev.Ref = ref
	ev.Branch, _ = strings.CutPrefix(ref, "refs/heads/")
	if ev.Branch == ref {
		ev.Branch = ""
	}
	ev.Tag, _ = strings.CutPrefix(ref, "refs/tags/")
	if ev.Tag == ref {
		ev.Tag = ""
	}
	return nil
}

// setPushSHAs fills Before, After and Deleted.
func (ev *Event) setPushSHAs(before, after string) error {
	var err error
	if ev.Before, err = normalizeSHA("before", before, true); err != nil {
		return err
	}
	if ev.After, err = normalizeSHA("after", after, true); err != nil {
		return err
	}
	ev.Deleted = isZeroSHA(ev.After)
	return nil
}

// checkRepository validates the repository identity; required says whether
// the event is meaningless without it.
func checkRepository(r Repository, required bool) error {
	if required && r.FullName == "" {
		return malformed("repository name is missing")
	}
	for _, f := range []struct{ name, value string }{
		{"repository name", r.FullName},
		{"repository clone URL", r.CloneURL},
		{"repository SSH URL", r.SSHURL},
		{"repository web URL", r.WebURL},
	} {
		if err := checkField(f.name, f.value, maxFieldBytes); err != nil {
			return err
		}
	}
	return nil
}

// checkBranches validates a request's head and base branch names.
func checkBranches(head, base string) error {
	if head == "" || base == "" {
		return malformed("source or target branch is missing")
	}
	if err := checkField("source branch", head, maxRefBytes); err != nil {
		return err
	}
	return checkField("target branch", base, maxRefBytes)
}
